//! Persistence, as the engine sees it: a contract the driver fulfils.
//!
//! The browser's IndexedDB store is asynchronous and lives in the app; it
//! keeps the same promises as [`Store`]: bundles are appended atomically (all
//! of a call or none), and a snapshot is the materialized state together
//! with the version vector it covers. [`MemoryStore`] keeps them in memory
//! for tests, as encoded bytes, so it exercises the real encodings.

use std::fmt;

use crate::bundle::Bundle;
use crate::encoding::{DecodeError, Decoder, Encoder};
use crate::identity::ActorId;
use crate::log::VersionVector;

/// Materialized state plus the bundles it covers: opening from it applies
/// only the bundles past `covers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub covers: VersionVector,
    /// [`crate::state::State::encode_snapshot`] output.
    pub state: Vec<u8>,
}

impl Snapshot {
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = self.encode_head();
        bytes.extend_from_slice(&self.state);
        bytes
    }

    /// What [`Snapshot::encode`] puts before the state's bytes: a store may
    /// write the two one after the other instead of copying the state.
    pub fn encode_head(&self) -> Vec<u8> {
        let mut out = Encoder::new();
        let entries: Vec<_> = self.covers.iter().collect();
        out.varint(entries.len() as u64);
        for (actor, seq) in entries {
            out.fixed(actor.as_bytes()).varint(*seq);
        }
        out.varint(self.state.len() as u64);
        out.into_bytes()
    }

    pub fn decode(bytes: &[u8]) -> Result<Snapshot, DecodeError> {
        let mut input = Decoder::new(bytes);
        let mut covers = VersionVector::new();
        for _ in 0..input.length(33, "a version vector")? {
            let actor = ActorId::from_bytes(input.fixed("an actor id")?);
            covers.set(actor, input.varint("a sequence number")?);
        }
        let state = input.bytes("the snapshot's state")?.to_vec();
        input.finish("the end of the snapshot")?;
        Ok(Snapshot { covers, state })
    }
}

pub trait Store {
    type Error: std::error::Error;

    /// Appends all of `bundles` or, on error, none of them.
    fn append_bundles<'a>(&mut self, bundles: impl IntoIterator<Item = &'a Bundle>) -> Result<(), Self::Error>;

    /// Every stored bundle, in the order appended.
    fn load_bundles(&self) -> Result<Vec<Bundle>, Self::Error>;

    /// Replaces the stored snapshot.
    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), Self::Error>;

    fn load_snapshot(&self) -> Result<Option<Snapshot>, Self::Error>;
}

/// A [`Store`] in memory, with an optional capacity so tests can run out of space.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    bundles: Vec<Vec<u8>>,
    snapshot: Option<Vec<u8>>,
    capacity: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemoryStoreError {
    /// The store is full: nothing of the failed call was written.
    Full {
        needed: usize,
        available: usize,
    },
    Damaged(DecodeError),
}

impl fmt::Display for MemoryStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemoryStoreError::Full { needed, available } => write!(
                f,
                "storage is full: {needed} bytes needed, {available} available; nothing was written and your change is kept"
            ),
            MemoryStoreError::Damaged(error) => write!(f, "stored data is damaged: {error}"),
        }
    }
}

impl std::error::Error for MemoryStoreError {}

impl MemoryStore {
    pub fn new() -> Self {
        MemoryStore::default()
    }

    /// A store that holds at most `bytes` bytes.
    pub fn with_capacity(bytes: usize) -> Self {
        MemoryStore { capacity: Some(bytes), ..MemoryStore::default() }
    }

    pub fn used_bytes(&self) -> usize {
        self.bundles.iter().map(Vec::len).sum::<usize>() + self.snapshot.as_ref().map_or(0, Vec::len)
    }

    fn make_room(&self, needed: usize, freed: usize) -> Result<(), MemoryStoreError> {
        let Some(capacity) = self.capacity else { return Ok(()) };
        let available = capacity.saturating_sub(self.used_bytes().saturating_sub(freed));
        if needed > available { Err(MemoryStoreError::Full { needed, available }) } else { Ok(()) }
    }
}

impl Store for MemoryStore {
    type Error = MemoryStoreError;

    fn append_bundles<'a>(&mut self, bundles: impl IntoIterator<Item = &'a Bundle>) -> Result<(), MemoryStoreError> {
        let encoded: Vec<Vec<u8>> = bundles.into_iter().map(Bundle::encoded).collect();
        self.make_room(encoded.iter().map(Vec::len).sum(), 0)?;
        self.bundles.extend(encoded);
        Ok(())
    }

    fn load_bundles(&self) -> Result<Vec<Bundle>, MemoryStoreError> {
        self.bundles.iter().map(|bytes| Bundle::decode_one(bytes).map_err(MemoryStoreError::Damaged)).collect()
    }

    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), MemoryStoreError> {
        let encoded = snapshot.encode();
        self.make_room(encoded.len(), self.snapshot.as_ref().map_or(0, Vec::len))?;
        self.snapshot = Some(encoded);
        Ok(())
    }

    fn load_snapshot(&self) -> Result<Option<Snapshot>, MemoryStoreError> {
        self.snapshot.as_deref().map(Snapshot::decode).transpose().map_err(MemoryStoreError::Damaged)
    }
}
