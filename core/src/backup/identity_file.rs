//! The identity file: a device's signing key and the person's display name,
//! sealed with a passphrase, so a person can move to a new device or recover
//! after losing one and still be the same author in every workspace.
//!
//! Layout (format 1):
//!
//! | bytes   | content                                                        |
//! |---------|----------------------------------------------------------------|
//! | 12      | magic `OPENPROD-ID\n`                                          |
//! | 1       | format, 1                                                      |
//! | varint  | Argon2id memory, KiB                                           |
//! | varint  | Argon2id passes                                                |
//! | 16      | salt                                                           |
//! | 24      | nonce                                                          |
//! | rest    | XChaCha20-Poly1305 of (32-byte secret key ‖ UTF-8 display name), 16-byte tag last |
//!
//! The key is Argon2id (version 0x13, one lane, 32 bytes) of the passphrase's
//! UTF-8 bytes with the salt. Every byte before the ciphertext is associated
//! data, so the cost, salt and nonce are authenticated along with the secret.

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use zeroize::{Zeroize, Zeroizing};

use super::{BackupError, FileKind, check_preamble};
use crate::encoding::{DecodeError, Decoder, Encoder};
use crate::entropy::Entropy;
use crate::identity::Identity;

pub(super) const MAGIC: &[u8] = b"OPENPROD-ID\n";

/// Bumped only with a reader for the old format kept alongside.
const FORMAT: u8 = 1;

/// Counted in characters, not bytes: what a person can check by looking.
pub(super) const MIN_PASSPHRASE_CHARS: usize = 8;

const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 24;
const SECRET_LEN: usize = 32;
const TAG_LEN: usize = 16;
const KEY_LEN: usize = 32;

/// Magic, format, two one-byte varints, salt, nonce, secret and tag: no
/// identity file is shorter.
const MIN_FILE_LEN: usize = MAGIC.len() + 1 + 2 + SALT_LEN + NONCE_LEN + SECRET_LEN + TAG_LEN;

/// How much work Argon2id does to turn a passphrase into a key: the price of
/// each guess for someone who has the file and not the passphrase. Stored in
/// the file, so a later Openprod can raise it and still read older files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfCost {
    pub memory_kib: u32,
    pub iterations: u32,
}

impl KdfCost {
    /// OWASP's minimum for Argon2id: 19 MiB, 2 passes, one lane. Under a
    /// second in a phone's browser, which matters because people type the
    /// passphrase while standing in a rehearsal room.
    pub const RECOMMENDED: KdfCost = KdfCost { memory_kib: 19 * 1024, iterations: 2 };

    /// Argon2's floor for one lane.
    pub const MIN_MEMORY_KIB: u32 = 8;
    /// WebAssembly memory never shrinks: whatever a file asks for stays
    /// taken until the tab is reloaded. 256 MiB is 13 times the recommended
    /// cost and still something a phone can give; a file asking for more
    /// was not made by Openprod.
    pub const MAX_MEMORY_KIB: u32 = 256 * 1024;
    pub const MIN_ITERATIONS: u32 = 1;
    /// Bounds the time a forged file can make the tab spin.
    pub const MAX_ITERATIONS: u32 = 100;

    fn params(self) -> Result<Params, BackupError> {
        let unreasonable = BackupError::UnreasonableCost { memory_kib: self.memory_kib, iterations: self.iterations };
        if !(Self::MIN_MEMORY_KIB..=Self::MAX_MEMORY_KIB).contains(&self.memory_kib)
            || !(Self::MIN_ITERATIONS..=Self::MAX_ITERATIONS).contains(&self.iterations)
        {
            return Err(unreasonable);
        }
        Params::new(self.memory_kib, self.iterations, 1, Some(KEY_LEN)).map_err(|_| unreasonable)
    }
}

/// Seals `identity` and `display_name` with `passphrase`. Salt and nonce come
/// from `entropy`, which must be a real random source (the browser's
/// `crypto.getRandomValues`): a repeated nonce under one passphrase and salt
/// would expose the secret.
pub fn encrypt_identity(
    identity: &Identity,
    display_name: &str,
    passphrase: &str,
    cost: KdfCost,
    entropy: &mut dyn Entropy,
) -> Result<Vec<u8>, BackupError> {
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(BackupError::PassphraseTooShort);
    }
    let params = cost.params()?;
    let mut salt = [0u8; SALT_LEN];
    entropy.fill(&mut salt);
    let mut nonce = [0u8; NONCE_LEN];
    entropy.fill(&mut nonce);

    let mut header = Encoder::new();
    header.fixed(MAGIC).u8(FORMAT).varint(u64::from(cost.memory_kib)).varint(u64::from(cost.iterations));
    header.fixed(&salt).fixed(&nonce);
    let header = header.into_bytes();

    let key = derive_key(passphrase, &salt, params, cost)?;
    // Sized up front: growing the buffer would leave copies of the secret
    // behind in freed memory, out of reach of the zeroing on drop.
    let mut buffer = Zeroizing::new(Vec::with_capacity(SECRET_LEN + display_name.len() + TAG_LEN));
    let mut secret = identity.secret_bytes();
    buffer.extend_from_slice(&secret);
    secret.zeroize();
    buffer.extend_from_slice(display_name.as_bytes());
    XChaCha20Poly1305::new((&*key).into())
        .encrypt_in_place(&XNonce::from(nonce), &header, &mut *buffer)
        .expect("a buffer sized for the tag and a short message encrypt");

    let mut file = header;
    file.extend_from_slice(&buffer);
    Ok(file)
}

