//! A table as a grid: add a record, edit a cell in place (one bundle per
//! edit), delete a record. Arrow keys move between cells, Enter edits,
//! Escape cancels.

use leptos::prelude::*;
use leptos::task::spawn_local;
use openprod_core::ids::EntityId;
use openprod_core::names::{FieldKey, TableId};
use openprod_core::schema::FieldDef;
use openprod_core::value::{FieldType, Value};
use wasm_bindgen::JsCast;

use super::ErrorNote;
use super::format::parse_input;
use crate::device::yield_to_browser;
use crate::driver::Driver;
use crate::route::Route;

/// Rows shown at first and added by "Show more": the page stays quick with
/// tables of thousands of records.
const PAGE_ROWS: usize = 100;

/// Rows built in one task. Building a row's cells is the page's own work,
/// a hundred rows at once a 30-50 ms task; the rest follow a few per task.
const ROWS_PER_TASK: usize = 20;

/// Column widths, in rem, of the fixed-layout grid.
const COLUMN_REM: usize = 11;
const ACTIONS_REM: usize = 12;

#[component]
pub fn Grid(driver: Driver, table: TableId) -> impl IntoView {
    let table = StoredValue::new(table);
    let definition = driver.peek(|workspace| workspace.state().table(&table.get_value()).cloned());
    let Some(definition) = definition else {
        return view! {
            <section class="card error" role="alert">
                <h2>"No such table"</h2>
                <p>"This workspace has no table " <span class="mono">{table.get_value().to_string()}</span> "."</p>
            </section>
        }
        .into_any();
    };
    let fields = StoredValue::new(definition.fields.clone());
    // One fixed-width column per field, plus actions; each row lays itself
    // out on these columns (see style.css).
    let columns = definition.fields.len();
    let grid_style = format!(
        "width: {}rem; --grid-columns: repeat({columns}, {COLUMN_REM}rem) {ACTIONS_REM}rem",
        COLUMN_REM * columns + ACTIONS_REM
    );
    let label = definition.label().to_owned();
    let shown = RwSignal::new(PAGE_ROWS);
    let built = RwSignal::new(ROWS_PER_TASK);
    build_rows_in_steps(shown, built);
    let adding = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    // A memo: edits to values leave membership unchanged, and then no row
    // is rebuilt; each cell follows its own value.
    let records = Memo::new(move |_| driver.read_structure(|workspace| workspace.state().records(&table.get_value())));
    let id = driver.peek(|workspace| workspace.id());

    view! {
        <section class="card wide">
            <header class="grid-header">
                <h2 data-testid="table-title">{label}</h2>
                <span class="hint" data-testid="record-count">{move || super::records_counted(records.with(Vec::len))}</span>
                <button class="primary" data-testid="add-record" on:click=move |_| adding.set(true)>"Add record"</button>
            </header>
            <Show when=move || adding.get()>
                <NewRecord driver table=table.get_value() fields=fields.get_value() on_done=move || adding.set(false) />
            </Show>
            <ErrorNote error />
            <div class="grid-scroll">
                // Roles spelt out: the rows' CSS display is not a table's.
                <table class="grid" role="grid" data-testid="grid" style=grid_style>
                    <thead role="rowgroup">
                        <tr role="row">
                            {fields.get_value().into_iter().map(|field| view! { <th scope="col" role="columnheader">{field.label().to_owned()}</th> }).collect_view()}
                            <th scope="col" role="columnheader"><span class="visually-hidden">"Actions"</span></th>
                        </tr>
                    </thead>
                    <tbody role="rowgroup">
                        <For
                            each=move || {
                                let rows = shown.get().min(built.get());
                                records.with(|records| records.iter().copied().take(rows).enumerate().collect::<Vec<_>>())
                            }
                            key=|row_and_entity| *row_and_entity
                            children=move |(row, entity)| view! {
                            <tr role="row" data-testid="row" data-entity=entity.to_string()>
                                {fields.get_value().into_iter().enumerate().map(|(column, field)| view! {
                                    <Cell driver table=table.get_value() entity field row column error />
                                }).collect_view()}
                                <td class="row-actions" role="gridcell">
                                    <a class="button" href=Route::Record(id, table.get_value(), entity).href()>"Open"</a>
                                    <button class="danger" aria-label="Delete record"
                                        on:click=move |_| {
                                            if let Err(failure) = driver.edit(|change| change.delete_record(entity)) {
                                                error.set(Some(failure.to_string()));
                                            }
                                        }>"Delete"</button>
                                </td>
                            </tr>
                        } />
                    </tbody>
                </table>
            </div>
            <Show when=move || { records.with(Vec::len) > shown.get() }>
                <button on:click=move |_| shown.update(|rows| *rows += PAGE_ROWS)>"Show more"</button>
            </Show>
        </section>
    }
    .into_any()
}

