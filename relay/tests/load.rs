//! Load: 500 WebSocket clients in 50 rooms exchange signals and relayed
//! binary frames through the relay binary for a few seconds. Prints the
//! relay's peak memory, the messages and bytes it forwarded per second, and
//! any errors; asserts that every message reached its addressee, in order,
//! and that none crossed rooms.
//!
//! The relay runs as a child process, so the memory measured is its own, and
//! each process holds about 500 sockets: within the common default limit of
//! 1024 open files (the relay raises its own limit anyway).

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Client, connect, join_as};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;
use tokio_tungstenite::tungstenite::Message;

const RELAY: &str = env!("CARGO_BIN_EXE_openprod-relay");

const ROOMS: usize = 50;
const PER_ROOM: usize = 10;
const CLIENTS: usize = ROOMS * PER_ROOM;
/// How long the clients send.
const SENDING: Duration = Duration::from_secs(3);
/// Each client sends one signal and one binary frame per tick: 40 messages a
/// second, well within the relay's default rate limits.
const TICK: Duration = Duration::from_millis(50);
/// Size of each relayed binary frame, peer id included.
const BINARY_BYTES: usize = 2048;
/// Time allowed for the last messages to arrive once sending stopped.
const DRAIN: Duration = Duration::from_secs(15);

/// Kills the relay however the test ends: a relay left running would keep
/// the test runner waiting on its output.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What all clients share: who is who, what was sent to whom, what arrived.
struct Tally {
    /// Relay peer id of each client, by client index.
    ids: Vec<u64>,
    index_of: HashMap<u64, usize>,
    sent_to: Vec<AtomicU64>,
    received_by: Vec<AtomicU64>,
    bytes_delivered: AtomicU64,
    errors: Mutex<Vec<String>>,
}

impl Tally {
    fn error(&self, problem: String) {
        self.errors.lock().unwrap().push(problem);
    }
}

