//! The first run: this device gets its signing key and its person's name,
//! or takes over an identity exported from another device.

use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::ErrorNote;
use super::device_panel::IdentityImport;
use crate::device::fresh_identity;
use crate::storage::{ProfileDb, StoredIdentity};

#[component]
pub fn FirstRun(
    profile: StoredValue<Rc<ProfileDb>, LocalStorage>,
    on_identity: impl Fn(StoredValue<Rc<ProfileDb>, LocalStorage>, StoredIdentity) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let start = move || {
        let display_name = name.get_untracked().trim().to_owned();
        if display_name.is_empty() {
            error.set(Some("Type your name first: it is how your changes are signed for others to see.".into()));
            return;
        }
        let identity = match fresh_identity() {
            Ok(identity) => identity,
            Err(failure) => return error.set(Some(format!("This browser gave no random numbers: {failure}"))),
        };
        busy.set(true);
        spawn_local(async move {
            let saved = profile.get_value().save_identity(&identity, &display_name).await;
            busy.set(false);
            match saved {
                Ok(()) => on_identity(profile, StoredIdentity { identity, display_name }),
                Err(failure) => error.set(Some(failure.to_string())),
            }
        });
    };

    let imported = move |stored: StoredIdentity| {
        spawn_local(async move {
            let saved = profile.get_value().save_identity(&stored.identity, &stored.display_name).await;
            match saved {
                Ok(()) => on_identity(profile, stored),
                Err(failure) => error.set(Some(failure.to_string())),
            }
        });
    };

    view! {
        <main class="page narrow">
            <section class="card" data-testid="first-run">
                <h2>"Welcome to Openprod"</h2>
                <p class="hint">
                    "Openprod keeps the production's binder on this device and shares it with your team, "
                    "even with no internet. First, tell your team who you are."
                </p>
                <form on:submit=move |event| { event.prevent_default(); start(); }>
                    <label for="your-name">"Your name"</label>
                    <input id="your-name" data-testid="your-name" autocomplete="name" autofocus
                        prop:value=move || name.get()
                        on:input=move |event| name.set(event_target_value(&event)) />
                    <button type="submit" class="primary" disabled=move || busy.get()>"Continue"</button>
                </form>
                <ErrorNote error />
            </section>
            <section class="card">
                <h3>"Already use Openprod on another device?"</h3>
                <p class="hint">"Import the identity file you exported there, to sign your work as the same person."</p>
                <IdentityImport on_imported=imported />
            </section>
        </main>
    }
}
