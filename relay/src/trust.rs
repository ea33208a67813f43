//! What a device needs to trust the relay's local CA: the certificate itself
//! (`/ca.pem`, and `/ca.crt` in the DER form phones and tablets install), and
//! `/trust`, a page with short steps per platform and a QR code that opens
//! the page on another device.

use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::routing::get;
use qrcode::QrCode;
use qrcode::render::svg;

use crate::local_ca::LocalCa;

/// Routes for the CA and the page. `hosts` are `address:port` pairs where
/// other devices reach the relay.
pub fn routes<S: Clone + Send + Sync + 'static>(ca: &LocalCa, hosts: &[String]) -> Router<S> {
    let pem = Bytes::from(ca.cert_pem().to_owned());
    let der = Bytes::from(ca.cert_der().to_vec());
    let page = Bytes::from(page(ca.name(), hosts));
    Router::new()
        .route(
            "/ca.pem",
            get(move || async move {
                let disposition = r#"attachment; filename="openprod-relay-ca.pem""#;
                ([(header::CONTENT_TYPE, "application/x-pem-file"), (header::CONTENT_DISPOSITION, disposition)], pem)
            }),
        )
        .route(
            "/ca.crt",
            // The type iOS and Android recognise as a certificate to install.
            get(move || async move { ([(header::CONTENT_TYPE, "application/x-x509-ca-cert")], der) }),
        )
        .route("/trust", get(move || async move { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page) }))
}

/// The trust page. Every value put into it is made by the relay (addresses,
/// ports, a hex fingerprint), so nothing needs escaping; it needs no script.
fn page(ca_name: &str, hosts: &[String]) -> String {
    let scan: String = hosts
        .iter()
        .map(|host| {
            let url = format!("http://{host}/trust");
            format!(r#"<figure>{}<figcaption><a href="{url}">{url}</a></figcaption></figure>"#, qr_svg(&url))
        })
        .collect();
    let open: String = hosts.iter().map(|host| format!(r#"<a href="https://{host}/">https://{host}/</a> "#)).collect();
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Trust this Openprod relay</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 42rem; margin: 1.5rem auto; padding: 0 1rem; line-height: 1.5; }}
figure {{ display: inline-block; margin: 0 1.5rem 1rem 0; }}
figure svg {{ width: 12rem; height: 12rem; display: block; }}
.download {{ display: inline-block; padding: .6em 1.1em; background: #1f5fbf; color: #fff; border-radius: .4em; text-decoration: none; }}
h2 {{ margin-top: 1.8rem; font-size: 1.15rem; }}
</style>
</head>
<body>
<h1>Trust this Openprod relay</h1>
<p>Openprod keeps working offline only when the browser reached it over a secure
connection. This relay signs its own certificates with a certificate authority
made on this computer, <strong>{ca_name}</strong>. Each tablet, phone or computer
trusts it once; from then on Openprod opens from this relay without warnings.</p>
<p><a class="download" href="/ca.crt" download="openprod-relay-ca.crt">Download the certificate</a>
&nbsp; or as <a href="/ca.pem">PEM</a> for other tools.</p>
<p>A device that trusts it also believes this computer about any website, so
install it only on devices used for this production, and remove it when they
no longer need the relay.</p>

<h2>Open this page on another device</h2>
{scan}

<h2>iPad and iPhone</h2>
<ol>
<li>Open this page in Safari, tap <em>Download the certificate</em> and allow the
download; iOS calls it a configuration profile.</li>
<li>In Settings → General → VPN &amp; Device Management, tap <em>{ca_name}</em>
and install it.</li>
<li>In Settings → General → About → Certificate Trust Settings, switch on full
trust for <em>{ca_name}</em>.</li>
</ol>

<h2>Android</h2>
<ol>
<li>Tap <em>Download the certificate</em>.</li>
<li>In Settings → Security → Encryption &amp; credentials → Install a certificate →
CA certificate, confirm, and choose the downloaded file. Some phones put this
elsewhere: search Settings for “CA certificate”.</li>
</ol>

<h2>Chrome or Edge on a computer</h2>
<ol>
<li>Download the certificate.</li>
<li>Open Settings → Privacy and security → Security → Manage certificates and
import the file as a trusted certificate authority. On Windows this opens the
system's certificate store: choose “Trusted Root Certification Authorities”.</li>
</ol>

<h2>Firefox</h2>
<ol>
<li>Download the certificate.</li>
<li>In Settings → Privacy &amp; Security → Certificates → View Certificates →
Authorities, import the file and tick “Trust this CA to identify websites”.</li>
</ol>

<h2>Mac</h2>
<ol>
<li>Download the certificate and open it: Keychain Access adds it to the login
keychain.</li>
<li>Double-click <em>{ca_name}</em> there, open Trust, set “When using this
certificate” to Always Trust, then close the window and confirm.</li>
</ol>

<h2>Then</h2>
<p>Open {open}— the browser no longer warns about the connection.</p>
</body>
</html>
"#
    )
}

fn qr_svg(url: &str) -> String {
    match QrCode::new(url.as_bytes()) {
        Ok(code) => {
            let image = code.render::<svg::Color<'_>>().min_dimensions(192, 192).build();
            // Inline SVG in HTML takes no XML declaration.
            image.find("<svg").map(|start| image[start..].to_owned()).unwrap_or_default()
        }
        // Only data past a QR code's capacity fails; the link below it remains.
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_a_code_and_steps_for_each_platform() {
        let html = page("Openprod relay local CA 01020304", &["192.168.1.5:8443".into()]);
        assert!(html.contains("<svg") && !html.contains("<?xml"));
        assert!(html.contains(r#"href="http://192.168.1.5:8443/trust""#));
        assert!(html.contains("https://192.168.1.5:8443/"));
        for platform in ["iPad", "Android", "Chrome", "Firefox", "Mac", "Certificate Trust Settings"] {
            assert!(html.contains(platform), "{platform}");
        }
        assert!(!html.contains("<script"));
    }
}
