//! Backup files: a whole workspace in one file and a passphrase-sealed
//! identity. Each round-trips, and every kind of damage is refused before
//! anything is imported, in words a stage manager can act on.

mod common;

use openprod_core::backup::{
    BackupError, FileKind, KdfCost, WorkspaceFile, WorkspaceFileReader, decode_workspace_file, decrypt_identity,
    encode_workspace_file, encrypt_identity,
};
use openprod_core::bundle::Bundle;
use openprod_core::encoding::Encoder;
use openprod_core::entropy::SeededEntropy;
use openprod_core::hlc::ClockConfig;
use openprod_core::names::TableId;
use openprod_core::value::Value;
use openprod_core::workspace::Workspace;

use common::{NOW, chain, identity, workspace_id};

const CONTACTS: &str = include_str!("../../modules/contacts/manifest.toml");

/// A cost a test can pay hundreds of times; the format is the same at any cost.
const FAST: KdfCost = KdfCost { memory_kib: 64, iterations: 1 };
const PASSPHRASE: &str = "to be or not to be";

fn contacts() -> TableId {
    TableId::new("contacts", "contacts")
}

/// Jane starts "Hamlet" and adds a contact; Alex joins, adds one and edits
/// Jane's. Returns Jane's workspace, which has received everything.
fn hamlet_by_two_authors() -> Workspace {
    let mut entropy = SeededEntropy::new(11);
    let (mut jane, first) = Workspace::create(identity("jane"), "Hamlet", "Jane", NOW, &mut entropy);
    let mut change = jane.change(NOW + 1, &mut entropy);
    change.adopt_module(CONTACTS, None).unwrap();
    let adopted = change.commit().unwrap();
    let mut change = jane.change(NOW + 2, &mut entropy);
    let ophelia = change.create_record(&contacts(), &[("full_name", Value::String("Ophelia".into()))]).unwrap();
    let added = change.commit().unwrap();

    let mut alex = Workspace::empty(jane.id(), identity("alex"), NOW + 3, ClockConfig::default());
    assert!(alex.receive(vec![first, adopted, added], NOW + 3).refused.is_empty());
    let mut change = alex.change(NOW + 4, &mut entropy);
    change.create_record(&contacts(), &[("full_name", Value::String("Horatio".into()))]).unwrap();
    let horatio = change.commit().unwrap();
    let mut change = alex.change(NOW + 5, &mut entropy);
    change.set_field(ophelia, &contacts(), "role", Value::String("Ophelia".into())).unwrap();
    let role = change.commit().unwrap();

    assert!(jane.receive(vec![horatio, role], NOW + 6).refused.is_empty());
    assert_eq!(jane.state().state_hash(), alex.state().state_hash());
    jane
}

fn small_file() -> Vec<u8> {
    encode_workspace_file(workspace_id(1), "Hamlet", &chain("jane", workspace_id(1), 2))
}

/// Recomputes a workspace file's checksum after a deliberate edit, to reach
/// the checks behind it.
fn reseal(bytes: &mut Vec<u8>) {
    bytes.truncate(bytes.len() - 32);
    let checksum = blake3::hash(bytes);
    bytes.extend_from_slice(checksum.as_bytes());
}

fn position_of(bytes: &[u8], part: &[u8]) -> usize {
    bytes.windows(part.len()).position(|window| window == part).expect("part present")
}

// The workspace file.

#[test]
fn a_workspace_file_round_trips() {
    let workspace = hamlet_by_two_authors();
    let bundles = workspace.log().bundles();
    let bytes = encode_workspace_file(workspace.id(), "Hamlet — 2026 tour", bundles.clone());
    let file = decode_workspace_file(&bytes).unwrap();
    assert_eq!(
        file,
        WorkspaceFile { id: workspace.id(), name: "Hamlet — 2026 tour".into(), bundles: bundles.cloned().collect() }
    );
    assert_eq!(encode_workspace_file(file.id, &file.name, &file.bundles), bytes, "one encoding per workspace");
}

