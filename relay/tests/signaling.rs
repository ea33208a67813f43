//! The relay against real WebSocket clients on loopback.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use openprod_relay::Limits;
use serde_json::json;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn two_peers_in_one_room_exchange_a_message() {
    let addr = start_relay(Limits::default()).await;
    let mut alice = connect(addr).await;
    let mut bob = connect(addr).await;

    let alice_welcome = join(&mut alice, "room-a").await;
    assert_eq!(alice_welcome["peers"], json!([]));
    let limits = &alice_welcome["limits"];
    assert_eq!(limits["max_message_bytes"], 256 * 1024, "{limits}");
    assert_eq!(limits["messages_per_second"], 200, "{limits}");
    assert_eq!(limits["bytes_per_second"], 8 * 1024 * 1024, "{limits}");
    let alice_id = alice_welcome["peer"].clone();

    let bob_welcome = join(&mut bob, "room-a").await;
    assert_eq!(bob_welcome["peers"], json!([alice_id]));
    let bob_id = bob_welcome["peer"].clone();

    let joined = receive(&mut alice).await;
    assert_eq!(joined, json!({"type": "peer-joined", "peer": bob_id}));

    let offer = json!({"sdp": "v=0 offer", "candidates": [1, 2, 3]});
    send(&mut bob, json!({"type": "signal", "to": alice_id, "data": offer})).await;
    let delivered = receive(&mut alice).await;
    assert_eq!(delivered, json!({"type": "signal", "from": bob_id, "data": offer}));

    drop(bob);
    let left = receive(&mut alice).await;
    assert_eq!(left, json!({"type": "peer-left", "peer": bob_id}));
}

#[tokio::test]
async fn a_peer_in_another_room_never_receives_the_message() {
    let addr = start_relay(Limits::default()).await;
    let mut alice = connect(addr).await;
    let mut bob = connect(addr).await;
    let mut eve = connect(addr).await;
    let alice_id = join(&mut alice, "show").await["peer"].clone();
    join(&mut bob, "show").await;
    receive(&mut alice).await; // bob joined
    let eve_id = join(&mut eve, "other-show").await["peer"].clone();

    send(&mut bob, json!({"type": "signal", "to": alice_id, "data": "for alice"})).await;
    assert_eq!(receive(&mut alice).await["data"], "for alice");

    // Addressing a peer of another room by its id is refused, not delivered.
    send(&mut bob, json!({"type": "signal", "to": eve_id, "data": "sneaky"})).await;
    assert_eq!(receive(&mut bob).await["code"], "unknown-peer");
    assert_nothing_pending(&mut eve).await;
}

#[tokio::test]
async fn an_oversize_message_is_refused_and_the_connection_survives() {
    let limits = Limits { max_message_bytes: 1024, ..Limits::default() };
    let addr = start_relay(limits).await;
    let mut alice = connect(addr).await;
    let mut bob = connect(addr).await;
    let alice_id = join(&mut alice, "r").await["peer"].clone();
    join(&mut bob, "r").await;
    receive(&mut alice).await; // bob joined

    let big = "x".repeat(2000);
    send(&mut bob, json!({"type": "signal", "to": alice_id, "data": big})).await;
    let refusal = receive(&mut bob).await;
    assert_eq!(refusal["code"], "message-too-large");
    assert!(refusal["message"].as_str().unwrap().contains("1024"));
    assert_nothing_pending(&mut alice).await;

    send(&mut bob, json!({"type": "signal", "to": alice_id, "data": "small"})).await;
    assert_eq!(receive(&mut alice).await["data"], "small");
}

