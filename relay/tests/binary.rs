//! The relay binary as a user runs it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio_tungstenite::tungstenite::{self, Message};

const RELAY: &str = env!("CARGO_BIN_EXE_openprod-relay");

#[test]
fn help_explains_every_setting() {
    let output = Command::new(RELAY).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for needle in [
        "--host",
        "OPENPROD_HOST",
        "--port",
        "OPENPROD_PORT",
        "--dist",
        "--max-message-bytes",
        "--max-peers-per-room",
        "--max-rooms",
        "--messages-per-second",
        "--bytes-per-second",
        "OPENPROD_BYTES_PER_SECOND",
        "--idle-timeout-secs",
        "--tls-cert",
        "--tls-key",
        "--tls-local-ca",
        "--config-dir",
        "/trust",
        "--log-format",
        "OPENPROD_LOG_FORMAT",
    ] {
        assert!(help.contains(needle), "--help does not mention {needle}:\n{help}");
    }
}

#[test]
fn serves_the_app_folder_and_prints_where() {
    let dist = std::env::temp_dir().join(format!("openprod-relay-dist-{}", std::process::id()));
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(dist.join("index.html"), "<!doctype html><title>Openprod</title>").unwrap();
    std::fs::write(dist.join("sw.js"), "const SHELL_VERSION = \"1\";").unwrap();

    let mut relay = Command::new(RELAY)
        .args(["--host", "127.0.0.1", "--port", "0"])
        .env("OPENPROD_DIST", &dist)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(relay.stdout.take().unwrap());
    let mut first_line = String::new();
    stdout.read_line(&mut first_line).unwrap();
    let addr = first_line.trim().strip_prefix("openprod-relay listening on ").unwrap().to_owned();
    let mut second_line = String::new();
    stdout.read_line(&mut second_line).unwrap();
    assert!(second_line.contains("http://localhost:"), "{second_line}");

    let response = http_get(&addr, "/some/client/route", "");
    // A revalidation of the service worker gets the whole script, never "not modified".
    let worker = http_get(&addr, "/sw.js", "If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\n");
    relay.kill().unwrap();
    relay.wait().unwrap();
    std::fs::remove_dir_all(&dist).unwrap();

    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.to_ascii_lowercase().contains("cache-control: no-cache"), "{response}");
    assert!(response.contains("<title>Openprod</title>"), "client routes fall back to the app: {response}");
    assert!(worker.starts_with("HTTP/1.1 200"), "{worker}");
    assert!(!worker.to_ascii_lowercase().contains("last-modified"), "{worker}");
    assert!(worker.ends_with("const SHELL_VERSION = \"1\";"), "{worker}");
}

/// Stops the relay however the test ends, so a failed test leaves no relay running.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http_get(addr: &str, path: &str, extra_headers: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra_headers}Connection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn json_logs_tell_the_story_of_a_connection_without_its_payloads() {
    let mut relay = KillOnDrop(
        Command::new(RELAY)
            .args(["--host", "127.0.0.1", "--port", "0", "--dist", "no-app"])
            .env("OPENPROD_LOG_FORMAT", "json")
            .env_remove("OPENPROD_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut first_line = String::new();
    BufReader::new(relay.0.stdout.take().unwrap()).read_line(&mut first_line).unwrap();
    let addr = first_line.trim().strip_prefix("openprod-relay listening on ").unwrap().to_owned();

    let (mut client, _) = tungstenite::connect(format!("ws://{addr}/ws")).unwrap();
    let reply = |client: &mut tungstenite::WebSocket<_>| loop {
        match client.read().unwrap() {
            Message::Ping(_) | Message::Pong(_) => continue,
            other => break other,
        }
    };
    client.send(Message::text(r#"{"type":"join","room":"c0ffee"}"#)).unwrap();
    let welcome: Value = serde_json::from_str(reply(&mut client).to_text().unwrap()).unwrap();
    let me = welcome["peer"].as_u64().unwrap();
    // To itself, so it is delivered: the secret must reach the peer and not the log.
    client.send(Message::text(format!(r#"{{"type":"signal","to":{me},"data":"SECRET-SIGNAL"}}"#))).unwrap();
    reply(&mut client);
    let mut frame = me.to_be_bytes().to_vec();
    frame.extend_from_slice(b"SECRET-BINARY");
    client.send(Message::binary(frame)).unwrap();
    reply(&mut client);
    client.send(Message::binary(vec![1, 2, 3])).unwrap();
    reply(&mut client);
    client.close(None).unwrap();
    while client.read().is_ok() {}

    // Read the log until the connection's close is in it; a thread reads, so
    // that a missing line fails the test instead of hanging it.
    let stderr = BufReader::new(relay.0.stderr.take().unwrap());
    let (sender, log) = std::sync::mpsc::channel();
    std::thread::spawn(move || stderr.lines().map_while(Result::ok).try_for_each(|line| sender.send(line)));
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Ok(line) = log.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        let event: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("not a JSON line: {line}"));
        let closed = event["message"] == "closed";
        lines.push((line, event));
        if closed {
            break;
        }
    }
    drop(relay);

    let find = |message: &str| {
        lines.iter().map(|(_, event)| event).find(|event| event["message"] == message).unwrap_or_else(|| {
            panic!("no '{message}' line in {:#?}", lines.iter().map(|(line, _)| line).collect::<Vec<_>>())
        })
    };
    assert_eq!(find("connected")["peer"], me);
    assert_eq!(find("joined")["room"], "c0ffee");
    let refused = find("refused");
    assert_eq!((refused["peer"].as_u64(), refused["code"].as_str()), (Some(me), Some("frame-too-short")));
    assert!(refused["reason"].as_str().unwrap().contains("3 bytes"), "{refused}");
    assert_eq!(find("left")["room"], "c0ffee");
    let closed = find("closed");
    assert_eq!(closed["reason"], "closed by the client");
    assert_eq!(closed["frames_in"], 4);
    for (line, event) in &lines {
        assert_eq!(event["level"], "INFO", "{line}");
        assert!(!line.contains("SECRET"), "a payload reached the log: {line}");
    }
}
