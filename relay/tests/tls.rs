//! TLS on the LAN, through the binary as a user runs it: the local CA and a
//! certificate the user provides, checked by a rustls client that trusts
//! only what it is given.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use openprod_relay::{CA_CERT_FILE, CA_KEY_FILE};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_tungstenite::tungstenite::Message;

const RELAY: &str = env!("CARGO_BIN_EXE_openprod-relay");

/// The relay as a child process, killed when the test ends however it ends.
struct Running {
    child: std::process::Child,
    addr: SocketAddr,
    /// What it printed at start.
    lines: Vec<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the relay in `cwd` with `HOME` at `home` and reads its start-up
/// lines, up to and including the one that starts with `last`.
fn start(args: &[&str], home: &Path, xdg: Option<&Path>, cwd: &Path, last: &str) -> Running {
    let mut command = Command::new(RELAY);
    command.args(["--host", "127.0.0.1", "--port", "0", "--dist", "no-app"]).args(args);
    command.env("HOME", home).env_remove("XDG_CONFIG_HOME").current_dir(cwd);
    if let Some(xdg) = xdg {
        command.env("XDG_CONFIG_HOME", xdg);
    }
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "the relay stopped; it printed {lines:?}");
        lines.push(line.trim_end().to_owned());
        if line.starts_with(last) {
            break;
        }
    }
    let addr = lines[0].strip_prefix("openprod-relay listening on ").expect("the first line names the address");
    Running { addr: addr.parse().unwrap(), child, lines }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("openprod-relay-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

fn client_trusting(pem: &[u8]) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(pem).unwrap()).unwrap();
    let config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

async fn tls_connect(connector: &TlsConnector, addr: SocketAddr, name: &str) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    connector.connect(ServerName::try_from(name.to_owned()).unwrap(), tcp).await
}

/// Sends a GET and returns the whole response, headers and body.
async fn get<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut stream: S,
    host: &str,
    path: &str,
) -> Vec<u8> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    // A TLS peer may close without close_notify after `Connection: close`.
    let _ = stream.read_to_end(&mut response).await;
    response
}

async fn https_get(connector: &TlsConnector, addr: SocketAddr, name: &str, path: &str) -> String {
    let stream = tls_connect(connector, addr, name).await.expect("the relay's certificate is trusted");
    String::from_utf8_lossy(&get(stream, &format!("{name}:{}", addr.port()), path).await).into_owned()
}

async fn http_get(addr: SocketAddr, path: &str) -> String {
    let stream = TcpStream::connect(addr).await.unwrap();
    String::from_utf8_lossy(&get(stream, &addr.to_string(), path).await).into_owned()
}

fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, body)| body)
}

