//! The workspaces on this device: creating, forking, joining, importing,
//! exporting and deleting them. Each is one IndexedDB database plus an
//! entry in the profile's list; the database is written first, so the list
//! names a workspace with no data only while it is being joined (its entry
//! then carries the share link's secret, and peers fill it).

use openprod_core::access::RecoveryKey;
use openprod_core::backup::{WorkspaceFileReader, encode_workspace_file};
use openprod_core::bundle::Bundle;
use openprod_core::identity::Identity;
use openprod_core::ids::WorkspaceId;
use openprod_core::sync::{Admission, ShareLink, WorkspaceSecret};
use openprod_core::workspace::Workspace;

use crate::device::{BrowserEntropy, monotonic_ms, now_ms, yield_to_browser};
use crate::driver::Driver;
use crate::storage::{ProfileDb, Sharing, StorageError, WorkspaceDb, WorkspaceEntry};

/// The module every new workspace starts with.
pub const CONTACTS_MODULE: &str = include_str!("../../modules/contacts/manifest.toml");

/// A copy of `identity`: the engine keeps one per open workspace.
pub fn copy_identity(identity: &Identity) -> Identity {
    Identity::from_seed(identity.secret_bytes())
}

/// Starts a workspace owned by this device, with the built-in modules and
/// a recovery key.
pub async fn create_workspace(
    profile: &ProfileDb,
    identity: &Identity,
    owner_name: &str,
    name: &str,
) -> Result<WorkspaceId, String> {
    let now = now_ms();
    let mut entropy = BrowserEntropy;
    let (mut workspace, first) = Workspace::create(copy_identity(identity), name, owner_name, now, &mut entropy);
    let recovery_key = RecoveryKey::generate(&mut entropy);
    let mut change = workspace.change(now, &mut entropy);
    change.adopt_module(CONTACTS_MODULE, None).map_err(|error| format!("the Contacts module is broken: {error}"))?;
    change.set_recovery_key(&recovery_key).map_err(|error| error.to_string())?;
    let setup = change.commit().map_err(|error| error.to_string())?;
    store_new_workspace(profile, workspace.id(), name, &[first, setup], recovery_key).await?;
    Ok(workspace.id())
}

/// Stores a workspace made on this device: its bundles first, then its
/// entry in the list, with a fresh workspace secret and its recovery key, so
/// the list never names a workspace whose data is not all there. Whatever
/// was stored of a workspace that could not be stored whole is deleted.
async fn store_new_workspace(
    profile: &ProfileDb,
    id: WorkspaceId,
    name: &str,
    bundles: &[Bundle],
    recovery_key: RecoveryKey,
) -> Result<(), String> {
    let stored = async {
        let db = WorkspaceDb::open(id).await?;
        for bundle in bundles {
            db.append_local(bundle).await?;
        }
        Ok::<(), StorageError>(())
    }
    .await;
    if let Err(error) = stored {
        let _ = WorkspaceDb::delete_workspace(id).await;
        return Err(format!("The new workspace could not be saved on this device: {error}. Nothing of it was kept."));
    }
    let sharing =
        Some(Sharing { admission: Admission::Secret(WorkspaceSecret::generate(&mut BrowserEntropy)), relay: None });
    let entry = WorkspaceEntry {
        id,
        name: name.to_owned(),
        last_opened_ms: now_ms(),
        sharing,
        recovery_key: Some(recovery_key),
    };
    profile.save_workspace(&entry).await.map_err(|error| error.to_string())
}

/// Copies the open workspace as it stands, without its history, into a new
/// one owned by this device (`spec/workspace.md`, Workspace Forks). The copy
/// is stored and listed first; only then does the original record it, so
/// its audit trail never names a copy that does not exist.
pub async fn fork_workspace(
    profile: &ProfileDb,
    source: &Driver,
    owner_name: &str,
    name: &str,
) -> Result<WorkspaceId, String> {
    let fork = source.peek(|workspace| workspace.fork(name, owner_name, now_ms(), &mut BrowserEntropy));
    let id = fork.workspace.id();
    store_new_workspace(profile, id, name, &fork.bundles, fork.recovery_key).await?;
    let noted = source.edit(|change| {
        change.record_fork(id);
        Ok(())
    });
    let saved = match noted {
        Ok(()) => source.settled().await,
        Err(failure) => Err(failure.to_string()),
    };
    saved.map_err(|problem| {
        format!("The copy “{name}” was made and is in your workspaces, but this workspace could not note it: {problem}")
    })?;
    Ok(id)
}

