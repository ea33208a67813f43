//! The workspaces on this device: open, create, import, rename, delete.

use leptos::prelude::*;
use leptos::task::spawn_local;
use openprod_core::ids::WorkspaceId;

use super::device_panel::{DevicePanel, picked_file};
use super::format::local_time;
use super::{ErrorNote, use_me};
use crate::device::read_file;
use crate::library;
use crate::route::{Route, navigate};
use crate::storage::WorkspaceEntry;

#[component]
pub fn Workspaces() -> impl IntoView {
    let me = use_me();
    let list = RwSignal::new(None::<Vec<WorkspaceEntry>>);
    let error = RwSignal::new(None::<String>);
    let reload = move || {
        spawn_local(async move {
            match me.profile().workspaces().await {
                Ok(entries) => list.set(Some(entries)),
                Err(failure) => error.set(Some(failure.to_string())),
            }
        });
    };
    reload();

    let import_done = move || reload();
    view! {
        <section class="card">
            <h2>"Your workspaces"</h2>
            {move || match list.get() {
                None => view! { <p class="hint">"Loading…"</p> }.into_any(),
                Some(entries) if entries.is_empty() => view! {
                    <p class="hint" data-testid="no-workspaces">"No workspace on this device yet. Create one below."</p>
                }.into_any(),
                Some(entries) => view! {
                    <ul class="workspace-list" data-testid="workspace-list">
                        {entries.into_iter().map(|entry| view! { <WorkspaceItem entry reload /> }).collect_view()}
                    </ul>
                }.into_any(),
            }}
            <ErrorNote error />
        </section>
        <CreateWorkspace />
        <ImportWorkspace on_imported=import_done />
        <DevicePanel />
    }
}

#[component]
fn WorkspaceItem(entry: WorkspaceEntry, reload: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let me = use_me();
    let id = entry.id;
    let renaming = RwSignal::new(None::<String>);
    let confirming_delete = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let name = StoredValue::new(entry.name.clone());
    let rename = move || {
        let Some(new_name) = renaming.get_untracked().map(|text| text.trim().to_owned()) else { return };
        if new_name.is_empty() {
            return error.set(Some("A workspace needs a name.".into()));
        }
        spawn_local(async move {
            match me.profile().update_workspace(id, |entry| entry.name = new_name.clone()).await {
                Ok(_) => reload(),
                Err(failure) => error.set(Some(failure.to_string())),
            }
        });
    };
    let delete = move || {
        spawn_local(async move {
            match library::delete_workspace(&me.profile(), id).await {
                Ok(()) => reload(),
                Err(failure) => error.set(Some(failure.to_string())),
            }
        });
    };
    view! {
        <li class="workspace-item" data-testid="workspace-item">
            {move || match renaming.get() {
                Some(text) => view! {
                    <form class="inline" on:submit=move |event| { event.prevent_default(); rename(); }>
                        <input aria-label="New name" data-testid="rename-input" prop:value=text
                            on:input=move |event| renaming.set(Some(event_target_value(&event))) />
                        <button type="submit" class="primary">"Save name"</button>
                        <button type="button" on:click=move |_| renaming.set(None)>"Cancel"</button>
                    </form>
                }.into_any(),
                None => view! {
                    <a class="workspace-link" href=Route::Home(id).href()>{name.get_value()}</a>
                    <span class="hint">"Last opened " {local_time(entry.last_opened_ms as f64)}</span>
                    <span class="actions">
                        <button on:click=move |_| renaming.set(Some(name.get_value()))>"Rename"</button>
                        <button class="danger" on:click=move |_| confirming_delete.set(true)>"Delete"</button>
                    </span>
                }.into_any(),
            }}
            <Show when=move || confirming_delete.get()>
                <div class="confirm" role="alertdialog" aria-label="Confirm deletion">
                    <p>
                        "Delete “" {name.get_value()} "” from this device? Changes that no other device "
                        "or export has a copy of are lost for good."
                    </p>
                    <button class="danger" on:click=move |_| { confirming_delete.set(false); delete(); }>
                        "Delete from this device"
                    </button>
                    <button on:click=move |_| confirming_delete.set(false)>"Keep it"</button>
                </div>
            </Show>
            <ErrorNote error />
        </li>
    }
}

#[component]
fn CreateWorkspace() -> impl IntoView {
    let me = use_me();
    let name = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let create = move || {
        let workspace_name = name.get_untracked().trim().to_owned();
        if workspace_name.is_empty() {
            return error.set(Some("Name the workspace first, for example the show's title.".into()));
        }
        busy.set(true);
        spawn_local(async move {
            let owner = me.name.get_untracked();
            let identity = me.with_identity(library::copy_identity);
            let created = library::create_workspace(&me.profile(), &identity, &owner, &workspace_name).await;
            busy.set(false);
            match created {
                Ok(id) => navigate(&Route::Home(id)),
                Err(failure) => error.set(Some(failure)),
            }
        });
    };
    view! {
        <section class="card">
            <h2>"New workspace"</h2>
            <p class="hint">"Starts with the Contacts table. You own it and can share it with your team."</p>
            <form on:submit=move |event| { event.prevent_default(); create(); }>
                <label for="new-workspace-name">"Name"</label>
                <input id="new-workspace-name" data-testid="new-workspace-name" placeholder="Hamlet, spring tour"
                    prop:value=move || name.get()
                    on:input=move |event| name.set(event_target_value(&event)) />
                <button type="submit" class="primary" disabled=move || busy.get()>"Create workspace"</button>
            </form>
            <ErrorNote error />
        </section>
    }
}

#[component]
fn ImportWorkspace(on_imported: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let me = use_me();
    let status = RwSignal::new(None::<String>);
    let imported_id = RwSignal::new(None::<WorkspaceId>);
    let error = RwSignal::new(None::<String>);
    let import = move |event: leptos::ev::Event| {
        let Some(file) = picked_file(&event) else { return };
        error.set(None);
        imported_id.set(None);
        spawn_local(async move {
            let bytes = match read_file(&file).await {
                Ok(bytes) => bytes,
                Err(failure) => return error.set(Some(failure)),
            };
            let identity = me.with_identity(library::copy_identity);
            let on_progress = |progress: String| status.set(Some(progress));
            let imported = library::import_file(&me.profile(), &identity, &bytes, on_progress).await;
            match imported {
                Ok(imported) => {
                    status.set(Some(if imported.merged {
                        format!("“{}” was already here: {} new changes added.", imported.name, imported.new_changes)
                    } else {
                        format!("“{}” imported with {} changes.", imported.name, imported.new_changes)
                    }));
                    imported_id.set(Some(imported.id));
                    on_imported();
                }
                Err(failure) => {
                    status.set(None);
                    error.set(Some(failure));
                }
            }
        });
    };
    view! {
        <section class="card">
            <h2>"Import a workspace file"</h2>
            <p class="hint">"From an export made on any device. Every change in it is checked before it is kept."</p>
            <label for="import-workspace">"Workspace file (.openprod)"</label>
            <input id="import-workspace" type="file" accept=".openprod" data-testid="import-workspace" on:change=import />
            {move || status.get().map(|text| view! { <p role="status" data-testid="import-status">{text}</p> })}
            {move || imported_id.get().map(|id| view! {
                <a class="button" data-testid="open-imported" href=Route::Home(id).href()>"Open it"</a>
            })}
            <ErrorNote error />
        </section>
    }
}
