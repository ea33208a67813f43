//! The profile database: who this device is, and which workspaces it holds.
//!
//! Values use the engine's binary encoding behind a format byte, so a later
//! format can be told apart and migrated.

use indexed_db_futures::database::Database;
use indexed_db_futures::prelude::*;
use openprod_core::access::RecoveryKey;
use openprod_core::encoding::{DecodeError, Decoder, Encoder};
use openprod_core::identity::Identity;
use openprod_core::ids::WorkspaceId;
use openprod_core::sync::{Admission, WorkspaceSecret};
use wasm_bindgen::JsValue;

use super::StorageError;
use super::connection::{self, Connection, bytes_from_js, bytes_to_js, commit};

const NAME: &str = "openprod-profile";
/// The device's identity, under [`DEVICE`].
const IDENTITY: &str = "identity";
const DEVICE: &str = "device";
/// One entry per workspace, keyed by the workspace id's text form.
const WORKSPACES: &str = "workspaces";

const FORMAT: u8 = 1;
/// Workspace entries since sharing: the workspace secret and relay follow.
const ENTRY_FORMAT_SHARING: u8 = 2;
/// Workspace entries since recovery keys: the owner's key follows the sharing.
const ENTRY_FORMAT: u8 = 3;

/// The profile database. Dropping it closes the connection.
pub struct ProfileDb {
    connection: Connection,
    name: String,
}

/// This device's identity and the name its person chose.
#[derive(Debug)]
pub struct StoredIdentity {
    pub identity: Identity,
    pub display_name: String,
}

/// A workspace this device holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceEntry {
    pub id: WorkspaceId,
    pub name: String,
    /// When this device last opened it, in Unix milliseconds.
    pub last_opened_ms: u64,
    /// How peers of this workspace find and recognise each other.
    pub sharing: Option<Sharing>,
    /// The workspace's recovery key, on the owner's device that made it
    /// only: the workspace itself keeps just its verifier.
    pub recovery_key: Option<RecoveryKey>,
}

/// How this device takes part: the workspace secret (or, while a member has
/// not let it in yet, how it asks to be), and the relay to meet peers at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sharing {
    pub admission: Admission,
    /// `None`: the relay serving this page.
    pub relay: Option<String>,
}

impl Sharing {
    /// The workspace secret, once this device has it.
    pub fn secret(&self) -> Option<&WorkspaceSecret> {
        match &self.admission {
            Admission::Secret(secret) => Some(secret),
            Admission::AccessKey | Admission::Request => None,
        }
    }
}

/// Tags of an entry's sharing part.
mod shared {
    pub const NO: u8 = 0;
    pub const WITH_SECRET: u8 = 1;
    pub const WAITING_FOR_KEY: u8 = 2;
    pub const WAITING_FOR_APPROVAL: u8 = 3;
}

/// The profile database's schema, unchanged since its first version.
const SCHEMA_VERSION: u32 = 1;

fn upgrade(db: &Database, found: u32) -> indexed_db_futures::Result<()> {
    if found == 0 {
        db.create_object_store(IDENTITY).build()?;
        db.create_object_store(WORKSPACES).build()?;
    }
    Ok(())
}

impl ProfileDb {
    /// Opens this browser profile's database, creating it the first time.
    pub async fn open() -> Result<ProfileDb, StorageError> {
        ProfileDb::open_named(NAME).await
    }

    /// Opens a profile database under another name, so tests (or a second
    /// profile on one device) never touch the real one.
    pub async fn open_named(name: &str) -> Result<ProfileDb, StorageError> {
        let connection = Connection::open(name, SCHEMA_VERSION, upgrade).await?;
        Ok(ProfileDb { connection, name: name.to_owned() })
    }

    /// Deletes the whole profile: this device forgets who it is. Workspace
    /// databases are separate and stay.
    pub async fn erase(self) -> Result<(), StorageError> {
        let ProfileDb { connection, name } = self;
        drop(connection);
        connection::delete(&name).await
    }

