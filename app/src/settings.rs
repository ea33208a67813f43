//! Settings of this browser that belong to no workspace, kept in
//! `localStorage` (small, synchronous, read once when a workspace opens).

const ICE_SERVERS: &str = "openprod-ice-servers";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// One STUN or TURN server; TURN servers take a user name and password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceServer {
    pub url: String,
    pub credentials: Option<(String, String)>,
}

/// STUN/TURN servers for direct connections across the internet. None by
/// default: on a LAN the devices' own addresses suffice, and a venue with
/// no internet has no server to ask.
pub fn ice_servers() -> Vec<IceServer> {
    parse_ice_servers(&ice_servers_text()).unwrap_or_default()
}

/// The servers as saved: one per line, a `stun:` or `turn:` URL, for TURN
/// followed by a user name and a password.
pub fn ice_servers_text() -> String {
    storage().and_then(|storage| storage.get_item(ICE_SERVERS).ok().flatten()).unwrap_or_default()
}

/// Checks and saves the servers (see [`ice_servers_text`]).
pub fn save_ice_servers(text: &str) -> Result<(), String> {
    parse_ice_servers(text)?;
    let storage = storage().ok_or("this browser keeps no settings")?;
    storage.set_item(ICE_SERVERS, text.trim()).map_err(|_| "the setting could not be saved".to_owned())
}

fn parse_ice_servers(text: &str) -> Result<Vec<IceServer>, String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let url = words[0];
            let turn = url.starts_with("turn:") || url.starts_with("turns:");
            let stun = url.starts_with("stun:") || url.starts_with("stuns:");
            match (stun, turn, &words[1..]) {
                (true, _, []) => Ok(IceServer { url: url.to_owned(), credentials: None }),
                (_, true, [user, password]) => Ok(IceServer {
                    url: url.to_owned(),
                    credentials: Some(((*user).to_owned(), (*password).to_owned())),
                }),
                (_, true, _) => Err(format!("'{url}' needs a user name and a password after it")),
                _ => Err(format!("'{line}' is not a stun: address, or a turn: address with a user name and password")),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use wasm_bindgen_test::wasm_bindgen_test;

    use super::*;

    #[wasm_bindgen_test]
    fn ice_servers_are_stun_or_turn_urls_one_per_line() {
        assert_eq!(
            parse_ice_servers(" stun:stun.example.org:3478\n\nturn:turn.example.org jane s3cret\n"),
            Ok(vec![
                IceServer { url: "stun:stun.example.org:3478".into(), credentials: None },
                IceServer { url: "turn:turn.example.org".into(), credentials: Some(("jane".into(), "s3cret".into())) },
            ])
        );
        assert!(parse_ice_servers("http://example.org").unwrap_err().contains("http://example.org"));
        assert!(parse_ice_servers("turn:turn.example.org").unwrap_err().contains("user name"));
    }
}
