//! The relay's own certificate authority, for TLS on a LAN without a domain.
//!
//! Created once in the config directory (the only files the relay writes) and
//! trusted once per device; at each start it issues a server certificate for
//! this machine's current addresses, kept in memory only. A new network means
//! new addresses, so a restart is all it takes — devices keep trusting the CA.
//!
//! Certificates follow what browsers check for locally trusted CAs: EC P-256
//! keys, subjectAltName with `IP:` and `DNS:` entries, server-auth usage, and
//! server certificates valid for less than Apple's limit of 825 days.

use std::fs;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData, SanType,
};
use time::{Duration, OffsetDateTime};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The CA certificate, in PEM: what devices trust.
pub const CA_CERT_FILE: &str = "ca.pem";
/// The CA's private key, in PEM, readable by its owner only.
pub const CA_KEY_FILE: &str = "ca-key.pem";

const CA_VALIDITY: Duration = Duration::days(10 * 365);
const SERVER_VALIDITY: Duration = Duration::days(365);
/// Tablets with a slightly wrong clock must not see a certificate from the future.
const CLOCK_SKEW: Duration = Duration::days(1);

pub struct LocalCa {
    dir: PathBuf,
    created: bool,
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    name: String,
    issuer: Issuer<'static, KeyPair>,
}

impl LocalCa {
    /// Loads the CA from `dir`, or creates it there if neither file exists.
    pub fn load_or_create(dir: &Path) -> Result<LocalCa, String> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        match (cert_path.exists(), key_path.exists()) {
            (true, true) => Self::load(dir, &cert_path, &key_path),
            (false, false) => Self::create(dir, &cert_path, &key_path),
            (has_cert, _) => {
                let (found, missing) = if has_cert { (&cert_path, &key_path) } else { (&key_path, &cert_path) };
                Err(format!(
                    "found {} but not {}: move it away to create a new local CA \
                     (devices will then need to trust the new one)",
                    found.display(),
                    missing.display()
                ))
            }
        }
    }

    fn load(dir: &Path, cert_path: &Path, key_path: &Path) -> Result<LocalCa, String> {
        let key_pem = fs::read_to_string(key_path).map_err(|error| cannot_read(key_path, error))?;
        let key = KeyPair::from_pem(&key_pem)
            .map_err(|error| format!("{} is not a private key the relay can use: {error}", key_path.display()))?;
        let cert_pem = fs::read_to_string(cert_path).map_err(|error| cannot_read(cert_path, error))?;
        let cert_der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|error| format!("{} is not a PEM certificate: {error}", cert_path.display()))?;
        let (params, name) = ca_params(&key);
        // Server certificates name the CA by its subject and key: a CA
        // certificate made for another key or name would not vouch for them.
        let made_here =
            contains(&cert_der, key.subject_public_key_info().as_slice()) && contains(&cert_der, name.as_bytes());
        if !made_here {
            return Err(format!(
                "{} was not made from {}: put back the pair the relay created, \
                 or move both away to create a new local CA",
                cert_path.display(),
                key_path.display()
            ));
        }
        Ok(LocalCa { dir: dir.to_owned(), created: false, cert_pem, cert_der, name, issuer: Issuer::new(params, key) })
    }

    fn create(dir: &Path, cert_path: &Path, key_path: &Path) -> Result<LocalCa, String> {
        let key = KeyPair::generate().map_err(|error| format!("cannot make a key for the local CA: {error}"))?;
        let (mut params, name) = ca_params(&key);
        let now = OffsetDateTime::now_utc();
        params.not_before = now - CLOCK_SKEW;
        params.not_after = now + CA_VALIDITY;
        let cert =
            params.self_signed(&key).map_err(|error| format!("cannot make the local CA certificate: {error}"))?;
        create_private_dir(dir)?;
        // The key first: a crash in between leaves a key without a
        // certificate, which the next start reports instead of silently replacing.
        write_new(key_path, key.serialize_pem().as_bytes(), 0o600)?;
        write_new(cert_path, cert.pem().as_bytes(), 0o644)?;
        let cert_der = cert.der().clone();
        Ok(LocalCa {
            dir: dir.to_owned(),
            created: true,
            cert_pem: cert.pem(),
            cert_der,
            name,
            issuer: Issuer::new(params, key),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether this start created the CA (rather than finding it).
    pub fn created(&self) -> bool {
        self.created
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// The name devices show for the CA once it is installed.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A fresh server certificate and key for `ips` and `dns_names`, signed
    /// by the CA; returns the chain (server, then CA) and the server's key.
    pub fn issue(
        &self,
        ips: &[IpAddr],
        dns_names: &[String],
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
        let key =
            KeyPair::generate().map_err(|error| format!("cannot make a key for the server certificate: {error}"))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, "Openprod relay");
        params.subject_alt_names = ips.iter().map(|ip| SanType::IpAddress(*ip)).collect();
        for name in dns_names {
            match name.clone().try_into() {
                Ok(name) => params.subject_alt_names.push(SanType::DnsName(name)),
                Err(_) => tracing::warn!(name = %name, "host name left out of the certificate: not a DNS name"),
            }
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let now = OffsetDateTime::now_utc();
        params.not_before = now - CLOCK_SKEW;
        params.not_after = now + SERVER_VALIDITY;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|error| format!("cannot issue the server certificate: {error}"))?;
        let key = PrivatePkcs8KeyDer::from(key.serialize_der()).into();
        Ok((vec![cert.der().clone(), self.cert_der.clone()], key))
    }
}

/// Everything of the CA but its validity, derived from its key alone, so
/// that a restart can sign with the stored key without parsing the stored
/// certificate. The name carries a fingerprint of the key, so that two
/// relays' CAs are told apart in a device's list of profiles. Returns the
/// parameters and that name.
fn ca_params(key: &KeyPair) -> (CertificateParams, String) {
    let mut params = CertificateParams::default();
    let fingerprint: String = params.key_identifier(key).iter().take(4).map(|byte| format!("{byte:02x}")).collect();
    let name = format!("Openprod relay local CA {fingerprint}");
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::OrganizationName, "Openprod");
    params.distinguished_name.push(DnType::CommonName, name.clone());
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    (params, name)
}

/// The addresses and names a server certificate covers: loopback and
/// `localhost` for this machine, the LAN addresses for the others, and the
/// host name, bare and as its mDNS `.local` name (how Apple devices find a
/// laptop on a LAN without DNS).
pub fn server_names(lan: &[IpAddr], host_name: Option<&str>) -> (Vec<IpAddr>, Vec<String>) {
    let mut ips = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
    for ip in lan {
        if !ips.contains(ip) {
            ips.push(*ip);
        }
    }
    let mut names = vec!["localhost".to_owned()];
    if let Some(host) = host_name.map(str::to_ascii_lowercase).filter(|host| !host.is_empty() && host != "localhost") {
        if !host.contains('.') {
            names.push(format!("{host}.local"));
        }
        names.insert(1, host);
    }
    (ips, names)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|window| window == needle)
}

