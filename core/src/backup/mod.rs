//! Backups a person can hold in their hand: a whole workspace in one file,
//! and a device identity sealed with a passphrase.
//!
//! These are the recovery path when every device of a show is lost or wiped,
//! so both formats check themselves before anything is imported, and every
//! refusal says in plain words what to do next. Neither file is trusted
//! beyond its own checks: bundles from a workspace file still go through
//! [`crate::workspace::Workspace::open`], which verifies every signature and
//! chain link.

mod identity_file;
mod workspace_file;

use std::fmt;

pub use identity_file::{KdfCost, decrypt_identity, encrypt_identity};
pub use workspace_file::{WorkspaceFile, WorkspaceFileReader, decode_workspace_file, encode_workspace_file};

use crate::encoding::DecodeError;
use crate::ids::WorkspaceId;

/// Which of the two backup files an error is about, so a person who picked
/// the wrong one is told which one they picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Workspace,
    Identity,
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Workspace => "workspace",
            FileKind::Identity => "identity",
        })
    }
}

/// Why a backup file could not be written or read. Nothing is imported from
/// a file that gives any of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupError {
    /// The file does not start like any Openprod file.
    NotOpenprodFile {
        expected: FileKind,
    },
    /// An Openprod file, but the other kind.
    WrongKind {
        expected: FileKind,
        found: FileKind,
    },
    /// Written by a later Openprod whose format this version cannot read.
    NewerFormat {
        kind: FileKind,
        format: u8,
    },
    /// The file ends before the end of its fixed parts.
    Incomplete {
        kind: FileKind,
    },
    /// The workspace file's checksum does not match its contents.
    ChecksumMismatch,
    /// The file's framing cannot be read. For a workspace file this means
    /// the checksum matched: the file was written wrongly, or forged along
    /// with its checksum.
    Unreadable(DecodeError),
    /// One bundle of a workspace file cannot be read. `index` counts from 0.
    BadBundle {
        index: usize,
        count: usize,
        error: DecodeError,
    },
    /// One bundle of a workspace file belongs to another workspace. `index` counts from 0.
    ForeignBundle {
        index: usize,
        count: usize,
        workspace: WorkspaceId,
    },
    PassphraseTooShort,
    /// The key-derivation cost is outside [`KdfCost::MIN_MEMORY_KIB`]..=[`KdfCost::MAX_MEMORY_KIB`]
    /// or [`KdfCost::MIN_ITERATIONS`]..=[`KdfCost::MAX_ITERATIONS`].
    UnreasonableCost {
        memory_kib: u32,
        iterations: u32,
    },
    /// The device could not set aside the memory the key derivation needs.
    OutOfMemory {
        memory_kib: u32,
    },
    /// Authenticated decryption failed. A wrong passphrase and an altered
    /// file are indistinguishable by design, so this is one error.
    WrongPassphraseOrChanged,
}

impl fmt::Display for BackupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackupError::NotOpenprodFile { expected } => write!(f, "This is not an Openprod {expected} file."),
            BackupError::WrongKind { expected, found } => write!(
                f,
                "This is an Openprod {found} file, not a {expected} file. Choose the {expected} file instead."
            ),
            BackupError::NewerFormat { kind: _, format } => write!(
                f,
                "This file was made by a newer version of Openprod (format {format}); update Openprod to open it."
            ),
            BackupError::Incomplete { kind } => write!(
                f,
                "The {kind} file is incomplete: it is shorter than any complete Openprod {kind} file. \
                 Nothing was imported."
            ),
            BackupError::ChecksumMismatch => {
                f.write_str("The file is damaged or incomplete: its checksum does not match. Nothing was imported.")
            }
            BackupError::Unreadable(error) => {
                write!(f, "The file could not be read ({error}). Nothing was imported.")
            }
            BackupError::BadBundle { index, count, error } => {
                write!(
                    f,
                    "Bundle {} of {count} in the file could not be read: {error}. Nothing was imported.",
                    index + 1
                )
            }
            BackupError::ForeignBundle { index, count, workspace } => write!(
                f,
                "Bundle {} of {count} in the file belongs to another workspace ({workspace}). Nothing was imported.",
                index + 1
            ),
            BackupError::PassphraseTooShort => {
                write!(f, "The passphrase must be at least {} characters.", identity_file::MIN_PASSPHRASE_CHARS)
            }
            BackupError::UnreasonableCost { memory_kib, iterations } => write!(
                f,
                "This identity file asks for {memory_kib} KiB of memory and {iterations} passes to unlock, \
                 outside what Openprod ever uses: it is damaged or was not made by Openprod. Nothing was imported."
            ),
            BackupError::OutOfMemory { memory_kib } => write!(
                f,
                "This device could not set aside the {} MiB needed to unlock the identity file. \
                 Close other tabs or apps and try again.",
                memory_kib.div_ceil(1024)
            ),
            BackupError::WrongPassphraseOrChanged => {
                f.write_str("The passphrase is wrong, or the file was changed after it was saved.")
            }
        }
    }
}

