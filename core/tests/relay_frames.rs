//! What travels through the relay when WebRTC cannot connect: frames sealed
//! end to end, so the relay can neither read nor inject, alter, replay,
//! reorder or reflect one; and messages cut into chunks for transports that
//! cap the size of one message.

use openprod_core::sync::{ChunkError, MIN_CHUNK, Reassembler, SealError, SealedChannel, WorkspaceSecret, split};

const JANE_NONCE: [u8; 16] = [1; 16];
const ALEX_NONCE: [u8; 16] = [2; 16];

fn secret(n: u8) -> WorkspaceSecret {
    WorkspaceSecret::from_bytes([n; 32])
}

/// Jane's and Alex's ends of one relayed session.
fn session() -> (SealedChannel, SealedChannel) {
    (SealedChannel::new(&secret(1), JANE_NONCE, ALEX_NONCE), SealedChannel::new(&secret(1), ALEX_NONCE, JANE_NONCE))
}

// ---------------------------------------------------------------------------
// Sealed frames.

#[test]
fn frames_open_in_both_directions() {
    let (mut jane, mut alex) = session();
    for round in 0..5u8 {
        let cue = format!("cue {round}: lights up");
        let frame = jane.seal(cue.as_bytes());
        assert_eq!(frame.len(), 8 + cue.len() + 16);
        assert_eq!(&frame[..8], &u64::from(round).to_le_bytes(), "the counter, in the clear");
        assert!(!frame.windows(cue.len()).any(|window| window == cue.as_bytes()), "the relay sees no plaintext");
        assert_eq!(alex.open(&frame), Ok(cue.into_bytes()));

        let answer = vec![round; 1000];
        assert_eq!(jane.open(&alex.seal(&answer)), Ok(answer));
    }
    assert_eq!(alex.open(&jane.seal(&[])), Ok(Vec::new()), "an empty frame is a frame");
}

#[test]
fn the_same_plaintext_never_looks_the_same_twice() {
    let (mut jane, _) = session();
    let first = jane.seal(b"standby");
    let second = jane.seal(b"standby");
    assert_ne!(first[8..], second[8..]);
    let mut other_session = SealedChannel::new(&secret(1), [3; 16], ALEX_NONCE);
    assert_ne!(other_session.seal(b"standby")[8..], first[8..], "a new session has new keys");
}

#[test]
fn any_flipped_bit_is_refused() {
    let (mut jane, _) = session();
    let frame = jane.seal(b"go lights 12");
    for index in 0..frame.len() {
        for bit in 0..8 {
            let (_, mut alex) = session();
            let mut altered = frame.clone();
            altered[index] ^= 1 << bit;
            let error = alex.open(&altered).unwrap_err();
            // A flipped counter bit reads as a frame out of order, any other as damage.
            if index < 8 {
                assert!(matches!(error, SealError::OutOfOrder { expected: 0, .. }), "byte {index}: {error:?}");
            } else {
                assert_eq!(error, SealError::Damaged, "byte {index}");
            }
        }
    }
}

#[test]
fn short_and_truncated_frames_are_refused() {
    let (mut jane, mut alex) = session();
    let frame = jane.seal(b"go sound 4");
    for length in 0..frame.len() {
        let error = alex.open(&frame[..length]).unwrap_err();
        assert!(matches!(error, SealError::Damaged | SealError::OutOfOrder { .. }), "{length}: {error:?}");
    }
    assert_eq!(alex.open(&frame), Ok(b"go sound 4".to_vec()));
}

#[test]
fn replayed_and_reordered_frames_are_refused() {
    let (mut jane, mut alex) = session();
    let first = jane.seal(b"one");
    let second = jane.seal(b"two");
    let third = jane.seal(b"three");

    assert_eq!(alex.open(&second), Err(SealError::OutOfOrder { expected: 0, found: 1 }), "too early");
    assert_eq!(alex.open(&first), Ok(b"one".to_vec()));
    assert_eq!(alex.open(&first), Err(SealError::OutOfOrder { expected: 1, found: 0 }), "a replay");
    assert_eq!(alex.open(&third), Err(SealError::OutOfOrder { expected: 1, found: 2 }), "one skipped");
    assert_eq!(alex.open(&second), Ok(b"two".to_vec()));
    assert_eq!(alex.open(&third), Ok(b"three".to_vec()));
    assert_eq!(alex.open(&second), Err(SealError::OutOfOrder { expected: 3, found: 1 }));
}

