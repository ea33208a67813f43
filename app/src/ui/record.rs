//! One record: every field, editable, with who changed it and when.

use leptos::prelude::*;
use openprod_core::ids::EntityId;
use openprod_core::names::{FieldKey, TableId};
use openprod_core::state::State;

use super::ErrorNote;
use super::format::{local_time, show_value};
use super::grid::Cell;
use crate::driver::Driver;
use crate::route::Route;

#[component]
pub fn RecordDetail(driver: Driver, table: TableId, record: EntityId) -> impl IntoView {
    let id = driver.peek(|workspace| workspace.id());
    let Some(definition) = driver.peek(|workspace| workspace.state().table(&table).cloned()) else {
        return view! { <section class="card error" role="alert"><h2>"No such table"</h2></section> }.into_any();
    };
    let table = StoredValue::new(table);
    let error = RwSignal::new(None::<String>);
    let exists = move || driver.read_structure(|workspace| workspace.state().entity_exists(record));
    let deleted = move || driver.read_structure(|workspace| workspace.state().entity_deleted(record));
    let title = {
        let first_field = definition.fields.first().map(|field| field.name.clone());
        move || {
            let name = first_field.clone()?;
            driver.read_record(record, |workspace| {
                workspace
                    .state()
                    .field(record, &FieldKey::new(table.get_value().module(), &name))
                    .value
                    .map(|value| value.to_string())
            })
        }
    };
    let module = table.get_value().module().to_owned();
    view! {
        <section class="card" data-testid="record-detail">
            <a class="crumb" href=Route::Table(id, table.get_value()).href()>"← " {definition.label().to_owned()}</a>
            <h2>{move || title().unwrap_or_else(|| "Record".to_owned())}</h2>
            <Show when=move || !exists() && !deleted()>
                <p class="error-note" role="alert">"This record does not exist in this workspace."</p>
            </Show>
            <Show when=deleted>
                <p class="error-note" role="status">"This record has been deleted."
                    <button on:click=move |_| {
                        error.set(driver.edit(|change| change.restore_record(record)).err().map(|failure| failure.to_string()));
                    }>"Restore"</button>
                </p>
            </Show>
            <ErrorNote error />
            <table class="record-fields">
                <tbody>
                    {definition.fields.iter().enumerate().map(|(column, field)| {
                        let key = FieldKey::new(&module, &field.name);
                        view! {
                            <tr>
                                <th scope="row">{field.label().to_owned()}</th>
                                <Cell driver table=table.get_value() entity=record field=field.clone() row=0 column error />
                                <td class="history" data-testid="field-history" data-field=field.name.clone()>
                                    <FieldHistory driver record key />
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
    .into_any()
}

/// Every write to one field, newest first: who, when, what.
#[component]
fn FieldHistory(driver: Driver, record: EntityId, key: FieldKey) -> impl IntoView {
    let key = StoredValue::new(key);
    move || {
        let entries =
            driver.read_record(record, |workspace| history_lines(workspace.state(), record, &key.get_value()));
        if entries.is_empty() {
            return view! { <span class="hint">"Never set"</span> }.into_any();
        }
        view! {
            <details>
                <summary>{entries[0].clone()}</summary>
                <ol class="history-list">
                    {entries.into_iter().map(|line| view! { <li data-testid="history-entry">{line}</li> }).collect_view()}
                </ol>
            </details>
        }
        .into_any()
    }
}

fn history_lines(state: &State, record: EntityId, key: &FieldKey) -> Vec<String> {
    let mut writes = state.field_history(record, key);
    writes.reverse();
    writes
        .into_iter()
        .map(|write| {
            let who = state.display_name(&write.stamp.actor).map_or_else(|| write.stamp.actor.short(), str::to_owned);
            let what = write
                .value
                .as_ref()
                .map_or_else(|| "cleared it".to_owned(), |value| format!("set “{}”", show_value(value)));
            format!("{who} {what} — {}", local_time(write.stamp.hlc.wall() as f64))
        })
        .collect()
}