/// Raises `built` towards `shown` by [`ROWS_PER_TASK`] rows a task, whenever
/// `shown` grows; stops when the grid goes away.
fn build_rows_in_steps(shown: RwSignal<usize>, built: RwSignal<usize>) {
    Effect::new(move |_| {
        if built.get_untracked() >= shown.get() {
            return;
        }
        spawn_local(async move {
            loop {
                yield_to_browser().await;
                let (Some(shown), Some(so_far)) = (shown.try_get_untracked(), built.try_get_untracked()) else {
                    return;
                };
                if so_far >= shown {
                    return;
                }
                built.set(so_far + ROWS_PER_TASK);
            }
        });
    });
}

/// One cell: shows the value, or an editor while it is being edited.
#[component]
pub fn Cell(
    driver: Driver,
    table: TableId,
    entity: EntityId,
    field: FieldDef,
    row: usize,
    column: usize,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    let name = StoredValue::new(field.name.clone());
    let table = StoredValue::new(table);
    let field = StoredValue::new(field);
    let key = FieldKey::new(table.get_value().module(), &name.get_value());
    let value = Memo::new(move |_| driver.read_record(entity, |workspace| workspace.state().field(entity, &key)));
    // Each cell keeps its own editing state: opening an editor touches
    // that cell only, and leaving it (blur) closes it.
    let is_editing = RwSignal::new(false);
    let save = move |text: String| {
        is_editing.set(false);
        // Before the edit, so that its write is not queued behind layout work.
        focus_cell(row, column);
        let definition = field.get_value();
        let current = value.get_untracked().value;
        let parsed = match parse_input(&definition, &text) {
            Ok(parsed) => parsed,
            Err(message) => return error.set(Some(message)),
        };
        if parsed == current {
            return; // nothing changed: no bundle
        }
        let table = table.get_value();
        let result = driver.edit(|change| match parsed {
            Some(new_value) => change.set_field(entity, &table, &definition.name, new_value),
            None => change.clear_field(entity, &table, &definition.name),
        });
        error.set(result.err().map(|failure| failure.to_string()));
    };
    let collaborative = field.get_value().crdt.is_some();
    let boolean = field.get_value().field_type == FieldType::Boolean;
    let cell_id = format!("{row}:{column}");
    view! {
        <td class="cell" role="gridcell" data-field=name.get_value() data-cell=cell_id tabindex="0"
            class:conflict=move || value.with(|value| value.heads.len() > 1)
            on:keydown=move |event| {
                if is_editing.get_untracked() { return; }
                match event.key().as_str() {
                    "Enter" | "F2" if !collaborative && !boolean => { event.prevent_default(); is_editing.set(true); }
                    "ArrowUp" if row > 0 => focus_cell(row - 1, column),
                    "ArrowDown" => focus_cell(row + 1, column),
                    "ArrowLeft" if column > 0 => focus_cell(row, column - 1),
                    "ArrowRight" => focus_cell(row, column + 1),
                    _ => {}
                }
            }
            on:click=move |_| if !collaborative && !boolean && !is_editing.get_untracked() { is_editing.set(true) }>
            {move || {
                let (current, competing) = value.with(|value| (value.value.clone(), value.heads.len()));
                if boolean {
                    let checked = current == Some(Value::Boolean(true));
                    return view! {
                        <input type="checkbox" aria-label=field.get_value().label().to_owned() prop:checked=checked
                            on:change=move |_| save(if checked { "no".into() } else { "yes".into() }) />
                    }.into_any();
                }
                if is_editing.get() {
                    return view! { <CellEditor initial=super::format::edit_text(current.as_ref()) save cancel=move || { is_editing.set(false); focus_cell(row, column); } /> }.into_any();
                }
                view! {
                    <span class:collaborative=collaborative
                        title=if collaborative { "Edited together, character by character: opens in a later version" } else { "" }>
                        {current.as_ref().map(super::format::show_value).unwrap_or_default()}
                    </span>
                    {(competing > 1).then(|| view! {
                        <span class="badge" data-testid="conflict-badge">{format!("{competing} values")}</span>
                    })}
                }.into_any()
            }}
        </td>
    }
}

