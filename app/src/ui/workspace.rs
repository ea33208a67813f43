//! One workspace's screens: opening it (with progress), the save status,
//! undo and redo, and the home, table and record screens under it.

use leptos::prelude::*;
use leptos::task::spawn_local;
use openprod_core::ids::WorkspaceId;
use openprod_core::workspace::UndoOutcome;
use send_wrapper::SendWrapper;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

use super::{Me, use_me};
use crate::device::now_ms;
use crate::driver::{self, Driver, OpenError, OpenProgress, SaveState};
use crate::library::{self, copy_identity};
use crate::net::{Asking, EnrollConfig, Enrollment, Mesh, MeshConfig};
use crate::route::Route;
use crate::storage::{Sharing, WorkspaceEntry};
use openprod_core::access::AccessCode;

/// The workspace the route names, opened once and kept while the route
/// stays inside it.
#[derive(Clone, Copy)]
pub enum OpenWorkspace {
    None,
    Opening(WorkspaceId, OpenProgress),
    /// With the name this device's list gives it, its network once started,
    /// and how it asks to be let in while no member has let it in yet.
    Open(WorkspaceId, Driver, RwSignal<String>, RwSignal<Option<Mesh>, LocalStorage>, RwSignal<Option<Sharing>>),
    Failed(WorkspaceId, &'static str, StoredValue<String>),
}

impl OpenWorkspace {
    fn id(&self) -> Option<WorkspaceId> {
        match self {
            OpenWorkspace::None => None,
            OpenWorkspace::Opening(id, _) | OpenWorkspace::Open(id, ..) | OpenWorkspace::Failed(id, ..) => Some(*id),
        }
    }

