//! This device: who it signs as, moving that identity to another device,
//! and how much the browser stores for Openprod.

use leptos::prelude::*;
use leptos::task::spawn_local;
use openprod_core::backup::{KdfCost, decrypt_identity, encrypt_identity};
use wasm_bindgen::JsCast;

use super::format::bytes;
use super::{ErrorNote, use_me};
use crate::device::{BrowserEntropy, download, read_file, yield_to_browser};
use crate::settings;
use crate::storage::{StoredIdentity, request_persistence, storage_estimate};

/// The file the person picked in `<input type=file>`, if any.
pub fn picked_file(event: &leptos::ev::Event) -> Option<web_sys::File> {
    let input: web_sys::HtmlInputElement = event.target()?.unchecked_into();
    input.files()?.get(0)
}

#[component]
pub fn DevicePanel() -> impl IntoView {
    let me = use_me();
    let actor_id = me.actor.to_string();
    let probe = b"openprod self-check";
    let self_check = me.with_identity(|identity| me.actor.verify(probe, &identity.sign(probe)).is_ok());
    view! {
        <section class="card" data-testid="device-panel">
            <h2>"This device"</h2>
            <p class="hint">"Everything you change is signed with this device's key, so your team can see it was you."</p>
            <dl>
                <dt>"Your name"</dt>
                <dd>{move || me.name.get()}</dd>
                <dt>"Actor id"</dt>
                <dd class="mono" data-testid="actor-id" title=actor_id.clone()>{actor_id.clone()}</dd>
                <dt>"Short id"</dt>
                <dd class="mono">{me.actor.short()}</dd>
                <dt>"Signature self-check"</dt>
                <dd data-testid="self-check">{if self_check { "passed" } else { "FAILED" }}</dd>
            </dl>
            <IdentityExport />
        </section>
        <StoragePanel />
        <ConnectionSettings />
    }
}

/// STUN/TURN servers, for peers that meet across the internet rather than
/// on one LAN. Used by workspaces opened after saving.
#[component]
fn ConnectionSettings() -> impl IntoView {
    let text = RwSignal::new(settings::ice_servers_text());
    let error = RwSignal::new(None::<String>);
    let saved = RwSignal::new(false);
    let save = move |_| match settings::save_ice_servers(&text.get_untracked()) {
        Ok(()) => {
            error.set(None);
            saved.set(true);
        }
        Err(problem) => error.set(Some(problem)),
    };
    view! {
        <section class="card" data-testid="connection-settings">
            <h2>"Connections across the internet"</h2>
            <p class="hint">
                "On one network nothing is needed. To connect across the internet, list STUN or TURN servers, \
                 one per line; a TURN server is followed by its user name and password."
            </p>
            <textarea rows="3" prop:value=move || text.get()
                on:input=move |event| { saved.set(false); text.set(event_target_value(&event)); }
                placeholder="stun:stun.example.org:3478"></textarea>
            <button on:click=save>"Save"</button>
            {move || saved.get().then(|| view! { <p class="hint" role="status">"Saved."</p> })}
            <ErrorNote error />
        </section>
    }
}

#[component]
fn IdentityExport() -> impl IntoView {
    let me = use_me();
    let passphrase = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let export = move || {
        busy.set(true);
        spawn_local(async move {
            // Paint "Locking…" before the key derivation takes the thread.
            yield_to_browser().await;
            let name = me.name.get_untracked();
            let file = me.with_identity(|identity| {
                encrypt_identity(
                    identity,
                    &name,
                    &passphrase.get_untracked(),
                    KdfCost::RECOMMENDED,
                    &mut BrowserEntropy,
                )
            });
            busy.set(false);
            let saved = file.map_err(|failure| failure.to_string()).and_then(|bytes| {
                download(&format!("{}-identity.openprod-id", me.actor.short()), &bytes, "application/octet-stream")
            });
            match saved {
                Ok(()) => {
                    passphrase.set(String::new());
                    error.set(None);
                }
                Err(failure) => error.set(Some(failure)),
            }
        });
    };
    view! {
        <details class="subpanel">
            <summary>"Use this identity on another device"</summary>
            <p class="hint">
                "Exports your signing key, locked with a passphrase. Keep the file and the passphrase apart: "
                "together they let anyone sign as you."
            </p>
            <form on:submit=move |event| { event.prevent_default(); export(); }>
                <label for="export-passphrase">"Passphrase (at least 8 characters)"</label>
                <input id="export-passphrase" type="password" autocomplete="new-password" data-testid="export-passphrase"
                    prop:value=move || passphrase.get()
                    on:input=move |event| passphrase.set(event_target_value(&event)) />
                <button type="submit" disabled=move || busy.get()>
                    {move || if busy.get() { "Locking…" } else { "Export identity" }}
                </button>
            </form>
            <ErrorNote error />
        </details>
    }
}

