//! Who owns the workspace, the owner's recovery key, and making a copy of
//! the workspace (`spec/workspace.md`: Recovery Keys, Workspace Forks).

use leptos::html::Input;
use leptos::prelude::*;
use leptos::task::spawn_local;
use openprod_core::access::RecoveryKey;

use super::{ErrorNote, use_me};
use crate::device::{copy_to_clipboard, yield_to_browser};
use crate::driver::Driver;
use crate::library;
use crate::route::{Route, navigate};

/// Where the page may not write to the clipboard.
const COPY_BY_HAND: &str = "This browser does not let the page copy: the key is selected, copy it with Ctrl+C or ⌘C.";

/// The owner's name for everyone; for the owner, the recovery key; for
/// every member, making a copy.
#[component]
pub fn Ownership(driver: Driver, name: RwSignal<String>) -> impl IntoView {
    let me = use_me();
    let owner = Memo::new(move |_| {
        driver.read(|workspace| {
            let state = workspace.state();
            state.owner().map(|owner| (owner, state.display_name(&owner).map(str::to_owned)))
        })
    });
    let is_owner = move || owner.with(|owner| owner.as_ref().is_some_and(|(owner, _)| *owner == me.actor));
    view! {
        <section class="card" data-testid="ownership">
            <h2>"Ownership"</h2>
            {move || match owner.get() {
                None => view! {
                    <p class="hint">"Who owns this workspace shows once its first changes have arrived."</p>
                }.into_any(),
                Some((owner, owner_name)) => view! {
                    <p>
                        "Owned by "
                        <strong data-testid="owner-name">{owner_name.unwrap_or_else(|| owner.short())}</strong>
                        {(owner == me.actor).then_some(" (you)")}
                    </p>
                }.into_any(),
            }}
            <Show when=is_owner>
                <RecoveryKeyPanel driver />
            </Show>
            <Show when=move || owner.with(Option::is_some)>
                <ForkPanel driver name />
            </Show>
        </section>
    }
}

/// The recovery key this device keeps, shown on request, or a way to make
/// one when this device keeps none the workspace accepts.
#[component]
fn RecoveryKeyPanel(driver: Driver) -> impl IntoView {
    let me = use_me();
    let id = driver.peek(|workspace| workspace.id());
    let verifier = Memo::new(move |_| driver.read(|workspace| workspace.state().recovery_verifier()));
    let kept = RwSignal::new(None::<RecoveryKey>);
    let loaded = RwSignal::new(false);
    let problem = RwSignal::new(None::<String>);
    spawn_local(async move {
        match library::recovery_key_of(&me.profile(), id).await {
            Ok(key) => kept.set(key),
            Err(error) => problem.set(Some(format!("The recovery key kept on this device could not be read: {error}"))),
        }
        loaded.set(true);
    });
    // A key made on another device of the owner replaces this one's: only
    // the key the workspace checks against now is worth showing.
    let key = move || kept.get().filter(|key| verifier.get().is_some_and(|verifier| key.matches(&verifier)));
    let shown = RwSignal::new(false);
    let key_input = NodeRef::<Input>::new();
    let copied = RwSignal::new(None::<&'static str>);
    let copy = move |_| {
        let Some(text) = key().map(|key| key.to_text()) else { return };
        spawn_local(async move {
            if copy_to_clipboard(&text).await {
                return copied.set(Some("Copied."));
            }
            shown.set(true);
            yield_to_browser().await; // the key's field appears
            if let Some(input) = key_input.get_untracked() {
                let _ = input.focus();
                input.select();
            }
            copied.set(Some(COPY_BY_HAND));
        });
    };
    let busy = RwSignal::new(false);
    let make = move |_| {
        busy.set(true);
        problem.set(None);
        spawn_local(async move {
            match library::make_recovery_key(&me.profile(), &driver).await {
                Ok(made) => {
                    kept.set(Some(made));
                    shown.set(true);
                }
                Err(error) => problem.set(Some(format!("No recovery key was made: {error}"))),
            }
            busy.set(false);
        });
    };
    view! {
        <h3>"Recovery key"</h3>
        <p class="warning" role="note">"This key grants workspace ownership. Store it securely."</p>
        <Show when=move || loaded.get()>
            <Show when=move || key().is_some() fallback=move || view! {
                <p class="hint">{move || if verifier.get().is_some() {
                    "This workspace has a recovery key, but this device does not keep it. A new key replaces it: \
                     the old one stops working."
                } else {
                    "This workspace has no recovery key yet."
                }}</p>
                <button data-testid="recovery-make" disabled=move || busy.get() on:click=make>
                    "Make a recovery key"
                </button>
            }>
                <div class="recovery-key">
                    <Show when=move || shown.get() fallback=|| view! { <span class="hint">"Hidden"</span> }>
                        <input class="mono" readonly aria-label="Recovery key" data-testid="recovery-key"
                            node_ref=key_input prop:value=move || key().map(|key| key.to_text()).unwrap_or_default() />
                    </Show>
                    <button data-testid="recovery-show" on:click=move |_| shown.update(|shown| *shown = !*shown)>
                        {move || if shown.get() { "Hide" } else { "Show" }}
                    </button>
                    <button data-testid="recovery-copy" on:click=copy>"Copy"</button>
                </div>
                {move || copied.get().map(|note| view! { <p role="status" data-testid="recovery-copied">{note}</p> })}
            </Show>
        </Show>
        <ErrorNote error=problem />
    }
}

/// Making a copy of the workspace, owned by this device, then opening it.
#[component]
fn ForkPanel(driver: Driver, name: RwSignal<String>) -> impl IntoView {
    let me = use_me();
    let asking = RwSignal::new(false);
    let copy_name = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let problem = RwSignal::new(None::<String>);
    let ask = move |_| {
        copy_name.set(format!("{} (copy)", name.get_untracked()));
        asking.set(true);
    };
    let fork = move || {
        let new_name = copy_name.get_untracked().trim().to_owned();
        if new_name.is_empty() {
            return problem.set(Some("Name the copy first.".into()));
        }
        busy.set(true);
        problem.set(None);
        spawn_local(async move {
            let owner_name = me.name.get_untracked();
            match library::fork_workspace(&me.profile(), &driver, &owner_name, &new_name).await {
                Ok(id) => navigate(&Route::Home(id)),
                Err(error) => {
                    problem.set(Some(error));
                    busy.set(false);
                }
            }
        });
    };
    view! {
        <h3>"Make a copy"</h3>
        <p class="hint">
            "A new workspace with what this one shows now — tables, records, relationships — without its history, \
             its conflicts or its members. You own the copy; this workspace stays as it is."
        </p>
        <Show when=move || asking.get() fallback=move || view! {
            <button data-testid="fork" on:click=ask>"Make a copy (fork)"</button>
        }>
            <form class="inline" on:submit=move |event| { event.prevent_default(); fork(); }>
                <label for="fork-name">"Name of the copy"</label>
                <input id="fork-name" data-testid="fork-name" prop:value=move || copy_name.get()
                    on:input=move |event| copy_name.set(event_target_value(&event)) />
                <button type="submit" class="primary" data-testid="fork-confirm" disabled=move || busy.get()>
                    {move || if busy.get() { "Copying…" } else { "Make the copy" }}
                </button>
                <button type="button" disabled=move || busy.get() on:click=move |_| asking.set(false)>"Cancel"</button>
            </form>
        </Show>
        <ErrorNote error=problem />
    }
}