/// The recovery key this device keeps for the workspace, if any.
pub async fn recovery_key_of(profile: &ProfileDb, id: WorkspaceId) -> Result<Option<RecoveryKey>, String> {
    let listed = profile.workspaces().await.map_err(|error| error.to_string())?;
    Ok(listed.into_iter().find(|entry| entry.id == id).and_then(|entry| entry.recovery_key))
}

/// Makes a new recovery key for the open workspace, which this device owns.
/// The key is kept on this device first, then its verifier written to the
/// workspace, replacing the old one (whose key then stops working): in that
/// order, a failure never leaves the workspace checking a key nobody holds.
pub async fn make_recovery_key(profile: &ProfileDb, driver: &Driver) -> Result<RecoveryKey, String> {
    // Refused before the key is kept: the workspace could not record it.
    if driver.trouble().is_some() {
        return Err(crate::driver::EditFailure::ReadOnly.to_string());
    }
    let id = driver.peek(|workspace| workspace.id());
    let key = RecoveryKey::generate(&mut BrowserEntropy);
    let kept = profile
        .update_workspace(id, |entry| entry.recovery_key = Some(key.clone()))
        .await
        .map_err(|error| error.to_string())?;
    if !kept {
        return Err("this workspace is not on this device's list".to_owned());
    }
    driver.edit(|change| change.set_recovery_key(&key)).map_err(|failure| failure.to_string())?;
    Ok(key)
}

/// What a joined workspace is called until its first changes arrive.
pub const JOINING_NAME: &str = "Joining…";

/// Follows a share link: a workspace already here takes the link's secret
/// and relay; a new one is listed empty, to be filled by its peers (once a
/// member lets this device in, when the link carries no secret).
pub async fn join_workspace(profile: &ProfileDb, link: &ShareLink) -> Result<WorkspaceId, String> {
    let id = link.workspace;
    let sharing = Sharing { admission: link.admission.clone(), relay: link.relay.clone() };
    let updated = profile
        .update_workspace(id, |entry| {
            // A device that holds the secret keeps it: a secretless link
            // cannot make a member a stranger again.
            if entry.sharing.as_ref().is_none_or(|held| held.secret().is_none() || sharing.secret().is_some()) {
                entry.sharing = Some(sharing.clone());
            }
        })
        .await
        .map_err(|error| error.to_string())?;
    if !updated {
        // Created now, so that the list never names a workspace with no database.
        drop(WorkspaceDb::open(id).await.map_err(|error| error.to_string())?);
        let entry = WorkspaceEntry {
            id,
            name: JOINING_NAME.to_owned(),
            last_opened_ms: now_ms(),
            sharing: Some(sharing),
            recovery_key: None,
        };
        profile.save_workspace(&entry).await.map_err(|error| error.to_string())?;
    }
    Ok(id)
}

/// Whether this device was given a link to the workspace: then an empty
/// database means "not received yet", not damage.
pub async fn is_being_joined(profile: &ProfileDb, id: WorkspaceId) -> bool {
    let listed = profile.workspaces().await.unwrap_or_default();
    listed.into_iter().any(|entry| entry.id == id && entry.sharing.is_some())
}

/// The sharing of a workspace made before sharing existed (or imported
/// from a file): a secret is made for it now, on first use.
pub async fn sharing_of(profile: &ProfileDb, id: WorkspaceId) -> Result<Sharing, String> {
    let listed = profile.workspaces().await.map_err(|error| error.to_string())?;
    if let Some(sharing) = listed.into_iter().find(|entry| entry.id == id).and_then(|entry| entry.sharing) {
        return Ok(sharing);
    }
    let sharing = Sharing { admission: Admission::Secret(WorkspaceSecret::generate(&mut BrowserEntropy)), relay: None };
    profile
        .update_workspace(id, |entry| entry.sharing = Some(sharing.clone()))
        .await
        .map_err(|error| error.to_string())?;
    Ok(sharing)
}