/// A text input that saves on Enter or when focus leaves, and cancels on Escape.
#[component]
fn CellEditor(
    initial: String,
    save: impl Fn(String) + Copy + Send + Sync + 'static,
    cancel: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let input = NodeRef::<leptos::html::Input>::new();
    let done = StoredValue::new(false);
    Effect::new(move |_| {
        if let Some(element) = input.get() {
            let _ = element.focus();
            element.select();
        }
    });
    let finish = move |text: Option<String>| {
        if done.get_value() {
            return;
        }
        done.set_value(true);
        match text {
            Some(text) => save(text),
            None => cancel(),
        }
    };
    view! {
        <input class="cell-input" node_ref=input data-testid="cell-input" value=initial
            on:keydown=move |event| {
                // The cell around the editor reads Enter as "start editing".
                event.stop_propagation();
                match event.key().as_str() {
                    "Enter" => { event.prevent_default(); finish(Some(event_target_value(&event))); }
                    "Escape" => { event.prevent_default(); finish(None); }
                    _ => {}
                }
            }
            on:blur=move |event| finish(Some(event_target_value(&event))) />
    }
}

fn focus_cell(row: usize, column: usize) {
    let Some(document) = web_sys::window().and_then(|window| window.document()) else { return };
    let selector = format!("[data-cell=\"{row}:{column}\"]");
    if let Ok(Some(cell)) = document.query_selector(&selector)
        && let Ok(cell) = cell.dyn_into::<web_sys::HtmlElement>()
    {
        let _ = cell.focus();
    }
}

/// The form for a new record: all its fields saved together, one bundle.
#[component]
fn NewRecord(
    driver: Driver,
    table: TableId,
    fields: Vec<FieldDef>,
    on_done: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let editable: Vec<FieldDef> = fields.into_iter().filter(|field| field.crdt.is_none()).collect();
    let texts: Vec<RwSignal<String>> = editable
        .iter()
        .map(|field| {
            RwSignal::new(field.default.as_ref().map(|value| super::format::edit_text(Some(value))).unwrap_or_default())
        })
        .collect();
    let error = RwSignal::new(None::<String>);
    let table = StoredValue::new(table);
    let editable = StoredValue::new(editable);
    let inputs = StoredValue::new(texts.clone());
    let save = move || {
        let mut values: Vec<(String, Value)> = Vec::new();
        for (field, text) in editable.get_value().iter().zip(inputs.get_value()) {
            match parse_input(field, &text.get_untracked()) {
                Ok(Some(value)) => values.push((field.name.clone(), value)),
                Ok(None) => {}
                Err(message) => return error.set(Some(message)),
            }
        }
        let named: Vec<(&str, Value)> = values.iter().map(|(name, value)| (name.as_str(), value.clone())).collect();
        match driver.edit(|change| change.create_record(&table.get_value(), &named)) {
            Ok(_) => on_done(),
            Err(failure) => error.set(Some(failure.to_string())),
        }
    };
    view! {
        <form class="new-record" data-testid="new-record" on:submit=move |event| { event.prevent_default(); save(); }>
            {editable.get_value().into_iter().zip(texts).map(|(field, text)| {
                let input_id = format!("new-{}", field.name);
                view! {
                    <label for=input_id.clone()>{field.label().to_owned()}{field.required.then_some(" *")}</label>
                    <input id=input_id data-field=field.name.clone()
                        prop:value=move || text.get()
                        on:input=move |event| text.set(event_target_value(&event)) />
                }
            }).collect_view()}
            <div class="form-actions">
                <button type="submit" class="primary">"Save record"</button>
                <button type="button" on:click=move |_| on_done()>"Cancel"</button>
            </div>
            <ErrorNote error />
        </form>
    }
}
