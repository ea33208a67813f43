//! The owner's recovery key (`spec/workspace.md`, Recovery Keys): a
//! high-entropy secret shown to the owner once it exists, to be stored
//! somewhere safe. The workspace keeps only its verifier, so members who
//! read the log cannot take ownership with it.

use std::fmt;

use crate::entropy::Entropy;
use crate::sync::{LinkError, WorkspaceSecret};

const VERIFIER_CONTEXT: &str = "openprod recovery key verifier v1";

#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryKey(WorkspaceSecret);

impl RecoveryKey {
    pub fn generate(entropy: &mut dyn Entropy) -> RecoveryKey {
        RecoveryKey(WorkspaceSecret::generate(entropy))
    }

    /// What the workspace records: enough to check a key, not to make one.
    pub fn verifier(&self) -> [u8; 32] {
        blake3::derive_key(VERIFIER_CONTEXT, self.0.as_bytes())
    }

    /// 43 URL-safe characters, for copying into a password manager.
    pub fn to_text(&self) -> String {
        self.0.to_text()
    }

    pub fn parse(text: &str) -> Result<RecoveryKey, LinkError> {
        WorkspaceSecret::parse(text.trim()).map(RecoveryKey)
    }

    /// Whether this is the key whose verifier the workspace holds.
    pub fn matches(&self, verifier: &[u8; 32]) -> bool {
        // Constant time: the verifier is public, but the habit costs nothing.
        blake3::Hash::from(self.verifier()) == blake3::Hash::from(*verifier)
    }
}

impl fmt::Debug for RecoveryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryKey(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::SeededEntropy;

    #[test]
    fn a_key_survives_copying_and_matches_only_its_verifier() {
        let mut entropy = SeededEntropy::new(3);
        let key = RecoveryKey::generate(&mut entropy);
        let other = RecoveryKey::generate(&mut entropy);
        let copied = RecoveryKey::parse(&format!(" {}\n", key.to_text())).unwrap();
        assert_eq!(copied, key);
        assert!(copied.matches(&key.verifier()));
        assert!(!other.matches(&key.verifier()));
        assert_eq!(format!("{key:?}"), "RecoveryKey(…)");
    }
}
