//! The simulated production: peers, a faulty network, a workload.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use openprod_core::bundle::{ArrivedBundle, Bundle, Hash};
use openprod_core::entropy::{Entropy, SeededEntropy};
use openprod_core::hlc::ClockConfig;
use openprod_core::identity::Identity;
use openprod_core::ids::{EntityId, WorkspaceId};
use openprod_core::names::{EdgeType, TableId};
use openprod_core::op::OpPayload;
use openprod_core::store::{MemoryStore, Store};
use openprod_core::sync::{Message, Output, PeerId, StreamReader, StreamWriter, SyncConfig, SyncHub};
use openprod_core::value::Value;
use openprod_core::workspace::Workspace;

const START: u64 = 1_790_000_000_000;
const CONTACTS: &str = include_str!("../../../modules/contacts/manifest.toml");
const CASTING: &str = r#"
[module]
name = "casting"
version = "1.0.0"

[table.roles]
[table.roles.fields.role_name]
type = "string"
shared_key = "name"

[edge.plays]
[edge.plays.properties]
character = "string"
"#;

/// Totals of what happened, to show that the faults were exercised.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    pub bundles: u64,
    pub delivered: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub quarantined: u64,
    pub partitions: u64,
}

impl Outcome {
    pub fn add(&mut self, other: &Outcome) {
        self.bundles += other.bundles;
        self.delivered += other.delivered;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.quarantined += other.quarantined;
        self.partitions += other.partitions;
    }
}

struct Peer {
    workspace: Workspace,
    hub: SyncHub,
    store: MemoryStore,
    skew_ms: i64,
    forger: bool,
}

struct Frame {
    from: usize,
    to: usize,
    /// The connection the frame was sent on; a frame of a closed connection is lost with it.
    connection: u64,
    bytes: Vec<u8>,
}

struct Sim {
    rng: SeededEntropy,
    now: u64,
    peers: Vec<Peer>,
    group: Vec<u8>,
    /// Open connections, each side with the id of its current connection.
    connected: BTreeMap<(usize, usize), u64>,
    next_connection: u64,
    in_flight: BTreeMap<(u64, u64), Frame>,
    sequence: u64,
    loss_per_mille: u64,
    duplicate_per_mille: u64,
    max_delay_ms: u64,
    /// Bundles the forger altered: by digest when it changed their
    /// contents, by digest and signature when it changed the signature.
    forged_contents: BTreeSet<Hash>,
    forged_signatures: BTreeSet<(Hash, [u8; 64])>,
    delivered_forged: BTreeSet<(usize, Hash)>,
    /// The forger reads the bundle streams it sends and writes them anew,
    /// altered, per receiver and connection.
    forger_streams: BTreeMap<(usize, u64), (StreamReader, Option<StreamWriter>)>,
    /// Reads what each receiver examined, as its hub does, per sender and connection.
    examined_streams: BTreeMap<(usize, usize, u64), StreamReader>,
    outcome: Outcome,
}

fn sync_config() -> SyncConfig {
    SyncConfig {
        batch_size: 16,
        vector_interval_ms: 2_000,
        ping_interval_ms: 1_000,
        timeout_ms: 10_000,
        quiescence_ms: 500,
        max_pending: 10_000,
    }
}

