//! The driver's side of peer sync: the engine's [`SyncHub`] runs against
//! the open workspace, and the network layer (`crate::net`) carries its
//! frames.
//!
//! **Invariant:** what a peer sent is acknowledged, and what this device
//! made is offered, only once it is durable in IndexedDB. The hub is told
//! the durable frontier after every write (`durable_up_to`), so a vector
//! exchange arriving mid-write cannot offer an edit a crash would lose.

use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;

use openprod_core::identity::ActorId;
use openprod_core::log::VersionVector;
use openprod_core::sync::{Output, PeerId, PersistTicket};

use super::{Driver, Inner, Pending};
use crate::device::{monotonic_ms, now_ms, record_measure, yield_to_browser};

/// The User Timing measure of taking in one sync frame (a batch of bundles:
/// decode, verify, apply).
pub const SYNC_FRAME: &str = "openprod sync frame";

/// Frames are taken in one after the other for at most about this long,
/// then the browser gets a turn: several messages can arrive within one
/// task, and together they would make it a long one.
const FRAME_SLICE_MS: f64 = 8.0;

/// Receives what the hub wants sent, closed or told, in order. Persist
/// requests never reach it: the driver performs them.
pub type SyncSink = Rc<dyn Fn(Vec<Output>)>;

impl Driver {
    /// Connects the network: from now on the hub's output goes to `sink`.
    /// `false` if the workspace was closed meanwhile, or is read-only because
    /// its stored data was found damaged.
    pub fn attach_sync(&self, sink: SyncSink) -> bool {
        let Some(inner) = self.inner.try_get_value() else { return false };
        if inner.trouble.is_some() {
            return false;
        }
        *inner.sync_sink.borrow_mut() = Some(sink);
        let durable = durable_vector(self.peek(|workspace| workspace.log().version_vector()), &inner.pending.borrow());
        *inner.durable.borrow_mut() = Some(durable);
        self.stored(&inner, &[], &[]);
        true
    }

    /// Disconnects the network; sessions start afresh when it comes back.
    pub fn detach_sync(&self) {
        let Some(inner) = self.inner.try_get_value() else { return };
        inner.sync_sink.borrow_mut().take();
        inner.durable.borrow_mut().take();
        let peers: Vec<PeerId> = inner.hub.borrow().peers().map(|(peer, _)| peer).collect();
        for peer in peers {
            inner.hub.borrow_mut().disconnect(peer);
        }
    }

    /// A transport to `peer` opened and the peer proved it belongs.
    pub fn sync_connect(&self, peer: PeerId) {
        self.with_hub(|hub, workspace| hub.connect(workspace, peer, now_ms()));
    }

    pub fn sync_disconnect(&self, peer: PeerId) {
        if let Some(inner) = self.inner.try_get_value() {
            inner.hub.borrow_mut().disconnect(peer);
        }
    }

    /// A whole sync frame from `peer`: queued, and taken in at once unless
    /// frames before it still wait, in the order they came.
    pub fn sync_frame(&self, peer: PeerId, frame: &[u8]) {
        let Some(inner) = self.inner.try_get_value() else { return };
        inner.inbox.borrow_mut().push_back((peer, frame.to_vec()));
        if inner.taking_in.replace(true) {
            return; // the running loop takes it in turn
        }
        let driver = *self;
        spawn_local(async move {
            let mut slice_began = monotonic_ms();
            loop {
                let next = inner.inbox.borrow_mut().pop_front();
                let Some((peer, frame)) = next else { break };
                driver.take_in_frame(&inner, peer, &frame);
                if monotonic_ms() - slice_began >= FRAME_SLICE_MS {
                    yield_to_browser().await;
                    slice_began = monotonic_ms();
                }
            }
            inner.taking_in.set(false);
        });
    }

    fn take_in_frame(&self, inner: &Inner, peer: PeerId, frame: &[u8]) {
        let began = monotonic_ms();
        // Never reached while attaching is refused; kept so that no path
        // changes a read-only workspace.
        if inner.trouble.is_some() {
            return;
        }
        let outputs = {
            let mut workspace = inner.workspace.borrow_mut();
            inner.hub.borrow_mut().receive(&mut workspace, peer, frame, now_ms())
        };
        self.dispatch(inner, outputs);
        record_measure(SYNC_FRAME, began);
    }

