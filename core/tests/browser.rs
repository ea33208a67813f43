//! Engine tests that run inside headless Chromium (`cargo test --target wasm32-unknown-unknown`).
#![cfg(target_arch = "wasm32")]

use openprod_core::identity::{ActorId, Identity, IdentityError};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn sign_and_verify_in_the_browser() {
    let identity = Identity::from_seed([42; 32]);
    let signature = identity.sign(b"standby lights 12");
    assert_eq!(identity.actor_id().verify(b"standby lights 12", &signature), Ok(()));
    assert_eq!(identity.actor_id().verify(b"standby lights 13", &signature), Err(IdentityError::BadSignature));
}

#[wasm_bindgen_test]
fn keys_match_the_native_build() {
    // The same seed must give the same actor id on every platform, or peers
    // on different devices could not recognise each other.
    let actor = Identity::from_seed([9; 32]).actor_id();
    assert_eq!(ActorId::from_hex(&actor.to_string()), Ok(actor));
    assert_eq!(actor.to_string(), ACTOR_FOR_SEED_9.trim());
}

// The native unit tests check the same fixture.
const ACTOR_FOR_SEED_9: &str = include_str!("fixtures/actor_for_seed_9.txt");
