//! The sessions with every connected peer, and gossip between them.

use std::collections::BTreeMap;

use super::message::{FrameError, Message, NackReason, RefuseReason};
use super::stream::{LogStream, StreamReader, vouched_runs};
use crate::bundle::{ArrivedBundle, Bundle, Hash};
use crate::identity::ActorId;
use crate::log::VersionVector;
use crate::workspace::{Refusal, RefusedBundle, StaleOperation, Workspace};

/// The driver's name for one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub u64);

#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// Bundles per `Bundles` message during catch-up.
    pub batch_size: usize,
    /// How often each session re-announces its vector (repairs lost messages).
    pub vector_interval_ms: u64,
    /// A session silent this long is pinged.
    pub ping_interval_ms: u64,
    /// A session silent this long is closed.
    pub timeout_ms: u64,
    /// Quiet time after which both sides compare state hashes.
    pub quiescence_ms: u64,
    /// Out-of-order bundles held while waiting for the ones before them.
    pub max_pending: usize,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            batch_size: 512,
            vector_interval_ms: 30_000,
            ping_interval_ms: 15_000,
            timeout_ms: 60_000,
            quiescence_ms: 2_000,
            max_pending: 20_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Send {
        peer: PeerId,
        frame: Vec<u8>,
    },
    /// Persist these applied bundles (author and seq: the log holds them),
    /// then call [`SyncHub::persisted`]: only then are they acknowledged and
    /// offered to other peers.
    Persist {
        ticket: PersistTicket,
        bundles: Vec<(ActorId, u64)>,
    },
    Close {
        peer: PeerId,
        reason: String,
    },
    Event(SyncEvent),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PersistTicket(u64);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncEvent {
    PeerIdentified {
        peer: PeerId,
        actor: ActorId,
    },
    Progress {
        peer: PeerId,
        received: u64,
        remaining: u64,
    },
    Applied {
        peer: PeerId,
        bundles: usize,
    },
    Stale {
        peer: PeerId,
        operations: Vec<StaleOperation>,
    },
    Quarantined(Quarantined),
    /// The peer refused one of our bundles (e.g. our clock is ahead of theirs).
    RefusedByPeer {
        peer: PeerId,
        author: ActorId,
        seq: u64,
        detail: String,
    },
    /// Same operations, different derived state: a bug or corruption.
    StateMismatch {
        peer: PeerId,
        ours: Hash,
        theirs: Hash,
    },
    StateConfirmed {
        peer: PeerId,
        state_hash: Hash,
    },
    SessionRefused {
        peer: PeerId,
        reason: String,
    },
    /// A frame that could not be read was dropped.
    Unreadable {
        peer: PeerId,
        reason: String,
    },
}

/// A bundle refused as forged or damaged, kept aside with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    pub from: PeerId,
    pub author: ActorId,
    pub seq: u64,
    pub reason: String,
    pub bundle: Bundle,
}

enum Phase {
    AwaitingHello,
    Active { actor: ActorId },
    Closed,
}

struct Session {
    phase: Phase,
    /// What the peer holds, as far as we know (its reports plus what it acknowledged).
    theirs: VersionVector,
    /// What we have sent it and not yet seen acknowledged.
    sent: VersionVector,
    last_heard_ms: u64,
    last_sent_ms: u64,
    last_vector_ms: u64,
    /// Last time bundles moved either way.
    last_traffic_ms: u64,
    /// The vector at which we last compared state hashes with this peer.
    checked_at: Option<VersionVector>,
    received: u64,
    next_ping: u64,
    /// Frames that overtook the peer's hello, replayed once it arrives.
    early: Vec<Vec<u8>>,
    /// Reads the peer's bundle streams.
    reader: StreamReader,
    /// Number of the next stream of bundles we send it.
    next_stream: u32,
    /// The stream being sent to it, while parts of it are still to go
    /// ([`SyncHub::send_more`]).
    outgoing: Option<LogStream>,
}

