//! The workspace file: every bundle of a workspace in one file, the backup a
//! stage manager keeps on a USB stick and the way back when every device is
//! gone.
//!
//! Layout (format 1):
//!
//! | bytes            | content                                                   |
//! |------------------|-----------------------------------------------------------|
//! | 12               | magic `OPENPROD-WS\n`                                     |
//! | 1                | format, 1                                                 |
//! | 16               | workspace id                                              |
//! | varint + UTF-8   | workspace name                                            |
//! | varint           | bundle count                                              |
//! | varint + bytes   | each bundle in log order, in the engine's bundle encoding |
//! | 32               | BLAKE3 of every byte before it                            |
//!
//! The checksum is checked before anything else is read, so a cut-off copy or
//! a flipped bit is refused as a whole rather than half-imported. It proves
//! integrity, not authorship: signatures and chains are checked when the
//! bundles are opened with [`crate::workspace::Workspace::open`].

use super::{BackupError, FileKind, check_preamble};
use crate::bundle::{Bundle, MIN_ENCODED_BUNDLE};
use crate::encoding::{DecodeError, Decoder, Encoder};
use crate::ids::WorkspaceId;

pub(super) const MAGIC: &[u8] = b"OPENPROD-WS\n";

/// Bumped only with a reader for the old format kept alongside.
const FORMAT: u8 = 1;

const CHECKSUM_LEN: usize = 32;

/// The smallest a length-prefixed bundle can be. Bounds the bundle count
/// against the bytes present before anything is allocated.
const MIN_FRAMED_BUNDLE: usize = 1 + MIN_ENCODED_BUNDLE;

/// A decoded workspace file: checked for integrity and for belonging to one
/// workspace, not yet for signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceFile {
    pub id: WorkspaceId,
    pub name: String,
    /// In the order they were written, which [`crate::workspace::Workspace::open`] accepts.
    pub bundles: Vec<Bundle>,
}

/// Writes the workspace file for `bundles`, which should be the workspace's
/// log in order (`workspace.log().bundles()`) and all belong to `id`: a
/// bundle of another workspace makes the file unreadable.
pub fn encode_workspace_file<'a>(
    id: WorkspaceId,
    name: &str,
    bundles: impl IntoIterator<Item = &'a Bundle, IntoIter: ExactSizeIterator>,
) -> Vec<u8> {
    let bundles = bundles.into_iter();
    let mut out = Encoder::new();
    out.fixed(MAGIC).u8(FORMAT).fixed(id.as_bytes()).str(name);
    out.varint(bundles.len() as u64);
    for bundle in bundles {
        // Length-prefixed, so that a bundle that cannot be read is reported
        // as itself instead of garbling every bundle after it.
        out.bytes(&bundle.encoded());
    }
    let mut bytes = out.into_bytes();
    let checksum = blake3::hash(&bytes);
    bytes.extend_from_slice(checksum.as_bytes());
    bytes
}

/// Reads a workspace file, refusing it whole if any part is damaged.
pub fn decode_workspace_file(bytes: &[u8]) -> Result<WorkspaceFile, BackupError> {
    let mut reader = WorkspaceFileReader::new(bytes)?;
    while !reader.check_integrity(usize::MAX)? {}
    let mut bundles = Vec::with_capacity(reader.bundle_count());
    while !reader.is_done() {
        bundles.extend(reader.next_bundles(usize::MAX)?);
    }
    let (id, name) = (reader.id(), reader.name().to_owned());
    Ok(WorkspaceFile { id, name, bundles })
}

/// Reads a workspace file a piece at a time, so that a driver can yield to
/// its event loop between pieces of a large file: first
/// [`WorkspaceFileReader::check_integrity`] until it returns `true` (nothing
/// else is read before the whole checksum matches), then
/// [`WorkspaceFileReader::next_bundles`] until [`WorkspaceFileReader::is_done`].
pub struct WorkspaceFileReader<'a> {
    body: &'a [u8],
    checksum: &'a [u8],
    hasher: blake3::Hasher,
    hashed: usize,
    /// Set once the checksum matched.
    contents: Option<Contents<'a>>,
}

struct Contents<'a> {
    id: WorkspaceId,
    name: String,
    count: usize,
    input: Decoder<'a>,
    index: usize,
}

impl<'a> WorkspaceFileReader<'a> {
    /// Checks only what tells a workspace file at a glance: its magic, its
    /// format and that it is long enough to hold a checksum.
    pub fn new(bytes: &'a [u8]) -> Result<WorkspaceFileReader<'a>, BackupError> {
        check_preamble(bytes, FileKind::Workspace, FORMAT)?;
        let Some(body_len) = bytes.len().checked_sub(CHECKSUM_LEN).filter(|&len| len > MAGIC.len()) else {
            return Err(BackupError::Incomplete { kind: FileKind::Workspace });
        };
        let (body, checksum) = bytes.split_at(body_len);
        Ok(WorkspaceFileReader { body, checksum, hasher: blake3::Hasher::new(), hashed: 0, contents: None })
    }

    /// Hashes up to `max_bytes` more of the file; `true` once the whole file
    /// is hashed, its checksum matches and its header is read.
    pub fn check_integrity(&mut self, max_bytes: usize) -> Result<bool, BackupError> {
        if self.contents.is_some() {
            return Ok(true);
        }
        let end = self.hashed.saturating_add(max_bytes.max(1)).min(self.body.len());
        self.hasher.update(&self.body[self.hashed..end]);
        self.hashed = end;
        if self.hashed < self.body.len() {
            return Ok(false);
        }
        if self.hasher.finalize().as_bytes() != self.checksum {
            return Err(BackupError::ChecksumMismatch);
        }
        let mut input = Decoder::new(self.body);
        input.slice(MAGIC.len() + 1, "the file header").map_err(BackupError::Unreadable)?;
        let id = WorkspaceId::from_bytes(input.fixed("a workspace id").map_err(BackupError::Unreadable)?);
        let name = input.str("a workspace name").map_err(BackupError::Unreadable)?.to_owned();
        let count = input.length(MIN_FRAMED_BUNDLE, "a bundle count").map_err(BackupError::Unreadable)?;
        if count == 0 {
            input.finish("the end of the bundles").map_err(BackupError::Unreadable)?;
        }
        self.contents = Some(Contents { id, name, count, input, index: 0 });
        Ok(true)
    }

    /// How far [`WorkspaceFileReader::check_integrity`] has come, as (bytes hashed, bytes in all).
    pub fn integrity_progress(&self) -> (usize, usize) {
        (self.hashed, self.body.len())
    }

    fn contents(&self) -> &Contents<'a> {
        self.contents.as_ref().expect("the header is read once the integrity check passed")
    }