#[test]
fn a_workspace_file_by_two_authors_reopens_to_the_same_state() {
    let original = hamlet_by_two_authors();
    let authors: std::collections::BTreeSet<_> = original.log().bundles().map(|b| b.header.author).collect();
    assert_eq!(authors.len(), 2);
    let bytes = encode_workspace_file(original.id(), "Hamlet", original.log().bundles());

    let file = decode_workspace_file(&bytes).unwrap();
    let count = file.bundles.len();
    let (reopened, report) =
        Workspace::open(file.id, identity("jane"), file.bundles, NOW + 100, ClockConfig::default());

    assert!(report.refused.is_empty(), "refused: {:?}", report.refused);
    assert_eq!(report.applied.len(), count);
    assert_eq!(report.duplicates, 0);
    assert_eq!(reopened.state().state_hash(), original.state().state_hash());
    assert_eq!(reopened.state().workspace_name(), Some("Hamlet"));
}

#[test]
fn an_empty_workspace_file_round_trips() {
    let bytes = encode_workspace_file(workspace_id(3), "", &[]);
    let file = decode_workspace_file(&bytes).unwrap();
    assert_eq!(file, WorkspaceFile { id: workspace_id(3), name: String::new(), bundles: Vec::new() });
}

#[test]
fn a_truncated_workspace_file_is_refused_at_every_length() {
    let bytes = small_file();
    for length in 0..bytes.len() {
        let error = decode_workspace_file(&bytes[..length]).unwrap_err();
        assert!(
            matches!(error, BackupError::Incomplete { kind: FileKind::Workspace } | BackupError::ChecksumMismatch),
            "cut to {length} bytes: {error:?}"
        );
    }
    assert_eq!(
        decode_workspace_file(&bytes[..bytes.len() - 1]).unwrap_err().to_string(),
        "The file is damaged or incomplete: its checksum does not match. Nothing was imported."
    );
}

#[test]
fn every_flipped_byte_of_a_workspace_file_is_detected() {
    let bytes = small_file();
    for position in 0..bytes.len() {
        for mask in [0x01, 0x80, 0xff] {
            let mut damaged = bytes.clone();
            damaged[position] ^= mask;
            assert!(decode_workspace_file(&damaged).is_err(), "byte {position} ^ {mask:#04x} went unnoticed");
        }
    }
}

#[test]
fn a_file_that_is_not_a_workspace_file_is_named_as_such() {
    let mut renamed = small_file();
    renamed[..11].copy_from_slice(b"OPENPROD-XX");
    for bytes in [renamed.as_slice(), b"Name,Role\nOphelia,Ophelia\n", b"{}", b""] {
        let error = decode_workspace_file(bytes).unwrap_err();
        let expected = if bytes.is_empty() {
            BackupError::Incomplete { kind: FileKind::Workspace }
        } else {
            BackupError::NotOpenprodFile { expected: FileKind::Workspace }
        };
        assert_eq!(error, expected);
    }
    assert_eq!(decode_workspace_file(b"{}").unwrap_err().to_string(), "This is not an Openprod workspace file.");

    let identity_file =
        encrypt_identity(&identity("jane"), "Jane", PASSPHRASE, FAST, &mut SeededEntropy::new(1)).unwrap();
    let error = decode_workspace_file(&identity_file).unwrap_err();
    assert_eq!(error, BackupError::WrongKind { expected: FileKind::Workspace, found: FileKind::Identity });
    assert_eq!(
        error.to_string(),
        "This is an Openprod identity file, not a workspace file. Choose the workspace file instead."
    );
}

#[test]
fn a_workspace_file_from_a_newer_openprod_asks_for_an_update() {
    let mut bytes = small_file();
    bytes[12] = 3;
    let error = decode_workspace_file(&bytes).unwrap_err();
    assert_eq!(error, BackupError::NewerFormat { kind: FileKind::Workspace, format: 3 });
    assert_eq!(
        error.to_string(),
        "This file was made by a newer version of Openprod (format 3); update Openprod to open it."
    );
}

#[test]
fn a_bundle_of_another_workspace_is_refused_by_its_index() {
    let mut bundles = chain("jane", workspace_id(1), 3);
    bundles[1] = chain("alex", workspace_id(2), 1).remove(0);
    let bytes = encode_workspace_file(workspace_id(1), "Hamlet", &bundles);
    let error = decode_workspace_file(&bytes).unwrap_err();
    assert_eq!(error, BackupError::ForeignBundle { index: 1, count: 3, workspace: workspace_id(2) });
    assert!(error.to_string().starts_with("Bundle 2 of 3 in the file belongs to another workspace ("), "{error}");
}

