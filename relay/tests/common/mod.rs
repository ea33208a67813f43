//! Helpers shared by the tests that talk to an in-process relay over WebSocket.
// Each test file uses a different part of these.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use openprod_relay::{Limits, Relay, Tls};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

pub type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Time allowed for a frame that should arrive; frames that must *not* arrive
/// are checked after a round trip instead, so no test waits on a timer for a
/// negative.
pub const PATIENCE: Duration = Duration::from_secs(5);

pub async fn start_relay(limits: Limits) -> SocketAddr {
    let dist = std::env::temp_dir().join("openprod-relay-test-no-dist");
    let relay = Relay::bind("127.0.0.1:0".parse().unwrap(), dist, limits, Tls::Off).await.unwrap();
    let addr = relay.local_addr();
    tokio::spawn(relay.serve(std::future::pending()));
    addr
}

pub async fn connect(addr: SocketAddr) -> Client {
    connect_async(format!("ws://{addr}/ws")).await.expect("relay accepts WebSocket clients").0
}

pub async fn send(client: &mut Client, message: Value) {
    client.send(Message::text(message.to_string())).await.unwrap();
}

/// Sends a binary frame addressed to `to`.
pub async fn send_binary(client: &mut Client, to: u64, payload: &[u8]) {
    let mut frame = to.to_be_bytes().to_vec();
    frame.extend_from_slice(payload);
    client.send(Message::binary(frame)).await.unwrap();
}

/// The next text or binary frame; panics on close or silence.
pub async fn receive_frame(client: &mut Client) -> Message {
    loop {
        let frame = tokio::time::timeout(PATIENCE, client.next())
            .await
            .expect("a frame within the time allowed")
            .expect("connection still open")
            .expect("a valid frame");
        match frame {
            Message::Ping(_) | Message::Pong(_) => continue,
            other => return other,
        }
    }
}

/// The next text frame, parsed; panics on anything else.
pub async fn receive(client: &mut Client) -> Value {
    match receive_frame(client).await {
        Message::Text(text) => serde_json::from_str(&text).unwrap(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// The next binary frame as (sender, payload); panics on anything else.
pub async fn receive_binary(client: &mut Client) -> (u64, Vec<u8>) {
    match receive_frame(client).await {
        Message::Binary(frame) => {
            assert!(frame.len() >= 8, "a relayed frame starts with the sender's id");
            (u64::from_be_bytes(frame[..8].try_into().unwrap()), frame[8..].to_vec())
        }
        other => panic!("expected a binary frame, got {other:?}"),
    }
}

/// Asserts that nothing was queued for `client`: the relay handles each
/// connection's frames in order, so once the error reply to a probe signal
/// arrives, anything sent to this client earlier would have arrived first.
pub async fn assert_nothing_pending(client: &mut Client) {
    send(client, json!({"type": "signal", "to": 0, "data": null})).await;
    let reply = receive(client).await;
    assert_eq!(reply["type"], "error", "expected only the probe's reply, got {reply}");
}

pub async fn join(client: &mut Client, room: &str) -> Value {
    send(client, json!({"type": "join", "room": room})).await;
    let welcome = receive(client).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    welcome
}

/// Joins `room` and returns the peer id the relay gave this connection.
pub async fn join_as(client: &mut Client, room: &str) -> u64 {
    join(client, room).await["peer"].as_u64().unwrap()
}