#[tokio::test]
async fn a_huge_frame_closes_only_its_own_connection() {
    let limits = Limits { max_message_bytes: 1024, ..Limits::default() };
    let addr = start_relay(limits).await;
    let mut flooder = connect(addr).await;
    let _ = flooder.send(Message::text("y".repeat(64 * 1024))).await;
    let ended = tokio::time::timeout(PATIENCE, async {
        loop {
            match flooder.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the relay closes a connection that sends a frame past its hard cap");

    let mut next = connect(addr).await;
    join(&mut next, "still-up").await;
}

#[tokio::test]
async fn malformed_frames_get_errors_and_do_not_take_the_relay_down() {
    let addr = start_relay(Limits::default()).await;
    let mut client = connect(addr).await;
    let cases: [(Message, &str); 5] = [
        (Message::text("{not json"), "malformed"),
        (Message::text(r#"{"type":"teleport"}"#), "malformed"),
        (Message::text(r#"{"type":"join","room":"bad room!"}"#), "invalid-room"),
        (Message::text(r#"{"type":"signal","to":1,"data":{}}"#), "not-in-room"),
        (Message::text("\u{0}\u{1}"), "malformed"),
    ];
    for (frame, expected_code) in cases {
        client.send(frame).await.unwrap();
        let reply = receive(&mut client).await;
        assert_eq!(reply["type"], "error");
        assert_eq!(reply["code"], expected_code, "{reply}");
    }
    join(&mut client, "fine").await;
    send(&mut client, json!({"type": "join", "room": "second"})).await;
    assert_eq!(receive(&mut client).await["code"], "already-in-room");
}

#[tokio::test]
async fn a_full_room_refuses_newcomers() {
    let limits = Limits { max_peers_per_room: 2, ..Limits::default() };
    let addr = start_relay(limits).await;
    let mut first = connect(addr).await;
    let mut second = connect(addr).await;
    let mut third = connect(addr).await;
    join(&mut first, "small").await;
    join(&mut second, "small").await;
    send(&mut third, json!({"type": "join", "room": "small"})).await;
    assert_eq!(receive(&mut third).await["code"], "room-full");
}

#[tokio::test]
async fn the_relay_refuses_rooms_beyond_its_limit() {
    let limits = Limits { max_rooms: 2, ..Limits::default() };
    let addr = start_relay(limits).await;
    let mut first = connect(addr).await;
    let mut second = connect(addr).await;
    let mut third = connect(addr).await;
    join(&mut first, "one").await;
    join(&mut second, "two").await;
    send(&mut third, json!({"type": "join", "room": "three"})).await;
    let refusal = receive(&mut third).await;
    assert_eq!(refusal["code"], "too-many-rooms", "{refusal}");
    // A room that empties is gone, and makes room for another.
    drop(first);
    let joined = tokio::time::timeout(PATIENCE, async {
        loop {
            send(&mut third, json!({"type": "join", "room": "three"})).await;
            if receive(&mut third).await["type"] == "welcome" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(joined.is_ok(), "the first room closed with its last peer");
}

#[tokio::test]
async fn leaving_lets_a_peer_join_elsewhere() {
    let addr = start_relay(Limits::default()).await;
    let mut alice = connect(addr).await;
    let mut bob = connect(addr).await;
    join(&mut alice, "one").await;
    let bob_id = join(&mut bob, "one").await["peer"].clone();
    receive(&mut alice).await; // bob joined
    send(&mut bob, json!({"type": "leave"})).await;
    assert_eq!(receive(&mut bob).await["type"], "left");
    assert_eq!(receive(&mut alice).await, json!({"type": "peer-left", "peer": bob_id}));
    join(&mut bob, "two").await;
}

#[tokio::test]
async fn a_flood_is_rate_limited() {
    let limits = Limits { messages_per_second: 5, ..Limits::default() };
    let addr = start_relay(limits).await;
    let mut client = connect(addr).await;
    for _ in 0..30 {
        send(&mut client, json!({"type": "leave"})).await;
    }
    let mut limited = 0;
    for _ in 0..30 {
        let reply = receive(&mut client).await;
        if reply["code"] == "rate-limited" {
            limited += 1;
        }
    }
    assert!(limited >= 15, "a burst of 30 at 5/s must be mostly refused; {limited} were");
    assert!(limited <= 20, "the burst of 10 passes; {limited} were refused");
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_idle_timeout() {
    let limits = Limits { idle_timeout: Duration::from_millis(300), ..Limits::default() };
    let addr = start_relay(limits).await;
    // This client never reads until the end, so it never answers the relay's pings.
    let mut silent = connect(addr).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut close_code = None;
    while let Ok(Some(Ok(frame))) = tokio::time::timeout(PATIENCE, silent.next()).await {
        if let Message::Close(frame) = frame {
            close_code = frame.map(|frame| u16::from(frame.code));
            break;
        }
    }
    assert_eq!(close_code, Some(1001));
}

#[tokio::test]
async fn health_endpoint_counts_rooms_and_peers() {
    let addr = start_relay(Limits::default()).await;
    let mut client = connect(addr).await;
    join(&mut client, "counted").await;
    let body = http_get(addr, "/healthz").await;
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(body.contains(r#""peers":1"#) && body.contains(r#""rooms":1"#), "{body}");
}

async fn http_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}