/// Bytes of frames kept from a peer before its hello; more are dropped (the
/// periodic vector exchange recovers what they carried).
const MAX_EARLY_BYTES: usize = 8 * 1024 * 1024;

pub struct SyncHub {
    config: SyncConfig,
    sessions: BTreeMap<PeerId, Session>,
    /// Bundles that arrived before their predecessors, by author, seq and
    /// digest (a forged copy must not push out the genuine one, or hide).
    pending: BTreeMap<(ActorId, u64, Hash), (PeerId, Bundle)>,
    quarantine: Vec<Quarantined>,
    /// Per ticket: the peer to acknowledge once the bundles are durable.
    unpersisted: BTreeMap<PersistTicket, PeerId>,
    next_ticket: u64,
    /// What the driver has confirmed durable, when it says so: only that is
    /// offered or acknowledged, so a crash never leaves a peer believing we
    /// hold what we lost. `None`: everything in the log counts.
    durable: Option<VersionVector>,
}

impl SyncHub {
    pub fn new(config: SyncConfig) -> Self {
        SyncHub {
            config,
            sessions: BTreeMap::new(),
            pending: BTreeMap::new(),
            quarantine: Vec::new(),
            unpersisted: BTreeMap::new(),
            next_ticket: 1,
            durable: None,
        }
    }

    pub fn quarantine(&self) -> &[Quarantined] {
        &self.quarantine
    }