#[tokio::test]
async fn the_local_ca_serves_https_and_wss_and_is_reused_across_restarts() {
    let root = scratch("tls-local-ca");
    let (home, xdg, cwd) = (root.join("home"), root.join("xdg"), root.join("cwd"));
    for dir in [&home, &xdg, &cwd] {
        std::fs::create_dir_all(dir).unwrap();
    }
    let ca_dir = xdg.join("openprod-relay");

    let relay = start(&["--tls-local-ca"], &home, Some(&xdg), &cwd, "To trust this relay");
    let port = relay.addr.port();
    let printed = relay.lines.join("\n");
    assert!(printed.contains(&format!("https://localhost:{port}/")), "{printed}");
    assert!(printed.contains(&format!("Created a local certificate authority in {}", ca_dir.display())), "{printed}");
    assert!(printed.contains(&format!("open http://localhost:{port}/trust on each device")), "{printed}");

    assert_eq!(listing(&ca_dir), [CA_KEY_FILE, CA_CERT_FILE]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(ca_dir.join(CA_KEY_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the CA's private key is its owner's alone");
    }
    let ca_pem = std::fs::read(ca_dir.join(CA_CERT_FILE)).unwrap();
    let ca_key = std::fs::read(ca_dir.join(CA_KEY_FILE)).unwrap();
    let trusting = client_trusting(&ca_pem);

    // The certificate names both localhost and the loopback address.
    let health = https_get(&trusting, relay.addr, "localhost", "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200") && health.contains(r#""status":"ok""#), "{health}");
    let served_ca = https_get(&trusting, relay.addr, "127.0.0.1", "/ca.pem").await;
    assert!(served_ca.to_ascii_lowercase().contains("content-type: application/x-pem-file"), "{served_ca}");
    assert_eq!(body(&served_ca).as_bytes(), ca_pem);
    let page = https_get(&trusting, relay.addr, "localhost", "/trust").await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    for needle in ["<svg", "/ca.crt", "Certificate Trust Settings", "Install a certificate", "Firefox", "Keychain"] {
        assert!(body(&page).contains(needle), "the trust page lacks {needle}");
    }

    // A client that does not trust the CA is refused.
    let stranger = KeyPair::generate().unwrap();
    let other_ca = CertificateParams::default().self_signed(&stranger).unwrap();
    let untrusting = client_trusting(other_ca.pem().as_bytes());
    assert!(tls_connect(&untrusting, relay.addr, "localhost").await.is_err());

    // Plain HTTP on the same port: the CA and the page, and a redirect for the rest.
    let plain_page = http_get(relay.addr, "/trust").await;
    assert!(plain_page.starts_with("HTTP/1.1 200") && plain_page.contains("<svg"), "{plain_page}");
    let plain_der = http_get(relay.addr, "/ca.crt").await;
    assert!(plain_der.to_ascii_lowercase().contains("content-type: application/x-x509-ca-cert"), "{plain_der}");
    let redirect = http_get(relay.addr, "/w/some/route?x=1").await;
    assert!(redirect.starts_with("HTTP/1.1 307"), "{redirect}");
    assert!(redirect.contains(&format!("https://{}/w/some/route?x=1", relay.addr)), "{redirect}");

    // Signaling over wss.
    let stream = tls_connect(&trusting, relay.addr, "localhost").await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(format!("wss://localhost:{port}/ws"), stream).await.unwrap();
    ws.send(Message::text(r#"{"type":"join","room":"secure"}"#)).await.unwrap();
    let welcome = loop {
        match ws.next().await.unwrap().unwrap() {
            Message::Text(text) => break text,
            Message::Ping(_) => continue,
            other => panic!("expected the welcome, got {other:?}"),
        }
    };
    assert!(welcome.contains(r#""type":"welcome""#), "{welcome}");
    drop(ws);
    drop(relay);

    // Restarted, with the directory named: the same CA, nothing new written.
    let relay = start(&["--tls-local-ca", "--config-dir", ca_dir.to_str().unwrap()], &home, None, &cwd, "To trust");
    assert!(!relay.lines.join("\n").contains("Created"), "{:?}", relay.lines);
    assert_eq!(std::fs::read(ca_dir.join(CA_CERT_FILE)).unwrap(), ca_pem);
    assert_eq!(std::fs::read(ca_dir.join(CA_KEY_FILE)).unwrap(), ca_key);
    let health = https_get(&trusting, relay.addr, "localhost", "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "the new server certificate chains to the same CA: {health}");
    drop(relay);

    assert_eq!(listing(&ca_dir), [CA_KEY_FILE, CA_CERT_FILE]);
    assert_eq!(listing(&xdg), ["openprod-relay"]);
    assert!(listing(&home).is_empty() && listing(&cwd).is_empty(), "the relay writes nothing but its CA");
    std::fs::remove_dir_all(&root).unwrap();
}

#[tokio::test]
async fn a_provided_certificate_is_served_and_nothing_is_written() {
    let root = scratch("tls-provided");
    let (home, cwd) = (root.join("home"), root.join("cwd"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&cwd).unwrap();

    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::default();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server_cert =
        CertificateParams::new(vec!["localhost".to_owned()]).unwrap().signed_by(&server_key, &issuer).unwrap();
    let (cert_file, key_file) = (root.join("server.pem"), root.join("server-key.pem"));
    std::fs::write(&cert_file, server_cert.pem() + &ca_cert.pem()).unwrap();
    std::fs::write(&key_file, server_key.serialize_pem()).unwrap();

    let args = ["--tls-cert", cert_file.to_str().unwrap(), "--tls-key", key_file.to_str().unwrap()];
    let relay = start(&args, &home, None, &cwd, "Open Openprod on this machine");
    assert!(relay.lines.last().unwrap().contains("https://localhost:"), "{:?}", relay.lines);
    let trusting = client_trusting(ca_cert.pem().as_bytes());
    let health = https_get(&trusting, relay.addr, "localhost", "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    // No local CA: nothing to hand out, and plain HTTP is only sent on.
    let no_ca = https_get(&trusting, relay.addr, "localhost", "/ca.pem").await;
    assert!(no_ca.starts_with("HTTP/1.1 404"), "{no_ca}");
    let plain = http_get(relay.addr, "/trust").await;
    assert!(plain.starts_with("HTTP/1.1 307"), "{plain}");
    drop(relay);
    assert!(listing(&home).is_empty() && listing(&cwd).is_empty());
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn unusable_tls_settings_are_refused_in_plain_words() {
    let missing = Command::new(RELAY)
        .args(["--port", "0", "--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/key.pem"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    let said = String::from_utf8_lossy(&missing.stderr);
    assert!(said.contains("cannot read /nonexistent/cert.pem"), "{said}");

    let both = Command::new(RELAY).args(["--tls-local-ca", "--tls-cert", "a", "--tls-key", "b"]).output().unwrap();
    assert!(!both.status.success(), "a certificate and the local CA exclude each other");
}