fn room_of(client: usize) -> usize {
    client / PER_ROOM
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_clients_in_fifty_rooms() {
    let mut relay = KillOnDrop(
        Command::new(RELAY)
            .args(["--host", "127.0.0.1", "--port", "0", "--dist", "no-app"])
            .env("OPENPROD_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let relay_pid = relay.0.id();
    let mut first_line = String::new();
    BufReader::new(relay.0.stdout.take().unwrap()).read_line(&mut first_line).unwrap();
    let addr: SocketAddr = first_line.trim().strip_prefix("openprod-relay listening on ").unwrap().parse().unwrap();

    let started = Instant::now();
    let mut joining = JoinSet::new();
    for client in 0..CLIENTS {
        joining.spawn(async move {
            let mut ws = connect(addr).await;
            let id = join_as(&mut ws, &format!("load-{}", room_of(client))).await;
            (client, id, ws)
        });
    }
    let mut clients: Vec<Option<(u64, Client)>> = (0..CLIENTS).map(|_| None).collect();
    while let Some(joined) = joining.join_next().await {
        let (client, id, ws) = joined.unwrap();
        clients[client] = Some((id, ws));
    }
    let connect_time = started.elapsed();
    let ids: Vec<u64> = clients.iter().map(|client| client.as_ref().unwrap().0).collect();
    let tally = Arc::new(Tally {
        index_of: ids.iter().enumerate().map(|(client, id)| (*id, client)).collect(),
        ids,
        sent_to: (0..CLIENTS).map(|_| AtomicU64::new(0)).collect(),
        received_by: (0..CLIENTS).map(|_| AtomicU64::new(0)).collect(),
        bytes_delivered: AtomicU64::new(0),
        errors: Mutex::new(Vec::new()),
    });

    let cpu_before = relay_cpu_seconds(relay_pid);
    let sending_since = Instant::now();
    let mut writers = JoinSet::new();
    let mut readers = JoinSet::new();
    for (client, slot) in clients.into_iter().enumerate() {
        let (_, ws) = slot.unwrap();
        let (sink, stream) = ws.split();
        writers.spawn(write(client, sink, tally.clone()));
        readers.spawn(read(client, stream, tally.clone()));
    }
    while let Some(done) = writers.join_next().await {
        done.unwrap();
    }
    let sent: u64 = tally.sent_to.iter().map(|count| count.load(Ordering::Relaxed)).sum();
    let drain_until = Instant::now() + DRAIN;
    let delivered = loop {
        let delivered: u64 = tally.received_by.iter().map(|count| count.load(Ordering::Relaxed)).sum();
        if delivered >= sent || Instant::now() > drain_until {
            break delivered;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let busy_for = sending_since.elapsed();
    let cpu = relay_cpu_seconds(relay_pid).zip(cpu_before).map(|(after, before)| after - before);
    let memory = relay_memory(relay_pid);
    readers.abort_all();
    drop(relay);

    let bytes = tally.bytes_delivered.load(Ordering::Relaxed);
    let errors = tally.errors.lock().unwrap().clone();
    let seconds = busy_for.as_secs_f64();
    println!("load: {CLIENTS} clients in {ROOMS} rooms, connected and joined in {:.2} s", connect_time.as_secs_f64());
    println!("load: relay memory: {memory}");
    println!(
        "load: {delivered} of {sent} messages delivered in {seconds:.2} s: {:.0} messages/s, {:.2} MB/s ({bytes} bytes)",
        delivered as f64 / seconds,
        bytes as f64 / seconds / 1e6
    );
    match cpu {
        Some(cpu) => {
            println!("load: relay CPU {cpu:.2} s in {seconds:.2} s ({:.0}% of one core)", 100.0 * cpu / seconds)
        }
        None => println!("load: relay CPU unavailable (no /proc)"),
    }
    println!(
        "load: {} errors{}",
        errors.len(),
        errors.first().map(|first| format!(", first: {first}")).unwrap_or_default()
    );

    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(delivered, sent, "every message is delivered");
    for client in 0..CLIENTS {
        let expected = tally.sent_to[client].load(Ordering::Relaxed);
        assert_eq!(tally.received_by[client].load(Ordering::Relaxed), expected, "client {client}");
    }
}

/// Sends, each tick, one signal and one binary frame to the next room-mate in turn.
async fn write(client: usize, mut sink: futures_util::stream::SplitSink<Client, Message>, tally: Arc<Tally>) {
    let room = room_of(client);
    let mates: Vec<usize> = (room * PER_ROOM..(room + 1) * PER_ROOM).filter(|mate| *mate != client).collect();
    let mut next_seq = vec![0u64; mates.len()];
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let until = Instant::now() + SENDING;
    let mut turn = client;
    while Instant::now() < until {
        tick.tick().await;
        turn += 1;
        let slot = turn % mates.len();
        let (mate, seq) = (mates[slot], next_seq[slot]);
        next_seq[slot] += 1;
        let to = tally.ids[mate];
        let signal = json!({"type": "signal", "to": to, "data": {"room": room, "to": mate, "seq": seq}});
        let mut frame = Vec::with_capacity(BINARY_BYTES);
        frame.extend_from_slice(&to.to_be_bytes());
        frame.extend_from_slice(&(room as u32).to_be_bytes());
        frame.extend_from_slice(&(mate as u32).to_be_bytes());
        frame.extend_from_slice(&seq.to_be_bytes());
        frame.resize(BINARY_BYTES, client as u8);
        let sent = async {
            sink.send(Message::text(signal.to_string())).await?;
            sink.send(Message::binary(frame)).await
        };
        if let Err(error) = sent.await {
            return tally.error(format!("client {client} could not send: {error}"));
        }
        tally.sent_to[mate].fetch_add(2, Ordering::Relaxed);
    }
}

/// Checks every frame: from a room-mate, meant for this client, next in its sender's sequence.
async fn read(client: usize, mut stream: futures_util::stream::SplitStream<Client>, tally: Arc<Tally>) {
    let room = room_of(client);
    // Next expected sequence number per sender, for signals and binary frames apart.
    let mut next_signal: HashMap<usize, u64> = HashMap::new();
    let mut next_binary: HashMap<usize, u64> = HashMap::new();
    let mut check = |from_id: u64, to: usize, claimed_room: usize, seq: u64, binary: bool| -> Result<(), String> {
        let sender =
            *tally.index_of.get(&from_id).ok_or(format!("client {client} got a frame from unknown peer {from_id}"))?;
        if room_of(sender) != room || claimed_room != room {
            return Err(format!("crossed rooms: client {client} of room {room} got a frame from client {sender}"));
        }
        if to != client {
            return Err(format!("misdelivered: client {client} got a frame meant for client {to}"));
        }
        let next = if binary { &mut next_binary } else { &mut next_signal }.entry(sender).or_insert(0);
        if seq != *next {
            return Err(format!("client {client} got seq {seq} from client {sender}, expected {next}"));
        }
        *next += 1;
        Ok(())
    };
    while let Some(frame) = stream.next().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(error) => return tally.error(format!("client {client}: {error}")),
        };
        let (checked, len) = match &frame {
            Message::Text(text) => {
                let message: Value = serde_json::from_str(text).unwrap();
                match message["type"].as_str() {
                    Some("signal") => {
                        let data = &message["data"];
                        let field = |name: &str| data[name].as_u64().unwrap_or(u64::MAX);
                        let from = message["from"].as_u64().unwrap_or(0);
                        (check(from, field("to") as usize, field("room") as usize, field("seq"), false), text.len())
                    }
                    Some("peer-joined" | "peer-left") => continue,
                    _ => (Err(format!("client {client} got {message}")), 0),
                }
            }
            Message::Binary(bytes) if bytes.len() == BINARY_BYTES => {
                let number =
                    |at: usize, len: usize| bytes[at..at + len].iter().fold(0u64, |n, b| n << 8 | u64::from(*b));
                (check(number(0, 8), number(12, 4) as usize, number(8, 4) as usize, number(16, 8), true), bytes.len())
            }
            Message::Ping(_) | Message::Pong(_) => continue,
            other => (Err(format!("client {client} got an unexpected {other:?}")), 0),
        };
        match checked {
            Ok(()) => {
                tally.received_by[client].fetch_add(1, Ordering::Relaxed);
                tally.bytes_delivered.fetch_add(len as u64, Ordering::Relaxed);
            }
            Err(problem) => tally.error(problem),
        }
    }
}

/// The relay's peak and current resident memory, from /proc on Linux.
fn relay_memory(pid: u32) -> String {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return "unavailable (no /proc)".into();
    };
    let field = |name: &str| {
        status.lines().find_map(|line| line.strip_prefix(name)).map(|value| value.trim().to_owned()).unwrap_or_default()
    };
    format!("peak {} (VmHWM), now {} (VmRSS)", field("VmHWM:"), field("VmRSS:"))
}

/// CPU time the relay has used, user and system, from /proc on Linux (in
/// clock ticks of 1/100 s, the value on every Linux platform Rust supports).
fn relay_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name (in parentheses, and it may hold
    // spaces) start with field 3; utime and stime are fields 14 and 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let field = |number: usize| fields.get(number - 3)?.parse::<u64>().ok();
    Some((field(14)? + field(15)?) as f64 / 100.0)
}
