//! The share link that invites a device into a workspace, and the workspace
//! secret it carries.
//!
//! A link looks like `https://host/#/join/<workspace id>/<secret>?relay=<url>`
//! in open join mode; in the other modes it carries no secret
//! (`#/join/<id>?by=key` or `?by=request`) and the device obtains the secret
//! from a member ([`crate::access::enroll`]).
//! Everything after `#` is a URL fragment, which browsers never send to a
//! server: so the secret reaches the new device without the relay, or the
//! host that serves the app, ever seeing it. Devices then prove to each other
//! that they hold it ([`super::auth`]) and encrypt what passes through the
//! relay with it ([`super::sealed`]).
//!
//! The relay only ever learns a room name derived from the workspace id
//! ([`room_name`]), enough to introduce the devices of one workspace to each
//! other and nothing more.

use std::fmt;

use zeroize::Zeroize;

use crate::entropy::Entropy;
use crate::ids::WorkspaceId;

const SECRET_LEN: usize = 32;

/// 32 bytes in base64 without padding: 42 characters of six bits and one of four.
const SECRET_TEXT_LEN: usize = 43;

const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

const JOIN_PREFIX: &str = "/join/";
const RELAY_PARAMETER: &str = "relay=";
const BY_PARAMETER: &str = "by=";
const BY_KEY: &str = "key";
const BY_REQUEST: &str = "request";

/// The key every device of a workspace shares, handed over in the share
/// link. Whoever holds it can join: it is compared in constant time, wiped
/// from memory when dropped, and never printed.
#[derive(Clone, Eq)]
pub struct WorkspaceSecret([u8; SECRET_LEN]);

impl WorkspaceSecret {
    /// A fresh secret. `entropy` must be a real random source (the browser's
    /// `crypto.getRandomValues`): the secret is all that keeps strangers out.
    pub fn generate(entropy: &mut dyn Entropy) -> Self {
        let mut bytes = [0u8; SECRET_LEN];
        entropy.fill(&mut bytes);
        WorkspaceSecret(bytes)
    }

    pub fn from_bytes(bytes: [u8; SECRET_LEN]) -> Self {
        WorkspaceSecret(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; SECRET_LEN] {
        &self.0
    }

    /// URL-safe base64 without padding: 43 characters that need no escaping
    /// in a link.
    pub fn to_text(&self) -> String {
        let mut text = String::with_capacity(SECRET_TEXT_LEN);
        for group in self.0.chunks(3) {
            let mut padded = [0u8; 3];
            padded[..group.len()].copy_from_slice(group);
            let bits = (u32::from(padded[0]) << 16) | (u32::from(padded[1]) << 8) | u32::from(padded[2]);
            // n bytes fill n + 1 characters; the rest would be padding.
            for index in 0..=group.len() {
                text.push(char::from(BASE64URL[((bits >> (18 - 6 * index)) & 0x3f) as usize]));
            }
        }
        text
    }

    /// Reads the form written by [`WorkspaceSecret::to_text`], and only that
    /// form: a last character with stray low bits would let two texts mean
    /// one secret.
    pub fn parse(text: &str) -> Result<Self, LinkError> {
        let text = text.as_bytes();
        if text.len() != SECRET_TEXT_LEN {
            return Err(LinkError::BadSecret);
        }
        let mut bytes = [0u8; SECRET_LEN];
        let mut accumulator: u32 = 0;
        let mut bits = 0;
        let mut written = 0;
        for &character in text {
            let value = BASE64URL.iter().position(|&symbol| symbol == character).ok_or(LinkError::BadSecret)?;
            accumulator = (accumulator << 6) | value as u32;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                bytes[written] = (accumulator >> bits) as u8;
                written += 1;
                accumulator &= (1 << bits) - 1;
            }
        }
        if accumulator != 0 {
            return Err(LinkError::BadSecret);
        }
        Ok(WorkspaceSecret(bytes))
    }
}

impl PartialEq for WorkspaceSecret {
    fn eq(&self, other: &Self) -> bool {
        // BLAKE3's hash type compares in constant time, so timing tells
        // nothing about how much of a guessed secret was right.
        blake3::Hash::from(self.0) == blake3::Hash::from(other.0)
    }
}

impl Drop for WorkspaceSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for WorkspaceSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Debug output ends up in logs and bug reports.
        f.write_str("WorkspaceSecret(…)")
    }
}

/// Name of the relay room for a workspace: lowercase hex of a BLAKE3
/// `derive_key("openprod relay room v1", workspace id bytes)`, first 32 hex
/// characters. The relay never learns the id.
pub fn room_name(workspace: WorkspaceId) -> String {
    let key = blake3::derive_key("openprod relay room v1", workspace.as_bytes());
    hex::encode(&key[..16])
}

/// Everything a new device needs to join a workspace: which one, how it is
/// let in, and where to find the others when it is not the relay that
/// served the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareLink {
    pub workspace: WorkspaceId,
    pub admission: Admission,
    /// A `ws://` or `wss://` address of the signaling relay.
    pub relay: Option<String>,
}