    /// Peers whose hello we accepted, with their actors.
    pub fn peers(&self) -> impl Iterator<Item = (PeerId, ActorId)> + '_ {
        self.sessions.iter().filter_map(|(peer, session)| match session.phase {
            Phase::Active { actor } => Some((*peer, actor)),
            _ => None,
        })
    }

    /// A transport connection opened: introduce ourselves.
    pub fn connect(&mut self, workspace: &Workspace, peer: PeerId, now_ms: u64) -> Vec<Output> {
        let session = Session {
            phase: Phase::AwaitingHello,
            theirs: VersionVector::new(),
            sent: VersionVector::new(),
            last_heard_ms: now_ms,
            last_sent_ms: now_ms,
            last_vector_ms: now_ms,
            last_traffic_ms: now_ms,
            checked_at: None,
            received: 0,
            next_ping: 1,
            early: Vec::new(),
            reader: StreamReader::default(),
            next_stream: 0,
            outgoing: None,
        };
        self.sessions.insert(peer, session);
        let mut out = Vec::new();
        self.send(peer, &self.hello(workspace, true), now_ms, &mut out);
        out
    }

    fn hello(&self, workspace: &Workspace, wants_reply: bool) -> Message {
        let vector = workspace.log().version_vector();
        Message::Hello { workspace: workspace.id(), actor: workspace.actor(), vector, wants_reply }
    }

    pub fn disconnect(&mut self, peer: PeerId) {
        self.sessions.remove(&peer);
    }

    /// A frame from `peer`.
    pub fn receive(&mut self, workspace: &mut Workspace, peer: PeerId, frame: &[u8], now_ms: u64) -> Vec<Output> {
        let mut out = Vec::new();
        let Some(session) = self.sessions.get_mut(&peer) else { return out };
        if matches!(session.phase, Phase::Closed) {
            return out;
        }
        session.last_heard_ms = now_ms;
        let message = match Message::decode(frame) {
            Ok(message) => message,
            Err(FrameError::UnknownVersion(version)) => {
                let detail =
                    format!("this app speaks sync protocol version {}, not {version}", super::PROTOCOL_VERSION);
                self.refuse(peer, RefuseReason::ProtocolVersion, detail, now_ms, &mut out);
                return out;
            }
            Err(FrameError::Malformed(error)) => {
                // A garbled frame is dropped; the periodic vector exchange
                // recovers whatever it carried.
                out.push(Output::Event(SyncEvent::Unreadable { peer, reason: error.to_string() }));
                return out;
            }
        };
        let active = matches!(session.phase, Phase::Active { .. });
        match message {
            Message::Hello { workspace: theirs, actor, vector, wants_reply } => {
                if theirs != workspace.id() {
                    let detail = format!("this device syncs workspace {}, not {theirs}", workspace.id());
                    self.refuse(peer, RefuseReason::OtherWorkspace, detail, now_ms, &mut out);
                    return out;
                }
                let session = self.sessions.get_mut(&peer).expect("checked above");
                // Our first hello went out when we connected; a peer that
                // asks again never got it.
                let peer_awaits_ours = wants_reply && matches!(session.phase, Phase::Active { .. });
                session.phase = Phase::Active { actor };
                session.theirs = vector.clone();
                session.sent = VersionVector::new();
                session.outgoing = None;
                out.push(Output::Event(SyncEvent::PeerIdentified { peer, actor }));
                if peer_awaits_ours {
                    self.send(peer, &self.hello(workspace, false), now_ms, &mut out);
                }
                self.send_missing(workspace, peer, now_ms, &mut out);
                let early = std::mem::take(&mut self.sessions.get_mut(&peer).expect("checked above").early);
                for frame in early {
                    out.extend(self.receive(workspace, peer, &frame, now_ms));
                }
            }
            _ if !active => {
                let session = self.sessions.get_mut(&peer).expect("checked above");
                if session.early.iter().map(Vec::len).sum::<usize>() + frame.len() <= MAX_EARLY_BYTES {
                    session.early.push(frame.to_vec());
                }
            }
            Message::Bundles(part) => {
                let session = self.sessions.get_mut(&peer).expect("checked above");
                match session.reader.read(&part) {
                    Ok(bundles) => self.take_bundles(workspace, peer, bundles, part.remaining, now_ms, &mut out),
                    // Like a garbled frame: the vector exchange sends the stream again.
                    Err(error) => out.push(Output::Event(SyncEvent::Unreadable { peer, reason: error.to_string() })),
                }
            }
            Message::Ack { vector } => {
                // Progress, not a loss signal: what is still in flight stays sent.
                let session = self.sessions.get_mut(&peer).expect("checked above");
                merge_into(&mut session.theirs, &vector);
            }
            Message::Vector { vector } => {
                let session = self.sessions.get_mut(&peer).expect("checked above");
                merge_into(&mut session.theirs, &vector);
                // The periodic report: what we sent long ago and the peer
                // still lacks was lost on the way, so it goes again.
                // The stream under way starts over from there.
                session.sent = session.theirs.clone();
                session.outgoing = None;
                self.send_missing(workspace, peer, now_ms, &mut out);
            }
            Message::StateCheck { vector, ops_digest, state_hash } => {
                let ours = workspace.log().version_vector();
                if vector == ours && ops_digest == workspace.log().ops_digest() {
                    let our_hash = workspace.state().state_hash();
                    let event = if our_hash == state_hash {
                        SyncEvent::StateConfirmed { peer, state_hash }
                    } else {
                        SyncEvent::StateMismatch { peer, ours: our_hash, theirs: state_hash }
                    };
                    out.push(Output::Event(event));
                }
            }
            Message::Nack { author, seq, reason: _, detail } => {
                out.push(Output::Event(SyncEvent::RefusedByPeer { peer, author, seq, detail }));
            }
            Message::Refuse { reason, detail } => {
                let session = self.sessions.get_mut(&peer).expect("checked above");
                session.phase = Phase::Closed;
                out.push(Output::Event(SyncEvent::SessionRefused { peer, reason: format!("{reason}: {detail}") }));
                out.push(Output::Close { peer, reason: reason.to_string() });
            }
            Message::Ping { nonce } => self.send(peer, &Message::Pong { nonce }, now_ms, &mut out),
            Message::Pong { .. } => {}
        }
        out
    }

    /// Bundles this device made, already persisted: offer them to every peer.
    pub fn local_bundles(&mut self, workspace: &Workspace, now_ms: u64) -> Vec<Output> {
        let mut out = Vec::new();
        let peers: Vec<PeerId> = self.active_peers();
        for peer in peers {
            self.send_missing(workspace, peer, now_ms, &mut out);
        }
        out
    }

    /// Everything up to `durable` is now stored: from here on only that is
    /// offered and acknowledged. Newly durable bundles go to every peer.
    /// Peers hear the new frontier when it covers more of others' bundles:
    /// an acknowledgement sent before they were stored said less, and would
    /// otherwise stand until the periodic vector exchange.
    pub fn durable_up_to(&mut self, workspace: &Workspace, durable: VersionVector, now_ms: u64) -> Vec<Output> {
        let me = workspace.actor();
        let grew = self
            .durable
            .as_ref()
            .is_some_and(|old| durable.iter().any(|(author, seq)| *author != me && old.get(author) < *seq));
        self.durable = Some(durable);
        let mut out = self.local_bundles(workspace, now_ms);
        if grew {
            let held = self.held(workspace);
            for peer in self.active_peers() {
                self.send(peer, &Message::Ack { vector: held.clone() }, now_ms, &mut out);
            }
        }
        out
    }

    /// What we can vouch for holding: the durable part of the log.
    fn held(&self, workspace: &Workspace) -> VersionVector {
        self.durable.clone().unwrap_or_else(|| workspace.log().version_vector())
    }

    /// The driver persisted what `ticket` named: acknowledge it, and pass
    /// the bundles on to the other peers (gossip).
    pub fn persisted(&mut self, workspace: &Workspace, ticket: PersistTicket, now_ms: u64) -> Vec<Output> {
        let mut out = Vec::new();
        let Some(from) = self.unpersisted.remove(&ticket) else { return out };
        if self.sessions.contains_key(&from) {
            self.send(from, &Message::Ack { vector: self.held(workspace) }, now_ms, &mut out);
        }
        for peer in self.active_peers() {
            if peer != from {
                self.send_missing(workspace, peer, now_ms, &mut out);
            }
        }
        out
    }

    /// The next part of every stream still being sent, one per peer. A
    /// catch-up of a whole log is many parts; the hub sends the first at
    /// once and the driver asks for the rest with this while
    /// [`SyncHub::is_sending`], so that its thread is never held for all of
    /// them at once.
    pub fn send_more(&mut self, workspace: &Workspace, now_ms: u64) -> Vec<Output> {
        let mut out = Vec::new();
        let sending: Vec<PeerId> =
            self.sessions.iter().filter(|(_, session)| session.outgoing.is_some()).map(|(peer, _)| *peer).collect();
        for peer in sending {
            self.send_next_part(workspace, peer, now_ms, &mut out);
        }
        out
    }

    fn send_next_part(&mut self, workspace: &Workspace, peer: PeerId, now_ms: u64, out: &mut Vec<Output>) {
        let batch_size = self.config.batch_size.max(1);
        let Some(session) = self.sessions.get_mut(&peer) else { return };
        let part = match (&session.phase, session.outgoing.as_mut()) {
            (Phase::Active { .. }, Some(stream)) => stream.next_part(workspace.log(), workspace.id(), batch_size),
            _ => None,
        };
        if session.outgoing.as_ref().is_none_or(LogStream::is_done) {
            session.outgoing = None;
        }
        if let Some(part) = part {
            session.last_traffic_ms = now_ms;
            self.send(peer, &Message::Bundles(part), now_ms, out);
        }
    }

    /// Some stream still has parts to send: see [`SyncHub::send_more`].
    pub fn is_sending(&self) -> bool {
        self.sessions.values().any(|session| session.outgoing.is_some())
    }

    /// Time passed: pings, periodic vector exchange, state checks, timeouts.
    pub fn tick(&mut self, workspace: &Workspace, now_ms: u64) -> Vec<Output> {
        let mut out = Vec::new();
        // Copies held back may have been settled by bundles from elsewhere.
        self.settle_pending(workspace, now_ms, &mut out);
        let config = self.config.clone();
        let ours = workspace.log().version_vector();
        let peers: Vec<PeerId> = self.sessions.keys().copied().collect();
        for peer in peers {
            let session = self.sessions.get_mut(&peer).expect("listed just above");
            if matches!(session.phase, Phase::Closed) {
                continue;
            }
            if now_ms.saturating_sub(session.last_heard_ms) >= config.timeout_ms {
                session.phase = Phase::Closed;
                out.push(Output::Close { peer, reason: "the peer stopped answering".into() });
                continue;
            }
            if matches!(session.phase, Phase::AwaitingHello) {
                // Our hello may have been lost: say it again until the peer answers.
                if now_ms.saturating_sub(session.last_sent_ms) >= config.vector_interval_ms {
                    let hello = self.hello(workspace, true);
                    self.send(peer, &hello, now_ms, &mut out);
                }
                continue;
            }
            if now_ms.saturating_sub(session.last_vector_ms) >= config.vector_interval_ms {
                session.last_vector_ms = now_ms;
                self.send(peer, &Message::Vector { vector: ours.clone() }, now_ms, &mut out);
                continue;
            }
            let session = self.sessions.get_mut(&peer).expect("listed just above");
            let quiet = now_ms.saturating_sub(session.last_traffic_ms) >= config.quiescence_ms;
            if quiet && session.checked_at.as_ref() != Some(&ours) && session.theirs == ours {
                session.checked_at = Some(ours.clone());
                let check = Message::StateCheck {
                    vector: ours.clone(),
                    ops_digest: workspace.log().ops_digest(),
                    state_hash: workspace.state().state_hash(),
                };
                self.send(peer, &check, now_ms, &mut out);
                continue;
            }
            let session = self.sessions.get_mut(&peer).expect("listed just above");
            if now_ms.saturating_sub(session.last_sent_ms) >= config.ping_interval_ms {
                let nonce = session.next_ping;
                session.next_ping += 1;
                self.send(peer, &Message::Ping { nonce }, now_ms, &mut out);
            }
        }
        out
    }

    fn take_bundles(
        &mut self,
        workspace: &mut Workspace,
        peer: PeerId,
        bundles: Vec<ArrivedBundle>,
        remaining: u64,
        now_ms: u64,
        out: &mut Vec<Output>,
    ) {
        let session = self.sessions.get_mut(&peer).expect("an active session");
        session.received += bundles.len() as u64;
        session.last_traffic_ms = now_ms;
        let received = session.received;
        out.push(Output::Event(SyncEvent::Progress { peer, received, remaining }));

        // Bundles held back earlier may fit after these: keep going until
        // nothing more falls into place.
        let mut applied_bundles = Vec::new();
        let mut stale = Vec::new();
        // Copies of what we already held still prove what the sender holds.
        let held_already: Vec<(ActorId, u64)> = bundles
            .iter()
            .map(ArrivedBundle::bundle)
            .filter(|bundle| {
                workspace
                    .log()
                    .get(&bundle.header.author, bundle.header.seq)
                    .is_some_and(|held| held.same_contents(bundle))
            })
            .map(|bundle| (bundle.header.author, bundle.header.seq))
            .collect();
        let mut batch = bundles;
        while !batch.is_empty() {
            let mut report = workspace.receive(batch, now_ms);
            let anything_applied = !report.applied.is_empty();
            applied_bundles.append(&mut report.applied);
            stale.append(&mut report.stale);
            self.sort_out_refusals(workspace, peer, report.refused, now_ms, out);
            if !anything_applied {
                break;
            }
            batch = self.pending_ready(workspace, now_ms, out);
        }
        if !stale.is_empty() {
            out.push(Output::Event(SyncEvent::Stale { peer, operations: stale }));
        }
        let session = self.sessions.get_mut(&peer).expect("an active session");
        for (author, seq) in held_already.iter().chain(&applied_bundles).copied() {
            let held = session.theirs.get(&author).max(seq);
            session.theirs.set(author, held);
        }
        if applied_bundles.is_empty() {
            // Nothing new to persist: say at once what we hold, so that both
            // sides see they agree and compare state without waiting for the
            // periodic vector exchange (in a mesh most bundles come twice).
            if !held_already.is_empty() {
                self.send(peer, &Message::Ack { vector: self.held(workspace) }, now_ms, out);
            }
        } else {
            out.push(Output::Event(SyncEvent::Applied { peer, bundles: applied_bundles.len() }));
            let ticket = PersistTicket(self.next_ticket);
            self.next_ticket += 1;
            self.unpersisted.insert(ticket, peer);
            out.push(Output::Persist { ticket, bundles: applied_bundles });
        }
    }

    /// Refused bundles: gaps wait in `pending`; forgeries go to quarantine;
    /// clocks too far ahead are reported to the sender.
    fn sort_out_refusals(
        &mut self,
        workspace: &Workspace,
        peer: PeerId,
        refusals: Vec<RefusedBundle>,
        now_ms: u64,
        out: &mut Vec<Output>,
    ) {
        for refused in refusals {
            let bundle = refused.bundle;
            match &refused.reason {
                reason if reason.may_wait() => {
                    if self.pending.len() < self.config.max_pending
                        && workspace.log().tip(&refused.author).map_or(0, |tip| tip.seq) < refused.seq
                    {
                        self.pending.insert((refused.author, refused.seq, refused.digest), (peer, bundle));
                    }
                }
                Refusal::FutureClock(error) => {
                    let nack = Message::Nack {
                        author: refused.author,
                        seq: refused.seq,
                        reason: NackReason::FutureHlc,
                        detail: error.to_string(),
                    };
                    self.send(peer, &nack, now_ms, out);
                }
                Refusal::Invalid(error) => self.quarantine_bundle(peer, bundle, error.to_string(), now_ms, out),
                Refusal::AfterRefused { .. } => unreachable!("a bundle after a refused one may wait"),
            }
        }
    }

    fn quarantine_bundle(&mut self, from: PeerId, bundle: Bundle, reason: String, now_ms: u64, out: &mut Vec<Output>) {
        let (author, seq) = (bundle.header.author, bundle.header.seq);
        let nack = Message::Nack { author, seq, reason: NackReason::Invalid, detail: reason.clone() };
        if self.sessions.contains_key(&from) {
            self.send(from, &nack, now_ms, out);
        }
        let quarantined = Quarantined { from, author, seq, reason, bundle };
        out.push(Output::Event(SyncEvent::Quarantined(quarantined.clone())));
        self.quarantine.push(quarantined);
    }

    /// Drops pending copies of bundles held since, or quarantines them when
    /// they differ from the held one: two versions of one bundle is forgery.
    fn settle_pending(&mut self, workspace: &Workspace, now_ms: u64, out: &mut Vec<Output>) {
        let log = workspace.log();
        let settled: Vec<(ActorId, u64, Hash)> = self
            .pending
            .keys()
            .copied()
            .filter(|(author, seq, _)| log.tip(author).map_or(0, |tip| tip.seq) >= *seq)
            .collect();
        for key in settled {
            let (author, seq, _) = key;
            let Some((from, bundle)) = self.pending.remove(&key) else { continue };
            let Some(held) = log.get(&author, seq) else { continue };
            if !held.same_contents(&bundle) {
                let reason = crate::bundle::VerifyError::Fork { seq }.to_string();
                self.quarantine_bundle(from, bundle, reason, now_ms, out);
            } else if bundle.signature.is_some()
                && bundle.signature != held.signature
                && let Err(error) = bundle.verify_signature()
            {
                self.quarantine_bundle(from, bundle, error.to_string(), now_ms, out);
            }
        }
    }

    /// Pending runs that now directly follow their author's tip, each up to
    /// a signed bundle that can vouch for it.
    fn pending_ready(&mut self, workspace: &Workspace, now_ms: u64, out: &mut Vec<Output>) -> Vec<ArrivedBundle> {
        self.settle_pending(workspace, now_ms, out);
        let log = workspace.log();
        let mut ready = Vec::new();
        let mut author_run: Vec<(ActorId, u64, Hash)> = Vec::new();
        let mut signed_len = 0;
        let keys: Vec<(ActorId, u64, Hash)> = self.pending.keys().copied().collect();
        for key in keys.into_iter().chain([(ActorId::from_bytes([0xff; 32]), u64::MAX, Hash([0; 32]))]) {
            let (author, seq, _) = key;
            let extends = author_run.last().is_some_and(|(last_author, last_seq, _)| {
                *last_author == author && (seq == *last_seq || seq == *last_seq + 1)
            });
            if !extends {
                ready.extend(author_run.drain(..).take(signed_len));
                signed_len = 0;
                if log.tip(&author).map_or(0, |tip| tip.seq) + 1 != seq {
                    continue;
                }
            }
            if self.pending.get(&key).is_some_and(|(_, bundle)| bundle.signature.is_some()) {
                signed_len = author_run.len() + 1;
            }
            author_run.push(key);
        }
        ready.into_iter().filter_map(|key| self.pending.remove(&key)).map(|(_, bundle)| bundle.into()).collect()
    }

    fn active_peers(&self) -> Vec<PeerId> {
        self.sessions
            .iter()
            .filter(|(_, session)| matches!(session.phase, Phase::Active { .. }))
            .map(|(peer, _)| *peer)
            .collect()
    }

    /// Sends what `peer` lacks and we have not sent yet: behind the stream
    /// under way, or as a new stream whose first part goes at once (a live
    /// edit is one part). Each author's run in a part ends at a signed
    /// bundle, which vouches for the rest of it.
    fn send_missing(&mut self, workspace: &Workspace, peer: PeerId, now_ms: u64, out: &mut Vec<Output>) {
        let durable = self.durable.as_ref();
        let Some(session) = self.sessions.get_mut(&peer) else { return };
        let mut known = session.theirs.clone();
        merge_into(&mut known, &session.sent);
        let missing =
            vouched_runs(workspace.log().missing_for(&known).filter(|bundle| {
                durable.is_none_or(|durable| durable.get(&bundle.header.author) >= bundle.header.seq)
            }));
        if missing.is_empty() {
            return;
        }
        session.last_traffic_ms = now_ms;
        for bundle in &missing {
            let held = session.sent.get(&bundle.header.author).max(bundle.header.seq);
            session.sent.set(bundle.header.author, held);
        }
        if let Some(stream) = session.outgoing.as_mut() {
            stream.push(&missing);
            return;
        }
        let mut stream = LogStream::new(session.next_stream);
        session.next_stream = session.next_stream.wrapping_add(1);
        stream.push(&missing);
        session.outgoing = Some(stream);
        self.send_next_part(workspace, peer, now_ms, out);
    }

    fn send(&mut self, peer: PeerId, message: &Message, now_ms: u64, out: &mut Vec<Output>) {
        self.send_frame(peer, message.encode(), now_ms, out);
    }

    fn send_frame(&mut self, peer: PeerId, frame: Vec<u8>, now_ms: u64, out: &mut Vec<Output>) {
        if let Some(session) = self.sessions.get_mut(&peer) {
            session.last_sent_ms = now_ms;
        }
        out.push(Output::Send { peer, frame });
    }

    fn refuse(&mut self, peer: PeerId, reason: RefuseReason, detail: String, now_ms: u64, out: &mut Vec<Output>) {
        self.send(peer, &Message::Refuse { reason, detail: detail.clone() }, now_ms, out);
        if let Some(session) = self.sessions.get_mut(&peer) {
            session.phase = Phase::Closed;
        }
        out.push(Output::Event(SyncEvent::SessionRefused { peer, reason: format!("{reason}: {detail}") }));
        out.push(Output::Close { peer, reason: reason.to_string() });
    }
}

fn merge_into(target: &mut VersionVector, other: &VersionVector) {
    for (actor, seq) in other.iter() {
        if target.get(actor) < *seq {
            target.set(*actor, *seq);
        }
    }
}
