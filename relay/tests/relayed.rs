//! Relayed sync frames: binary WebSocket frames between peers of one room,
//! for when WebRTC cannot connect.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use openprod_relay::Limits;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn a_binary_frame_reaches_only_the_named_peer_behind_the_senders_id() {
    let addr = start_relay(Limits::default()).await;
    let (mut alice, mut bob, mut carol) = (connect(addr).await, connect(addr).await, connect(addr).await);
    let alice_id = join_as(&mut alice, "show").await;
    let bob_id = join_as(&mut bob, "show").await;
    join_as(&mut carol, "show").await;
    receive(&mut alice).await; // bob joined
    receive(&mut alice).await; // carol joined
    receive(&mut bob).await; // carol joined

    let payload: Vec<u8> = (0..64 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    send_binary(&mut bob, alice_id, &payload).await;
    assert_eq!(receive_binary(&mut alice).await, (bob_id, payload));

    // An empty payload is still a frame: the peer id alone.
    send_binary(&mut alice, bob_id, &[]).await;
    assert_eq!(receive_binary(&mut bob).await, (alice_id, vec![]));
    assert_nothing_pending(&mut carol).await;
}

#[tokio::test]
async fn binary_frames_never_cross_rooms() {
    let addr = start_relay(Limits::default()).await;
    let (mut alice, mut bob, mut eve) = (connect(addr).await, connect(addr).await, connect(addr).await);
    let alice_id = join_as(&mut alice, "show").await;
    join_as(&mut bob, "show").await;
    receive(&mut alice).await; // bob joined
    let eve_id = join_as(&mut eve, "other-show").await;

    send_binary(&mut bob, eve_id, b"sneaky").await;
    let refusal = receive(&mut bob).await;
    assert_eq!(refusal["code"], "unknown-peer", "{refusal}");
    send_binary(&mut eve, alice_id, b"sneaky").await;
    assert_eq!(receive(&mut eve).await["code"], "unknown-peer");
    assert_nothing_pending(&mut eve).await;
    assert_nothing_pending(&mut alice).await;

    // Leaving a room ends delivery from it too.
    send(&mut bob, serde_json::json!({"type": "leave"})).await;
    assert_eq!(receive(&mut bob).await["type"], "left");
    send_binary(&mut bob, alice_id, b"after leaving").await;
    assert_eq!(receive(&mut bob).await["code"], "not-in-room");
}

#[tokio::test]
async fn malformed_binary_frames_get_errors_and_the_connection_survives() {
    let addr = start_relay(Limits::default()).await;
    let mut alice = connect(addr).await;
    let mut bob = connect(addr).await;

    send_binary(&mut alice, 1, b"too early").await;
    let refusal = receive(&mut alice).await;
    assert_eq!(refusal["code"], "not-in-room", "binary before joining: {refusal}");

    let alice_id = join_as(&mut alice, "r").await;
    let bob_id = join_as(&mut bob, "r").await;
    receive(&mut alice).await; // bob joined
    for short in [vec![], vec![0; 1], vec![0; 7]] {
        let len = short.len();
        alice.send(Message::binary(short)).await.unwrap();
        let refusal = receive(&mut alice).await;
        assert_eq!(refusal["code"], "frame-too-short", "{refusal}");
        assert!(refusal["message"].as_str().unwrap().contains(&format!("{len} bytes")), "{refusal}");
    }
    send_binary(&mut alice, 999_999, b"nobody").await;
    assert_eq!(receive(&mut alice).await["code"], "unknown-peer");

    send_binary(&mut alice, bob_id, b"still fine").await;
    assert_eq!(receive_binary(&mut bob).await, (alice_id, b"still fine".to_vec()));
}

#[tokio::test]
async fn an_oversize_binary_frame_is_refused_and_one_at_the_limit_passes() {
    let limits = Limits { max_message_bytes: 1024, ..Limits::default() };
    let (mut alice, alice_id, mut bob, _) = alice_and_bob(limits).await;

    // The limit counts the whole frame, peer id included.
    send_binary(&mut bob, alice_id, &[1; 1024 - 8 + 1]).await;
    let refusal = receive(&mut bob).await;
    assert_eq!(refusal["code"], "message-too-large", "{refusal}");
    assert!(refusal["message"].as_str().unwrap().contains("1024"), "{refusal}");
    assert_nothing_pending(&mut alice).await;

    send_binary(&mut bob, alice_id, &[2; 1024 - 8]).await;
    assert_eq!(receive_binary(&mut alice).await.1, vec![2; 1024 - 8]);
}

#[tokio::test]
async fn a_flood_of_bytes_is_rate_limited() {
    let limits = Limits { bytes_per_second: 4_000, max_message_bytes: 8_000, ..Limits::default() };
    let (mut alice, alice_id, mut bob, _) = alice_and_bob(limits).await;

    // A burst of 8,000 bytes passes: the join message, then two frames of
    // 3,900. A third would need a second of refill, far longer than sending
    // ten takes.
    for _ in 0..10 {
        send_binary(&mut bob, alice_id, &[0; 3_900 - 8]).await;
    }
    for _ in 0..8 {
        let refusal = receive(&mut bob).await;
        assert_eq!(refusal["code"], "rate-limited", "{refusal}");
        assert!(refusal["message"].as_str().unwrap().contains("bytes"), "{refusal}");
    }
    for _ in 0..2 {
        assert_eq!(receive_binary(&mut alice).await.1.len(), 3_900 - 8);
    }
    assert_nothing_pending(&mut alice).await;
}

#[tokio::test]
async fn a_peer_that_reads_nothing_gets_its_sender_refused_not_the_relay_filled() {
    let limits = Limits { bytes_per_second: 256 * 1024 * 1024, messages_per_second: 10_000, ..Limits::default() };
    let addr = start_relay(limits).await;
    let mut sleeper = connect(addr).await;
    let mut sender = connect(addr).await;
    let sleeper_id = join_as(&mut sleeper, "r").await;
    join_as(&mut sender, "r").await;

    // The sleeper never reads: socket buffers fill, then its queue's byte
    // bound (8 MiB) refuses further frames. 64 MiB is far past both.
    let chunk = vec![0; 200 * 1024];
    let mut busy = None;
    for _ in 0..320 {
        send_binary(&mut sender, sleeper_id, &chunk).await;
        while let Ok(Some(Ok(frame))) = tokio::time::timeout(Duration::from_millis(1), sender.next()).await {
            if let Message::Text(text) = frame {
                busy = Some(text.to_string());
            }
        }
        if busy.is_some() {
            break;
        }
    }
    let busy = busy.expect("a peer that reads nothing is reported busy");
    assert!(busy.contains("peer-busy"), "{busy}");
    // The sender's own connection is unharmed.
    send(&mut sender, serde_json::json!({"type": "leave"})).await;
    loop {
        let reply = receive(&mut sender).await;
        if reply["type"] == "left" {
            break;
        }
        assert_eq!(reply["code"], "peer-busy", "{reply}");
    }
}

/// A relay with `limits`, and Alice and Bob in one room, Alice having heard
/// Bob arrive: with their peer ids.
async fn alice_and_bob(limits: Limits) -> (Client, u64, Client, u64) {
    let addr = start_relay(limits).await;
    let mut alice = connect(addr).await;
    let mut bob = connect(addr).await;
    let alice_id = join_as(&mut alice, "r").await;
    let bob_id = join_as(&mut bob, "r").await;
    receive(&mut alice).await; // bob joined
    (alice, alice_id, bob, bob_id)
}
