use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use openprod_relay::{Limits, Relay, local_addresses};

/// Openprod's relay: introduces peers of a workspace to each other over
/// WebSocket signaling and serves the app to the devices on the LAN.
/// It stores nothing and never sees workspace data.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Args {
    /// Address to listen on. 0.0.0.0 serves the whole LAN; 127.0.0.1 only this machine.
    #[arg(long, env = "OPENPROD_HOST", default_value = "0.0.0.0")]
    host: IpAddr,

    /// TCP port to listen on (0 picks a free one).
    #[arg(long, env = "OPENPROD_PORT", default_value_t = 8080)]
    port: u16,

    /// Folder with the built app (the output of `trunk build`).
    #[arg(long, env = "OPENPROD_DIST", default_value = "dist")]
    dist: PathBuf,

    /// Largest signaling message accepted, in bytes.
    #[arg(long, env = "OPENPROD_MAX_MESSAGE_BYTES", default_value_t = Limits::default().max_message_bytes)]
    max_message_bytes: usize,

    /// Most peers in one room (one workspace).
    #[arg(long, env = "OPENPROD_MAX_PEERS_PER_ROOM", default_value_t = Limits::default().max_peers_per_room)]
    max_peers_per_room: usize,

    /// Most rooms at once.
    #[arg(long, env = "OPENPROD_MAX_ROOMS", default_value_t = Limits::default().max_rooms)]
    max_rooms: usize,

    /// Sustained messages per second allowed per connection (bursts of twice as many pass).
    #[arg(long, env = "OPENPROD_MESSAGES_PER_SECOND", default_value_t = Limits::default().messages_per_second)]
    messages_per_second: u32,

    /// Seconds of silence after which a connection is closed (browsers answer pings by themselves).
    #[arg(long, env = "OPENPROD_IDLE_TIMEOUT_SECS", default_value_t = Limits::default().idle_timeout.as_secs())]
    idle_timeout_secs: u64,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("OPENPROD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();

    let limits = Limits {
        max_message_bytes: args.max_message_bytes,
        max_peers_per_room: args.max_peers_per_room,
        max_rooms: args.max_rooms,
        messages_per_second: args.messages_per_second,
        idle_timeout: Duration::from_secs(args.idle_timeout_secs.max(1)),
    };
    let relay = match Relay::bind(SocketAddr::new(args.host, args.port), args.dist.clone(), limits).await {
        Ok(relay) => relay,
        Err(error) => {
            eprintln!("openprod-relay: cannot listen on {}:{}: {error}", args.host, args.port);
            return std::process::ExitCode::FAILURE;
        }
    };
    let addr = relay.local_addr().expect("a bound listener has an address");
    print_urls(addr, &args.dist);

    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match relay.serve(shutdown).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("openprod-relay: stopped: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn print_urls(addr: SocketAddr, dist: &std::path::Path) {
    // Scripts and tests read this first line to learn the port.
    println!("openprod-relay listening on {addr}");
    if !dist.join("index.html").is_file() {
        println!("No app found in {}: signaling only. Build the app first (see README).", dist.display());
    }
    let port = addr.port();
    println!("Open Openprod on this machine:  http://localhost:{port}/");
    if addr.ip().is_unspecified() {
        for ip in local_addresses() {
            println!("Open it from the LAN:           http://{ip}:{port}/");
        }
    } else if !addr.ip().is_loopback() {
        println!("Open it from the LAN:           http://{addr}/");
    }
}
