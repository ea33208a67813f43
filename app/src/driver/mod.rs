//! The driver: runs one open workspace's engine in the page, performs its
//! effects (IndexedDB writes) and feeds the UI through signals.
//!
//! Reads go through [`Driver::read`], which subscribes the calling view to
//! every change. An edit is applied in memory at once (the page shows it),
//! then queued for IndexedDB; it counts as saved — and may be offered to
//! peers — only after its transaction completed. A failed write stops the
//! queue where it is: the edit stays in memory and in the queue, the error
//! is shown in plain words, and [`Driver::retry_save`] tries again.

mod opening;

pub use opening::{OpenError, OpenProgress, open};

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use openprod_core::bundle::Bundle;
use openprod_core::entropy::Entropy;
use openprod_core::hlc::ClockConfig;
use openprod_core::identity::Identity;
use openprod_core::ids::WorkspaceId;
use openprod_core::workspace::{Change, EditError, ReceiveReport, UndoOutcome, Workspace};

use crate::device::{BrowserEntropy, monotonic_ms, now_ms, record_measure};
use crate::storage::{StorageError, WorkspaceDb};

/// After this many new bundles the state is checkpointed again, so that the
/// next opening replays at most about this many.
const SNAPSHOT_EVERY: usize = 2_000;

/// The User Timing measure from the start of a local edit to its bundle
/// being durable in IndexedDB.
pub const EDIT_DURABLE: &str = "openprod edit durable";

/// Whether everything shown is safely on this device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveState {
    Saved,
    Saving { waiting: usize },
    /// Writing failed; `waiting` changes are kept in memory, not yet stored.
    Failed { waiting: usize, error: String },
}

/// What waits to be written, in the order it happened.
enum Pending {
    /// Made on this device: its own small record, written at once. With
    /// when the edit began, to measure how long it took to become durable.
    Local(Bundle, f64),
    /// Received together: one segment.
    Received(Vec<Bundle>),
}

impl Pending {
    fn bundle_count(&self) -> usize {
        match self {
            Pending::Local(..) => 1,
            Pending::Received(bundles) => bundles.len(),
        }
    }
}

struct Inner {
    workspace: RefCell<Workspace>,
    db: WorkspaceDb,
    pending: RefCell<VecDeque<Pending>>,
    flushing: Cell<bool>,
    written_since_snapshot: Cell<usize>,
}

/// A handle on the open workspace: `Copy`, so any view closure can hold one.
#[derive(Clone, Copy)]
pub struct Driver {
    inner: StoredValue<Rc<Inner>, LocalStorage>,
    revision: RwSignal<u64>,
    save_state: RwSignal<SaveState>,
}

impl Driver {
    fn new(workspace: Workspace, db: WorkspaceDb, written_since_snapshot: usize) -> Driver {
        let inner = Inner {
            workspace: RefCell::new(workspace),
            db,
            pending: RefCell::default(),
            flushing: Cell::new(false),
            written_since_snapshot: Cell::new(written_since_snapshot),
        };
        Driver {
            inner: StoredValue::new_local(Rc::new(inner)),
            revision: RwSignal::new(0),
            save_state: RwSignal::new(SaveState::Saved),
        }
    }

    /// A workspace this device has no data of yet, filled by [`Driver::receive`].
    pub async fn start(id: WorkspaceId, identity: Identity) -> Result<Driver, StorageError> {
        let db = WorkspaceDb::open(id).await?;
        Ok(Driver::new(Workspace::empty(id, identity, now_ms(), ClockConfig::default()), db, 0))
    }

    /// Lets go of the workspace: its database closes once the last pending
    /// write (if any) has finished.
    pub fn close(self) {
        self.inner.dispose();
    }

    fn inner(&self) -> Rc<Inner> {
        self.inner.get_value()
    }

    /// Reads the workspace; the calling view re-runs after every change.
    pub fn read<R>(&self, read: impl FnOnce(&Workspace) -> R) -> R {
        self.revision.track();
        read(&self.inner().workspace.borrow())
    }

    /// Reads without subscribing: for event handlers.
    pub fn peek<R>(&self, read: impl FnOnce(&Workspace) -> R) -> R {
        read(&self.inner().workspace.borrow())
    }

    pub fn save_state(&self) -> ReadSignal<SaveState> {
        self.save_state.read_only()
    }