#[test]
fn an_unreadable_bundle_behind_a_good_checksum_is_named() {
    let bundles: Vec<Bundle> = chain("jane", workspace_id(1), 3);
    let mut bytes = encode_workspace_file(workspace_id(1), "Hamlet", &bundles);
    let third = position_of(&bytes, &bundles[2].encoded());
    bytes[third] = 9; // the bundle format byte
    reseal(&mut bytes);
    match decode_workspace_file(&bytes).unwrap_err() {
        BackupError::BadBundle { index: 2, count: 3, error } => {
            assert_eq!((error.offset, error.what), (third, "a known bundle format"));
        }
        other => panic!("the third bundle should be named, got {other:?}"),
    }
}

/// A stray byte after the last bundle, under a checksum that covers it.
fn with_trailing_byte(mut bytes: Vec<u8>) -> Vec<u8> {
    bytes.truncate(bytes.len() - 32);
    bytes.push(0);
    bytes.extend_from_slice(&[0; 32]);
    reseal(&mut bytes);
    bytes
}

#[test]
fn trailing_bytes_behind_a_good_checksum_are_refused() {
    let bytes = with_trailing_byte(small_file());
    assert!(matches!(decode_workspace_file(&bytes), Err(BackupError::Unreadable(_))));
}

#[test]
fn trailing_bytes_behind_an_empty_workspace_file_are_refused() {
    let bytes = with_trailing_byte(encode_workspace_file(workspace_id(1), "Hamlet", &[]));
    assert!(matches!(decode_workspace_file(&bytes), Err(BackupError::Unreadable(_))));
}

#[test]
fn a_workspace_file_read_in_small_pieces_gives_the_same_bundles() {
    let workspace = hamlet_by_two_authors();
    let bytes = encode_workspace_file(workspace.id(), "Hamlet", workspace.log().bundles());
    let mut reader = WorkspaceFileReader::new(&bytes).unwrap();
    let mut checks = 0;
    while !reader.check_integrity(7).unwrap() {
        checks += 1;
        assert!(reader.integrity_progress().0 < reader.integrity_progress().1);
    }
    assert!(checks > 10, "the checksum was computed a piece at a time");
    assert_eq!((reader.id(), reader.name(), reader.bundle_count()), (workspace.id(), "Hamlet", workspace.log().len()));
    let mut bundles = Vec::new();
    while !reader.is_done() {
        let piece = reader.next_bundles(2).unwrap();
        assert!(!piece.is_empty() && piece.len() <= 2);
        bundles.extend(piece);
        assert_eq!(reader.bundles_read(), bundles.len());
    }
    assert_eq!(bundles, workspace.log().bundles().cloned().collect::<Vec<_>>());
}

#[test]
fn a_damaged_file_read_in_pieces_is_refused_before_any_bundle_is_read() {
    let mut bytes = small_file();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    let mut reader = WorkspaceFileReader::new(&bytes).unwrap();
    let outcome = loop {
        match reader.check_integrity(16) {
            Ok(false) => continue,
            other => break other,
        }
    };
    assert_eq!(outcome, Err(BackupError::ChecksumMismatch));
    assert_eq!(reader.bundles_read(), 0);
}

// The identity file.

#[test]
fn an_identity_file_round_trips_to_the_same_actor_and_name() {
    let jane = identity("jane");
    let bytes = encrypt_identity(&jane, "Jane Zoë 🎭", PASSPHRASE, FAST, &mut SeededEntropy::new(2)).unwrap();
    let (restored, name) = decrypt_identity(&bytes, PASSPHRASE).unwrap();
    assert_eq!(restored.actor_id(), jane.actor_id());
    assert_eq!(restored.secret_bytes(), jane.secret_bytes());
    assert_eq!(name, "Jane Zoë 🎭");
}

#[test]
fn an_identity_file_at_the_recommended_cost_round_trips() {
    let jane = identity("jane");
    let bytes = encrypt_identity(&jane, "Jane", PASSPHRASE, KdfCost::RECOMMENDED, &mut SeededEntropy::new(3)).unwrap();
    let (restored, name) = decrypt_identity(&bytes, PASSPHRASE).unwrap();
    assert_eq!((restored.actor_id(), name.as_str()), (jane.actor_id(), "Jane"));
}