/// What the link itself grants (the workspace's join modes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Open mode: the link carries the secret, so opening it is joining.
    Secret(WorkspaceSecret),
    /// The link carries no secret; the person types an access key.
    AccessKey,
    /// The link carries no secret; a member approves the request.
    Request,
}

impl ShareLink {
    /// `#/join/<workspace-id>/<secret>` (open mode) or
    /// `#/join/<workspace-id>?by=key` / `?by=request`, plus
    /// `relay=<percent-encoded url>` when there is a relay. The app puts it
    /// after its own address.
    pub fn to_fragment(&self) -> String {
        let mut fragment = format!("#{JOIN_PREFIX}{}", self.workspace);
        let mut parameters = Vec::new();
        match &self.admission {
            Admission::Secret(secret) => {
                fragment.push('/');
                fragment.push_str(&secret.to_text());
            }
            Admission::AccessKey => parameters.push(format!("{BY_PARAMETER}{BY_KEY}")),
            Admission::Request => parameters.push(format!("{BY_PARAMETER}{BY_REQUEST}")),
        }
        if let Some(relay) = &self.relay {
            parameters.push(format!("{RELAY_PARAMETER}{}", percent_encode(relay)));
        }
        if !parameters.is_empty() {
            fragment.push('?');
            fragment.push_str(&parameters.join("&"));
        }
        fragment
    }

    /// Reads a link as people paste it: the fragment with or without its
    /// `#`, or a whole URL containing `#/join/…`, with spaces around it.
    /// Parameters other than `relay` are ignored, so later versions can add
    /// some without breaking older devices.
    pub fn parse(text: &str) -> Result<ShareLink, LinkError> {
        let text = text.trim();
        let fragment = text.split_once('#').map_or(text, |(_, fragment)| fragment);
        let rest = fragment.strip_prefix(JOIN_PREFIX).ok_or(LinkError::NotAJoinLink)?;
        let (path, query) = rest.split_once('?').map_or((rest, None), |(path, query)| (path, Some(query)));
        let path = path.strip_suffix('/').unwrap_or(path);
        let (workspace, secret) = path.split_once('/').unwrap_or((path, ""));
        let workspace = WorkspaceId::parse(workspace).map_err(|_| LinkError::BadWorkspaceId)?;

        let mut relay = None;
        let mut by = None;
        for parameter in query.into_iter().flat_map(|query| query.split('&')) {
            if let Some(value) = parameter.strip_prefix(RELAY_PARAMETER) {
                // Two relays in one link would leave the choice to chance.
                if relay.is_some() {
                    return Err(LinkError::BadRelay);
                }
                relay = Some(relay_address(value)?);
            } else if let Some(value) = parameter.strip_prefix(BY_PARAMETER) {
                by = Some(value);
            }
        }
        // A link with a secret is an open-mode link whatever else it says;
        // one without needs to say how its holder gets in, or it was cut short.
        let admission = match (secret, by) {
            ("", Some(BY_KEY)) => Admission::AccessKey,
            ("", Some(BY_REQUEST)) => Admission::Request,
            (secret, _) => Admission::Secret(WorkspaceSecret::parse(secret)?),
        };
        Ok(ShareLink { workspace, admission, relay })
    }
}

fn relay_address(encoded: &str) -> Result<String, LinkError> {
    let address = percent_decode(encoded).ok_or(LinkError::BadRelay)?;
    let lowercase = address.to_ascii_lowercase();
    let after_scheme =
        ["ws://", "wss://"].iter().find_map(|scheme| lowercase.strip_prefix(scheme)).ok_or(LinkError::BadRelay)?;
    let host = after_scheme.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || address.chars().any(|character| character.is_whitespace() || character.is_control()) {
        return Err(LinkError::BadRelay);
    }
    Ok(address)
}

/// Escapes every byte but the unreserved ones of RFC 3986, so the value
/// survives in a query or fragment whatever it contains.
fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for &byte in text.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push('%');
            encoded.push_str(&hex::encode_upper([byte]));
        }
    }
    encoded
}

/// `None` for a `%` not followed by two hex digits, or bytes that are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut input = text.as_bytes().iter();
    while let Some(&byte) = input.next() {
        if byte == b'%' {
            let digits = [*input.next()?, *input.next()?];
            let mut decoded = [0u8];
            hex::decode_to_slice(digits, &mut decoded).ok()?;
            bytes.push(decoded[0]);
        } else {
            bytes.push(byte);
        }
    }
    String::from_utf8(bytes).ok()
}

/// Why a share link could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    NotAJoinLink,
    BadWorkspaceId,
    BadSecret,
    BadRelay,
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LinkError::NotAJoinLink => "this is not an Openprod invitation link (it should contain #/join/)",
            LinkError::BadWorkspaceId => {
                "the workspace part of this invitation link is damaged; ask for the link again"
            }
            LinkError::BadSecret => {
                "the key in this invitation link is damaged or cut short; ask for the link again and copy all of it"
            }
            LinkError::BadRelay => {
                "the relay address in this invitation link is not usable (it must start with ws:// or wss://); \
                 ask for the link again"
            }
        })
    }
}

impl std::error::Error for LinkError {}
