//! The driver: runs one open workspace's engine in the page, performs its
//! effects (IndexedDB writes) and feeds the UI through signals.
//!
//! Reads go through [`Driver::read`], which subscribes the calling view to
//! every change. An edit is applied in memory at once (the page shows it),
//! then queued for IndexedDB; it counts as saved — and may be offered to
//! peers — only after its transaction completed. A failed write stops the
//! queue where it is: the edit stays in memory and in the queue, the error
//! is shown in plain words, and [`Driver::retry_save`] tries again.

mod folding;
mod opening;
mod sync;

pub use folding::COMPACTION;
pub use opening::{OPENED, OpenError, OpenProgress, open};
pub use sync::{SYNC_FRAME, SyncSink};

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use openprod_core::bundle::{Bundle, Hash};
use openprod_core::entropy::Entropy;
use openprod_core::hlc::ClockConfig;
use openprod_core::identity::{ActorId, Identity};
use openprod_core::ids::{EntityId, WorkspaceId};
use openprod_core::log::VersionVector;
use openprod_core::op::OpPayload;
use openprod_core::store::encode_log_record;
use openprod_core::sync::{PeerId, PersistTicket, SyncConfig, SyncHub};
use openprod_core::workspace::{Change, EditError, ReceiveReport, UndoOutcome, Workspace, WorkspaceChanged};

use crate::device::{BrowserEntropy, HeldLock, monotonic_ms, now_ms, record_span, sleep_ms, yield_to_browser};
use crate::storage::{StorageError, WorkspaceDb};

/// After this many new bundles (or a quarter of the log, if more) the stored
/// log is folded again, so that folding the whole log costs a share of what
/// was written since, and an opening reads a few large records rather than
/// one per received batch.
const FOLD_EVERY: usize = 2_000;

/// The User Timing measure from the start of a local edit to its bundle
/// being durable in IndexedDB.
pub const EDIT_DURABLE: &str = "openprod edit durable";

/// Views are updated at most this often while received changes pour in.
const RECEIVED_VIEW_UPDATE_MS: f64 = 250.0;
/// Up to this many bundles received together are shown at once: a
/// colleague's live edits, as opposed to a catch-up's batches.
const LIVE_BUNDLES: usize = 8;

/// Records hashed per step of the state hash, between yields to the page.
const STATE_RECORDS_HASHED_PER_STEP: usize = 1_000;

/// How long the log must stay unchanged before the stored log is folded and
/// the state hashed.
const QUIET_MS: i32 = 500;

/// Most bundles stored in one segment when received batches are coalesced:
/// encoding and handing over more at once made a long task of the write.
const MAX_SEGMENT_BUNDLES: usize = 1_024;

/// How often waiting for the driver to finish saving looks again.
const WAIT_POLL_MS: i32 = 10;

/// Whether everything shown is safely on this device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveState {
    Saved,
    Saving {
        waiting: usize,
    },
    /// Writing failed; `waiting` changes are kept in memory, not yet stored.
    Failed {
        waiting: usize,
        error: String,
    },
}

/// One write of [`Driver::write_pending`]: a local bundle, or received ones
/// encoded as one segment.
enum Write {
    Local(Bundle, f64),
    Segment(Vec<u8>),
}

/// What waits to be written, in the order it happened.
enum Pending {
    /// Made on this device: its own small record, written at once. With
    /// when the edit began, to measure how long it took to become durable.
    Local(Bundle, f64),
    /// Received together: one segment, named by author and seq (the log
    /// holds them). With the sync hub's ticket, when a peer sent them and
    /// waits for them to be acknowledged.
    Received(Vec<(ActorId, u64)>, Option<PersistTicket>),
}

impl Pending {
    fn bundle_count(&self) -> usize {
        match self {
            Pending::Local(..) => 1,
            Pending::Received(bundles, _) => bundles.len(),
        }
    }
}

/// Why an edit did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditFailure {
    Refused(EditError),
    /// Stored data was found damaged on opening; see [`Driver::trouble`].
    ReadOnly,
}