#[test]
fn salt_and_nonce_come_from_the_entropy_passed_in() {
    let jane = identity("jane");
    let seal = |seed| encrypt_identity(&jane, "Jane", PASSPHRASE, FAST, &mut SeededEntropy::new(seed)).unwrap();
    assert_eq!(seal(4), seal(4), "no hidden random source");
    assert_ne!(seal(4), seal(5));
}

#[test]
fn a_wrong_passphrase_is_refused_in_plain_words() {
    let bytes = encrypt_identity(&identity("jane"), "Jane", PASSPHRASE, FAST, &mut SeededEntropy::new(6)).unwrap();
    for wrong in ["to be or not to be ", "To be or not to be", "", "x"] {
        let error = decrypt_identity(&bytes, wrong).unwrap_err();
        assert_eq!(error, BackupError::WrongPassphraseOrChanged, "passphrase {wrong:?}");
    }
    assert_eq!(
        BackupError::WrongPassphraseOrChanged.to_string(),
        "The passphrase is wrong, or the file was changed after it was saved."
    );
}

#[test]
fn every_flipped_byte_of_an_identity_file_is_refused() {
    let bytes = encrypt_identity(&identity("jane"), "Jane", PASSPHRASE, FAST, &mut SeededEntropy::new(7)).unwrap();
    for position in 0..bytes.len() {
        let mut damaged = bytes.clone();
        damaged[position] ^= 0x01;
        let error = decrypt_identity(&damaged, PASSPHRASE).unwrap_err();
        if position >= 15 {
            // Salt, nonce, ciphertext and tag: only the authentication can tell.
            assert_eq!(error, BackupError::WrongPassphraseOrChanged, "byte {position}");
        }
    }
}

#[test]
fn a_raised_cost_in_the_header_is_caught_by_the_authentication() {
    let bytes = encrypt_identity(&identity("jane"), "Jane", PASSPHRASE, FAST, &mut SeededEntropy::new(8)).unwrap();
    let mut forged = b"OPENPROD-ID\n\x01".to_vec();
    forged.extend_from_slice(&[65, 1]);
    forged.extend_from_slice(&bytes[15..]);
    assert_eq!(decrypt_identity(&forged, PASSPHRASE).unwrap_err(), BackupError::WrongPassphraseOrChanged);
}

#[test]
fn a_truncated_identity_file_is_refused_at_every_length() {
    let bytes = encrypt_identity(&identity("jane"), "Jane", PASSPHRASE, FAST, &mut SeededEntropy::new(9)).unwrap();
    for length in 0..bytes.len() {
        let error = decrypt_identity(&bytes[..length], PASSPHRASE).unwrap_err();
        assert!(
            matches!(
                error,
                BackupError::Incomplete { kind: FileKind::Identity } | BackupError::WrongPassphraseOrChanged
            ),
            "cut to {length} bytes: {error:?}"
        );
    }
}

#[test]
fn a_short_passphrase_is_refused_counting_characters() {
    let jane = identity("jane");
    let mut entropy = SeededEntropy::new(10);
    for short in ["", "hamlet", "1234567", "🎭🎭🎭🎭"] {
        let error = encrypt_identity(&jane, "Jane", short, FAST, &mut entropy).unwrap_err();
        assert_eq!(error, BackupError::PassphraseTooShort, "{short:?}");
    }
    assert_eq!(BackupError::PassphraseTooShort.to_string(), "The passphrase must be at least 8 characters.");
    assert!(encrypt_identity(&jane, "Jane", "12345678", FAST, &mut entropy).is_ok());
    assert!(encrypt_identity(&jane, "Jane", "éééééééé", FAST, &mut entropy).is_ok());
}

