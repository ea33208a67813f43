use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, ValueEnum};
use openprod_relay::{Limits, Relay, Tls, local_addresses};

/// Openprod's relay: introduces peers of a workspace to each other over
/// WebSocket signaling, relays their encrypted sync frames when a direct
/// connection fails, and serves the app to the devices on the LAN.
/// It never sees workspace data.
///
/// Devices on the LAN need https for the app to work offline. Either pass a
/// certificate (--tls-cert, --tls-key), or let the relay make its own local
/// certificate authority (--tls-local-ca) and trust it once per device: open
/// http://<this machine's address>:<port>/trust there. Without either, the
/// relay speaks plain HTTP, which is enough on this machine (localhost).
#[derive(Parser, Debug)]
#[command(version, about, long_about)]
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

    /// TLS certificate chain to serve (PEM, server certificate first), for example one for a real domain.
    #[arg(long, env = "OPENPROD_TLS_CERT", requires = "tls_key", conflicts_with = "tls_local_ca")]
    tls_cert: Option<PathBuf>,

    /// Private key of --tls-cert (PEM).
    #[arg(long, env = "OPENPROD_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Serve https with a certificate from the relay's own local certificate
    /// authority, created once in --config-dir (the only files the relay
    /// writes) and issued anew at each start for this machine's LAN
    /// addresses and host name. Restart after moving to another network.
    #[arg(long, env = "OPENPROD_TLS_LOCAL_CA")]
    tls_local_ca: bool,

    /// Where --tls-local-ca keeps its certificate authority
    /// [default: $XDG_CONFIG_HOME/openprod-relay, else ~/.config/openprod-relay].
    #[arg(long, env = "OPENPROD_CONFIG_DIR")]
    config_dir: Option<PathBuf>,

    /// Largest message accepted (text or binary), in bytes.
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

    /// Sustained bytes per second allowed per connection (bursts of twice as many pass).
    #[arg(long, env = "OPENPROD_BYTES_PER_SECOND", default_value_t = Limits::default().bytes_per_second)]
    bytes_per_second: u64,

    /// Seconds of silence after which a connection is closed (browsers answer pings by themselves).
    #[arg(long, env = "OPENPROD_IDLE_TIMEOUT_SECS", default_value_t = Limits::default().idle_timeout.as_secs())]
    idle_timeout_secs: u64,

    /// Log lines as human-readable text or as JSON objects, one per line.
    /// OPENPROD_LOG sets the level (default "info").
    #[arg(long, env = "OPENPROD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    init_logs(args.log_format);
    // Every connection is a file descriptor, and some systems start
    // programs with a soft limit of 256 or 1024.
    if let Err(error) = rlimit::increase_nofile_limit(u64::MAX) {
        tracing::warn!(%error, "cannot raise the limit of open files");
    }

    let limits = Limits {
        max_message_bytes: args.max_message_bytes,
        max_peers_per_room: args.max_peers_per_room,
        max_rooms: args.max_rooms,
        messages_per_second: args.messages_per_second,
        bytes_per_second: args.bytes_per_second,
        idle_timeout: Duration::from_secs(args.idle_timeout_secs.max(1)),
    };
    let tls = match tls_setting(&args) {
        Ok(tls) => tls,
        Err(problem) => {
            eprintln!("openprod-relay: {problem}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let relay = match Relay::bind(SocketAddr::new(args.host, args.port), args.dist.clone(), limits, tls).await {
        Ok(relay) => relay,
        Err(error) => {
            eprintln!("openprod-relay: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    print_urls(&relay, &args.dist);

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

fn init_logs(format: LogFormat) {
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("OPENPROD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours for a person at a terminal, not for a file or a journal.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => logs.init(),
        // One flat object per line: fields beside the message, as log
        // collectors expect them.
        LogFormat::Json => logs.json().flatten_event(true).with_current_span(false).with_span_list(false).init(),
    }
}

fn tls_setting(args: &Args) -> Result<Tls, String> {
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        return Ok(Tls::Files { cert: cert.clone(), key: key.clone() });
    }
    if !args.tls_local_ca {
        return Ok(Tls::Off);
    }
    let config_dir = match &args.config_dir {
        Some(dir) => dir.clone(),
        None => default_config_dir().ok_or("no home directory to keep the local CA in: pass --config-dir")?,
    };
    Ok(Tls::LocalCa { config_dir })
}

fn default_config_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
        .or_else(|| std::env::home_dir().map(|home| home.join(".config")))?;
    Some(base.join("openprod-relay"))
}

fn print_urls(relay: &Relay, dist: &Path) {
    // A script that read what it needed may close our stdout: the relay
    // goes on serving rather than dying on a broken pipe.
    let mut out = std::io::stdout().lock();
    let mut say = |line: String| {
        let _ = writeln!(out, "{line}");
    };
    let addr = relay.local_addr();
    // Scripts and tests read this first line to learn the port.
    say(format!("openprod-relay listening on {addr}"));
    if !dist.join("index.html").is_file() {
        say(format!("No app found in {}: signaling only. Build the app first (see README).", dist.display()));
    }
    let scheme = if relay.is_secure() { "https" } else { "http" };
    let port = addr.port();
    say(format!("Open Openprod on this machine:  {scheme}://localhost:{port}/"));
    if addr.ip().is_unspecified() {
        for ip in local_addresses() {
            say(format!("Open it from the LAN:           {scheme}://{ip}:{port}/"));
        }
    } else if !addr.ip().is_loopback() {
        say(format!("Open it from the LAN:           {scheme}://{addr}/"));
    }
    if let Some(ca) = relay.local_ca() {
        if ca.created {
            say(format!("Created a local certificate authority in {}.", ca.dir.display()));
        }
        if let Some(url) = ca.trust_urls.first() {
            say(format!("To trust this relay, open {url} on each device, once."));
        }
    }
}
