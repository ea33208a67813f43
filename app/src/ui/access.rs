//! Letting people in: the share link and its QR code, how people join (the
//! owner's choice), access keys, requests waiting for a member, and — on
//! the other side — the screen of a device waiting to be let in.

use leptos::prelude::*;
use leptos::task::spawn_local;
use openprod_core::access::AccessCode;
use openprod_core::access::code::HINT_LEN;
use openprod_core::hlc::Hlc;
use openprod_core::op::JoinMode;
use openprod_core::state::AccessKey;
use openprod_core::sync::{Admission, ShareLink};
use qrcode::QrCode;
use qrcode::render::svg;
use send_wrapper::SendWrapper;

use super::use_me;
use crate::device::{BrowserEntropy, now_ms};
use crate::driver::Driver;
use crate::library;
use crate::net::{EnrollState, Enrollment, Mesh};

const HOUR_MS: u64 = 3_600_000;
/// How long a new access key lasts: hours, not days, is the spec's advice.
const KEY_LIFETIMES: [(&str, u64); 4] =
    [("1 hour", HOUR_MS), ("4 hours", 4 * HOUR_MS), ("1 day", 24 * HOUR_MS), ("1 week", 7 * 24 * HOUR_MS)];

/// The share link and its QR code, for a colleague to open or scan, and
/// (for the owner) how people join.
#[component]
pub fn SharePanel(driver: Driver) -> impl IntoView {
    let me = use_me();
    let id = driver.peek(|workspace| workspace.id());
    let mode = move || driver.read_structure(|workspace| workspace.state().join_mode());
    let is_owner = move || driver.read_structure(|workspace| workspace.state().is_owner(&workspace.actor()));
    let link = RwSignal::new(None::<Result<String, String>>);
    let shown = RwSignal::new(false);
    // The link follows the join mode: with the secret only in open mode.
    Effect::new(move |_| {
        let mode = mode();
        if !shown.get() {
            return;
        }
        spawn_local(async move {
            let made = library::sharing_of(&me.profile(), id).await.and_then(|sharing| {
                let admission = match mode {
                    JoinMode::Open => {
                        Admission::Secret(sharing.secret().cloned().ok_or("this device has not been let in yet")?)
                    }
                    JoinMode::AccessKey => Admission::AccessKey,
                    JoinMode::Request => Admission::Request,
                };
                let fragment = ShareLink { workspace: id, admission, relay: sharing.relay }.to_fragment();
                Ok(format!("{}{fragment}", page_address()))
            });
            link.set(Some(made));
        });
    });
    let copy = move |_| {
        if let (Some(Ok(text)), Some(window)) = (link.get_untracked(), web_sys::window()) {
            let _ = window.navigator().clipboard().write_text(&text);
        }
    };
    let problem = RwSignal::new(None::<String>);
    let choose_mode = move |event: leptos::ev::Event| {
        let chosen = match event_target_value(&event).as_str() {
            "key" => JoinMode::AccessKey,
            "request" => JoinMode::Request,
            _ => JoinMode::Open,
        };
        problem.set(driver.edit(|change| change.set_join_mode(chosen)).err().map(|failure| failure.to_string()));
    };
    view! {
        <section class="card">
            <h2>"Share"</h2>
            <p class="hint" data-testid="join-mode">{move || match mode() {
                JoinMode::Open => "Anyone with this link can join the workspace and change it. Share it only with your company.",
                JoinMode::AccessKey => "People open this link and type an access key. The link alone lets nobody in.",
                JoinMode::Request => "People open this link and ask to join; a member lets them in. The link alone lets nobody in.",
            }}</p>
            <Show when=is_owner>
                <label>"How people join "
                    <select data-testid="join-mode-choice" on:change=choose_mode
                        prop:value=move || match mode() { JoinMode::Open => "open", JoinMode::AccessKey => "key", JoinMode::Request => "request" }>
                        <option value="open">"With the link (open)"</option>
                        <option value="key">"With an access key"</option>
                        <option value="request">"On request, approved by a member"</option>
                    </select>
                </label>
            </Show>
            <super::ErrorNote error=problem />
            <Show when=move || shown.get() fallback=move || view! {
                <button data-testid="share" on:click=move |_| shown.set(true)>"Show the share link"</button>
            }>
                {move || match link.get() {
                    None => view! { <p class="hint">"Preparing the link…"</p> }.into_any(),
                    Some(Err(problem)) => view! { <p class="error-note" role="alert">{problem}</p> }.into_any(),
                    Some(Ok(text)) => view! {
                        <div class="share">
                            <div class="qr" inner_html=qr_svg(&text) aria-label="QR code of the share link"></div>
                            <input class="mono" readonly data-testid="share-link" prop:value=text.clone() />
                            <button on:click=copy>"Copy link"</button>
                        </div>
                    }.into_any(),
                }}
            </Show>
            <Show when=move || mode() == JoinMode::AccessKey>
                <AccessKeys driver />
            </Show>
        </section>
    }
}