    /// Makes one edit — one bundle, however many fields `edit` touches — or
    /// none if `edit` fails.
    pub fn edit<T>(&self, edit: impl FnOnce(&mut Change<'_>) -> Result<T, EditError>) -> Result<T, EditError> {
        let began = monotonic_ms();
        let inner = self.inner();
        let (result, bundle) = {
            let mut workspace = inner.workspace.borrow_mut();
            let mut entropy = BrowserEntropy;
            let mut change = workspace.change(now_ms(), &mut entropy as &mut dyn Entropy);
            let result = edit(&mut change)?;
            (result, change.commit()?)
        };
        self.queue(Pending::Local(bundle, began));
        Ok(result)
    }

    pub fn undo(&self) -> UndoOutcome {
        self.step_history(Workspace::undo)
    }

    pub fn redo(&self) -> UndoOutcome {
        self.step_history(Workspace::redo)
    }

    fn step_history(&self, step: fn(&mut Workspace, u64, &mut dyn Entropy) -> UndoOutcome) -> UndoOutcome {
        let began = monotonic_ms();
        let outcome = step(&mut self.inner().workspace.borrow_mut(), now_ms(), &mut BrowserEntropy);
        match &outcome {
            UndoOutcome::Applied(bundle) => self.queue(Pending::Local(bundle.clone(), began)),
            // The history changed even so: the buttons may need to grey out.
            UndoOutcome::Skipped { .. } | UndoOutcome::NothingToDo => self.revision.update(|revision| *revision += 1),
        }
        outcome
    }

    /// Takes in bundles from elsewhere (a peer, an imported file) and stores
    /// what was new as one segment.
    pub fn receive(&self, bundles: Vec<Bundle>) -> ReceiveReport {
        let report = self.inner().workspace.borrow_mut().receive(bundles, now_ms());
        if !report.applied.is_empty() {
            let applied = self.peek(|workspace| {
                report
                    .applied
                    .iter()
                    .filter_map(|(author, seq)| workspace.log().get(author, *seq).cloned())
                    .collect()
            });
            self.queue(Pending::Received(applied));
        }
        report
    }

    fn queue(&self, pending: Pending) {
        self.inner().pending.borrow_mut().push_back(pending);
        self.revision.update(|revision| *revision += 1);
        self.flush();
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
                SaveState::Saving { .. } => crate::device::yield_to_browser().await,
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
                    driver.checkpoint_if_due(&inner).await;
                }
                Err(error) => driver.save_state.set(SaveState::Failed {
                    waiting: waiting(&inner.pending.borrow()),
                    error: error.to_string(),
                }),
            }
        });
    }

    /// Writes the queue front to back; a failure leaves the failed entry
    /// (and everything after it) queued.
    async fn write_pending(&self, inner: &Inner) -> Result<(), StorageError> {
        loop {
            self.save_state.set(SaveState::Saving { waiting: waiting(&inner.pending.borrow()) });
            // Cloned out so no borrow is held across the write.
            let (front, edit_began) = match inner.pending.borrow().front() {
                None => return Ok(()),
                Some(Pending::Local(bundle, began)) => (vec![bundle.clone()], Some(*began)),
                Some(Pending::Received(bundles)) => (bundles.clone(), None),
            };
            match edit_began {
                Some(began) => {
                    inner.db.append_local(&front[0]).await?;
                    record_measure(EDIT_DURABLE, began);
                }
                None => inner.db.append_segment(&front).await?,
            }
            inner.pending.borrow_mut().pop_front();
            inner.written_since_snapshot.set(inner.written_since_snapshot.get() + front.len());
        }
    }

    fn checkpoint_in_background(&self) {
        let driver = *self;
        spawn_local(async move { driver.checkpoint_if_due(&driver.inner()).await });
    }

    async fn checkpoint_if_due(&self, inner: &Inner) {
        if inner.written_since_snapshot.get() < SNAPSHOT_EVERY {
            return;
        }
        let snapshot = inner.workspace.borrow().snapshot();
        // A snapshot only saves time on the next opening; a failure costs a
        // longer replay, never data, so it is logged and retried later.
        match inner.db.save_snapshot(&snapshot).await {
            Ok(()) => inner.written_since_snapshot.set(0),
            Err(error) => leptos::logging::warn!("snapshot not saved: {error}"),
        }
    }

    /// Every bundle, read back from IndexedDB: what a rebuild would start from.
    pub async fn stored_bundles(&self) -> Result<Vec<Bundle>, StorageError> {
        self.inner().db.load_bundles().await
    }
}

fn waiting(pending: &VecDeque<Pending>) -> usize {
    pending.iter().map(Pending::bundle_count).sum()
}
