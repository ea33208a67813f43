//! The sync protocol between hubs over an in-memory, loss-free pipe.

use std::collections::VecDeque;

use openprod_core::bundle::Bundle;
use openprod_core::entropy::SeededEntropy;
use openprod_core::hlc::ClockConfig;
use openprod_core::identity::Identity;
use openprod_core::ids::{EntityId, WorkspaceId};
use openprod_core::log::VersionVector;
use openprod_core::names::{FieldKey, TableId};
use openprod_core::store::{MemoryStore, Store};
use openprod_core::sync::{
    FrameError, Message, Output, PeerId, RefuseReason, StreamWriter, SyncConfig, SyncEvent, SyncHub, decode_bundles,
    encode_bundles,
};
use openprod_core::value::Value;
use openprod_core::workspace::Workspace;

const NOW: u64 = 1_790_000_000_000;
const CONTACTS: &str = include_str!("../../modules/contacts/manifest.toml");

struct Device {
    workspace: Workspace,
    hub: SyncHub,
    store: MemoryStore,
    events: Vec<SyncEvent>,
    /// Persist requests the test has not yet let complete.
    unpersisted: VecDeque<Output>,
}

struct Room {
    devices: Vec<Device>,
    wire: VecDeque<(usize, usize, Vec<u8>)>,
    entropy: SeededEntropy,
    now: u64,
    /// When false, persist requests wait until `finish_persisting`.
    persist_at_once: bool,
}

fn config() -> SyncConfig {
    SyncConfig { batch_size: 4, ..SyncConfig::default() }
}

impl Room {
    fn new(count: usize) -> Room {
        let mut entropy = SeededEntropy::new(5);
        let (mut owner, first) = Workspace::create(Identity::from_seed([1; 32]), "Hamlet", "Jane", NOW, &mut entropy);
        let mut change = owner.change(NOW, &mut entropy);
        change.adopt_module(CONTACTS, None).unwrap();
        change.commit().unwrap();
        let _ = first;
        let id = owner.id();
        let mut devices = vec![owner];
        for index in 1..count {
            devices.push(Workspace::empty(id, Identity::from_seed([index as u8 + 1; 32]), NOW, ClockConfig::default()));
        }
        let devices = devices
            .into_iter()
            .map(|workspace| Device {
                workspace,
                hub: SyncHub::new(config()),
                store: MemoryStore::new(),
                events: Vec::new(),
                unpersisted: VecDeque::new(),
            })
            .collect();
        Room { devices, wire: VecDeque::new(), entropy, now: NOW, persist_at_once: true }
    }

    fn link(&mut self, a: usize, b: usize) {
        for (from, to) in [(a, b), (b, a)] {
            let device = &mut self.devices[from];
            let outputs = device.hub.connect(&device.workspace, PeerId(to as u64), self.now);
            self.handle(from, outputs);
        }
    }

    fn handle(&mut self, index: usize, outputs: Vec<Output>) {
        for output in outputs {
            match output {
                Output::Send { peer, frame } => self.wire.push_back((index, peer.0 as usize, frame)),
                Output::Persist { .. } if !self.persist_at_once => self.devices[index].unpersisted.push_back(output),
                Output::Persist { ticket, bundles } => {
                    let device = &mut self.devices[index];
                    device.store.append_bundles(device.workspace.log().named(&bundles).expect("applied")).unwrap();
                    let more = device.hub.persisted(&device.workspace, ticket, self.now);
                    self.handle(index, more);
                }
                Output::Close { .. } => {}
                Output::Event(event) => self.devices[index].events.push(event),
            }
        }
    }

    fn finish_persisting(&mut self, index: usize) {
        while let Some(output) = self.devices[index].unpersisted.pop_front() {
            let Output::Persist { ticket, bundles } = output else { continue };
            let device = &mut self.devices[index];
            device.store.append_bundles(device.workspace.log().named(&bundles).expect("applied")).unwrap();
            let more = device.hub.persisted(&device.workspace, ticket, self.now);
            self.handle(index, more);
        }
    }

    /// Delivers every frame on the wire, and those they cause, but not the
    /// parts of streams still to be sent.
    fn deliver(&mut self) {
        while let Some((from, to, frame)) = self.wire.pop_front() {
            self.now += 1;
            let device = &mut self.devices[to];
            let outputs = device.hub.receive(&mut device.workspace, PeerId(from as u64), &frame, self.now);
            self.handle(to, outputs);
        }
    }