impl fmt::Display for EditFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EditFailure::Refused(error) => write!(f, "{error}"),
            EditFailure::ReadOnly => {
                f.write_str("This workspace cannot be changed on this device until its stored data is repaired.")
            }
        }
    }
}

impl From<EditError> for EditFailure {
    fn from(error: EditError) -> Self {
        EditFailure::Refused(error)
    }
}

struct Inner {
    workspace: RefCell<Workspace>,
    /// Why the workspace is shown read-only: its stored data was found
    /// damaged on opening. It shows what verified; nothing is written, folded
    /// or offered to peers, and this device signs nothing more in it (its
    /// own chain may be among the damage).
    trouble: Option<String>,
    /// Only one page of this browser drives a workspace at a time.
    _lock: HeldLock,
    /// One trigger per record a view reads, fired when a change writes one
    /// of its fields: an edit re-runs the views of that record only.
    record_triggers: RefCell<BTreeMap<EntityId, ArcTrigger>>,
    db: WorkspaceDb,
    pending: RefCell<VecDeque<Pending>>,
    flushing: Cell<bool>,
    /// Bundles stored since the log was last folded.
    written_since_fold: Cell<usize>,
    /// Folding and hashing wait for a quiet moment, or are under way.
    upkeep_scheduled: Cell<bool>,
    /// A fold of the stored log is under way (one at a time: each reads and
    /// checks the whole log).
    folding: Cell<bool>,
    /// Sessions with peers; it offers only what is durable (see `sync.rs`).
    hub: RefCell<SyncHub>,
    /// Frames from peers not yet taken in, oldest first, and whether a
    /// loop is taking them in (see `Driver::sync_frame`).
    inbox: RefCell<VecDeque<(PeerId, Vec<u8>)>>,
    taking_in: Cell<bool>,
    /// A loop is sending the rest of the hub's streams (see `Driver::keep_sending`).
    sending: Cell<bool>,
    /// Where the hub's frames and events go while the network is attached.
    sync_sink: RefCell<Option<SyncSink>>,
    /// How far the log is written, per author, while the network is
    /// attached: kept up to date write by write (see `sync.rs`).
    durable: RefCell<Option<VersionVector>>,
    /// Received changes not yet shown, while view updates are spaced out.
    unannounced: RefCell<Changed>,
    announce_scheduled: Cell<bool>,
    last_announced: Cell<f64>,
}

/// A handle on the open workspace: `Copy`, so any view closure can hold one.
#[derive(Clone, Copy)]
pub struct Driver {
    inner: StoredValue<Rc<Inner>, LocalStorage>,
    /// Bumped by every change.
    revision: RwSignal<u64>,
    /// Bumped by changes other than field writes: records created, deleted
    /// or moved between tables, schema, mappings, merges.
    structure: RwSignal<u64>,
    save_state: RwSignal<SaveState>,
}

impl Driver {
    fn new(
        workspace: Workspace,
        db: WorkspaceDb,
        lock: HeldLock,
        written_since_fold: usize,
        trouble: Option<String>,
    ) -> Driver {
        let inner = Inner {
            workspace: RefCell::new(workspace),
            trouble,
            _lock: lock,
            record_triggers: RefCell::default(),
            db,
            pending: RefCell::default(),
            flushing: Cell::new(false),
            written_since_fold: Cell::new(written_since_fold),
            upkeep_scheduled: Cell::new(false),
            folding: Cell::new(false),
            hub: RefCell::new(SyncHub::new(SyncConfig::default())),
            inbox: RefCell::default(),
            taking_in: Cell::new(false),
            sending: Cell::new(false),
            sync_sink: RefCell::default(),
            durable: RefCell::default(),
            unannounced: RefCell::default(),
            announce_scheduled: Cell::new(false),
            last_announced: Cell::new(f64::NEG_INFINITY),
        };
        Driver {
            inner: StoredValue::new_local(Rc::new(inner)),
            revision: RwSignal::new(0),
            structure: RwSignal::new(0),
            save_state: RwSignal::new(SaveState::Saved),
        }
    }

