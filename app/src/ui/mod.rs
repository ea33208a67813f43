//! The screens. [`App`] boots the profile (who this device is), then shows
//! the first-run screen or the screen the URL names.

mod access;
mod device_panel;
mod first_run;
mod format;
mod grid;
mod home;
mod ownership;
mod peers;
mod record;
mod workspace;
mod workspaces;

use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use openprod_core::ENGINE_VERSION;
use openprod_core::identity::{ActorId, Identity};

use crate::route::{Route, watch_route};
use crate::service_worker::{self, UpdateState};
use crate::storage::{ProfileDb, StoredIdentity};

/// Who is using the app on this device; every screen past the first run has it.
#[derive(Clone, Copy)]
pub struct Me {
    profile: StoredValue<Rc<ProfileDb>, LocalStorage>,
    identity: StoredValue<Identity, LocalStorage>,
    pub actor: ActorId,
    pub name: RwSignal<String>,
}

impl Me {
    fn new(profile: StoredValue<Rc<ProfileDb>, LocalStorage>, stored: StoredIdentity) -> Me {
        Me {
            profile,
            actor: stored.identity.actor_id(),
            identity: StoredValue::new_local(stored.identity),
            name: RwSignal::new(stored.display_name),
        }
    }

    pub fn profile(&self) -> Rc<ProfileDb> {
        self.profile.get_value()
    }

    /// Runs `work` with this device's identity.
    pub fn with_identity<R>(&self, work: impl FnOnce(&Identity) -> R) -> R {
        self.identity.with_value(work)
    }
}

pub fn use_me() -> Me {
    expect_context::<Me>()
}

#[derive(Clone, Copy)]
enum Boot {
    Loading,
    FirstRun(StoredValue<Rc<ProfileDb>, LocalStorage>),
    Ready(Me),
    Failed(&'static str, StoredValue<String>),
}

#[component]
pub fn App() -> impl IntoView {
    let update = service_worker::register();
    let boot = RwSignal::new(Boot::Loading);
    spawn_local(async move {
        let state = match ProfileDb::open().await {
            Err(error) => {
                Boot::Failed("Openprod cannot keep data in this browser", StoredValue::new(error.to_string()))
            }
            Ok(profile) => match profile.load_identity().await {
                Err(error) => {
                    Boot::Failed("This device's identity could not be read", StoredValue::new(error.to_string()))
                }
                Ok(None) => Boot::FirstRun(StoredValue::new_local(Rc::new(profile))),
                Ok(Some(stored)) => Boot::Ready(Me::new(StoredValue::new_local(Rc::new(profile)), stored)),
            },
        };
        boot.set(state);
    });
    let on_identity = move |profile, stored| boot.set(Boot::Ready(Me::new(profile, stored)));

    view! {
        <header class="topbar">
            <a class="brand" href="#/"><h1>"Openprod"</h1></a>
            <span class="engine-version" data-testid="engine-version">"engine " {ENGINE_VERSION}</span>
            {move || match boot.get() {
                Boot::Ready(me) => Some(view! { <span class="whoami" data-testid="whoami">{move || me.name.get()}</span> }),
                _ => None,
            }}
        </header>
        <UpdateBanner update />
        {move || match boot.get() {
            Boot::Loading => view! { <main class="page"><p class="hint">"Opening…"</p></main> }.into_any(),
            Boot::FirstRun(profile) => view! { <first_run::FirstRun profile on_identity /> }.into_any(),
            Boot::Ready(me) => {
                provide_context(me);
                view! { <Screens /> }.into_any()
            }
            Boot::Failed(title, reason) => view! {
                <main class="page">
                    <section class="card error" role="alert">
                        <h2>{title}</h2>
                        <p>{reason.get_value()}</p>
                    </section>
                </main>
            }.into_any(),
        }}
    }
}

/// The screen the URL names.
#[component]
fn Screens() -> impl IntoView {
    let route = watch_route();
    let open = workspace::OpenWorkspace::follow(route);
    view! {
        <main class="page">
            {move || match route.get() {
                Route::Workspaces => view! { <workspaces::Workspaces /> }.into_any(),
                Route::Join(link) => view! { <peers::Joining link /> }.into_any(),
                Route::BrokenJoin(problem) => view! {
                    <section class="card error" role="alert" data-testid="broken-link">
                        <h2>"This share link cannot be used"</h2>
                        <p>{problem}</p>
                        <p class="hint">"Ask for the link again, or scan its QR code."</p>
                        <a class="button" href="#/">"Go to your workspaces"</a>
                    </section>
                }.into_any(),
                Route::Unknown(link) => view! {
                    <section class="card error" role="alert">
                        <h2>"This link is not one Openprod knows"</h2>
                        <p class="mono">{link}</p>
                        <a class="button" href="#/">"Go to your workspaces"</a>
                    </section>
                }.into_any(),
                route => view! { <workspace::WorkspaceScreen route open /> }.into_any(),
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

/// "1 record", "2 records": a count with its noun.
pub fn records_counted(count: usize) -> String {
    if count == 1 { "1 record".to_owned() } else { format!("{count} records") }
}

/// An error a person should read, or nothing.
#[component]
pub fn ErrorNote(error: RwSignal<Option<String>>) -> impl IntoView {
    move || error.get().map(|message| view! { <p class="error-note" role="alert">{message}</p> })
}