impl std::error::Error for BackupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BackupError::Unreadable(error) | BackupError::BadBundle { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Reads a file's magic and format byte: the part every version of a format
/// keeps, so that any later Openprod file is recognised as such.
fn check_preamble(bytes: &[u8], kind: FileKind, current_format: u8) -> Result<(), BackupError> {
    let magic = magic_of(kind);
    let other = match kind {
        FileKind::Workspace => FileKind::Identity,
        FileKind::Identity => FileKind::Workspace,
    };
    if !bytes.starts_with(magic) {
        if bytes.starts_with(magic_of(other)) {
            return Err(BackupError::WrongKind { expected: kind, found: other });
        }
        // A file cut off inside its magic is incomplete, not foreign.
        if bytes.len() < magic.len() && magic.starts_with(bytes) {
            return Err(BackupError::Incomplete { kind });
        }
        return Err(BackupError::NotOpenprodFile { expected: kind });
    }
    let Some(&format) = bytes.get(magic.len()) else {
        return Err(BackupError::Incomplete { kind });
    };
    if format > current_format {
        return Err(BackupError::NewerFormat { kind, format });
    }
    if format != current_format {
        // No Openprod ever wrote this format: the byte was damaged.
        return Err(BackupError::Unreadable(DecodeError { offset: magic.len(), what: "a known file format" }));
    }
    Ok(())
}

fn magic_of(kind: FileKind) -> &'static [u8] {
    match kind {
        FileKind::Workspace => workspace_file::MAGIC,
        FileKind::Identity => identity_file::MAGIC,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magics_have_one_length_and_neither_is_a_prefix_of_the_other() {
        assert_eq!(workspace_file::MAGIC.len(), identity_file::MAGIC.len());
        assert_ne!(workspace_file::MAGIC, identity_file::MAGIC);
    }

    #[test]
    fn preamble_tells_foreign_truncated_wrong_kind_and_newer_files_apart() {
        let mut file = workspace_file::MAGIC.to_vec();
        file.push(1);
        assert_eq!(check_preamble(&file, FileKind::Workspace, 1), Ok(()));
        assert_eq!(
            check_preamble(&file[..5], FileKind::Workspace, 1),
            Err(BackupError::Incomplete { kind: FileKind::Workspace })
        );
        assert_eq!(
            check_preamble(&file[..file.len() - 1], FileKind::Workspace, 1),
            Err(BackupError::Incomplete { kind: FileKind::Workspace })
        );
        assert_eq!(
            check_preamble(&file, FileKind::Identity, 1),
            Err(BackupError::WrongKind { expected: FileKind::Identity, found: FileKind::Workspace })
        );
        assert_eq!(
            check_preamble(b"PK\x03\x04 a zip file", FileKind::Workspace, 1),
            Err(BackupError::NotOpenprodFile { expected: FileKind::Workspace })
        );
        *file.last_mut().unwrap() = 7;
        assert_eq!(
            check_preamble(&file, FileKind::Workspace, 1),
            Err(BackupError::NewerFormat { kind: FileKind::Workspace, format: 7 })
        );
    }

    #[test]
    fn messages_read_as_sentences_for_people() {
        let bundle_error = DecodeError { offset: 3, what: "a signature" };
        let cases = [
            (BackupError::NotOpenprodFile { expected: FileKind::Workspace }, "This is not an Openprod workspace file."),
            (
                BackupError::NewerFormat { kind: FileKind::Workspace, format: 3 },
                "This file was made by a newer version of Openprod (format 3); update Openprod to open it.",
            ),
            (
                BackupError::ChecksumMismatch,
                "The file is damaged or incomplete: its checksum does not match. Nothing was imported.",
            ),
            (
                BackupError::BadBundle { index: 40, count: 50, error: bundle_error },
                "Bundle 41 of 50 in the file could not be read: damaged data: could not read a signature at byte 3. \
                 Nothing was imported.",
            ),
            (BackupError::PassphraseTooShort, "The passphrase must be at least 8 characters."),
            (
                BackupError::WrongPassphraseOrChanged,
                "The passphrase is wrong, or the file was changed after it was saved.",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
        }
    }
}