    /// A workspace this device has no data of yet, filled by sync or an import.
    pub async fn start(id: WorkspaceId, identity: Identity) -> Result<Driver, OpenError> {
        let lock = opening::lock_workspace(id).await?;
        let db = WorkspaceDb::open(id).await?;
        Ok(Driver::new(Workspace::empty(id, identity, now_ms(), ClockConfig::default()), db, lock, 0, None))
    }

    /// Lets go of the workspace: its database closes (and its lock is
    /// released) once the last pending write, if any, has finished. Deferred
    /// by one turn of the event loop, so views still showing it unmount first.
    pub fn close(self) {
        spawn_local(async move {
            yield_to_browser().await;
            self.inner.dispose();
        });
    }

    fn inner(&self) -> Rc<Inner> {
        self.inner.get_value()
    }

    /// Reads the workspace; the calling view re-runs after every change.
    pub fn read<R>(&self, read: impl FnOnce(&Workspace) -> R) -> R {
        self.revision.track();
        self.peek(read)
    }

    /// Reads what depends on one record's fields (and on the workspace's
    /// structure); the view re-runs only when those change.
    pub fn read_record<R>(&self, record: EntityId, read: impl FnOnce(&Workspace) -> R) -> R {
        self.structure.track();
        let trigger = self.inner().record_triggers.borrow_mut().entry(record).or_default().clone();
        trigger.track();
        self.peek(read)
    }

    /// Reads what depends only on the workspace's structure: which records
    /// exist and in which tables, the schema.
    pub fn read_structure<R>(&self, read: impl FnOnce(&Workspace) -> R) -> R {
        self.structure.track();
        self.peek(read)
    }

    /// How many changes the workspace has seen while open; the calling view
    /// re-runs after every change.
    pub fn changes(&self) -> u64 {
        self.revision.get()
    }

    /// Whether the workspace is still open here (a view may outlive it by
    /// a turn of the event loop).
    pub fn is_open(&self) -> bool {
        self.inner.try_get_value().is_some()
    }

    /// Reads without subscribing: for event handlers.
    pub fn peek<R>(&self, read: impl FnOnce(&Workspace) -> R) -> R {
        read(&self.inner().workspace.borrow())
    }

    /// Why the workspace is shown read-only, if its stored data was found
    /// damaged on opening.
    pub fn trouble(&self) -> Option<String> {
        self.inner.try_get_value().and_then(|inner| inner.trouble.clone())
    }

    /// The workspace, if it may change.
    fn writable<R>(&self, work: impl FnOnce(&mut Workspace) -> R) -> Result<R, EditFailure> {
        let inner = self.inner();
        if inner.trouble.is_some() {
            return Err(EditFailure::ReadOnly);
        }
        let mut workspace = inner.workspace.borrow_mut();
        Ok(work(&mut workspace))
    }

    pub fn save_state(&self) -> ReadSignal<SaveState> {
        self.save_state.read_only()
    }