    /// Time passed: pings, vector exchange, state checks, timeouts.
    pub fn sync_tick(&self) {
        self.with_hub(|hub, workspace| hub.tick(workspace, now_ms()));
    }

    /// The actors of the peers whose sessions are running.
    pub fn sync_peers(&self) -> Vec<(PeerId, ActorId)> {
        self.inner.try_get_value().map(|inner| inner.hub.borrow().peers().collect()).unwrap_or_default()
    }

    fn with_hub(
        &self,
        step: impl FnOnce(&mut openprod_core::sync::SyncHub, &openprod_core::workspace::Workspace) -> Vec<Output>,
    ) {
        let Some(inner) = self.inner.try_get_value() else { return };
        let outputs = { step(&mut inner.hub.borrow_mut(), &inner.workspace.borrow()) };
        self.dispatch(&inner, outputs);
    }

    /// Called after each write of `written` (and on attaching): tells the
    /// hub how far the log is durable, then acknowledges what `tickets` named.
    /// Writes go in log order, so each author's durable part only grows.
    pub(super) fn stored(&self, inner: &Inner, written: &[(ActorId, u64)], tickets: &[PersistTicket]) {
        let durable = {
            let mut durable = inner.durable.borrow_mut();
            let Some(durable) = durable.as_mut() else { return };
            for &(author, seq) in written {
                if durable.get(&author) < seq {
                    durable.set(author, seq);
                }
            }
            durable.clone()
        };
        let outputs = {
            let held = inner.workspace.borrow();
            let workspace = &*held;
            let now = now_ms();
            let mut hub = inner.hub.borrow_mut();
            let mut outputs = hub.durable_up_to(workspace, durable, now);
            for ticket in tickets {
                outputs.extend(hub.persisted(workspace, *ticket, now));
            }
            outputs
        };
        self.dispatch(inner, outputs);
    }

    /// Performs persist requests; passes everything else to the network.
    fn dispatch(&self, inner: &Inner, outputs: Vec<Output>) {
        let mut onward = Vec::with_capacity(outputs.len());
        for output in outputs {
            match output {
                Output::Persist { ticket, bundles } => self.queue(Pending::Received(bundles, Some(ticket))),
                other => onward.push(other),
            }
        }
        if !onward.is_empty() {
            let sink = inner.sync_sink.borrow().clone();
            if let Some(sink) = sink {
                sink(onward);
            }
        }
        if inner.hub.borrow().is_sending() {
            self.keep_sending(inner);
        }
    }

    /// Sends the rest of the hub's streams a part at a time, in slices of
    /// about [`FRAME_SLICE_MS`] with the browser's turn between them: a
    /// colleague catching up on the whole log must not freeze this page.
    fn keep_sending(&self, inner: &Inner) {
        if inner.sending.replace(true) {
            return; // the running loop sends them
        }
        let driver = *self;
        spawn_local(async move {
            yield_to_browser().await;
            let mut slice_began = monotonic_ms();
            while let Some(inner) = driver.inner.try_get_value() {
                if !inner.hub.borrow().is_sending() {
                    inner.sending.set(false);
                    break;
                }
                let outputs = inner.hub.borrow_mut().send_more(&inner.workspace.borrow(), now_ms());
                let sink = inner.sync_sink.borrow().clone();
                if let Some(sink) = sink {
                    sink(outputs);
                }
                if monotonic_ms() - slice_began >= FRAME_SLICE_MS {
                    yield_to_browser().await;
                    slice_began = monotonic_ms();
                }
            }
        });
    }
}

/// The log's vector, cut back to just before the first bundle of each
/// author still waiting to be written.
fn durable_vector(mut vector: VersionVector, pending: &std::collections::VecDeque<Pending>) -> VersionVector {
    let waiting = pending.iter().flat_map(|entry| match entry {
        Pending::Local(bundle, _) => vec![(bundle.header.author, bundle.header.seq)],
        Pending::Received(named, _) => named.clone(),
    });
    for (author, seq) in waiting {
        if vector.get(&author) >= seq {
            vector.set(author, seq - 1);
        }
    }
    vector
}
