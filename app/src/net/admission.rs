//! A member letting people in who hold no secret: it answers their
//! enrollment exchange ([`openprod_core::access::enroll`]) according to the
//! workspace's join mode, checks the access key they prove, or shows their
//! request to the person at this device, and hands over the secret when they
//! are let in. Every admission is a signed roster operation (with the key's
//! use, for a key), so every peer can check it.

use std::collections::{BTreeMap, VecDeque};

use leptos::prelude::*;
use openprod_core::access::{AccessCode, Ask, EnrollError, Member, Method, refusal};
use openprod_core::identity::ActorId;
use openprod_core::ids::OpId;
use openprod_core::op::JoinMode;

use super::Mesh;
use super::signaling::{PeerSignal, RelayPeer};
use crate::device::{BrowserEntropy, now_ms};

/// Wrong access keys tolerated within [`GUESS_WINDOW_MS`] before this device
/// stops answering key attempts for that long: each attempt tests one guess,
/// and this bounds how many a stranger gets while a key lives.
const MAX_WRONG_KEYS: usize = 5;
const GUESS_WINDOW_MS: u64 = 10 * 60 * 1000;

/// Someone asking to be let in, as the member's screen shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    pub peer: RelayPeer,
    pub actor: ActorId,
    pub name: String,
    /// The digits the asker's screen shows too: equal means nobody sits between.
    pub check_code: String,
}

/// Exchanges under way, by the relay's name for the asker.
#[derive(Default)]
pub(super) struct Admissions {
    exchanges: BTreeMap<RelayPeer, (Member, Option<OpId>)>,
    wrong_keys: VecDeque<u64>,
}

impl Admissions {
    fn too_many_wrong_keys(&mut self, now: u64) -> bool {
        while self.wrong_keys.front().is_some_and(|at| now.saturating_sub(*at) > GUESS_WINDOW_MS) {
            self.wrong_keys.pop_front();
        }
        self.wrong_keys.len() >= MAX_WRONG_KEYS
    }
}

impl Mesh {
    pub fn join_requests(&self) -> ReadSignal<Vec<JoinRequest>> {
        self.inner.join_requests.read_only()
    }

    /// A message about joining from `from`: an ask, or the confirmation of one.
    pub(super) fn on_enroll(&self, from: RelayPeer, message: &str) {
        let Ok(frame) = hex::decode(message) else {
            return leptos::logging::warn!("peer {from} sent an unreadable message about joining");
        };
        match Ask::read(&frame) {
            Ok(ask) => self.on_ask(from, ask, &frame),
            Err(EnrollError::OutOfTurn) => self.on_confirm(from, &frame),
            Err(error) => leptos::logging::warn!("peer {from}: {error}"),
        }
    }

    fn on_ask(&self, from: RelayPeer, ask: Ask, frame: &[u8]) {
        let driver = self.inner.driver;
        if ask.workspace != self.inner.config.workspace {
            return;
        }
        let (member, mode, keys) = driver.peek(|workspace| {
            let state = workspace.state();
            (state.display_name(&workspace.actor()).is_some(), state.join_mode(), state.access_keys())
        });
        // Only members answer: another joiner in the room stays silent.
        if !member {
            return;
        }
        let key = match (mode, &ask.method) {
            (JoinMode::AccessKey, Method::AccessKey { hint }) => {
                if self.inner.admissions.borrow_mut().too_many_wrong_keys(now_ms()) {
                    return self.refuse(from, "too many wrong access keys were tried here; wait ten minutes");
                }
                // The newest key with these first characters (a new key never
                // shares them with a key still in use).
                let Some(key) = keys.iter().rev().find(|key| key.code.starts_with(hint.as_str())) else {
                    return self.refuse(from, &EnrollError::WrongMethod.to_string());
                };
                let Ok(code) = AccessCode::parse(&key.code) else {
                    return self.refuse(from, "that access key is damaged; ask the owner for a new one");
                };
                Some((key.id, code))
            }
            (JoinMode::Request, Method::Request) => None,
            (JoinMode::Open, _) => {
                return self.refuse(from, "this workspace is joined with its full link; ask a member for it");
            }
            (JoinMode::AccessKey, Method::Request) => {
                return self.refuse(from, "this workspace lets people in with an access key; ask the owner for one");
            }
            (JoinMode::Request, Method::AccessKey { .. }) => {
                return self.refuse(from, "this workspace lets people in on request; ask to join instead");
            }
        };
        match Member::answer(ask, frame, key.as_ref().map(|(_, code)| code), &mut BrowserEntropy) {
            Ok((member, answer)) => {
                self.inner.admissions.borrow_mut().exchanges.insert(from, (member, key.map(|(id, _)| id)));
                self.send_enroll(from, &answer);
            }
            Err(error) => self.refuse(from, &error.to_string()),
        }
    }