    /// Makes one edit — one bundle, however many fields `edit` touches — or
    /// none if `edit` fails.
    pub fn edit<T>(&self, edit: impl FnOnce(&mut Change<'_>) -> Result<T, EditError>) -> Result<T, EditFailure> {
        let began = monotonic_ms();
        let (result, bundle) = self.writable(|workspace| {
            let mut entropy = BrowserEntropy;
            let mut change = workspace.change(now_ms(), &mut entropy as &mut dyn Entropy);
            let result = edit(&mut change)?;
            Ok::<_, EditError>((result, change.commit()?))
        })??;
        self.queue(Pending::Local(bundle, began));
        Ok(result)
    }

    pub fn undo(&self) -> Result<UndoOutcome, EditFailure> {
        self.step_history(Workspace::undo)
    }

    pub fn redo(&self) -> Result<UndoOutcome, EditFailure> {
        self.step_history(Workspace::redo)
    }

    fn step_history(&self, step: fn(&mut Workspace, u64) -> UndoOutcome) -> Result<UndoOutcome, EditFailure> {
        let began = monotonic_ms();
        let outcome = self.writable(|workspace| step(workspace, now_ms()))?;
        match &outcome {
            UndoOutcome::Applied(bundle) => self.queue(Pending::Local(bundle.clone(), began)),
            // The history changed even so: the buttons may need to grey out.
            UndoOutcome::Skipped { .. } | UndoOutcome::NothingToDo => self.revision.update(|revision| *revision += 1),
        }
        Ok(outcome)
    }

    /// Takes in bundles read from a workspace file and stores what was new
    /// as one segment.
    pub fn import(&self, bundles: Vec<Bundle>) -> Result<ReceiveReport, EditFailure> {
        let report = self.writable(|workspace| workspace.import(bundles, now_ms()))?;
        if !report.applied.is_empty() {
            self.queue(Pending::Received(report.applied.clone(), None));
        }
        Ok(report)
    }

    fn queue(&self, pending: Pending) {
        let mut local_change = None;
        match &pending {
            Pending::Local(bundle, _) => {
                let mut changed = Changed::default();
                changed.add([bundle]);
                local_change = Some(changed);
            }
            Pending::Received(named, _) => self.announce_received(named),
        }
        self.inner().pending.borrow_mut().push_back(pending);
        self.flush();
        // After the write is placed: its transaction commits while the views
        // re-render, instead of starting once they are done.
        if let Some(changed) = local_change {
            self.notify(changed);
        }
    }

    /// Tells the views what received bundles changed: in the next task when
    /// they come a few at a time (a colleague's live edits), at most every
    /// [`RECEIVED_VIEW_UPDATE_MS`] while a catch-up's batches pour in, so
    /// that the page does not recompute its views for every batch. Never in
    /// the task that took them in: a batch and the views' update together
    /// made the longest task of a catch-up.
    fn announce_received(&self, named: &[(ActorId, u64)]) {
        let inner = self.inner();
        self.peek(|workspace| {
            let log = workspace.log();
            inner.unannounced.borrow_mut().add(named.iter().filter_map(|(author, seq)| log.get(author, *seq)));
        });
        if inner.announce_scheduled.replace(true) {
            return;
        }
        let since_last = monotonic_ms() - inner.last_announced.get();
        let wait_ms = if named.len() <= LIVE_BUNDLES { 0.0 } else { (RECEIVED_VIEW_UPDATE_MS - since_last).max(0.0) };
        let driver = *self;
        spawn_local(async move {
            if wait_ms > 0.0 {
                sleep_ms(wait_ms.ceil() as i32).await;
            } else {
                yield_to_browser().await;
            }
            let Some(inner) = driver.inner.try_get_value() else { return };
            inner.announce_scheduled.set(false);
            driver.announce_waiting(&inner);
        });
    }

    fn announce_waiting(&self, inner: &Inner) {
        let changed = std::mem::take(&mut *inner.unannounced.borrow_mut());
        inner.last_announced.set(monotonic_ms());
        self.notify(changed);
    }

    /// Re-runs the views of the changed records, or of everything after a
    /// broad change.
    fn notify(&self, Changed { records, broad }: Changed) {
        if broad {
            self.structure.update(|structure| *structure += 1);
        } else {
            // Collected first: a notified view may read, and so register, records.
            let inner = self.inner();
            let fired: Vec<ArcTrigger> = {
                let triggers = inner.record_triggers.borrow();
                records.iter().filter_map(|record| triggers.get(record).cloned()).collect()
            };
            for trigger in fired {
                trigger.notify();
            }
        }
        self.revision.update(|revision| *revision += 1);
    }

    /// Tries again to store what is waiting, after a failed write.
    pub fn retry_save(&self) {
        self.flush();
    }

    /// Waits until nothing is waiting to be written, or a write failed.
    pub async fn settled(&self) -> Result<(), String> {
        loop {
            match self.save_state.get_untracked() {
                SaveState::Saved => return Ok(()),
                SaveState::Failed { error, .. } => return Err(error),
                SaveState::Saving { .. } => sleep_ms(WAIT_POLL_MS).await,
            }
        }
    }

    fn flush(&self) {
        let inner = self.inner();
        if inner.flushing.replace(true) {
            return; // the running flush picks up what was just queued
        }
        let driver = *self;
        spawn_local(async move {
            let result = driver.write_pending(&inner).await;
            inner.flushing.set(false);
            match result {
                Ok(()) => {
                    driver.save_state.set(SaveState::Saved);
                    driver.upkeep_when_quiet();
                }
                Err(error) => driver
                    .save_state
                    .set(SaveState::Failed { waiting: waiting(&inner.pending.borrow()), error: error.to_string() }),
            }
        });
    }

    /// Writes the queue front to back; a failure leaves the failed entry
    /// (and everything after it) queued.
    async fn write_pending(&self, inner: &Inner) -> Result<(), StorageError> {
        loop {
            self.save_state.set(SaveState::Saving { waiting: waiting(&inner.pending.borrow()) });
            // A received batch is queued by the task that took it in, which
            // has already spent its share of a frame verifying and applying:
            // encoding it for storage waits for a task of its own (and the
            // batches that arrive meanwhile join it). A local edit is small
            // and is written at once.
            if matches!(inner.pending.borrow().front(), Some(Pending::Received(..))) {
                yield_to_browser().await;
            }
            // Taken out of the queue (and the log) so that no borrow is held
            // across the write. Consecutive received batches go in one
            // transaction: a catch-up arrives faster than one transaction per
            // batch could store it.
            let (written, write, tickets, entries) = {
                let pending = inner.pending.borrow();
                match pending.front() {
                    None => return Ok(()),
                    Some(Pending::Local(bundle, began)) => {
                        let named = vec![(bundle.header.author, bundle.header.seq)];
                        (named, Write::Local(bundle.clone(), *began), Vec::new(), 1)
                    }
                    Some(Pending::Received(..)) => {
                        let mut named = Vec::new();
                        let mut tickets = Vec::new();
                        let mut entries = 0;
                        for entry in pending.iter() {
                            let Pending::Received(batch, ticket) = entry else { break };
                            if entries > 0 && named.len() + batch.len() > MAX_SEGMENT_BUNDLES {
                                break;
                            }
                            named.extend_from_slice(batch);
                            tickets.extend(*ticket);
                            entries += 1;
                        }
                        let segment = self
                            .peek(|workspace| workspace.log().named(&named).map(|bundles| encode_log_record(&bundles)))
                            .expect("the log keeps every bundle it applied");
                        (named, Write::Segment(segment), tickets, entries)
                    }
                }
            };
            match write {
                Write::Local(bundle, began) => {
                    let written = inner.db.append_local(&bundle).await?;
                    record_span(EDIT_DURABLE, began, written.durable_ms);
                }
                Write::Segment(record) => inner.db.append_segment(&record).await?,
            }
            inner.pending.borrow_mut().drain(..entries);
            inner.written_since_fold.set(inner.written_since_fold.get() + written.len());
            self.stored(inner, &written, &tickets);
        }
    }

    /// Once the workspace has been quiet for a moment, folds the stored log
    /// if enough was written since it was last folded, then hashes the
    /// state, so that the hash is known when a peer compares notes (sync's
    /// state check) or the diagnostics card asks. Either mid catch-up would
    /// be started again and again, as every received batch changes the
    /// state under it.
    fn upkeep_when_quiet(&self) {
        let Some(inner) = self.inner.try_get_value() else { return };
        if inner.upkeep_scheduled.replace(true) {
            return;
        }
        drop(inner);
        let driver = *self;
        spawn_local(async move {
            // Not holding the workspace while waiting: closing it must free
            // its lock at once.
            let log_len = || driver.inner.try_get_value().map(|inner| inner.workspace.borrow().log().len());
            loop {
                let before = log_len();
                sleep_ms(QUIET_MS).await;
                match log_len() {
                    None => return,
                    Some(now) if Some(now) == before => break,
                    Some(_) => {}
                }
            }
            let Some(inner) = driver.inner.try_get_value() else { return };
            driver.fold_if_due(&inner).await;
            inner.upkeep_scheduled.set(false);
            drop(inner);
            driver.state_hash().await;
        });
    }

    /// Folds the stored log now if it is due, without waiting for a quiet
    /// moment: before a workspace that just took in a large import is
    /// closed, so that opening it next reads a few large records, not
    /// hundreds.
    pub async fn compact(&self) {
        let Some(inner) = self.inner.try_get_value() else { return };
        self.fold_if_due(&inner).await;
    }

    /// Folds the stored log once enough has been written since it was last
    /// folded: [`FOLD_EVERY`] bundles, or a quarter of the log, whichever is
    /// more, so that a large import folds a few times, not once per slice;
    /// and only when nothing waits to be written, as folding replaces the
    /// records it read.
    async fn fold_if_due(&self, inner: &Inner) {
        let written = inner.written_since_fold.get();
        let log_len = inner.workspace.borrow().log().len();
        let due = written >= FOLD_EVERY.max(log_len / 4) && inner.pending.borrow().is_empty();
        // Damaged records stay exactly as they were found.
        if !due || inner.trouble.is_some() || inner.folding.replace(true) {
            return;
        }
        self.fold_stored_log(inner).await;
        // Counted as done whatever came of it: a fold that failed (a full
        // disk, say) is tried again once as much more has been written, not
        // after every edit.
        inner.written_since_fold.set(inner.written_since_fold.get().saturating_sub(written));
        inner.folding.set(false);
    }

    /// The state hash, computed a step at a time with the page free between
    /// steps (at once, it is a long task on a large workspace); `None` if the
    /// workspace changed or closed meanwhile.
    pub async fn state_hash(&self) -> Option<Hash> {
        let mut in_progress = self.inner.try_get_value()?.workspace.borrow().begin_state_hash();
        loop {
            let step = in_progress.step(&self.inner.try_get_value()?.workspace.borrow(), STATE_RECORDS_HASHED_PER_STEP);
            match step {
                Ok(Some(hash)) => return Some(hash),
                Ok(None) => yield_to_browser().await,
                Err(WorkspaceChanged) => return None,
            }
        }
    }

    /// Every bundle, read back from IndexedDB: what a rebuild would start from.
    pub async fn stored_bundles(&self) -> Result<Vec<Bundle>, StorageError> {
        self.inner().db.load_bundles().await
    }
}

/// What changes did, for the views: the records whose fields were written,
/// or a broad change — more than fields (records created or deleted,
/// schema, mappings, merges), or so many records that one update of every
/// view costs less than many narrow ones.
#[derive(Default)]
struct Changed {
    records: BTreeSet<EntityId>,
    broad: bool,
}

/// Past this many records, a change counts as broad.
const NARROW_RECORDS: usize = 256;

impl Changed {
    fn add<'a>(&mut self, bundles: impl IntoIterator<Item = &'a Bundle>) {
        for op in bundles.into_iter().flat_map(|bundle| &bundle.ops) {
            if self.broad {
                return; // nothing narrower to learn
            }
            match &op.payload {
                OpPayload::SetField { entity, .. }
                | OpPayload::ClearField { entity, .. }
                | OpPayload::ResolveConflict { entity, .. } => {
                    self.records.insert(*entity);
                    self.broad = self.records.len() > NARROW_RECORDS;
                }
                _ => self.broad = true,
            }
        }
    }
}

fn waiting(pending: &VecDeque<Pending>) -> usize {
    pending.iter().map(Pending::bundle_count).sum()
}