#[test]
fn an_absurd_cost_is_refused_before_any_work() {
    let absurd = [
        KdfCost { memory_kib: u32::MAX, iterations: 1 },
        KdfCost { memory_kib: KdfCost::MAX_MEMORY_KIB + 1, iterations: 1 },
        KdfCost { memory_kib: 64, iterations: KdfCost::MAX_ITERATIONS + 1 },
        KdfCost { memory_kib: 64, iterations: 0 },
        KdfCost { memory_kib: 0, iterations: 1 },
    ];
    let bytes = encrypt_identity(&identity("jane"), "Jane", PASSPHRASE, FAST, &mut SeededEntropy::new(12)).unwrap();
    for cost in absurd {
        let expected = BackupError::UnreasonableCost { memory_kib: cost.memory_kib, iterations: cost.iterations };
        let refused = encrypt_identity(&identity("jane"), "Jane", PASSPHRASE, cost, &mut SeededEntropy::new(12));
        assert_eq!(refused.unwrap_err(), expected);

        // A forged file asking for the same: refused before Argon2 allocates anything.
        let mut forged = Encoder::new();
        forged.fixed(b"OPENPROD-ID\n\x01").varint(u64::from(cost.memory_kib)).varint(u64::from(cost.iterations));
        let mut forged = forged.into_bytes();
        forged.extend_from_slice(&bytes[15..]);
        assert_eq!(decrypt_identity(&forged, PASSPHRASE).unwrap_err(), expected);
    }
    // Beyond 32 bits, too.
    let mut forged = Encoder::new();
    forged.fixed(b"OPENPROD-ID\n\x01").varint(u64::MAX).varint(1);
    let mut forged = forged.into_bytes();
    forged.extend_from_slice(&bytes[15..]);
    let error = decrypt_identity(&forged, PASSPHRASE).unwrap_err();
    assert!(matches!(error, BackupError::UnreasonableCost { memory_kib: u32::MAX, .. }), "{error:?}");
    assert!(error.to_string().contains("outside what Openprod ever uses"));
}

#[test]
fn identity_files_from_newer_or_other_sources_are_named_as_such() {
    let mut bytes = encrypt_identity(&identity("jane"), "Jane", PASSPHRASE, FAST, &mut SeededEntropy::new(13)).unwrap();
    assert_eq!(
        decrypt_identity(&small_file(), PASSPHRASE).unwrap_err(),
        BackupError::WrongKind { expected: FileKind::Identity, found: FileKind::Workspace }
    );
    assert_eq!(
        decrypt_identity(b"-----BEGIN OPENSSH PRIVATE KEY-----", PASSPHRASE).unwrap_err().to_string(),
        "This is not an Openprod identity file."
    );
    bytes[12] = 2;
    assert_eq!(
        decrypt_identity(&bytes, PASSPHRASE).unwrap_err(),
        BackupError::NewerFormat { kind: FileKind::Identity, format: 2 }
    );
}

// Both together: the way back after losing every device.

#[test]
fn a_lost_device_is_recovered_from_its_two_files_and_carries_on() {
    let mut jane = hamlet_by_two_authors();
    let mut entropy = SeededEntropy::new(14);
    let identity_file =
        encrypt_identity(&identity("jane"), "Jane", PASSPHRASE, FAST, &mut SeededEntropy::new(15)).unwrap();
    let workspace_file = encode_workspace_file(jane.id(), "Hamlet", jane.log().bundles());

    // A new laptop: only the two files and the passphrase.
    let (restored_identity, name) = decrypt_identity(&identity_file, PASSPHRASE).unwrap();
    assert_eq!(name, "Jane");
    let file = decode_workspace_file(&workspace_file).unwrap();
    let (mut laptop, report) =
        Workspace::open(file.id, restored_identity, file.bundles, NOW + 1_000, ClockConfig::default());
    assert!(report.refused.is_empty());
    assert_eq!(laptop.actor(), jane.actor());
    assert_eq!(laptop.state().state_hash(), jane.state().state_hash());

    // Jane's chain continues from the laptop, and the old device accepts it.
    let ophelia = laptop.state().records(&contacts())[0];
    let mut change = laptop.change(NOW + 1_001, &mut entropy);
    change.set_field(ophelia, &contacts(), "email", Value::String("ophelia@example.org".into())).unwrap();
    let next = change.commit().unwrap();
    let report = jane.receive(vec![next], NOW + 1_002);
    assert!(report.refused.is_empty(), "refused: {:?}", report.refused);
    assert_eq!(laptop.state().state_hash(), jane.state().state_hash());
}