    /// Delivers every frame on the wire, and those they cause, and the
    /// rest of every stream being sent (a part whenever the wire is empty).
    fn run(&mut self) {
        loop {
            self.deliver();
            let sending: Vec<usize> =
                (0..self.devices.len()).filter(|&index| self.devices[index].hub.is_sending()).collect();
            if sending.is_empty() {
                return;
            }
            for index in sending {
                let device = &mut self.devices[index];
                let outputs = device.hub.send_more(&device.workspace, self.now);
                self.handle(index, outputs);
            }
        }
    }

    fn tick_all(&mut self, step_ms: u64) {
        self.now += step_ms;
        for index in 0..self.devices.len() {
            let device = &mut self.devices[index];
            let outputs = device.hub.tick(&device.workspace, self.now);
            self.handle(index, outputs);
        }
        self.run();
    }

    fn edit(&mut self, index: usize, name: &str) {
        self.now += 10;
        let device = &mut self.devices[index];
        let mut change = device.workspace.change(self.now, &mut self.entropy);
        change
            .create_record(&TableId::new("contacts", "contacts"), &[("full_name", Value::String(name.into()))])
            .unwrap();
        let bundle = change.commit().unwrap();
        device.store.append_bundles(&[bundle]).unwrap();
        let outputs = device.hub.local_bundles(&device.workspace, self.now);
        self.handle(index, outputs);
    }

    fn vector(&self, index: usize) -> VersionVector {
        self.devices[index].workspace.log().version_vector()
    }
}

/// The progress a device reported, as bundles received and still to come.
fn progress(events: &[SyncEvent]) -> Vec<(u64, u64)> {
    events
        .iter()
        .filter_map(|event| match event {
            SyncEvent::Progress { received, remaining, .. } => Some((*received, *remaining)),
            _ => None,
        })
        .collect()
}

/// The owner with nine records, just linked to a device that holds nothing.
fn nine_records_and_a_new_peer() -> Room {
    let mut room = Room::new(2);
    for index in 0..9 {
        room.edit(0, &format!("Person {index}"));
    }
    room.link(0, 1);
    room
}

#[test]
fn a_new_peer_catches_up_in_batches_with_progress() {
    let mut room = nine_records_and_a_new_peer();
    room.run();
    assert_eq!(room.vector(1), room.vector(0));
    assert_eq!(room.devices[1].workspace.state().state_hash(), room.devices[0].workspace.state().state_hash());
    let progress = progress(&room.devices[1].events);
    // 11 bundles (bootstrap, adoption, 9 records) in batches of 4.
    assert_eq!(progress, vec![(4, 7), (8, 3), (11, 0)]);
    assert_eq!(room.devices[1].store.load_bundles().unwrap().len(), 11, "everything applied was persisted");
}

#[test]
fn a_catch_up_goes_out_a_part_at_a_time_and_edits_made_meanwhile_follow_in_the_same_stream() {
    let mut room = nine_records_and_a_new_peer();
    room.deliver();
    assert!(room.devices[0].hub.is_sending(), "the hub sent the first part only");
    room.edit(0, "Late");
    assert!(room.wire.is_empty(), "the edit waits behind the stream under way");
    room.run();
    assert!(!room.devices[0].hub.is_sending());
    assert_eq!(room.vector(1), room.vector(0));
    let events = &room.devices[1].events;
    let progress = progress(events);
    // 11 bundles, then the late one, in parts of 4 of one stream (a part
    // read out of order would have been dropped as unreadable).
    assert_eq!(progress, vec![(4, 7), (8, 4), (12, 0)]);
    assert!(!events.iter().any(|event| matches!(event, SyncEvent::Unreadable { .. })));
}

#[test]
fn received_bundles_are_acknowledged_only_once_persisted() {
    let mut room = Room::new(2);
    room.edit(0, "Horatio");
    room.persist_at_once = false;
    room.link(0, 1);
    room.run();
    let acks_before = room.wire.iter().filter(|(from, ..)| *from == 1).count();
    assert_eq!(acks_before, 0);
    assert!(room.devices[1].store.load_bundles().unwrap().is_empty());
    room.finish_persisting(1);
    let ack = room.wire.iter().find(|(from, ..)| *from == 1).expect("an acknowledgement once durable");
    assert!(matches!(Message::decode(&ack.2), Ok(Message::Ack { .. })));
}