pub fn simulate(seed: u64) -> Result<Outcome, String> {
    let mut sim = Sim::new(seed);
    let edits = 20 + sim.below(40);
    for step in 0..(edits * 3) {
        let step_ms = 20 + sim.below(200);
        sim.advance(step_ms);
        if sim.below(3) == 0 {
            sim.random_edit();
        }
        if step % 25 == 24 {
            sim.reshape_partitions();
        }
    }
    // Heal: one group, time moves on past every skewed clock, everyone reconnects.
    sim.group.iter_mut().for_each(|group| *group = 0);
    sim.now += 10 * 60_000;
    sim.reconnect_all();
    for _ in 0..3_000 {
        sim.advance(100);
        if sim.settled() {
            break;
        }
    }
    // A few more seconds so that state checks and held-back copies settle.
    for _ in 0..30 {
        sim.advance(100);
    }
    sim.check()?;
    Ok(sim.outcome)
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut rng = SeededEntropy::new(seed);
        let peer_count = 2 + (rng.next_u64() % 7) as usize;
        let with_forger = rng.next_u64().is_multiple_of(2) && peer_count >= 3;
        let far_future_peer = rng.next_u64().is_multiple_of(4).then(|| (rng.next_u64() % peer_count as u64) as usize);
        let mut entropy = SeededEntropy::new(seed ^ 0xabcdef);
        let (mut owner, first) =
            Workspace::create(Identity::from_seed(seed_bytes(seed, 0)), "Simulated show", "Owner", START, &mut entropy);
        let mut change = owner.change(START, &mut entropy);
        change.adopt_module(CONTACTS, None).expect("the contacts module is valid");
        change.adopt_module(CASTING, None).expect("the casting module is valid");
        for index in 1..peer_count {
            change.admit_actor(Identity::from_seed(seed_bytes(seed, index)).actor_id(), &format!("Peer {index}"));
        }
        let setup = change.commit().expect("setup commits");
        let workspace_id: WorkspaceId = owner.id();
        let mut owner = Some(owner);
        let mut peers = Vec::new();
        for index in 0..peer_count {
            let skew_ms = if Some(index) == far_future_peer {
                8 * 60_000 // beyond the 5-minute drift bound
            } else {
                (rng.next_u64() % 120_000) as i64 - 60_000
            };
            let workspace = if let Some(owner) = owner.take() {
                owner
            } else {
                let identity = Identity::from_seed(seed_bytes(seed, index));
                let mut workspace = Workspace::empty(workspace_id, identity, START, ClockConfig::default());
                workspace.receive(vec![first.clone(), setup.clone()], START);
                workspace
            };
            let forger = with_forger && index == peer_count - 1;
            peers.push(Peer {
                workspace,
                hub: SyncHub::new(sync_config()),
                store: MemoryStore::new(),
                skew_ms,
                forger,
            });
        }
        let mut sim = Sim {
            rng,
            now: START,
            peers,
            group: vec![0; peer_count],
            connected: BTreeMap::new(),
            next_connection: 1,
            in_flight: BTreeMap::new(),
            sequence: 0,
            loss_per_mille: 0,
            duplicate_per_mille: 0,
            max_delay_ms: 0,
            forged_contents: BTreeSet::new(),
            forged_signatures: BTreeSet::new(),
            delivered_forged: BTreeSet::new(),
            forger_streams: BTreeMap::new(),
            examined_streams: BTreeMap::new(),
            outcome: Outcome::default(),
        };
        sim.loss_per_mille = sim.below(150);
        sim.duplicate_per_mille = sim.below(100);
        sim.max_delay_ms = 5 + sim.below(400);
        sim.reconnect_all();
        sim
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.rng.next_u64() % bound.max(1)
    }

    fn local_now(&self, peer: usize) -> u64 {
        self.now.saturating_add_signed(self.peers[peer].skew_ms)
    }

    fn reconnect_all(&mut self) {
        for a in 0..self.peers.len() {
            for b in 0..self.peers.len() {
                if a < b && self.group[a] == self.group[b] {
                    self.connect(a, b);
                }
            }
        }
    }

    /// Like a real driver, re-open links that closed (timeouts during loss
    /// bursts) between peers that can reach each other.
    fn restore_closed_links(&mut self) {
        for a in 0..self.peers.len() {
            for b in (a + 1)..self.peers.len() {
                let up = self.connected.contains_key(&(a, b)) && self.connected.contains_key(&(b, a));
                if self.group[a] == self.group[b] && !up {
                    self.connect(a, b);
                }
            }
        }
    }

    fn connect(&mut self, a: usize, b: usize) {
        let connection = self.next_connection;
        self.next_connection += 1;
        for (from, to) in [(a, b), (b, a)] {
            self.peers[from].hub.disconnect(PeerId(to as u64));
            self.connected.insert((from, to), connection);
        }
        for (from, to) in [(a, b), (b, a)] {
            let now = self.local_now(from);
            let peer = &mut self.peers[from];
            let outputs = peer.hub.connect(&peer.workspace, PeerId(to as u64), now);
            self.handle(from, outputs);
        }
    }

    fn reshape_partitions(&mut self) {
        if self.below(2) == 0 {
            let groups: Vec<u8> = (0..self.peers.len()).map(|_| (self.rng.next_u64() % 2) as u8).collect();
            if groups.iter().any(|group| *group != groups[0]) {
                self.outcome.partitions += 1;
            }
            self.group = groups;
        } else {
            self.group.iter_mut().for_each(|group| *group = 0);
        }
        // Links across groups are cut; links inside a group come (back) up.
        let cut: Vec<(usize, usize)> =
            self.connected.keys().copied().filter(|(a, b)| self.group[*a] != self.group[*b]).collect();
        for (a, b) in cut {
            self.connected.remove(&(a, b));
            self.peers[a].hub.disconnect(PeerId(b as u64));
        }
        for a in 0..self.peers.len() {
            for b in (a + 1)..self.peers.len() {
                if self.group[a] == self.group[b] && !self.connected.contains_key(&(a, b)) {
                    self.connect(a, b);
                }
            }
        }
    }

    fn advance(&mut self, step_ms: u64) {
        self.now += step_ms;
        while let Some((&(at, order), _)) = self.in_flight.first_key_value() {
            if at > self.now {
                break;
            }
            let frame = self.in_flight.remove(&(at, order)).expect("just seen");
            self.deliver(frame);
        }
        for index in 0..self.peers.len() {
            let now = self.local_now(index);
            let peer = &mut self.peers[index];
            let outputs = peer.hub.tick(&peer.workspace, now);
            self.handle(index, outputs);
            // A stream goes out a part per step, so frames and edits fall between its parts.
            let peer = &mut self.peers[index];
            let outputs = peer.hub.send_more(&peer.workspace, now);
            self.handle(index, outputs);
        }
        self.restore_closed_links();
    }

    fn deliver(&mut self, frame: Frame) {
        let open = self.connected.get(&(frame.to, frame.from)) == Some(&frame.connection);
        if self.group[frame.from] != self.group[frame.to] || !open {
            self.outcome.lost += 1;
            return;
        }
        self.outcome.delivered += 1;
        // Only a session past its hello looks at bundles at once; frames that
        // overtook the hello wait in the session and die with it if the
        // connection drops first, unexamined, as on a real transport.
        let examined = self.peers[frame.to].hub.peers().any(|(peer, _)| peer == PeerId(frame.from as u64));
        if examined && let Ok(Message::Bundles(part)) = Message::decode(&frame.bytes) {
            let reader = self.examined_streams.entry((frame.from, frame.to, frame.connection)).or_default();
            for bundle in reader.read(&part).unwrap_or_default().iter().map(ArrivedBundle::bundle) {
                if self.is_forged(bundle) {
                    self.delivered_forged.insert((frame.to, contents_digest(bundle)));
                }
            }
        }
        let now = self.local_now(frame.to);
        let peer = &mut self.peers[frame.to];
        let outputs = peer.hub.receive(&mut peer.workspace, PeerId(frame.from as u64), &frame.bytes, now);
        self.handle(frame.to, outputs);
    }

    fn handle(&mut self, index: usize, outputs: Vec<Output>) {
        let mut queue: VecDeque<Output> = outputs.into();
        while let Some(output) = queue.pop_front() {
            match output {
                Output::Send { peer, frame } => self.transmit(index, peer.0 as usize, frame),
                Output::Persist { ticket, bundles } => {
                    let now = self.local_now(index);
                    let peer = &mut self.peers[index];
                    let applied = peer.workspace.log().named(&bundles).expect("applied");
                    peer.store.append_bundles(applied).expect("memory store has room");
                    queue.extend(peer.hub.persisted(&peer.workspace, ticket, now));
                }
                Output::Close { peer, .. } => {
                    self.peers[index].hub.disconnect(peer);
                    self.connected.remove(&(index, peer.0 as usize));
                }
                Output::Event(_) => {}
            }
        }
    }

    fn transmit(&mut self, from: usize, to: usize, mut bytes: Vec<u8>) {
        let Some(&connection) = self.connected.get(&(from, to)) else {
            self.outcome.lost += 1;
            return;
        };
        if self.below(1000) < self.loss_per_mille {
            self.outcome.lost += 1;
            return;
        }
        if self.peers[from].forger {
            bytes = self.maybe_forge(to, connection, bytes);
        }
        let copies = if self.below(1000) < self.duplicate_per_mille { 2 } else { 1 };
        self.outcome.duplicated += copies - 1;
        for _ in 0..copies {
            let at = self.now + 1 + self.below(self.max_delay_ms);
            self.sequence += 1;
            self.in_flight.insert((at, self.sequence), Frame { from, to, connection, bytes: bytes.clone() });
        }
    }

    /// The forger damages about a third of the bundles it passes on.
    fn maybe_forge(&mut self, to: usize, connection: u64, bytes: Vec<u8>) -> Vec<u8> {
        let Ok(Message::Bundles(part)) = Message::decode(&bytes) else { return bytes };
        let (reader, _) =
            self.forger_streams.entry((to, connection)).or_insert_with(|| (StreamReader::default(), None));
        let Ok(arrived) = reader.read(&part) else { return bytes };
        let mut bundles: Vec<Bundle> = arrived.into_iter().map(ArrivedBundle::into_bundle).collect();
        for bundle in &mut bundles {
            if self.below(3) != 0 {
                continue;
            }
            match self.below(3) {
                0 => {
                    // Rewrite a value after signing.
                    if let Some(op) = bundle.ops.first_mut() {
                        op.payload = match op.payload.clone() {
                            OpPayload::SetField { entity, field, replaces, .. } => {
                                OpPayload::SetField { entity, field, value: Value::String("forged".into()), replaces }
                            }
                            other => OpPayload::AdmitActor {
                                actor: Identity::from_seed([0xee; 32]).actor_id(),
                                display_name: format!("{other:?}").chars().take(8).collect(),
                            },
                        };
                    }
                }
                1 => {
                    // Only a signature that travels can be forged.
                    let Some(signature) = &bundle.signature else { continue };
                    let mut signature = signature.to_bytes();
                    signature[7] ^= 0x40;
                    bundle.signature = Some(openprod_core::identity::Signature::from_bytes(signature));
                    self.forged_signatures.insert((contents_digest(bundle), signature));
                    continue;
                }
                _ => {
                    let mut random = [0u8; 10];
                    self.rng.fill(&mut random);
                    bundle.header.workspace = WorkspaceId::new_v7(START, random);
                }
            }
            self.forged_contents.insert(contents_digest(bundle));
        }
        let (_, writer) = self.forger_streams.get_mut(&(to, connection)).expect("entered above");
        if part.part == 0 {
            *writer = Some(StreamWriter::new(part.stream));
        }
        let Some(writer) = writer else { return bytes };
        let borrowed: Vec<&Bundle> = bundles.iter().collect();
        Message::Bundles(writer.part(part.workspace, &borrowed, part.remaining)).encode()
    }

    fn is_forged(&self, bundle: &Bundle) -> bool {
        let digest = contents_digest(bundle);
        self.forged_contents.contains(&digest)
            || bundle
                .signature
                .as_ref()
                .is_some_and(|signature| self.forged_signatures.contains(&(digest, signature.to_bytes())))
    }

    fn random_edit(&mut self) {
        let index = self.below(self.peers.len() as u64) as usize;
        let now = self.local_now(index);
        let choice = self.below(100);
        let mut entropy = SeededEntropy::new(self.rng.next_u64());
        let contacts = TableId::new("contacts", "contacts");
        let records: Vec<EntityId> = self.peers[index].workspace.state().records(&contacts);
        let pick = |rng: &mut SeededEntropy, list: &[EntityId]| {
            list.get((rng.next_u64() % list.len().max(1) as u64) as usize).copied()
        };
        let first = pick(&mut self.rng, &records);
        let second = pick(&mut self.rng, &records);
        let value = Value::String(format!("v{}", self.rng.next_u64() % 1000));
        let field = ["full_name", "role", "email", "phone"][(self.rng.next_u64() % 4) as usize];
        let conflicted = first.is_some_and(|record| {
            let key = openprod_core::names::FieldKey::new("contacts", field);
            self.peers[index].workspace.state().field(record, &key).is_conflicted()
        });
        let peer = &mut self.peers[index];
        let mut change = peer.workspace.change(now, &mut entropy);
        let made = match (choice, first, second) {
            (0..=24, _, _) | (_, None, _) => change.create_record(&contacts, &[("full_name", value)]).map(|_| ()),
            (25..=64, Some(record), _) => change.set_field(record, &contacts, field, value),
            (65..=69, Some(record), _) => change.clear_field(record, &contacts, "email"),
            (70..=74, Some(record), _) => change.delete_record(record),
            (75..=79, Some(record), Some(other)) => change
                .create_edge(&EdgeType::new("casting", "plays"), record, other, &[("character", value)])
                .map(|_| ()),
            (80..=82, Some(record), Some(other)) if record != other => change.merge_records(record, other).map(|_| ()),
            (83..=92, Some(record), _) if conflicted => {
                change.resolve_conflict(record, &contacts, field, Some(value)).map(|_| ())
            }
            (83..=92, Some(record), _) => change.set_field(record, &contacts, field, value),
            (_, Some(record), _) => change.add_to_table(record, &TableId::new("casting", "roles")),
        };
        if made.is_err() {
            return;
        }
        let Ok(bundle) = change.commit() else { return };
        peer.store.append_bundles(&[bundle]).expect("memory store has room");
        self.outcome.bundles += 1;
        let outputs = peer.hub.local_bundles(&peer.workspace, now);
        self.handle(index, outputs);
    }

    fn honest(&self) -> impl Iterator<Item = (usize, &Peer)> {
        self.peers.iter().enumerate().filter(|(_, peer)| !peer.forger)
    }

    /// Every peer holds the same bundles (pings keep frames in flight forever).
    fn settled(&self) -> bool {
        let first = self.peers[0].workspace.log().version_vector();
        self.peers.iter().all(|peer| peer.workspace.log().version_vector() == first)
    }

    fn check(&mut self) -> Result<(), String> {
        // Every bundle any peer made (its own chain) is held by every honest peer.
        let mut everything = openprod_core::log::VersionVector::new();
        for peer in &self.peers {
            let actor = peer.workspace.actor();
            everything.set(actor, peer.workspace.log().version_vector().get(&actor));
        }
        let reference = self.honest().next().map(|(index, _)| index).expect("at least two honest peers");
        for (index, peer) in self.honest() {
            let held = peer.workspace.log().version_vector();
            if !held.covers(&everything) {
                return Err(format!("peer {index} lacks bundles: holds {held:?}, all made {everything:?}"));
            }
            let hash = peer.workspace.state().state_hash();
            let reference_hash = self.peers[reference].workspace.state().state_hash();
            if hash != reference_hash {
                return Err(format!("peer {index} state hash {hash} differs from peer {reference}'s {reference_hash}"));
            }
            if peer.workspace.state().conflicts() != self.peers[reference].workspace.state().conflicts() {
                return Err(format!("peer {index} sees other conflicts than peer {reference}"));
            }
            for bundle in peer.workspace.log().bundles() {
                if self.is_forged(bundle) {
                    return Err(format!("peer {index} accepted a forged bundle"));
                }
            }
            // Its store holds exactly what its log holds: nothing applied went unpersisted.
            let stored: BTreeSet<Hash> =
                peer.store.load_bundles().expect("readable").iter().map(Bundle::hash).collect();
            if peer.workspace.log().bundles().skip(2).any(|bundle| !stored.contains(&bundle.hash())) {
                return Err(format!("peer {index} applied a bundle it never persisted"));
            }
            if let Some(wrong) = peer.hub.quarantine().iter().find(|entry| !self.is_forged(&entry.bundle)) {
                if std::env::var("SIM_DEBUG").is_ok() {
                    let held = peer.workspace.log().get(&wrong.author, wrong.seq);
                    let author = self.peers.iter().position(|p| p.workspace.actor() == wrong.author);
                    let forgers: Vec<usize> =
                        self.peers.iter().enumerate().filter(|(_, p)| p.forger).map(|(i, _)| i).collect();
                    eprintln!("author peer {author:?}, forgers {forgers:?}");
                    let signature =
                        |bundle: &Bundle| bundle.signature.as_ref().map(|signature| hex(&signature.to_bytes()));
                    eprintln!("HELD sig {:?} digest {:?}", held.map(signature), held.map(|b| b.digest()));
                    eprintln!("QUAR sig {:?} digest {:?}", signature(&wrong.bundle), wrong.bundle.digest());
                    let author_copy = author.and_then(|a| self.peers[a].workspace.log().get(&wrong.author, wrong.seq));
                    eprintln!("AUTHOR sig {:?}", author_copy.map(signature));
                }
                return Err(format!(
                    "peer {index} quarantined a genuine bundle (author {:?}, #{}) from peer {}: {}",
                    wrong.author, wrong.seq, wrong.from.0, wrong.reason
                ));
            }
        }
        for (index, hash) in &self.delivered_forged {
            let peer = &self.peers[*index];
            if peer.forger {
                continue;
            }
            if !peer.hub.quarantine().iter().any(|entry| contents_digest(&entry.bundle) == *hash) {
                return Err(format!("peer {index} was sent forged bundle {hash} and did not quarantine it"));
            }
        }
        self.outcome.quarantined += self.honest().map(|(_, peer)| peer.hub.quarantine().len() as u64).sum::<u64>();
        Ok(())
    }
}

fn seed_bytes(seed: u64, index: usize) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8] = index as u8 + 1;
    bytes
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Identifies a bundle by header and operations: on the wire a signature
/// may be left out, so a forgery is known by what the forger changed.
fn contents_digest(bundle: &Bundle) -> Hash {
    Hash::of(&[bundle.header.encoded(), bundle.ops.iter().flat_map(|op| op.encoded()).collect()].concat())
}