#[test]
fn a_relabelled_counter_is_refused() {
    let (mut jane, mut alex) = session();
    let first = jane.seal(b"one");
    let second = jane.seal(b"two");
    // The relay drops the first frame and passes the second off as it: the
    // counter is the cipher's nonce, so the relabelled frame does not open.
    let mut relabelled = second.clone();
    relabelled[..8].copy_from_slice(&0u64.to_le_bytes());
    assert_eq!(alex.open(&relabelled), Err(SealError::Damaged));
    assert_eq!(alex.open(&first), Ok(b"one".to_vec()));
    assert_eq!(alex.open(&second), Ok(b"two".to_vec()));
}

#[test]
fn a_frame_sent_back_to_its_sender_is_refused() {
    let (mut jane, mut alex) = session();
    let frame = jane.seal(b"mine");
    let answer = alex.seal(b"yours");
    // Each side expects frame 0 from the other: only the key tells them apart.
    assert_eq!(jane.open(&frame), Err(SealError::Damaged), "the other direction's key");
    assert_eq!(alex.open(&answer), Err(SealError::Damaged));
    assert_eq!(alex.open(&frame), Ok(b"mine".to_vec()));
    assert_eq!(jane.open(&answer), Ok(b"yours".to_vec()));
}

#[test]
fn a_relay_that_mirrors_the_nonce_gets_nothing_through() {
    // The relay tells Jane that the other side chose her own nonce: both
    // directions would share a key, and her frames, sent back, would open.
    let mut jane = SealedChannel::new(&secret(1), JANE_NONCE, JANE_NONCE);
    let frame = jane.seal(b"mine");
    assert_eq!(jane.open(&frame), Err(SealError::Reflected));
    assert!(SealError::Reflected.to_string().contains("own messages back"));
}

#[test]
fn another_secret_or_session_cannot_open() {
    let (mut jane, _) = session();
    let frame = jane.seal(b"private note");
    let mut outsider = SealedChannel::new(&secret(2), ALEX_NONCE, JANE_NONCE);
    assert_eq!(outsider.open(&frame), Err(SealError::Damaged));
    let mut other_session = SealedChannel::new(&secret(1), ALEX_NONCE, [9; 16]);
    assert_eq!(other_session.open(&frame), Err(SealError::Damaged));
    let mut swapped_nonces = SealedChannel::new(&secret(1), JANE_NONCE, ALEX_NONCE);
    assert_eq!(swapped_nonces.open(&frame), Err(SealError::Damaged));
}

#[test]
fn a_refused_frame_leaves_the_channel_in_step() {
    let (mut jane, mut alex) = session();
    let genuine = jane.seal(b"one");

    let mut damaged = genuine.clone();
    *damaged.last_mut().unwrap() ^= 1;
    let mut injected = 0u64.to_le_bytes().to_vec();
    injected.extend_from_slice(&[0x42; 40]);
    for forgery in [damaged, injected, vec![0; 3], Vec::new()] {
        assert!(alex.open(&forgery).is_err());
    }
    assert_eq!(alex.open(&genuine), Ok(b"one".to_vec()));
    assert_eq!(alex.open(&genuine), Err(SealError::OutOfOrder { expected: 1, found: 0 }));
    assert_eq!(alex.open(&jane.seal(b"two")), Ok(b"two".to_vec()));
}

#[test]
fn seal_errors_are_plain_words_and_keys_stay_out_of_debug_output() {
    assert!(SealError::Damaged.to_string().contains("damaged or forged"));
    let error = SealError::OutOfOrder { expected: 4, found: 2 };
    assert!(error.to_string().contains("out of order or twice"), "{error}");
    let (jane, _) = session();
    assert_eq!(format!("{jane:?}"), "SealedChannel { next_outgoing: 0, next_incoming: 0, .. }");
}

// ---------------------------------------------------------------------------
// Chunks.