/// The workspace's access keys; the owner makes and revokes them.
#[component]
fn AccessKeys(driver: Driver) -> impl IntoView {
    let is_owner = move || driver.read_structure(|workspace| workspace.state().is_owner(&workspace.actor()));
    let keys = move || driver.read_structure(|workspace| workspace.state().access_keys());
    // Keys expire while the list is on screen: it is redrawn every half minute.
    let now = RwSignal::new(now_ms());
    if let Ok(ticker) = set_interval_with_handle(move || now.set(now_ms()), std::time::Duration::from_secs(30)) {
        on_cleanup(move || ticker.clear());
    }
    let lifetime = RwSignal::new(HOUR_MS);
    let max_uses = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    let make = move |_| {
        let max = max_uses.get_untracked();
        let max = match max.trim() {
            "" => None,
            text => match text.parse::<u32>() {
                Ok(number) if number > 0 => Some(number),
                _ => {
                    return problem
                        .set(Some(format!("'{text}' is not a number of people; leave it empty for no limit")));
                }
            },
        };
        let now = now_ms();
        let live: Vec<String> = driver
            .peek(|workspace| workspace.state().access_keys())
            .into_iter()
            .filter(|key| key.check(Hlc::new(now, 0)).is_ok())
            .map(|key| key.code[..HINT_LEN].to_owned())
            .collect();
        let taken: Vec<&str> = live.iter().map(String::as_str).collect();
        let code = AccessCode::generate(&mut BrowserEntropy, &taken);
        let made = driver.edit(|change| change.create_access_key(&code, now + lifetime.get_untracked(), max));
        problem.set(made.err().map(|failure| failure.to_string()));
    };
    view! {
        <h3>"Access keys"</h3>
        <ul class="access-keys">
            {move || {
                let now = Hlc::new(now.get(), 0);
                keys().into_iter().rev().map(|key| view! { <AccessKeyRow driver key owner=is_owner() now /> }).collect_view()
            }}
        </ul>
        <Show when=is_owner>
            <div class="new-key">
                <label>"Valid for "
                    <select data-testid="key-lifetime" on:change=move |event| {
                        lifetime.set(event_target_value(&event).parse().unwrap_or(HOUR_MS));
                    }>
                        {KEY_LIFETIMES.iter().map(|(label, ms)| view! { <option value=ms.to_string()>{*label}</option> }).collect_view()}
                    </select>
                </label>
                <label>"At most "
                    <input data-testid="key-max-uses" inputmode="numeric" size="4" placeholder="any"
                        prop:value=move || max_uses.get() on:input=move |event| max_uses.set(event_target_value(&event)) />
                    " people"
                </label>
                <button data-testid="make-key" on:click=make>"Make an access key"</button>
            </div>
            <super::ErrorNote error=problem />
        </Show>
    }
}

#[component]
fn AccessKeyRow(driver: Driver, key: AccessKey, owner: bool, now: Hlc) -> impl IntoView {
    let shown = AccessCode::parse(&key.code).map_or_else(|_| key.code.clone(), |code| code.to_string());
    let state = match key.check(now) {
        Ok(()) => format!("lets people in for {}", duration(key.expires.wall().saturating_sub(now.wall()))),
        Err(refusal) => refusal.to_string(),
    };
    let uses = match key.max_uses {
        Some(max) => format!("used by {} of {max}", key.uses),
        None => format!("used by {}", key.uses),
    };
    let usable = key.check(now).is_ok();
    let id = key.id;
    let problem = RwSignal::new(None::<String>);
    view! {
        <li data-testid="access-key" data-usable=usable.to_string()>
            <strong class="mono" data-testid="access-key-code">{shown}</strong>
            " · "<span data-testid="access-key-state">{state}</span>" · "{uses}
            {(owner && !key.revoked).then(|| view! {
                <button data-testid="revoke-key" on:click=move |_| {
                    problem.set(driver.edit(|change| change.revoke_access_key(id)).err().map(|failure| failure.to_string()));
                }>"Revoke"</button>
            })}
            <super::ErrorNote error=problem />
        </li>
    }
}