    fn on_confirm(&self, from: RelayPeer, frame: &[u8]) {
        let confirmed = {
            let mut admissions = self.inner.admissions.borrow_mut();
            let Some((member, _)) = admissions.exchanges.get_mut(&from) else { return };
            let confirmed = member.on_confirm(frame);
            if confirmed == Err(EnrollError::WrongCode) {
                admissions.wrong_keys.push_back(now_ms());
            }
            confirmed
        };
        if let Err(error) = confirmed {
            self.inner.admissions.borrow_mut().exchanges.remove(&from);
            return self.refuse(from, &error.to_string());
        }
        let (key, actor, name, check_code) = {
            let admissions = self.inner.admissions.borrow();
            let (member, key) = &admissions.exchanges[&from];
            (*key, member.ask().actor, member.ask().display_name.clone(), member.check_code())
        };
        match key {
            Some(key) => self.let_in_with_key(from, key, actor, &name),
            None => self.inner.join_requests.update(|requests| {
                requests.retain(|request| request.peer != from);
                requests.push(JoinRequest { peer: from, actor, name, check_code });
            }),
        }
    }

    /// The key is checked again now that its holder proved it: it may have
    /// expired, run out or been revoked since the ask.
    fn let_in_with_key(&self, from: RelayPeer, key: OpId, actor: ActorId, name: &str) {
        let driver = self.inner.driver;
        let valid = driver.peek(|workspace| {
            let now = workspace.clock().current().max(openprod_core::hlc::Hlc::new(now_ms(), 0));
            let keys = workspace.state().access_keys();
            keys.iter().find(|held| held.id == key).map(|held| held.check(now))
        });
        let refused = match valid {
            Some(Ok(())) => None,
            Some(Err(refusal)) => Some(refusal.to_string()),
            None => Some(EnrollError::WrongMethod.to_string()),
        };
        if let Some(reason) = refused {
            self.inner.admissions.borrow_mut().exchanges.remove(&from);
            return self.refuse(from, &reason);
        }
        let written = driver.edit(|change| {
            change.admit_with_access_key(key, actor, name);
            Ok(())
        });
        self.welcome(from, written.map_err(|failure| failure.to_string()));
    }

    /// The person at this device lets `peer` in.
    pub fn approve(&self, peer: RelayPeer) {
        let Some(request) = self.take_request(peer) else { return };
        let written = self.inner.driver.edit(|change| {
            change.admit_actor(request.actor, &request.name);
            Ok(())
        });
        self.welcome(peer, written.map_err(|failure| failure.to_string()));
    }

    pub fn decline(&self, peer: RelayPeer) {
        if self.take_request(peer).is_some() {
            self.inner.admissions.borrow_mut().exchanges.remove(&peer);
            let me = self.inner.config.display_name.clone();
            self.refuse(peer, &format!("{me} declined your request to join"));
        }
    }

    fn take_request(&self, peer: RelayPeer) -> Option<JoinRequest> {
        let mut taken = None;
        self.inner.join_requests.update(|requests| {
            if let Some(at) = requests.iter().position(|request| request.peer == peer) {
                taken = Some(requests.remove(at));
            }
        });
        taken
    }

    /// Hands over the secret once the admission is written (and only then:
    /// a device let in must be in the roster every peer checks).
    fn welcome(&self, peer: RelayPeer, written: Result<(), String>) {
        let Some((member, _)) = self.inner.admissions.borrow_mut().exchanges.remove(&peer) else { return };
        if let Err(error) = written {
            leptos::logging::warn!("could not let {} in: {error}", member.ask().display_name);
            return self.refuse(peer, "the member's device could not record your admission; try again");
        }
        match member.welcome(&self.inner.config.secret, &mut BrowserEntropy) {
            Ok(welcome) => self.send_enroll(peer, &welcome),
            Err(error) => self.refuse(peer, &error.to_string()),
        }
    }

    /// An asker the relay no longer knows: its exchange and request go.
    pub(super) fn forget_asker(&self, peer: RelayPeer) {
        self.inner.admissions.borrow_mut().exchanges.remove(&peer);
        self.inner.join_requests.update(|requests| requests.retain(|request| request.peer != peer));
    }

    fn refuse(&self, peer: RelayPeer, reason: &str) {
        self.send_enroll(peer, &refusal(reason));
    }

    fn send_enroll(&self, peer: RelayPeer, frame: &[u8]) {
        self.signal(peer, &PeerSignal::Enroll { message: hex::encode(frame) });
    }
}
