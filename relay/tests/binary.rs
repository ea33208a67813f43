//! The relay binary as a user runs it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

const RELAY: &str = env!("CARGO_BIN_EXE_openprod-relay");

#[test]
fn help_explains_every_setting() {
    let output = Command::new(RELAY).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for needle in ["--host", "OPENPROD_HOST", "--port", "OPENPROD_PORT", "--dist", "--max-message-bytes",
        "--max-peers-per-room", "--idle-timeout-secs"]
    {
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

fn http_get(addr: &str, path: &str, extra_headers: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra_headers}Connection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}