/// Picks an identity file and unlocks it with its passphrase.
#[component]
pub fn IdentityImport(on_imported: impl Fn(StoredIdentity) + Copy + Send + Sync + 'static) -> impl IntoView {
    let file = RwSignal::new(None::<Vec<u8>>);
    let passphrase = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let pick = move |event: leptos::ev::Event| {
        let Some(picked) = picked_file(&event) else { return };
        spawn_local(async move {
            match read_file(&picked).await {
                Ok(bytes) => file.set(Some(bytes)),
                Err(failure) => error.set(Some(failure)),
            }
        });
    };
    let unlock = move || {
        let Some(bytes) = file.get_untracked() else {
            return error.set(Some("Choose the identity file first.".into()));
        };
        busy.set(true);
        spawn_local(async move {
            yield_to_browser().await;
            let unlocked = decrypt_identity(&bytes, &passphrase.get_untracked());
            busy.set(false);
            match unlocked {
                Ok((identity, display_name)) => {
                    error.set(None);
                    on_imported(StoredIdentity { identity, display_name });
                }
                Err(failure) => error.set(Some(failure.to_string())),
            }
        });
    };
    view! {
        <form on:submit=move |event| { event.prevent_default(); unlock(); }>
            <label for="identity-file">"Identity file"</label>
            <input id="identity-file" type="file" data-testid="import-identity" on:change=pick />
            <label for="import-passphrase">"Its passphrase"</label>
            <input id="import-passphrase" type="password" autocomplete="current-password" data-testid="import-passphrase"
                prop:value=move || passphrase.get()
                on:input=move |event| passphrase.set(event_target_value(&event)) />
            <button type="submit" disabled=move || busy.get()>
                {move || if busy.get() { "Unlocking…" } else { "Import identity" }}
            </button>
        </form>
        <ErrorNote error />
    }
}

/// How much the browser keeps for Openprod, and whether it promised to keep it.
#[component]
fn StoragePanel() -> impl IntoView {
    let usage = RwSignal::new(None::<String>);
    let persisted = RwSignal::new(None::<bool>);
    let error = RwSignal::new(None::<String>);
    let refresh = move || {
        spawn_local(async move {
            match storage_estimate().await {
                Ok(estimate) => usage.set(Some(match (estimate.usage_bytes, estimate.quota_bytes) {
                    (Some(used), Some(quota)) => format!("{} used of {} available", bytes(used), bytes(quota)),
                    (Some(used), None) => format!("{} used", bytes(used)),
                    _ => "not reported by this browser".to_owned(),
                })),
                Err(failure) => error.set(Some(failure.to_string())),
            }
        });
    };
    refresh();
    let ask = move || {
        spawn_local(async move {
            match request_persistence().await {
                Ok(granted) => persisted.set(Some(granted)),
                Err(failure) => error.set(Some(failure.to_string())),
            }
            refresh();
        });
    };
    // Asked once on every start: browsers grant it silently to apps people
    // use, and it is what keeps the data through storage pressure.
    ask();
    view! {
        <section class="card" data-testid="storage-panel">
            <h2>"Storage on this device"</h2>
            <p data-testid="storage-usage">{move || usage.get().unwrap_or_else(|| "Measuring…".to_owned())}</p>
            <p data-testid="storage-persisted">
                {move || match persisted.get() {
                    Some(true) => "The browser will keep Openprod's data even when space runs low.",
                    Some(false) => "The browser may clear Openprod's data if space runs low. Installing the app \
                                    (Add to Home Screen) makes it keep the data.",
                    None => "Asking the browser to keep Openprod's data…",
                }}
            </p>
            <button on:click=move |_| ask()>"Ask again to keep data"</button>
            <ErrorNote error />
        </section>
    }
}