fn reassemble(chunks: &[Vec<u8>], max_message: usize) -> Vec<u8> {
    let mut reassembler = Reassembler::new(max_message);
    let (last, rest) = chunks.split_last().unwrap();
    for chunk in rest {
        assert_eq!(reassembler.push(chunk), Ok(None));
    }
    reassembler.push(last).unwrap().expect("the last chunk completes the message")
}

#[test]
fn chunks_respect_the_limit_and_reassemble() {
    // Sizes around each chunk boundary and each varint length step.
    let sizes = [0, 1, 2, 13, 14, 15, 16, 17, 100, 127, 128, 129, 1000, 16_383, 16_384, 70_000];
    for max_chunk in [MIN_CHUNK, 17, 64, 1000, 16 * 1024, 64 * 1024] {
        for size in sizes {
            let message: Vec<u8> = (0..size).map(|index| (index * 7 + size) as u8).collect();
            let chunks = split(&message, max_chunk);
            assert!(chunks.iter().all(|chunk| chunk.len() <= max_chunk && !chunk.is_empty()));
            assert!(chunks.iter().skip(1).all(|chunk| chunk.len() > 1), "no empty continuation");
            assert_eq!(reassemble(&chunks, 70_000), message, "{size} bytes in chunks of {max_chunk}");
        }
    }
}

#[test]
fn the_layout_is_kind_length_then_payload() {
    assert_eq!(split(&[], 16), vec![vec![0, 0]]);
    let message: Vec<u8> = (1..=20).collect();
    let chunks = split(&message, 16);
    assert_eq!(chunks[0], [&[0u8, 20][..], &message[..14]].concat());
    assert_eq!(chunks[1], [&[1u8][..], &message[14..]].concat());
    assert_eq!(chunks.len(), 2);
    // 300 needs a two-byte varint.
    let chunks = split(&[9; 300], 64 * 1024);
    assert_eq!(&chunks[0][..3], &[0, 0xac, 0x02]);
    assert_eq!(chunks.len(), 1);
}

#[test]
#[should_panic(expected = "too small")]
fn chunks_below_the_minimum_are_a_caller_error() {
    split(b"hello", MIN_CHUNK - 1);
}

#[test]
fn messages_follow_one_another() {
    let mut reassembler = Reassembler::new(1000);
    for size in [0, 500, 3, 1000] {
        let message = vec![size as u8; size];
        let mut delivered = None;
        for chunk in split(&message, 64) {
            assert!(delivered.is_none());
            delivered = reassembler.push(&chunk).unwrap();
        }
        assert_eq!(delivered, Some(message));
    }
}

#[test]
fn an_oversized_message_is_refused_before_any_memory_is_set_aside() {
    let mut reassembler = Reassembler::new(1000);
    let chunks = split(&[0; 1001], 64);
    assert_eq!(reassembler.push(&chunks[0]), Err(ChunkError::TooLarge { declared: 1001, max: 1000 }));
    // A declared length no memory could hold: refused, not attempted.
    let mut huge = vec![0];
    huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    assert_eq!(reassembler.push(&huge), Err(ChunkError::TooLarge { declared: u64::MAX, max: 1000 }));
    // The rest of the refused message has no beginning any more.
    assert_eq!(reassembler.push(&chunks[1]), Err(ChunkError::NoBeginning));
    // Exactly the limit is fine.
    assert_eq!(reassemble(&split(&[7; 1000], 64), 1000), vec![7; 1000]);
}