/// A member let this device in: from now on it holds the secret, like
/// everyone who joined by an open link.
pub async fn let_in(profile: &ProfileDb, id: WorkspaceId, secret: WorkspaceSecret) -> Result<Sharing, String> {
    let mut granted = None;
    profile
        .update_workspace(id, |entry| {
            let relay = entry.sharing.as_ref().and_then(|sharing| sharing.relay.clone());
            let sharing = Sharing { admission: Admission::Secret(secret.clone()), relay };
            entry.sharing = Some(sharing.clone());
            granted = Some(sharing);
        })
        .await
        .map_err(|error| error.to_string())?;
    granted.ok_or_else(|| "this workspace is no longer on this device".to_owned())
}

/// The whole workspace as one file: its every bundle, signed.
pub fn export_file(driver: &Driver, name: &str) -> Vec<u8> {
    driver.peek(|workspace| encode_workspace_file(workspace.id(), name, workspace.log().bundles()))
}

/// A file name people recognise: the workspace's name and the date.
pub fn export_file_name(name: &str) -> String {
    let safe: String =
        name.chars().map(|c| if c.is_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
    let date = openprod_core::time::format_iso8601(now_ms() as i64);
    format!("{}-{}.openprod", safe.trim_matches('-'), &date[..10])
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub id: WorkspaceId,
    pub name: String,
    /// Changes this device did not have before.
    pub new_changes: usize,
    /// The workspace was already here; the file's changes were merged in.
    pub merged: bool,
}

/// Most bundles per slice of an import: each slice is decoded, verified,
/// applied and stored as one segment, with a yield to the page in between.
const IMPORT_SLICE: usize = 2_000;

/// Bundles in an import's first slice. The browser runs the engine's code
/// unoptimised at first: a first slice of 2,000 bundles took 73 ms in
/// Chromium where later ones took 12. Each later slice is twice the last
/// while the last took under [`IMPORT_SLICE_MS`].
const FIRST_IMPORT_SLICE: usize = 250;

/// How long an import slice may take before the next one stops growing.
const IMPORT_SLICE_MS: f64 = 16.0;

/// Bytes of the file checksummed between looks at the clock.
const CHECKSUM_PIECE: usize = 64 * 1024;

/// Longest stretch of checksumming before yielding to the page. Measured in
/// time, not bytes, because how long a megabyte takes depends on the device
/// and on whether the browser has optimised the hashing code yet.
const CHECKSUM_SLICE_MS: f64 = 12.0;

/// Brings a workspace file onto this device. Nothing is read before the
/// file's checksum matches. A workspace already here gains whatever the file
/// has that it lacks (nothing is replaced); a new one is created from the
/// file. Every bundle is verified; a new workspace whose file holds a forged
/// or unreadable bundle is not kept at all.
pub async fn import_file(
    profile: &ProfileDb,
    identity: &Identity,
    bytes: &[u8],
    mut on_progress: impl FnMut(String),
) -> Result<Imported, String> {
    let mut reader = WorkspaceFileReader::new(bytes).map_err(|error| error.to_string())?;
    // A yield after the last slice too: reading the first bundles follows.
    loop {
        let slice_started = monotonic_ms();
        let mut checked_whole = false;
        while !checked_whole && monotonic_ms() - slice_started < CHECKSUM_SLICE_MS {
            checked_whole = reader.check_integrity(CHECKSUM_PIECE).map_err(|error| error.to_string())?;
        }
        let (checked, total) = reader.integrity_progress();
        on_progress(format!("Checking the file: {}%", checked * 100 / total.max(1)));
        yield_to_browser().await;
        if checked_whole {
            break;
        }
    }
    let id = reader.id();
    let listed = profile.workspaces().await.map_err(|error| error.to_string())?;
    let already_here = listed.iter().find(|entry| entry.id == id).cloned();
    let driver = match &already_here {
        Some(_) => {
            let driver =
                crate::driver::open(id, copy_identity(identity), |_| {}).await.map_err(|error| error.to_string())?;
            if let Some(trouble) = driver.trouble() {
                driver.close();
                return Err(format!(
                    "This workspace is already on this device, and its saved data here is damaged: {trouble} \
                     Importing cannot repair it in place: delete the workspace on this device, then import the \
                     file again."
                ));
            }
            driver
        }
        None => Driver::start(id, copy_identity(identity)).await.map_err(|error| error.to_string())?,
    };
    let outcome = import_bundles(&driver, &mut reader, &mut on_progress).await;
    let saved = driver.settled().await;
    if saved.is_ok() {
        on_progress("Compacting the history for a quick start".to_owned());
        driver.compact().await;
    }
    driver.close();
    let problem = match (outcome, saved) {
        (Ok(new_changes), Ok(())) => {
            let name = already_here.as_ref().map_or_else(|| reader.name().to_owned(), |entry| entry.name.clone());
            let sharing = already_here.as_ref().and_then(|entry| entry.sharing.clone());
            let recovery_key = already_here.as_ref().and_then(|entry| entry.recovery_key.clone());
            let entry = WorkspaceEntry { id, name: name.clone(), last_opened_ms: now_ms(), sharing, recovery_key };
            profile.save_workspace(&entry).await.map_err(|error| error.to_string())?;
            return Ok(Imported { id, name, new_changes, merged: already_here.is_some() });
        }
        (Err(problem), _) => problem,
        (Ok(_), Err(error)) => format!("the import could not be saved: {error}"),
    };
    if already_here.is_some() {
        // What was added is genuine (every bundle was verified) and stays.
        return Err(format!("The file was not imported completely: {problem}. The valid changes in it were added."));
    }
    let _ = WorkspaceDb::delete_workspace(id).await;
    Err(format!("The file was refused: {problem}. Nothing from it was kept."))
}

/// Reads, verifies and stores the file's bundles slice by slice; returns how
/// many were new here.
async fn import_bundles(
    driver: &Driver,
    reader: &mut WorkspaceFileReader<'_>,
    on_progress: &mut impl FnMut(String),
) -> Result<usize, String> {
    let total = reader.bundle_count();
    let mut new_changes = 0;
    // Bundles that wait for a later one of the file: the signed bundle that
    // vouches for them, or their predecessor. They go round again.
    let mut waiting: Vec<Bundle> = Vec::new();
    let mut slice_size = FIRST_IMPORT_SLICE;
    while !reader.is_done() {
        let slice_started = monotonic_ms();
        let mut slice = std::mem::take(&mut waiting);
        slice.extend(reader.next_bundles(slice_size).map_err(|error| error.to_string())?);
        let report = driver.import(slice).map_err(|failure| failure.to_string())?;
        if monotonic_ms() - slice_started < IMPORT_SLICE_MS {
            slice_size = (slice_size * 2).min(IMPORT_SLICE);
        }
        new_changes += report.applied.len();
        let refusals = report.refused.len();
        for refused in report.refused {
            if !refused.reason.may_wait() {
                return Err(format!("{refusals} of its changes failed their checks ({})", refused.reason));
            }
            waiting.push(refused.bundle);
        }
        on_progress(format!("Checking changes: {} of {total}", reader.bundles_read()));
        yield_to_browser().await;
    }
    if let Some(first) = waiting.first() {
        return Err(format!(
            "{} of its changes are incomplete: change #{} of one author and those after it lack what vouches for them",
            waiting.len(),
            first.header.seq
        ));
    }
    Ok(new_changes)
}

/// Deletes everything this device keeps of a workspace.
pub async fn delete_workspace(profile: &ProfileDb, id: WorkspaceId) -> Result<(), StorageError> {
    WorkspaceDb::delete_workspace(id).await?;
    profile.remove_workspace(id).await
}
