//! What this browser contributes to the engine: random bytes for keys.

use openprod_core::identity::Identity;

/// A new identity from the browser's cryptographic random source.
pub fn fresh_identity() -> Result<Identity, getrandom::Error> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)?;
    Ok(Identity::from_seed(seed))
}
