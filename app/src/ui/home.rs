//! A workspace's home: its tables, open conflicts, backup, and the
//! diagnostics that prove what this device holds.

use leptos::prelude::*;
use leptos::task::spawn_local;
use openprod_core::hlc::ClockConfig;
use openprod_core::workspace::Workspace;

use super::use_me;
use crate::device::{download, now_ms, sleep_ms};
use crate::driver::Driver;
use crate::library::{copy_identity, export_file, export_file_name};
use crate::net::Mesh;
use crate::route::Route;

#[component]
pub fn Home(driver: Driver, name: RwSignal<String>, mesh: RwSignal<Option<Mesh>, LocalStorage>) -> impl IntoView {
    let id = driver.peek(|workspace| workspace.id());
    let tables = move || {
        driver.read_structure(|workspace| {
            let state = workspace.state();
            state
                .tables()
                .into_iter()
                .map(|(table, definition)| (table.clone(), definition.label().to_owned(), state.records(&table).len()))
                .collect::<Vec<_>>()
        })
    };
    // Read once per change, by the count and the list together.
    let open_conflicts = Memo::new(move |_| driver.read(|workspace| workspace.state().open_conflicts()));
    let conflicts = move || open_conflicts.with(Vec::len);
    view! {
        <section class="card">
            <h2>"Tables"</h2>
            <ul class="table-list">
                {move || tables().into_iter().map(|(table, label, count)| view! {
                    <li>
                        <a class="table-link" data-testid="table-link" href=Route::Table(id, table).href()>
                            <span>{label}</span>
                            <span class="count">{super::records_counted(count)}</span>
                        </a>
                    </li>
                }).collect_view()}
            </ul>
            <p data-testid="conflict-count">
                {move || match conflicts() {
                    0 => "No conflicts.".to_owned(),
                    1 => "1 field has conflicting values.".to_owned(),
                    many => format!("{many} fields have conflicting values."),
                }}
            </p>
            <super::peers::ConflictList driver conflicts=open_conflicts />
        </section>
        <super::access::JoinRequests mesh />
        <super::peers::PeersPanel mesh />
        <super::access::SharePanel driver />
        <super::ownership::Ownership driver name />
        <Backup driver name />
        <Diagnostics driver />
    }
}

#[component]
fn Backup(driver: Driver, name: RwSignal<String>) -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let export = move |_| {
        let name = name.get_untracked();
        let bytes = export_file(&driver, &name);
        if let Err(failure) = download(&export_file_name(&name), &bytes, "application/octet-stream") {
            error.set(Some(failure));
        }
    };
    view! {
        <section class="card">
            <h2>"Backup"</h2>
            <p class="hint">
                "One file with every change of this workspace, signed. Import it on any device to restore it."
            </p>
            <button data-testid="export-workspace" on:click=export>"Export workspace"</button>
            <super::ErrorNote error />
        </section>
    }
}

/// What this device holds, in numbers another device can compare.
/// How long changes must pause before the state hash is shown again.
const STATE_HASH_AFTER_PAUSE_MS: i32 = 300;

#[component]
fn Diagnostics(driver: Driver) -> impl IntoView {
    let me = use_me();
    let state_hash = RwSignal::new(None::<String>);
    // The rebuilt state's hash, and this device's at the same moment.
    let rebuilt = RwSignal::new(None::<Result<(String, String), String>>);
    let check = move |_| {
        rebuilt.set(None);
        spawn_local(async move {
            // Stored changes only: anything waiting to be saved would make
            // the two differ for a reason other than damage.
            if let Err(error) = driver.settled().await {
                return rebuilt.set(Some(Err(error)));
            }
            let result = match driver.stored_bundles().await {
                Err(error) => Err(error.to_string()),
                Ok(bundles) => {
                    let id = driver.peek(|workspace| workspace.id());
                    let identity = me.with_identity(copy_identity);
                    let (workspace, report) = Workspace::open(id, identity, bundles, now_ms(), ClockConfig::default());
                    match report.refused.first() {
                        Some(refused) => Err(format!("a stored change failed its checks: {}", refused.reason)),
                        None => Ok((
                            workspace.state().state_hash().to_string(),
                            driver.peek(|workspace| workspace.state().state_hash().to_string()),
                        )),
                    }
                }
            };
            // The hash shown is this device's at the moment of the check.
            if let Ok((_, current)) = &result {
                state_hash.set(Some(current.clone()));
            }
            rebuilt.set(Some(result));
        });
    };
    // Hashing the whole state takes a while on a large workspace: it is
    // hashed again once changes pause, not for every batch of a catch-up,
    // and in steps.
    Effect::new(move |_| {
        let changes = driver.changes();
        state_hash.set(None);
        spawn_local(async move {
            sleep_ms(STATE_HASH_AFTER_PAUSE_MS).await;
            if driver.is_open() && untrack(|| driver.changes()) == changes {
                if let Some(hash) = driver.state_hash().await {
                    state_hash.set(Some(hash.to_string()));
                }
            }
        });
    });
    view! {
        <section class="card" data-testid="diagnostics">
            <h2>"Diagnostics"</h2>
            <dl>
                <dt>"State hash"</dt>
                <dd class="mono" data-testid="state-hash">
                    {move || state_hash.get().unwrap_or_else(|| "(waiting for changes to pause)".to_owned())}
                </dd>
                <dt>"Changes (bundles)"</dt>
                <dd data-testid="bundle-count">{move || driver.read(|workspace| workspace.log().len())}</dd>
                <dt>"Operations"</dt>
                <dd data-testid="op-count">{move || driver.read(|workspace| workspace.log().op_count())}</dd>
            </dl>
            <button data-testid="rebuild-check" on:click=check>"Check against a full rebuild"</button>
            {move || rebuilt.get().map(|result| match result {
                Ok((hash, current)) => {
                    let matches = hash == current;
                    view! {
                        <p data-testid="rebuild-result">
                            "Rebuilt from the stored log: " <span class="mono" data-testid="rebuild-hash">{hash}</span>
                            <strong data-testid="rebuild-match">{if matches { " — matches" } else { " — DIFFERS" }}</strong>
                        </p>
                    }.into_any()
                }
                Err(error) => view! { <p class="error-note" role="alert" data-testid="rebuild-result">{error}</p> }.into_any(),
            })}
        </section>
    }
}