/// People asking to join, for a member to let in or turn away.
#[component]
pub fn JoinRequests(mesh: RwSignal<Option<Mesh>, LocalStorage>) -> impl IntoView {
    move || {
        mesh.get().map(|mesh| {
            let requests = mesh.join_requests();
            // The network lives on this thread only; the view never leaves it.
            let mesh = SendWrapper::new(mesh);
            move || (!requests.with(Vec::is_empty)).then(|| view! {
                    <section class="card" data-testid="join-requests">
                        <h2>"Asking to join"</h2>
                        <p class="hint">
                            "Let someone in only if their screen shows the same check code as here: otherwise someone is in between."
                        </p>
                        <ul>
                            {
                                let mesh = mesh.clone();
                                move || requests.get().into_iter().map(|request| {
                                    let (approve, decline) = (mesh.clone(), mesh.clone());
                                    let peer = request.peer;
                                    view! {
                                        <li data-testid="join-request">
                                            <strong data-testid="join-request-name">{request.name}</strong>
                                            " · check code "<span class="mono" data-testid="join-request-code">{request.check_code}</span>
                                            <button data-testid="let-in" on:click=move |_| approve.approve(peer)>"Let in"</button>
                                            <button data-testid="turn-away" on:click=move |_| decline.decline(peer)>"Decline"</button>
                                        </li>
                                    }
                                }).collect_view()
                            }
                        </ul>
                    </section>
            })
        })
    }
}

/// A device whose link carried no secret: it types an access key, or asks
/// to join, and waits for a member.
#[component]
pub fn WaitingToJoin(by: Admission, start: Callback<Option<AccessCode>, Enrollment>) -> impl IntoView {
    let code_text = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    let enrollment = RwSignal::new_local(None::<Enrollment>);
    let by_key = by == Admission::AccessKey;
    let go = move || {
        let code = if by_key {
            match AccessCode::parse(&code_text.get_untracked()) {
                Ok(code) => Some(code),
                Err(error) => return problem.set(Some(error.to_string())),
            }
        } else {
            None
        };
        problem.set(None);
        if let Some(previous) = enrollment.get_untracked() {
            previous.stop();
        }
        enrollment.set(Some(start.run(code)));
    };
    on_cleanup(move || {
        if let Some(enrollment) = enrollment.get_untracked() {
            enrollment.stop();
        }
    });
    view! {
        <section class="card" data-testid="waiting-to-join">
            <h2>"Join this workspace"</h2>
            {if by_key {
                view! {
                    <p class="hint">"Type the access key the workspace's owner gave you, like K7XM-4PQ9."</p>
                    <form on:submit=move |event| { event.prevent_default(); go(); }>
                        <input data-testid="access-key-input" autocomplete="off" autocapitalize="characters"
                            prop:value=move || code_text.get() on:input=move |event| code_text.set(event_target_value(&event)) />
                        <button type="submit" data-testid="join-with-key">"Join"</button>
                    </form>
                }.into_any()
            } else {
                view! {
                    <p class="hint">"A member of the workspace lets you in. Your name is sent with the request."</p>
                    <button data-testid="ask-to-join" on:click=move |_| go()>"Ask to join"</button>
                }.into_any()
            }}
            <super::ErrorNote error=problem />
            {move || enrollment.get().map(|enrollment| {
                let state = enrollment.state();
                view! {
                    <p role="status" data-testid="join-state">{move || match state.get() {
                        EnrollState::LookingForMembers => "Looking for a member of the workspace…".to_owned(),
                        EnrollState::Asked { check_code: None } => "Checking the access key…".to_owned(),
                        EnrollState::Asked { check_code: Some(code) } => format!(
                            "Waiting for a member to let you in. Check code: {code} (their screen shows the same)"
                        ),
                        EnrollState::Refused(reason) => format!("Not let in: {reason}"),
                        EnrollState::LetIn => "Let in. Receiving the workspace…".to_owned(),
                    }}</p>
                }
            })}
        </section>
    }
}

/// "3 h 20 min", "2 days": how long a key has left.
fn duration(ms: u64) -> String {
    let minutes = ms / 60_000;
    match minutes {
        0 => "less than a minute".to_owned(),
        1..60 => format!("{minutes} min"),
        60..2880 => format!("{} h {} min", minutes / 60, minutes % 60),
        _ => format!("{} days", minutes / 1440),
    }
}

/// This page's address without its fragment: where the link leads back to.
fn page_address() -> String {
    let href = web_sys::window().and_then(|window| window.location().href().ok()).unwrap_or_default();
    href.split('#').next().unwrap_or_default().to_owned()
}

fn qr_svg(text: &str) -> String {
    match QrCode::new(text.as_bytes()) {
        Ok(code) => code.render::<svg::Color>().min_dimensions(200, 200).quiet_zone(true).build(),
        Err(_) => String::new(), // too long for a QR code; the link itself is still shown
    }
}
