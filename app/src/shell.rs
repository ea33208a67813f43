//! The app shell: header, engine status, and the update banner.

use leptos::prelude::*;
use openprod_core::ENGINE_VERSION;

use crate::device::fresh_identity;
use crate::service_worker::{self, UpdateState};

/// What the engine reported when the page booted it.
#[derive(Clone)]
enum EngineStatus {
    Ready { actor_id: String, short_id: String, self_check_passed: bool },
    Failed(String),
}

fn boot_engine() -> EngineStatus {
    let identity = match fresh_identity() {
        Ok(identity) => identity,
        Err(error) => return EngineStatus::Failed(format!("this browser gave no random numbers: {error}")),
    };
    let actor = identity.actor_id();
    let probe = b"openprod self-check";
    let self_check_passed = actor.verify(probe, &identity.sign(probe)).is_ok();
    EngineStatus::Ready { actor_id: actor.to_string(), short_id: actor.short(), self_check_passed }
}

#[component]
pub fn Shell() -> impl IntoView {
    let status = boot_engine();
    let update = service_worker::register();

    view! {
        <header class="topbar">
            <h1>"Openprod"</h1>
            <span class="engine-version" data-testid="engine-version">"engine " {ENGINE_VERSION}</span>
        </header>
        <UpdateBanner update />
        <main class="page">
            {match status {
                EngineStatus::Ready { actor_id, short_id, self_check_passed } => view! {
                    <section class="card" data-testid="engine-ready">
                        <h2>"This device"</h2>
                        <p class="hint">"Signing key created in this browser. Everything you write is signed with it."</p>
                        <dl>
                            <dt>"Actor id"</dt>
                            <dd class="mono" data-testid="actor-id" title=actor_id.clone()>{actor_id.clone()}</dd>
                            <dt>"Short id"</dt>
                            <dd class="mono">{short_id}</dd>
                            <dt>"Signature self-check"</dt>
                            <dd data-testid="self-check">{if self_check_passed { "passed" } else { "FAILED" }}</dd>
                        </dl>
                    </section>
                }.into_any(),
                EngineStatus::Failed(reason) => view! {
                    <section class="card error" role="alert">
                        <h2>"The engine could not start"</h2>
                        <p>{reason}</p>
                    </section>
                }.into_any(),
            }}
        </main>
    }
}

#[component]
fn UpdateBanner(update: ReadSignal<UpdateState>) -> impl IntoView {
    move || match update.get() {
        UpdateState::Waiting => Some(view! {
            <div class="banner" role="status">
                <span>"A new version of Openprod is ready."</span>
                <button on:click=|_| service_worker::activate_waiting_update()>"Reload to update"</button>
            </div>
        }),
        UpdateState::Current => None,
    }
}