#[test]
fn only_what_the_driver_confirmed_durable_is_offered_or_acknowledged() {
    let mut room = Room::new(2);
    room.link(0, 1);
    room.run();
    let held = room.vector(0);
    {
        let device = &mut room.devices[0];
        let outputs = device.hub.durable_up_to(&device.workspace, held.clone(), room.now);
        assert!(outputs.iter().all(|output| !matches!(output, Output::Send { .. })), "nothing new to offer");
    }
    // An edit in memory, not yet stored: a vector exchange must not carry it.
    room.now += 10;
    let device = &mut room.devices[0];
    let mut change = device.workspace.change(room.now, &mut room.entropy);
    change
        .create_record(&TableId::new("contacts", "contacts"), &[("full_name", Value::String("Ophelia".into()))])
        .unwrap();
    change.commit().unwrap();
    let vector = Message::Vector { vector: room.vector(1) }.encode();
    let device = &mut room.devices[0];
    let outputs = device.hub.receive(&mut device.workspace, PeerId(1), &vector, room.now);
    assert!(outputs.iter().all(|output| !matches!(output, Output::Send { .. })), "an unstored edit was offered");
    // Once stored, it goes out.
    let now_durable = room.vector(0);
    let device = &mut room.devices[0];
    let outputs = device.hub.durable_up_to(&device.workspace, now_durable, room.now);
    room.handle(0, outputs);
    room.run();
    assert_eq!(room.vector(1), room.vector(0));
}

#[test]
fn edits_travel_through_an_intermediate_peer() {
    let mut room = Room::new(3);
    room.link(0, 1);
    room.link(1, 2);
    room.run();
    room.edit(0, "Ophelia");
    room.run();
    assert_eq!(room.vector(2), room.vector(0), "gossip carried the edit from 0 through 1 to 2");
    room.edit(2, "Laertes");
    room.run();
    assert_eq!(room.vector(0), room.vector(2));
}

#[test]
fn peers_compare_state_hashes_once_quiet() {
    let mut room = Room::new(2);
    room.link(0, 1);
    room.run();
    room.edit(1, "Polonius");
    room.run();
    room.tick_all(config().quiescence_ms + 1);
    for device in &room.devices {
        assert!(
            device.events.iter().any(|event| matches!(event, SyncEvent::StateConfirmed { .. })),
            "each side confirmed the other's state hash"
        );
        assert!(!device.events.iter().any(|event| matches!(event, SyncEvent::StateMismatch { .. })));
    }
}

#[test]
fn a_peer_of_another_workspace_is_refused_with_a_reason() {
    let mut room = Room::new(1);
    let stranger =
        Workspace::empty(WorkspaceId::new_v7(NOW, [9; 10]), Identity::from_seed([9; 32]), NOW, ClockConfig::default());
    let hello = Message::Hello {
        workspace: stranger.id(),
        actor: stranger.actor(),
        vector: VersionVector::new(),
        wants_reply: true,
    };
    let device = &mut room.devices[0];
    device.hub.connect(&device.workspace, PeerId(7), NOW);
    let outputs = device.hub.receive(&mut device.workspace, PeerId(7), &hello.encode(), NOW);
    let refusal = outputs.iter().find_map(|output| match output {
        Output::Send { frame, .. } => match Message::decode(frame) {
            Ok(Message::Refuse { reason, detail }) => Some((reason, detail)),
            _ => None,
        },
        _ => None,
    });
    let (reason, detail) = refusal.expect("a refusal is sent");
    assert_eq!(reason, RefuseReason::OtherWorkspace);
    assert!(detail.contains(&stranger.id().to_string()), "{detail}");
    assert!(outputs.iter().any(|output| matches!(output, Output::Close { peer: PeerId(7), .. })));
}

#[test]
fn a_peer_speaking_another_protocol_version_is_refused() {
    let mut room = Room::new(1);
    let device = &mut room.devices[0];
    device.hub.connect(&device.workspace, PeerId(3), NOW);
    let mut frame = Message::Ping { nonce: 1 }.encode();
    frame[0] = 99;
    assert_eq!(Message::decode(&frame), Err(FrameError::UnknownVersion(99)));
    let outputs = device.hub.receive(&mut device.workspace, PeerId(3), &frame, NOW);
    let refused = outputs.iter().any(|output| match output {
        Output::Send { frame, .. } => {
            matches!(Message::decode(frame), Ok(Message::Refuse { reason: RefuseReason::ProtocolVersion, .. }))
        }
        _ => false,
    });
    assert!(refused);
}