#[test]
fn every_refusal_resets_for_the_next_message() {
    let next = split(b"the next message", 16);
    let unfinished = split(&[5; 100], 16);
    let mut overlong = split(&[5; 20], 16);
    overlong[1].push(0);
    let cases: Vec<(Vec<Vec<u8>>, ChunkError)> = vec![
        (vec![vec![]], ChunkError::Malformed(openprod_core::encoding::DecodeError { offset: 0, what: "a chunk kind" })),
        (
            vec![vec![0]],
            ChunkError::Malformed(openprod_core::encoding::DecodeError { offset: 1, what: "a message length" }),
        ),
        (
            vec![vec![0, 0x80, 0x00]],
            ChunkError::Malformed(openprod_core::encoding::DecodeError { offset: 1, what: "a message length" }),
        ),
        (vec![vec![2, 1, 2, 3]], ChunkError::UnknownKind(2)),
        (vec![vec![0xff]], ChunkError::UnknownKind(0xff)),
        (vec![vec![1, 1, 2, 3]], ChunkError::NoBeginning),
        (vec![unfinished[0].clone(), unfinished[1].clone(), next[0].clone()], ChunkError::Interrupted),
        (vec![vec![0, 2, 1, 2, 3]], ChunkError::Overlong),
        (overlong, ChunkError::Overlong),
        (vec![unfinished[0].clone(), vec![7]], ChunkError::UnknownKind(7)),
    ];
    for (chunks, expected) in cases {
        let mut reassembler = Reassembler::new(1000);
        let (last, rest) = chunks.split_last().unwrap();
        for chunk in rest {
            assert_eq!(reassembler.push(chunk), Ok(None));
        }
        assert_eq!(reassembler.push(last), Err(expected.clone()));
        // Nothing of the refused message lingers.
        if chunks.len() > 1 {
            assert_eq!(reassembler.push(&unfinished[1]), Err(ChunkError::NoBeginning), "{expected:?}");
        }
        let mut delivered = None;
        for chunk in &next {
            delivered = reassembler.push(chunk).unwrap();
        }
        assert_eq!(delivered.as_deref(), Some(&b"the next message"[..]), "after {expected:?}");
    }
}

#[test]
fn chunk_errors_are_plain_words() {
    assert_eq!(
        ChunkError::TooLarge { declared: 5000, max: 1000 }.to_string(),
        "the other device announced a message of 5000 bytes; this device accepts at most 1000"
    );
    assert!(ChunkError::NoBeginning.to_string().contains("without its beginning"));
    assert!(ChunkError::Interrupted.to_string().contains("cut off"));
    assert!(ChunkError::Overlong.to_string().contains("longer than it announced"));
    assert!(ChunkError::UnknownKind(9).to_string().contains("newer version"));
    assert!(Reassembler::new(10).push(&[]).unwrap_err().to_string().starts_with("a piece of a message"));
}

#[cfg(not(target_arch = "wasm32"))]
mod random {
    use super::*;
    use proptest::prelude::*;

    fn config() -> ProptestConfig {
        ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() }
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn any_message_survives_any_chunk_limit(
            message in proptest::collection::vec(any::<u8>(), 0..5000),
            max_chunk in MIN_CHUNK..600,
        ) {
            let chunks = split(&message, max_chunk);
            prop_assert!(chunks.iter().all(|chunk| chunk.len() <= max_chunk));
            let payload: usize = chunks.iter().map(|chunk| chunk.len() - 1).sum();
            prop_assert!(payload <= message.len() + 10, "no padding beyond the length");
            let mut reassembler = Reassembler::new(5000);
            for (index, chunk) in chunks.iter().enumerate() {
                let delivered = reassembler.push(chunk).map_err(|error| TestCaseError::fail(error.to_string()))?;
                if index + 1 == chunks.len() {
                    prop_assert_eq!(delivered.as_ref(), Some(&message));
                } else {
                    prop_assert_eq!(delivered, None);
                }
            }
        }

        #[test]
        fn random_chunks_never_panic_or_exceed_the_limit(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..40),
        ) {
            let mut reassembler = Reassembler::new(64);
            for chunk in chunks {
                if let Ok(Some(message)) = reassembler.push(&chunk) {
                    prop_assert!(message.len() <= 64);
                }
            }
        }

        #[test]
        fn any_frame_opens_once_in_order(
            frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..10),
            nonces in any::<([u8; 16], [u8; 16])>(),
        ) {
            prop_assume!(nonces.0 != nonces.1);
            let mut jane = SealedChannel::new(&secret(1), nonces.0, nonces.1);
            let mut alex = SealedChannel::new(&secret(1), nonces.1, nonces.0);
            let sealed: Vec<_> = frames.iter().map(|frame| jane.seal(frame)).collect();
            for (frame, plaintext) in sealed.iter().zip(&frames) {
                prop_assert_eq!(&alex.open(frame), &Ok(plaintext.clone()));
                prop_assert!(alex.open(frame).is_err());
            }
        }

        #[test]
        fn random_bytes_never_open_a_sealed_channel(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let (_, mut alex) = session();
            prop_assert!(alex.open(&bytes).is_err());
        }
    }
}
