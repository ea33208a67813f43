//! Engine tests that run inside headless Chromium (`cargo test --target wasm32-unknown-unknown`),
//! on the heap the app uses there.
#![cfg(target_arch = "wasm32")]

use openprod_core::identity::{ActorId, Identity, IdentityError};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

/// The app's heap, so that these tests run the engine on it too.
#[global_allocator]
static HEAP: openprod_core::wasm_heap::Heap = openprod_core::wasm_heap::heap();

#[wasm_bindgen_test]
fn the_heap_grows_the_memory_in_a_few_large_steps() {
    let pages = || core::arch::wasm32::memory_size::<0>();
    let mut sizes = vec![pages()];
    // 32 MiB in 64-byte pieces, the way the engine's small allocations come.
    let pieces = (32 << 20) / 64;
    let mut kept: Vec<Vec<u8>> = Vec::new();
    for piece in 0..pieces {
        kept.push(vec![piece as u8; 64]);
        if sizes.last() != Some(&pages()) {
            sizes.push(pages());
        }
    }
    // A page at a time, it would take more than 500 steps.
    assert!(sizes.len() <= 25, "grown in {} steps: {sizes:?}", sizes.len() - 1);
    assert!(kept.iter().enumerate().all(|(piece, bytes)| bytes.iter().all(|&byte| byte == piece as u8)));
    drop(kept);
    // Freed memory is used again: the same again needs no more.
    let grown = pages();
    let again: Vec<Vec<u8>> = (0..pieces).map(|piece| vec![piece as u8; 64]).collect();
    assert_eq!(pages(), grown);
    assert_eq!(again.len(), pieces);
}

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