#[test]
fn messages_round_trip_and_hostile_frames_are_refused_without_panicking() {
    let mut room = Room::new(1);
    room.edit(0, "Yorick");
    let workspace = &room.devices[0].workspace;
    let messages = vec![
        Message::Hello {
            workspace: workspace.id(),
            actor: workspace.actor(),
            vector: workspace.log().version_vector(),
            wants_reply: false,
        },
        Message::Bundles(StreamWriter::new(0).part(workspace.id(), &workspace.log().bundles().collect::<Vec<_>>(), 3)),
        Message::Ack { vector: workspace.log().version_vector() },
        Message::Vector { vector: VersionVector::new() },
        Message::StateCheck {
            vector: workspace.log().version_vector(),
            ops_digest: workspace.log().ops_digest(),
            state_hash: workspace.state().state_hash(),
        },
        Message::Nack {
            author: workspace.actor(),
            seq: 2,
            reason: openprod_core::sync::NackReason::FutureHlc,
            detail: "clock".into(),
        },
        Message::Refuse { reason: RefuseReason::OtherWorkspace, detail: "another show".into() },
        Message::Ping { nonce: 7 },
        Message::Pong { nonce: 7 },
    ];
    for message in &messages {
        let frame = message.encode();
        assert_eq!(&Message::decode(&frame).unwrap(), message);
        for length in 0..frame.len() {
            assert!(Message::decode(&frame[..length]).is_err(), "a truncated {message:?} must not decode");
        }
    }
    let bundles = workspace.log().bundles().cloned().collect::<Vec<_>>();
    // One author's run: only its newest bundle travels with its signature.
    let mut travelled = bundles.clone();
    let newest = travelled.len() - 1;
    travelled[..newest].iter_mut().for_each(|bundle| bundle.signature = None);
    assert_eq!(decode_bundles(&encode_bundles(&bundles, 3)), Ok((travelled, 3)));
    let mut entropy = SeededEntropy::new(77);
    for length in 0..2_000 {
        let mut frame = vec![0u8; length % 300];
        openprod_core::entropy::Entropy::fill(&mut entropy, &mut frame);
        if let Some(first) = frame.first_mut() {
            *first = openprod_core::sync::PROTOCOL_VERSION;
        }
        let _ = Message::decode(&frame);
    }
}

/// Two linked devices that both hold one record, Gertrude's.
fn two_devices_with_one_record() -> (Room, EntityId) {
    let mut room = Room::new(2);
    room.link(0, 1);
    room.edit(0, "Gertrude");
    room.run();
    let record = room.devices[1].workspace.state().records(&TableId::new("contacts", "contacts"))[0];
    (room, record)
}

/// Device `device` writes `text` into `field` of `record` at `at`.
fn write_at(room: &mut Room, device: usize, record: EntityId, field: &str, text: &str, at: u64) -> Bundle {
    let mut change = room.devices[device].workspace.change(at, &mut room.entropy);
    change.set_field(record, &TableId::new("contacts", "contacts"), field, Value::String(text.into())).unwrap();
    change.commit().unwrap()
}

#[test]
fn a_near_simultaneous_edit_of_another_field_raises_awareness() {
    let (mut room, record) = two_devices_with_one_record();
    // Both edit the same record within a second, different fields.
    let now = room.now + 100;
    let from_jane = write_at(&mut room, 0, record, "email", "queen@example.org", now);
    write_at(&mut room, 1, record, "phone", "555-0101", now + 300);
    let report = room.devices[1].workspace.receive(vec![from_jane], now + 400);
    assert_eq!(report.awareness.len(), 1);
    assert_eq!(report.awareness[0].their_field, FieldKey::new("contacts", "email"));
    assert_eq!(report.awareness[0].my_field, FieldKey::new("contacts", "phone"));
    assert!(report.refused.is_empty());
}

