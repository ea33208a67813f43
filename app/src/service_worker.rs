//! Registers the service worker (offline app shell) and offers updates.
//!
//! A new version never takes over under the user's hands: it waits until the
//! user presses "Reload to update", then the page reloads onto it.

use std::cell::Cell;

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use wasm_bindgen_futures::JsFuture;
use web_sys::{ServiceWorker, ServiceWorkerContainer, ServiceWorkerRegistration, ServiceWorkerState};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum UpdateState {
    Current,
    /// A newer app shell is installed and waits for the user's go-ahead.
    Waiting,
}

const SKIP_WAITING: &str = "skip-waiting";

thread_local! {
    /// Set when the user asked for the update, so that the first takeover on a
    /// brand-new install (which also changes the controller) does not reload.
    static UPDATE_REQUESTED: Cell<bool> = const { Cell::new(false) };
}

fn container() -> Option<ServiceWorkerContainer> {
    let navigator = web_sys::window()?.navigator();
    // Outside a secure context (plain HTTP on a LAN address) the browser
    // offers no service workers; the app still runs, just not offline.
    let present = js_sys::Reflect::has(&navigator, &"serviceWorker".into()).unwrap_or(false);
    present.then(|| navigator.service_worker())
}

/// Registers `sw.js` and reports when an update is waiting.
pub fn register() -> ReadSignal<UpdateState> {
    let (state, set_state) = signal(UpdateState::Current);
    let Some(container) = container() else { return state };

    let reload_on_takeover = Closure::<dyn Fn()>::new(|| {
        if UPDATE_REQUESTED.with(|requested| requested.get()) {
            if let Some(window) = web_sys::window() {
                let _ = window.location().reload();
            }
        }
    });
    container.set_oncontrollerchange(Some(reload_on_takeover.as_ref().unchecked_ref()));
    reload_on_takeover.forget(); // lives as long as the page

    spawn_local(async move {
        match JsFuture::from(container.register("sw.js")).await {
            Ok(registration) => {
                let registration: ServiceWorkerRegistration = registration.unchecked_into();
                watch_for_updates(registration.clone(), container, set_state);
                check_for_updates_regularly(registration);
            }
            Err(error) => leptos::logging::warn!("service worker not registered: {error:?}"),
        }
    });
    state
}

fn watch_for_updates(
    registration: ServiceWorkerRegistration,
    container: ServiceWorkerContainer,
    set_state: WriteSignal<UpdateState>,
) {
    // An update is only an update if a previous version controls this page.
    let is_update = move || container.controller().is_some();
    if registration.waiting().is_some() && is_update() {
        set_state.set(UpdateState::Waiting);
    }
    let track = move |worker: ServiceWorker| {
        let watched = worker.clone();
        let is_update = is_update.clone();
        let on_state_change = Closure::<dyn Fn()>::new(move || {
            if watched.state() == ServiceWorkerState::Installed && is_update() {
                set_state.set(UpdateState::Waiting);
            }
        });
        worker.set_onstatechange(Some(on_state_change.as_ref().unchecked_ref()));
        on_state_change.forget();
    };
    // The browser may have found the update before this code ran (it checks
    // on every navigation), so a worker already installing is tracked too.
    if let Some(installing) = registration.installing() {
        track(installing);
    }
    let watched = registration.clone();
    let on_update_found = Closure::<dyn Fn()>::new(move || {
        if let Some(installing) = watched.installing() {
            track(installing);
        }
    });
    registration.set_onupdatefound(Some(on_update_found.as_ref().unchecked_ref()));
    on_update_found.forget();
}

/// How often a running app asks the server for a newer version.
const UPDATE_CHECK_INTERVAL_MS: i32 = 30 * 60 * 1000;

/// Asks for a newer version now and then every half hour. Browsers check by
/// themselves only now and then; a tablet left open on a rehearsal table
/// would otherwise keep running an old version all week.
fn check_for_updates_regularly(registration: ServiceWorkerRegistration) {
    let check = Closure::<dyn Fn()>::new(move || {
        // Offline, the check fails; the next one will try again.
        if let Ok(promise) = registration.update() {
            spawn_local(async move {
                let _ = JsFuture::from(promise).await;
            });
        }
    });
    check.as_ref().unchecked_ref::<js_sys::Function>().call0(&wasm_bindgen::JsValue::NULL).ok();
    if let Some(window) = web_sys::window() {
        let _ = window.set_interval_with_callback_and_timeout_and_arguments_0(
            check.as_ref().unchecked_ref(),
            UPDATE_CHECK_INTERVAL_MS,
        );
    }
    check.forget(); // lives as long as the page
}

/// Tells the waiting version to take over; the page reloads when it has.
pub fn activate_waiting_update() {
    let Some(container) = container() else { return };
    UPDATE_REQUESTED.with(|requested| requested.set(true));
    spawn_local(async move {
        let Ok(registration) = JsFuture::from(container.get_registration()).await else { return };
        let Ok(registration) = registration.dyn_into::<ServiceWorkerRegistration>() else { return };
        if let Some(waiting) = registration.waiting() {
            let _ = waiting.post_message(&SKIP_WAITING.into());
        }
    });
}