fn cannot_read(path: &Path, error: std::io::Error) -> String {
    format!("cannot read {}: {error}", path.display())
}

fn create_private_dir(dir: &Path) -> Result<(), String> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|error| format!("cannot create the config directory {}: {error}", dir.display()))
}

/// Writes a file that must not exist yet, with `mode` on Unix (elsewhere the
/// file inherits the directory's permissions).
fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), String> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(|error| format!("cannot create {}: {error}", path.display()))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|error| format!("cannot write {}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_cover_loopback_lan_and_host() {
        let lan: Vec<IpAddr> = vec!["192.168.1.5".parse().unwrap()];
        let (ips, names) = server_names(&lan, Some("Stage-Laptop"));
        assert_eq!(ips, vec![IpAddr::V4(Ipv4Addr::LOCALHOST), lan[0]]);
        assert_eq!(names, ["localhost", "stage-laptop", "stage-laptop.local"]);
        let (_, names) = server_names(&[], Some("box.example.org"));
        assert_eq!(names, ["localhost", "box.example.org"]);
        assert_eq!(server_names(&[], None).1, ["localhost"]);
    }

    #[test]
    fn the_ca_is_created_once_then_reused_and_key_mismatches_are_refused() {
        let dir = std::env::temp_dir().join(format!("openprod-relay-ca-unit-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let created = LocalCa::load_or_create(&dir).unwrap();
        assert!(created.created());
        let loaded = LocalCa::load_or_create(&dir).unwrap();
        assert!(!loaded.created());
        assert_eq!(loaded.cert_pem(), created.cert_pem());
        assert_eq!(loaded.name(), created.name());
        assert!(loaded.name().starts_with("Openprod relay local CA "));
        let (chain, _) = loaded.issue(&[IpAddr::V4(Ipv4Addr::LOCALHOST)], &["localhost".into()]).unwrap();
        assert_eq!(chain.len(), 2);

        fs::write(dir.join(CA_KEY_FILE), KeyPair::generate().unwrap().serialize_pem()).unwrap();
        let error = LocalCa::load_or_create(&dir).err().unwrap();
        assert!(error.contains("was not made from"), "{error}");
        fs::remove_file(dir.join(CA_KEY_FILE)).unwrap();
        let error = LocalCa::load_or_create(&dir).err().unwrap();
        assert!(error.contains("but not"), "{error}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