    /// Opens and closes workspaces as `route` moves between them.
    pub fn follow(route: ReadSignal<Route>) -> RwSignal<OpenWorkspace> {
        let me = use_me();
        let open = RwSignal::new(OpenWorkspace::None);
        Effect::new(move |_| {
            let wanted = route.get().workspace();
            let current = open.get_untracked();
            if current.id() == wanted {
                return;
            }
            if let OpenWorkspace::Open(_, driver, _, mesh, _) = current {
                if let Some(mesh) = mesh.get_untracked() {
                    mesh.stop();
                }
                driver.close();
            }
            let Some(id) = wanted else { return open.set(OpenWorkspace::None) };
            open.set(OpenWorkspace::Opening(id, OpenProgress::default()));
            spawn_local(async move {
                let identity = me.with_identity(copy_identity);
                let on_progress = move |progress| {
                    if open.get_untracked().id() == Some(id) {
                        open.set(OpenWorkspace::Opening(id, progress));
                    }
                };
                let opened = match driver::open(id, identity, on_progress).await {
                    // Joined by link, nothing received yet: its peers fill it.
                    Err(OpenError::Empty) if library::is_being_joined(&me.profile(), id).await => {
                        Driver::start(id, me.with_identity(copy_identity)).await
                    }
                    other => other,
                };
                if open.get_untracked().id() != Some(id) {
                    // The person moved on while it opened.
                    if let Ok(driver) = opened {
                        driver.close();
                    }
                    return;
                }
                match opened {
                    Ok(driver) => {
                        let name = remember_opened(me.profile(), id, &driver).await;
                        let mesh = RwSignal::new_local(None);
                        let waiting = RwSignal::new(None);
                        open.set(OpenWorkspace::Open(id, driver, RwSignal::new(name), mesh, waiting));
                        connect(Network { me, id, driver, mesh, waiting, open }).await;
                    }
                    Err(error) => open.set(OpenWorkspace::Failed(
                        id,
                        "This workspace could not be opened",
                        StoredValue::new(error.to_string()),
                    )),
                }
            });
        });
        open
    }
}

/// Everything that starting an open workspace's network touches.
#[derive(Clone, Copy)]
struct Network {
    me: Me,
    id: WorkspaceId,
    driver: Driver,
    mesh: RwSignal<Option<Mesh>, LocalStorage>,
    /// How this device asks to be let in, while no member has let it in yet.
    waiting: RwSignal<Option<Sharing>>,
    open: RwSignal<OpenWorkspace>,
}

/// Starts the workspace's network, unless the person moved on by then. A
/// device without the secret first waits to be let in (`waiting`).
async fn connect(network: Network) {
    let Network { me, id, driver, mesh, waiting, open } = network;
    if driver.trouble().is_some() {
        return; // damaged: shown read-only, never offered to peers
    }
    let sharing = match library::sharing_of(&me.profile(), id).await {
        Ok(sharing) => sharing,
        Err(error) => return leptos::logging::warn!("this workspace cannot be shared: {error}"),
    };
    if open.get_untracked().id() != Some(id) {
        return;
    }
    let Some(secret) = sharing.secret().cloned() else {
        return waiting.set(Some(sharing));
    };
    waiting.set(None);
    let config = MeshConfig {
        relay_url: sharing.relay.unwrap_or_else(default_relay_url),
        workspace: id,
        secret,
        identity: me.with_identity(copy_identity),
        display_name: me.name.get_untracked(),
        ice_servers: crate::settings::ice_servers(),
    };
    mesh.set(Mesh::start(driver, config));
}

/// Asks the workspace's members to let this device in; once one does, the
/// secret is kept and the ordinary network starts.
fn start_enrollment(network: Network, code: Option<AccessCode>) -> Enrollment {
    let Network { me, id, waiting, .. } = network;
    let relay = waiting.get_untracked().and_then(|sharing| sharing.relay);
    let config = EnrollConfig {
        relay_url: relay.unwrap_or_else(default_relay_url),
        workspace: id,
        identity: me.with_identity(copy_identity),
        display_name: me.name.get_untracked(),
        asking: code.map_or(Asking::Request, Asking::AccessKey),
    };
    Enrollment::start(config, move |secret| {
        spawn_local(async move {
            match library::let_in(&me.profile(), id, secret).await {
                Ok(_) => connect(network).await,
                Err(error) => leptos::logging::warn!("the workspace key could not be kept: {error}"),
            }
        });
    })
}

/// The relay that served this page: the usual set-up, one laptop serving both.
fn default_relay_url() -> String {
    let location = web_sys::window().expect("a page has a window").location();
    let scheme = if location.protocol().is_ok_and(|protocol| protocol == "https:") { "wss" } else { "ws" };
    format!("{scheme}://{}/ws", location.host().unwrap_or_default())
}

/// Moves the workspace to the top of this device's list; returns its name there.
async fn remember_opened(profile: std::rc::Rc<crate::storage::ProfileDb>, id: WorkspaceId, driver: &Driver) -> String {
    let listed = profile.workspaces().await.unwrap_or_default().into_iter().find(|entry| entry.id == id);
    let name = listed
        .as_ref()
        .map(|entry| entry.name.clone())
        .or_else(|| driver.peek(|workspace| workspace.state().workspace_name().map(str::to_owned)))
        .unwrap_or_else(|| "Workspace".to_owned());
    // Only the list's order depends on it; a failure here changes nothing else.
    let _ = match listed {
        Some(_) => profile.update_workspace(id, |entry| entry.last_opened_ms = now_ms()).await.map(drop),
        None => {
            let entry =
                WorkspaceEntry { id, name: name.clone(), last_opened_ms: now_ms(), sharing: None, recovery_key: None };
            profile.save_workspace(&entry).await
        }
    };
    name
}

#[component]
pub fn WorkspaceScreen(route: Route, open: RwSignal<OpenWorkspace>) -> impl IntoView {
    let route = StoredValue::new(route);
    move || {
        match open.get() {
        OpenWorkspace::None => ().into_any(),
        OpenWorkspace::Opening(_, progress) => view! { <OpeningProgress progress /> }.into_any(),
        OpenWorkspace::Failed(_, title, reason) => view! {
            <section class="card error" role="alert">
                <h2>{title}</h2>
                <p>{reason.get_value()}</p>
                <a class="button" href="#/">"Back to your workspaces"</a>
            </section>
        }
        .into_any(),
        OpenWorkspace::Open(id, driver, name, mesh, waiting) => view! {
            <Toolbar driver name />
            <super::peers::JoinedName driver name />
            {move || waiting.get().map(|sharing| {
                let me = use_me();
                let network = Network { me, id, driver, mesh, waiting, open };
                let start = Callback::new(move |code: Option<AccessCode>| start_enrollment(network, code));
                view! { <super::access::WaitingToJoin by=sharing.admission start /> }
            })}
            {match route.get_value() {
                Route::Table(_, table) => view! { <super::grid::Grid driver table /> }.into_any(),
                Route::Record(_, table, record) => view! { <super::record::RecordDetail driver table record /> }.into_any(),
                _ => view! { <super::home::Home driver name mesh /> }.into_any(),
            }}
        }
        .into_any(),
    }
    }
}

#[component]
fn OpeningProgress(progress: OpenProgress) -> impl IntoView {
    let percent = if progress.stored_bytes == 0 { 0 } else { progress.done_bytes * 100 / progress.stored_bytes };
    view! {
        <section class="card" data-testid="open-progress">
            <h2>"Opening the workspace…"</h2>
            <progress max="100" value=percent.to_string()></progress>
            <p class="hint">{format!("{} changes checked", progress.bundles)}</p>
        </section>
    }
}

/// Save status, undo and redo; Ctrl+Z / Ctrl+Shift+Z / Ctrl+Y outside text fields.
#[component]
fn Toolbar(driver: Driver, name: RwSignal<String>) -> impl IntoView {
    let notice = RwSignal::new(None::<String>);
    let step = move |redo: bool| {
        let outcome = if redo { driver.redo() } else { driver.undo() };
        notice.set(match outcome {
            Ok(UndoOutcome::Skipped { reason }) => Some(format!("Not undone: {reason}")),
            Ok(UndoOutcome::Applied(_) | UndoOutcome::NothingToDo) => None,
            Err(failure) => Some(failure.to_string()),
        });
    };
    let on_key = Closure::<dyn Fn(web_sys::KeyboardEvent)>::new(move |event: web_sys::KeyboardEvent| {
        if !(event.ctrl_key() || event.meta_key()) || typing_in_a_field(&event) {
            return;
        }
        let redo = match event.key().to_lowercase().as_str() {
            "z" => event.shift_key(),
            "y" => true,
            _ => return,
        };
        event.prevent_default();
        step(redo);
    });
    let window = web_sys::window().expect("a page has a window");
    let _ = window.add_event_listener_with_callback("keydown", on_key.as_ref().unchecked_ref());
    let listener = SendWrapper::new(on_key);
    on_cleanup(move || {
        if let Some(window) = web_sys::window() {
            let _ = window.remove_event_listener_with_callback("keydown", listener.as_ref().unchecked_ref());
        }
    });
    let id = driver.peek(|workspace| workspace.id());
    view! {
        <nav class="toolbar">
            <a class="crumb" href="#/">"Workspaces"</a>
            <a class="crumb" href=Route::Home(id).href() data-testid="workspace-name">{move || name.get()}</a>
            <span class="spacer"></span>
            <SaveStatus driver />
            <button aria-label="Undo" title="Undo (Ctrl+Z)" data-testid="undo"
                disabled=move || !driver.read(|workspace| workspace.can_undo())
                on:click=move |_| step(false)>"↶ Undo"</button>
            <button aria-label="Redo" title="Redo (Ctrl+Shift+Z)" data-testid="redo"
                disabled=move || !driver.read(|workspace| workspace.can_redo())
                on:click=move |_| step(true)>"↷ Redo"</button>
        </nav>
        {move || notice.get().map(|text| view! { <p class="error-note" role="status">{text}</p> })}
        {driver.trouble().map(|text| view! { <p class="error-note" role="alert" data-testid="trouble">{text}</p> })}
    }
}

fn typing_in_a_field(event: &web_sys::KeyboardEvent) -> bool {
    let Some(target) = event.target().and_then(|target| target.dyn_into::<web_sys::Element>().ok()) else {
        return false;
    };
    matches!(target.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT")
}

#[component]
fn SaveStatus(driver: Driver) -> impl IntoView {
    let state = driver.save_state();
    view! {
        <span class="save-state" data-testid="save-state" role="status">
            {move || match state.get() {
                SaveState::Saved => view! { <span class="saved">"All changes saved on this device"</span> }.into_any(),
                SaveState::Saving { waiting } => view! { <span>{format!("Saving {waiting}…")}</span> }.into_any(),
                SaveState::Failed { waiting, error } => view! {
                    <span class="error-note" role="alert">
                        {format!("{waiting} change(s) not saved yet. {error} ")}
                        <button on:click=move |_| driver.retry_save()>"Try again"</button>
                    </span>
                }.into_any(),
            }}
        </span>
    }
}