    /// The workspace's id. Only after the integrity check passed.
    pub fn id(&self) -> WorkspaceId {
        self.contents().id
    }

    /// The workspace's name. Only after the integrity check passed.
    pub fn name(&self) -> &str {
        &self.contents().name
    }

    /// How many bundles the file holds. Only after the integrity check passed.
    pub fn bundle_count(&self) -> usize {
        self.contents().count
    }

    /// How many bundles have been read so far.
    pub fn bundles_read(&self) -> usize {
        self.contents.as_ref().map_or(0, |contents| contents.index)
    }

    pub fn is_done(&self) -> bool {
        self.contents.as_ref().is_some_and(|contents| contents.index == contents.count)
    }

    /// The next bundles, up to `max`, in file order. Only after the integrity
    /// check passed; the last call also checks that nothing follows them.
    pub fn next_bundles(&mut self, max: usize) -> Result<Vec<Bundle>, BackupError> {
        let Some(contents) = self.contents.as_mut() else {
            panic!("next_bundles before the integrity check passed");
        };
        let Contents { id, count, input, index, .. } = contents;
        let take = max.min(*count - *index);
        let mut bundles = Vec::with_capacity(take);
        for _ in 0..take {
            let current = *index;
            let bad_bundle = |error: DecodeError| BackupError::BadBundle { index: current, count: *count, error };
            let encoded = input.bytes("a bundle's length").map_err(bad_bundle)?;
            let offset = input.position() - encoded.len();
            let bundle = Bundle::decode_one(encoded).map_err(|error| {
                // Offsets relative to the file, where someone inspecting it would look.
                bad_bundle(DecodeError { offset: offset + error.offset, what: error.what })
            })?;
            if bundle.header.workspace != *id {
                return Err(BackupError::ForeignBundle {
                    index: current,
                    count: *count,
                    workspace: bundle.header.workspace,
                });
            }
            bundles.push(bundle);
            *index += 1;
        }
        if *index == *count {
            input.finish("the end of the bundles").map_err(BackupError::Unreadable)?;
        }
        Ok(bundles)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hlc::Hlc;
    use crate::identity::Identity;
    use crate::ids::OpId;
    use crate::op::{OpPayload, Operation};

    fn bootstrap(workspace: WorkspaceId) -> Bundle {
        let op = Operation {
            id: OpId::new_v7(1, [1; 10]),
            hlc: Hlc::new(1, 0),
            payload: OpPayload::Bootstrap { workspace_name: "Hamlet".into(), owner_name: "Jane".into() },
        };
        Bundle::sign(&Identity::from_seed([1; 32]), workspace, None, Vec::new(), vec![op])
    }

    #[test]
    fn the_smallest_bundle_is_no_smaller_than_the_count_bound_assumes() {
        let bundle = bootstrap(WorkspaceId::from_bytes([2; 16]));
        assert!(bundle.encoded().len() + 1 >= MIN_FRAMED_BUNDLE);
    }

    #[test]
    fn layout_is_magic_format_id_name_count_bundles_checksum() {
        let id = WorkspaceId::from_bytes([2; 16]);
        let bundle = bootstrap(id);
        let bytes = encode_workspace_file(id, "Hamlet", std::slice::from_ref(&bundle));
        let encoded = bundle.encoded();
        let mut expected = b"OPENPROD-WS\n\x01".to_vec();
        expected.extend_from_slice(&[2; 16]);
        expected.extend_from_slice(b"\x06Hamlet\x01");
        assert!((128..16_384).contains(&encoded.len()), "a two-byte length prefix");
        expected.extend_from_slice(&[encoded.len() as u8 | 0x80, (encoded.len() >> 7) as u8]);
        expected.extend_from_slice(&encoded);
        expected.extend_from_slice(blake3::hash(&expected).as_bytes());
        assert_eq!(bytes, expected);
    }

    #[test]
    fn a_bundle_count_larger_than_the_file_fails_before_allocating() {
        let mut out = Encoder::new();
        out.fixed(MAGIC).u8(FORMAT).fixed(&[2; 16]).str("Hamlet").varint(u64::MAX);
        let mut bytes = out.into_bytes();
        let checksum = blake3::hash(&bytes);
        bytes.extend_from_slice(checksum.as_bytes());
        assert!(matches!(
            decode_workspace_file(&bytes),
            Err(BackupError::Unreadable(DecodeError { what: "a bundle count", .. }))
        ));
    }
}