#[test]
fn an_edit_of_a_record_changed_here_more_than_a_second_before_or_after_raises_no_awareness() {
    let (mut room, record) = two_devices_with_one_record();
    // This device's own edits, 1.5 s before and after the colleague's.
    let start = room.now + 100;
    write_at(&mut room, 1, record, "phone", "mine", start);
    let from_jane = write_at(&mut room, 0, record, "email", "queen@example.org", start + 1_500);
    write_at(&mut room, 1, record, "department", "mine", start + 3_000);
    let report = room.devices[1].workspace.receive(vec![from_jane], start + 3_100);
    assert_eq!(report.applied.len(), 1);
    assert!(report.awareness.is_empty(), "{:?}", report.awareness);
}

#[test]
fn a_peer_deriving_another_state_from_the_same_operations_raises_a_diagnostic() {
    let mut room = Room::new(2);
    room.link(0, 1);
    room.run();
    let device = &mut room.devices[1];
    let log = device.workspace.log();
    // Same operations, different derived state: what a derivation bug would look like.
    let check = Message::StateCheck {
        vector: log.version_vector(),
        ops_digest: log.ops_digest(),
        state_hash: openprod_core::bundle::Hash([7; 32]),
    };
    let outputs = device.hub.receive(&mut device.workspace, PeerId(0), &check.encode(), room.now);
    assert!(outputs.iter().any(|output| matches!(
        output,
        Output::Event(SyncEvent::StateMismatch { peer: PeerId(0), theirs, .. }) if theirs.0 == [7; 32]
    )));
}

#[test]
fn in_a_mesh_every_pair_confirms_its_state_without_waiting_for_the_vector_exchange() {
    let mut room = Room::new(3);
    room.link(0, 1);
    room.link(1, 2);
    room.link(0, 2);
    room.run();
    room.edit(0, "Polonius");
    room.edit(2, "Laertes");
    room.run();
    // Well inside the periodic vector exchange: what settles it is that
    // duplicate copies (each bundle reaches each device twice) count as
    // proof of what their sender holds.
    for _ in 0..3 {
        room.tick_all(config().quiescence_ms + 1);
    }
    assert!(room.now - NOW < config().vector_interval_ms);
    assert_every_pair_confirmed(&room);
}

#[test]
fn with_stores_that_lag_behind_a_mesh_still_confirms_its_state_before_the_vector_exchange() {
    let mut room = Room::new(3);
    room.link(0, 1);
    room.link(1, 2);
    room.link(0, 2);
    room.run();
    // Every device tells its hub what is durable, as the browser driver does.
    for index in 0..3 {
        let vector = room.vector(index);
        let device = &mut room.devices[index];
        let outputs = device.hub.durable_up_to(&device.workspace, vector, room.now);
        room.handle(index, outputs);
    }
    room.persist_at_once = false;
    room.edit(0, "Polonius");
    let stored = room.vector(0);
    let device = &mut room.devices[0];
    let outputs = device.hub.durable_up_to(&device.workspace, stored, room.now);
    room.handle(0, outputs);
    room.run();
    // The copies and acknowledgements crossed while nothing was stored yet.
    for index in [1, 2] {
        let persists: Vec<Output> = room.devices[index].unpersisted.drain(..).collect();
        for output in persists {
            let Output::Persist { ticket, bundles } = output else { continue };
            let device = &mut room.devices[index];
            device.store.append_bundles(device.workspace.log().named(&bundles).expect("applied")).unwrap();
            let durable = device.workspace.log().version_vector();
            let mut outputs = device.hub.durable_up_to(&device.workspace, durable, room.now);
            outputs.extend(device.hub.persisted(&device.workspace, ticket, room.now));
            room.handle(index, outputs);
        }
    }
    room.run();
    for _ in 0..3 {
        room.tick_all(config().quiescence_ms + 1);
    }
    assert!(room.now - NOW < config().vector_interval_ms);
    assert_every_pair_confirmed(&room);
}

/// Each device compared state hashes with every other, and they matched.
fn assert_every_pair_confirmed(room: &Room) {
    for (index, device) in room.devices.iter().enumerate() {
        let confirmed: std::collections::BTreeSet<u64> = device
            .events
            .iter()
            .filter_map(|event| match event {
                SyncEvent::StateConfirmed { peer, .. } => Some(peer.0),
                _ => None,
            })
            .collect();
        let others: std::collections::BTreeSet<u64> =
            (0..room.devices.len() as u64).filter(|other| *other != index as u64).collect();
        assert_eq!(confirmed, others, "device {index} confirmed its state with every other");
    }
}
