//! Where the app is: the URL fragment, so every screen has a link that
//! survives a reload and works offline (the server only ever sees `/`).

use leptos::prelude::*;
use openprod_core::ids::{EntityId, WorkspaceId};
use openprod_core::names::TableId;
use openprod_core::sync::ShareLink;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The workspaces on this device.
    Workspaces,
    Home(WorkspaceId),
    Table(WorkspaceId, TableId),
    Record(WorkspaceId, TableId, EntityId),
    /// A share link: join the workspace it names.
    Join(ShareLink),
    /// A share link that cannot be followed, and why.
    BrokenJoin(String),
    /// A link this version does not know; shown, not silently dropped.
    Unknown(String),
}

impl Route {
    pub fn parse(fragment: &str) -> Route {
        Route::parse_known(fragment).unwrap_or_else(|| Route::Unknown(fragment.to_owned()))
    }

    fn parse_known(fragment: &str) -> Option<Route> {
        let path = fragment.trim_start_matches('#').trim_start_matches('/');
        if path.starts_with("join/") {
            return Some(
                ShareLink::parse(fragment).map_or_else(|error| Route::BrokenJoin(error.to_string()), Route::Join),
            );
        }
        let parts: Vec<&str> = path.split('/').filter(|part| !part.is_empty()).collect();
        let workspace = |text: &str| WorkspaceId::parse(text).ok();
        match parts.as_slice() {
            [] => Some(Route::Workspaces),
            ["w", id] => workspace(id).map(Route::Home),
            ["w", id, "t", table] => Some(Route::Table(workspace(id)?, TableId::parse(table)?)),
            ["w", id, "t", table, "r", record] => {
                Some(Route::Record(workspace(id)?, TableId::parse(table)?, EntityId::parse(record).ok()?))
            }
            _ => None,
        }
    }

    pub fn href(&self) -> String {
        match self {
            Route::Workspaces => "#/".to_owned(),
            Route::Home(id) => format!("#/w/{id}"),
            Route::Table(id, table) => format!("#/w/{id}/t/{table}"),
            Route::Record(id, table, record) => format!("#/w/{id}/t/{table}/r/{record}"),
            Route::Join(link) => link.to_fragment(),
            Route::BrokenJoin(_) => "#/".to_owned(),
            Route::Unknown(fragment) => fragment.clone(),
        }
    }

    pub fn workspace(&self) -> Option<WorkspaceId> {
        match self {
            Route::Home(id) | Route::Table(id, _) | Route::Record(id, _, _) => Some(*id),
            Route::Workspaces | Route::Join(_) | Route::BrokenJoin(_) | Route::Unknown(_) => None,
        }
    }
}

fn current_fragment() -> String {
    web_sys::window().and_then(|window| window.location().hash().ok()).unwrap_or_default()
}

/// The current route, following the fragment as it changes.
pub fn watch_route() -> ReadSignal<Route> {
    let (route, set_route) = signal(Route::parse(&current_fragment()));
    let on_change = Closure::<dyn Fn()>::new(move || set_route.set(Route::parse(&current_fragment())));
    if let Some(window) = web_sys::window() {
        window.set_onhashchange(Some(on_change.as_ref().unchecked_ref()));
    }
    on_change.forget(); // lives as long as the page
    route
}

pub fn navigate(route: &Route) {
    if let Some(window) = web_sys::window() {
        let _ = window.location().set_hash(&route.href());
    }
}

/// Goes to `route` in place of the current entry, so that going back does
/// not return to it (a share link's secret stays out of the history).
pub fn navigate_replacing(route: &Route) {
    if let Some(window) = web_sys::window() {
        let location = window.location();
        let base = location.href().unwrap_or_default();
        let base = base.split('#').next().unwrap_or_default();
        let _ = location.replace(&format!("{base}{}", route.href()));
    }
}

#[cfg(test)]
mod tests {
    use wasm_bindgen_test::wasm_bindgen_test;

    use super::*;

    #[wasm_bindgen_test]
    fn routes_read_back_from_their_links() {
        let id = WorkspaceId::new_v7(1_790_000_000_000, [7; 10]);
        let table = TableId::new("contacts", "contacts");
        let record = EntityId::new_v7(1_790_000_000_001, [9; 10]);
        for route in
            [Route::Workspaces, Route::Home(id), Route::Table(id, table.clone()), Route::Record(id, table, record)]
        {
            assert_eq!(Route::parse(&route.href()), route);
        }
        assert_eq!(Route::parse(""), Route::Workspaces);
        assert_eq!(Route::parse("#/w/not-an-id"), Route::Unknown("#/w/not-an-id".to_owned()));
        let link = ShareLink {
            workspace: id,
            admission: openprod_core::sync::Admission::Secret(openprod_core::sync::WorkspaceSecret::from_bytes(
                [3; 32],
            )),
            relay: Some("wss://192.168.1.20:8443/ws".to_owned()),
        };
        assert_eq!(Route::parse(&Route::Join(link.clone()).href()), Route::Join(link.clone()));
        assert!(matches!(Route::parse("#/join/not-an-id/x"), Route::BrokenJoin(_)));
        let by_key = ShareLink { admission: openprod_core::sync::Admission::AccessKey, ..link };
        assert_eq!(Route::parse(&Route::Join(by_key.clone()).href()), Route::Join(by_key));
    }
}