/// Opens an identity file with `passphrase`: the identity and the display
/// name saved with it.
pub fn decrypt_identity(bytes: &[u8], passphrase: &str) -> Result<(Identity, String), BackupError> {
    check_preamble(bytes, FileKind::Identity, FORMAT)?;
    if bytes.len() < MIN_FILE_LEN {
        return Err(BackupError::Incomplete { kind: FileKind::Identity });
    }
    let mut input = Decoder::new(bytes);
    let header = read_header(&mut input).map_err(BackupError::Unreadable)?;
    // Checked before any memory is set aside for the key: the cost is the
    // one part of the file an attacker controls before authentication.
    let params = header.cost.params()?;
    let header_len = input.position();
    if input.remaining() < SECRET_LEN + TAG_LEN {
        return Err(BackupError::Incomplete { kind: FileKind::Identity });
    }

    let key = derive_key(passphrase, &header.salt, params, header.cost)?;
    let mut buffer = Zeroizing::new(bytes[header_len..].to_vec());
    XChaCha20Poly1305::new((&*key).into())
        .decrypt_in_place(&XNonce::from(header.nonce), &bytes[..header_len], &mut *buffer)
        .map_err(|_| BackupError::WrongPassphraseOrChanged)?;

    let (secret, name) = buffer.split_at(SECRET_LEN);
    let name = std::str::from_utf8(name)
        .map_err(|_| {
            // Authentic yet not UTF-8: written wrongly, since no one without the passphrase could.
            BackupError::Unreadable(DecodeError { offset: header_len + SECRET_LEN, what: "a display name" })
        })?
        .to_owned();
    let mut seed = [0u8; SECRET_LEN];
    seed.copy_from_slice(secret);
    let identity = Identity::from_seed(seed);
    seed.zeroize();
    Ok((identity, name))
}

struct Header {
    cost: KdfCost,
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
}

fn read_header(input: &mut Decoder<'_>) -> Result<Header, DecodeError> {
    input.slice(MAGIC.len() + 1, "the file header")?;
    // Out-of-range values are kept saturated, to be refused as unreasonable
    // with the rest of the cost check rather than as unreadable.
    let memory_kib = u32::try_from(input.varint("a memory cost")?).unwrap_or(u32::MAX);
    let iterations = u32::try_from(input.varint("a number of passes")?).unwrap_or(u32::MAX);
    let salt = input.fixed("a salt")?;
    let nonce = input.fixed("a nonce")?;
    Ok(Header { cost: KdfCost { memory_kib, iterations }, salt, nonce })
}

fn derive_key(
    passphrase: &str,
    salt: &[u8; SALT_LEN],
    params: Params,
    cost: KdfCost,
) -> Result<Zeroizing<[u8; KEY_LEN]>, BackupError> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt, &mut *key)
        .map_err(|error| match error {
            argon2::Error::OutOfMemory => BackupError::OutOfMemory { memory_kib: cost.memory_kib },
            _ => BackupError::UnreasonableCost { memory_kib: cost.memory_kib, iterations: cost.iterations },
        })?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::SeededEntropy;

    const FAST: KdfCost = KdfCost { memory_kib: 64, iterations: 1 };

    #[test]
    fn recommended_cost_is_owasp_minimum_and_within_bounds() {
        assert_eq!(KdfCost::RECOMMENDED, KdfCost { memory_kib: 19_456, iterations: 2 });
        assert!(KdfCost::RECOMMENDED.params().is_ok());
    }

    #[test]
    fn layout_is_magic_format_cost_salt_nonce_ciphertext() {
        let identity = Identity::from_seed([5; 32]);
        let bytes = encrypt_identity(&identity, "Jane", "correct horse", FAST, &mut SeededEntropy::new(1)).unwrap();
        let mut expected_salt = [0u8; SALT_LEN];
        let mut entropy = SeededEntropy::new(1);
        entropy.fill(&mut expected_salt);
        assert_eq!(&bytes[..13], b"OPENPROD-ID\n\x01");
        assert_eq!(&bytes[13..15], &[64, 1], "memory and passes as varints");
        assert_eq!(&bytes[15..31], &expected_salt);
        assert_eq!(bytes.len(), 15 + SALT_LEN + NONCE_LEN + SECRET_LEN + "Jane".len() + TAG_LEN);
        assert!(!bytes.windows(SECRET_LEN).any(|window| window == identity.secret_bytes()), "secret sealed");
    }

    #[test]
    fn the_key_depends_on_the_salt_and_every_stored_cost() {
        // The key depends on every input the format stores: salt, memory and passes.
        let salt = [7u8; SALT_LEN];
        let key = |memory_kib, iterations, salt: &[u8; SALT_LEN]| {
            let cost = KdfCost { memory_kib, iterations };
            *derive_key("correct horse", salt, cost.params().unwrap(), cost).unwrap()
        };
        let base = key(64, 1, &salt);
        assert_ne!(base, key(128, 1, &salt));
        assert_ne!(base, key(64, 2, &salt));
        assert_ne!(base, key(64, 1, &[8; SALT_LEN]));
        assert_eq!(base, key(64, 1, &salt));
    }
}
