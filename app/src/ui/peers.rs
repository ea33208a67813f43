//! Working together: following a share link, who is connected and how, and
//! the conflicts sync revealed.

use leptos::prelude::*;
use leptos::task::spawn_local;
use openprod_core::conflict::ConflictRecord;
use openprod_core::sync::ShareLink;

use super::format::{bytes, show_value};
use super::use_me;
use crate::driver::Driver;
use crate::library::{self, JOINING_NAME};
use crate::net::{Mesh, PathShown, PeerStatus, RelayState, SyncShown};
use crate::route::{Route, navigate_replacing};

/// Follows a share link: lists the workspace here, then opens it; its
/// peers fill it from there.
#[component]
pub fn Joining(link: ShareLink) -> impl IntoView {
    let me = use_me();
    let error = RwSignal::new(None::<String>);
    spawn_local(async move {
        match library::join_workspace(&me.profile(), &link).await {
            Ok(id) => navigate_replacing(&Route::Home(id)),
            Err(problem) => error.set(Some(format!("The workspace could not be joined: {problem}"))),
        }
    });
    view! {
        <section class="card" data-testid="joining">
            <h2>"Joining the workspace…"</h2>
            <super::ErrorNote error />
        </section>
    }
}

/// A workspace joined by link is listed as "Joining…" until its name
/// arrives with its first changes; then this device's list takes it.
#[component]
pub fn JoinedName(driver: Driver, name: RwSignal<String>) -> impl IntoView {
    let me = use_me();
    Effect::new(move |_| {
        if name.get() != JOINING_NAME {
            return;
        }
        let Some(shared_name) =
            driver.read_structure(|workspace| workspace.state().workspace_name().map(str::to_owned))
        else {
            return;
        };
        name.set(shared_name.clone());
        let id = driver.peek(|workspace| workspace.id());
        spawn_local(async move {
            let _ = me.profile().update_workspace(id, |entry| entry.name = shared_name).await;
        });
    });
}

/// Who is connected, by which path, and how far sync has come.
#[component]
pub fn PeersPanel(mesh: RwSignal<Option<Mesh>, LocalStorage>) -> impl IntoView {
    view! {
        <section class="card" data-testid="peers">
            <h2>"People connected"</h2>
            {move || match mesh.get() {
                None => view! { <p class="hint">"Not connected yet: the history is still being checked."</p> }.into_any(),
                Some(mesh) => {
                    let relay = mesh.relay_state();
                    let peers = mesh.peers();
                    view! {
                        <p class="hint" data-testid="relay-state">{move || match relay.get() {
                            RelayState::Connecting => "Connecting to the relay…".to_owned(),
                            RelayState::Connected => "Connected to the relay.".to_owned(),
                            RelayState::Retrying { reason } => format!("The relay cannot be reached ({reason}); trying again. Direct connections carry on."),
                            RelayState::Paused => "Sync is paused: your changes stay on this device until you resume.".to_owned(),
                        }}</p>
                        {
                            let paused = move || relay.get() == RelayState::Paused;
                            let mesh_for_toggle = mesh.clone();
                            view! {
                                <button data-testid="sync-toggle" on:click=move |_| {
                                    if paused() { mesh_for_toggle.resume() } else { mesh_for_toggle.pause() }
                                }>{move || if paused() { "Resume sync" } else { "Pause sync" }}</button>
                            }
                        }
                        {move || if peers.with(Vec::is_empty) {
                            view! { <p class="hint" data-testid="no-peers">"Nobody else is connected right now."</p> }.into_any()
                        } else {
                            view! {
                                <ul class="peer-list">
                                    {move || peers.get().into_iter().map(|peer| view! { <PeerRow peer /> }).collect_view()}
                                </ul>
                            }.into_any()
                        }}
                    }.into_any()
                }
            }}
        </section>
    }
}

#[component]
fn PeerRow(peer: PeerStatus) -> impl IntoView {
    let path = match peer.path {
        PathShown::Connecting => "connecting",
        PathShown::Direct => "direct",
        PathShown::Relayed => "through the relay (sealed)",
    };
    let state = match &peer.sync {
        SyncShown::Connecting => "connecting".to_owned(),
        SyncShown::CatchingUp { received, remaining } => format!("catching up: {received} received, {remaining} to go"),
        SyncShown::InSync => "in sync".to_owned(),
        SyncShown::Syncing => "syncing".to_owned(),
        SyncShown::Refused(reason) => format!("refused: {reason}"),
    };
    let seen = match peer.quiet_for_s {
        None => "nothing received yet".to_owned(),
        Some(0..=2) => "heard just now".to_owned(),
        Some(seconds) => format!("last heard {seconds} s ago"),
    };
    let catching_up = match peer.sync {
        SyncShown::CatchingUp { received, remaining } => Some((received, received + remaining)),
        _ => None,
    };
    view! {
        <li class="peer" data-testid="peer" data-path=path>
            <strong data-testid="peer-name">{peer.name.clone()}</strong>
            <span data-testid="peer-path">{path}</span>
            <span data-testid="peer-state">{state}</span>
            {catching_up.map(|(done, total)| view! { <progress max=total.to_string() value=done.to_string()></progress> })}
            <span class="hint">{format!("{seen} · {} in, {} out", bytes(peer.bytes_in), bytes(peer.bytes_out))}</span>
        </li>
    }
}

/// Fields where people's edits crossed, with every value and who wrote it.
/// Deciding between them comes with the conflict screens.
#[component]
pub fn ConflictList(driver: Driver, conflicts: Memo<Vec<ConflictRecord>>) -> impl IntoView {
    let conflicts = move || {
        let conflicts = conflicts.get();
        driver.peek(|workspace| {
            let state = workspace.state();
            conflicts
                .into_iter()
                .map(|conflict| {
                    let record = conflict.entity.to_string();
                    let values: Vec<(String, String)> = conflict
                        .competing
                        .iter()
                        .map(|competitor| {
                            let who = state
                                .display_name(&competitor.actor)
                                .map_or_else(|| competitor.actor.short(), str::to_owned);
                            let value = competitor.value.as_ref().map_or_else(|| "(cleared)".to_owned(), show_value);
                            (who, value)
                        })
                        .collect();
                    (format!("{} · {}", conflict.field, &record[..8.min(record.len())]), values)
                })
                .collect::<Vec<_>>()
        })
    };
    view! {
        <ul class="conflict-list" data-testid="conflict-list">
            {move || conflicts().into_iter().map(|(field, values)| view! {
                <li data-testid="conflict">
                    <strong>{field}</strong>
                    <ul>
                        {values.into_iter().map(|(who, value)| view! {
                            <li data-testid="conflict-value">
                                <span data-testid="conflict-author">{who}</span>": "
                                <span class="mono">{value}</span>
                            </li>
                        }).collect_view()}
                    </ul>
                </li>
            }).collect_view()}
        </ul>
    }
}