    /// Stores this device's identity (its secret key) and display name.
    pub async fn save_identity(&self, identity: &Identity, display_name: &str) -> Result<(), StorageError> {
        let mut out = Encoder::new();
        out.u8(FORMAT).fixed(&identity.secret_bytes()).str(display_name);
        let transaction = self.connection.write(IDENTITY)?;
        transaction.object_store(IDENTITY)?.put(bytes_to_js(&out.into_bytes())).with_key(DEVICE).primitive()?;
        commit(transaction).await
    }

    /// This device's identity, or `None` before the first run is finished.
    pub async fn load_identity(&self) -> Result<Option<StoredIdentity>, StorageError> {
        let transaction = self.connection.read(IDENTITY)?;
        let value = transaction.object_store(IDENTITY)?.get::<JsValue, _, _>(DEVICE).primitive()?.await?;
        let Some(value) = value else { return Ok(None) };
        let record = || "this device's identity".to_owned();
        let bytes = bytes_from_js(value, record)?;
        decode_identity(&bytes).map(Some).map_err(|error| StorageError::Damaged { record: record(), error })
    }

    /// Every workspace on this device, most recently opened first.
    pub async fn workspaces(&self) -> Result<Vec<WorkspaceEntry>, StorageError> {
        let transaction = self.connection.read(WORKSPACES)?;
        let store = transaction.object_store(WORKSPACES)?;
        let keys = store.get_all_keys::<String>().primitive()?;
        let values = store.get_all::<JsValue>().primitive()?;
        let (keys, values) = (keys.await?, values.await?);
        let mut entries = keys
            .zip(values)
            .map(|(key, value)| {
                let key = key?;
                let record = || format!("the workspace list entry '{key}'");
                let bytes = bytes_from_js(value?, record)?;
                decode_entry(&key, &bytes).map_err(|error| StorageError::Damaged { record: record(), error })
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        entries.sort_by(|a, b| b.last_opened_ms.cmp(&a.last_opened_ms).then_with(|| a.name.cmp(&b.name)));
        Ok(entries)
    }

    /// Adds a workspace to the list, or updates it (e.g. when it is opened).
    pub async fn save_workspace(&self, entry: &WorkspaceEntry) -> Result<(), StorageError> {
        let transaction = self.connection.write(WORKSPACES)?;
        transaction
            .object_store(WORKSPACES)?
            .put(bytes_to_js(&encode_entry(entry)))
            .with_key(entry.id.to_string())
            .primitive()?;
        commit(transaction).await
    }

    /// Changes a workspace's entry (its name, when it was opened, how it is
    /// shared); `false` if it is not listed. Reading and writing happen in
    /// one transaction, so a concurrent update is not lost.
    pub async fn update_workspace(
        &self,
        id: WorkspaceId,
        update: impl FnOnce(&mut WorkspaceEntry),
    ) -> Result<bool, StorageError> {
        let key = id.to_string();
        let transaction = self.connection.write(WORKSPACES)?;
        {
            let store = transaction.object_store(WORKSPACES)?;
            let Some(value) = store.get::<JsValue, _, _>(key.as_str()).primitive()?.await? else {
                return Ok(false);
            };
            let record = || format!("the workspace list entry '{key}'");
            let bytes = bytes_from_js(value, record)?;
            let mut entry =
                decode_entry(&key, &bytes).map_err(|error| StorageError::Damaged { record: record(), error })?;
            update(&mut entry);
            store.put(bytes_to_js(&encode_entry(&entry))).with_key(key.as_str()).primitive()?;
        }
        commit(transaction).await?;
        Ok(true)
    }

    /// Takes a workspace off this device's list (its database is deleted
    /// separately, with [`super::WorkspaceDb::delete_workspace`]).
    pub async fn remove_workspace(&self, id: WorkspaceId) -> Result<(), StorageError> {
        let transaction = self.connection.write(WORKSPACES)?;
        transaction.object_store(WORKSPACES)?.delete(id.to_string()).primitive()?;
        commit(transaction).await
    }
}

fn decode_identity(bytes: &[u8]) -> Result<StoredIdentity, DecodeError> {
    let mut input = Decoder::new(bytes);
    check_format(&mut input)?;
    let identity = Identity::from_seed(input.fixed("a secret key")?);
    let display_name = input.str("a display name")?.to_owned();
    input.finish("the end of the identity")?;
    Ok(StoredIdentity { identity, display_name })
}

fn encode_entry(entry: &WorkspaceEntry) -> Vec<u8> {
    let mut out = Encoder::new();
    out.u8(ENTRY_FORMAT).str(&entry.name).varint(entry.last_opened_ms);
    encode_sharing(&mut out, entry.sharing.as_ref());
    match &entry.recovery_key {
        None => out.u8(0),
        Some(key) => out.u8(1).str(&key.to_text()),
    };
    out.into_bytes()
}

fn encode_sharing(out: &mut Encoder, sharing: Option<&Sharing>) {
    let Some(sharing) = sharing else {
        out.u8(shared::NO);
        return;
    };
    match &sharing.admission {
        Admission::Secret(secret) => out.u8(shared::WITH_SECRET).fixed(secret.as_bytes()),
        Admission::AccessKey => out.u8(shared::WAITING_FOR_KEY),
        Admission::Request => out.u8(shared::WAITING_FOR_APPROVAL),
    };
    out.str(sharing.relay.as_deref().unwrap_or(""));
}

fn decode_entry(key: &str, bytes: &[u8]) -> Result<WorkspaceEntry, DecodeError> {
    let id = WorkspaceId::parse(key).map_err(|_| DecodeError { offset: 0, what: "a workspace id as the key" })?;
    let mut input = Decoder::new(bytes);
    let offset = input.position();
    let format = input.u8("a format")?;
    if !(FORMAT..=ENTRY_FORMAT).contains(&format) {
        return Err(DecodeError { offset, what: "a known format" });
    }
    let name = input.str("a workspace name")?.to_owned();
    let last_opened_ms = input.varint("the time it was last opened")?;
    let sharing = if format >= ENTRY_FORMAT_SHARING {
        let tag_offset = input.position();
        let admission = match input.u8("whether it is shared")? {
            shared::NO => None,
            shared::WITH_SECRET => {
                Some(Admission::Secret(WorkspaceSecret::from_bytes(input.fixed("the workspace secret")?)))
            }
            shared::WAITING_FOR_KEY => Some(Admission::AccessKey),
            shared::WAITING_FOR_APPROVAL => Some(Admission::Request),
            _ => return Err(DecodeError { offset: tag_offset, what: "a known way of sharing" }),
        };
        match admission {
            Some(admission) => {
                let relay = input.str("the relay address")?;
                Some(Sharing { admission, relay: (!relay.is_empty()).then(|| relay.to_owned()) })
            }
            None => None,
        }
    } else {
        None
    };
    let recovery_key = if format >= ENTRY_FORMAT { decode_recovery_key(&mut input)? } else { None };
    input.finish("the end of the workspace entry")?;
    Ok(WorkspaceEntry { id, name, last_opened_ms, sharing, recovery_key })
}

fn decode_recovery_key(input: &mut Decoder<'_>) -> Result<Option<RecoveryKey>, DecodeError> {
    let offset = input.position();
    match input.u8("whether it has a recovery key")? {
        0 => Ok(None),
        1 => {
            let offset = input.position();
            let text = input.str("the recovery key")?;
            RecoveryKey::parse(text).map(Some).map_err(|_| DecodeError { offset, what: "a recovery key" })
        }
        _ => Err(DecodeError { offset, what: "whether it has a recovery key" }),
    }
}

fn check_format(input: &mut Decoder<'_>) -> Result<(), DecodeError> {
    let offset = input.position();
    if input.u8("a format")? == FORMAT { Ok(()) } else { Err(DecodeError { offset, what: "a known format" }) }
}
