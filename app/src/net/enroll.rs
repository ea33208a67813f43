//! Asking to be let in: a device whose link carries no secret meets the
//! workspace's members at the relay and runs the enrollment exchange
//! ([`openprod_core::access::enroll`]) with each of them, through signaling
//! messages. The first member to let it in hands over the secret; the
//! workspace's ordinary network takes over from there.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use leptos::prelude::*;
use openprod_core::access::{AccessCode, JoinWith, Joiner, JoinerOutcome};
use openprod_core::identity::Identity;
use openprod_core::ids::WorkspaceId;
use openprod_core::sync::{WorkspaceSecret, room_name};

use super::signaling::{PeerSignal, RelayPeer, Signaling, SignalingEvent};
use crate::device::BrowserEntropy;

/// What the person waiting sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrollState {
    /// Looking for a member at the relay.
    LookingForMembers,
    /// Asked; a member's device is checking the key, or a person is deciding.
    /// `check_code`: the digits the member's screen shows too (request mode).
    Asked {
        check_code: Option<String>,
    },
    Refused(String),
    /// In: the workspace secret, for the ordinary network.
    LetIn,
}

/// How this device asks.
#[derive(Clone)]
pub enum Asking {
    AccessKey(AccessCode),
    Request,
}

pub struct EnrollConfig {
    pub relay_url: String,
    pub workspace: WorkspaceId,
    pub identity: Identity,
    pub display_name: String,
    pub asking: Asking,
}

struct Inner {
    config: EnrollConfig,
    signaling: RefCell<Option<Signaling>>,
    /// One exchange per member asked; a relay name is void after a reconnect.
    exchanges: RefCell<BTreeMap<RelayPeer, Joiner>>,
    state: RwSignal<EnrollState>,
    on_let_in: Box<dyn Fn(WorkspaceSecret)>,
}

/// Runs until let in, refused by everyone asked, or dropped.
#[derive(Clone)]
pub struct Enrollment {
    inner: Rc<Inner>,
}

impl Enrollment {
    pub fn start(config: EnrollConfig, on_let_in: impl Fn(WorkspaceSecret) + 'static) -> Enrollment {
        let inner = Rc::new(Inner {
            config,
            signaling: RefCell::default(),
            exchanges: RefCell::default(),
            state: RwSignal::new(EnrollState::LookingForMembers),
            on_let_in: Box::new(on_let_in),
        });
        let weak = Rc::downgrade(&inner);
        let room = room_name(inner.config.workspace);
        let signaling = Signaling::start(inner.config.relay_url.clone(), room, move |event| {
            if let Some(inner) = weak.upgrade() {
                Enrollment { inner }.on_signaling(event);
            }
        });
        *inner.signaling.borrow_mut() = Some(signaling);
        Enrollment { inner }
    }

    pub fn state(&self) -> ReadSignal<EnrollState> {
        self.inner.state.read_only()
    }

    /// For good: let in, or the person gave up.
    pub fn stop(&self) {
        self.inner.signaling.borrow_mut().take();
        self.inner.exchanges.borrow_mut().clear();
    }

    fn on_signaling(&self, event: SignalingEvent) {
        match event {
            SignalingEvent::Joined { present, .. } => {
                self.inner.exchanges.borrow_mut().clear();
                for peer in present {
                    self.ask(peer);
                }
            }
            SignalingEvent::PeerJoined(peer) => self.ask(peer),
            SignalingEvent::PeerLeft(peer) => {
                self.inner.exchanges.borrow_mut().remove(&peer);
            }
            SignalingEvent::Signal { from, signal: PeerSignal::Enroll { message } } => self.on_message(from, &message),
            // Offers and sealed frames are for members: this device is not one yet.
            SignalingEvent::Signal { .. } | SignalingEvent::Relayed { .. } => {}
            SignalingEvent::Lost { .. } => {
                self.inner.exchanges.borrow_mut().clear();
                if !matches!(self.inner.state.get_untracked(), EnrollState::Refused(_)) {
                    self.inner.state.set(EnrollState::LookingForMembers);
                }
            }
            SignalingEvent::Refused { code, message } => {
                leptos::logging::warn!("the relay refused a message ({code}): {message}");
            }
        }
    }

    /// Every device in the room is asked: members answer, other joiners
    /// stay silent.
    fn ask(&self, peer: RelayPeer) {
        let config = &self.inner.config;
        let with = match &config.asking {
            Asking::AccessKey(code) => JoinWith::AccessKey(code),
            Asking::Request => JoinWith::Request,
        };
        let identity = Identity::from_seed(config.identity.secret_bytes());
        let (joiner, ask) = Joiner::start(identity, &config.display_name, config.workspace, with, &mut BrowserEntropy);
        self.inner.exchanges.borrow_mut().insert(peer, joiner);
        self.send(peer, &ask);
    }

    fn send(&self, peer: RelayPeer, frame: &[u8]) {
        if let Some(signaling) = self.inner.signaling.borrow().as_ref() {
            signaling.signal(peer, &PeerSignal::Enroll { message: hex::encode(frame) });
        }
    }

    fn on_message(&self, from: RelayPeer, message: &str) {
        let Ok(frame) = hex::decode(message) else {
            return leptos::logging::warn!("a device sent an unreadable message about joining");
        };
        let outcome = {
            let mut exchanges = self.inner.exchanges.borrow_mut();
            let Some(joiner) = exchanges.get_mut(&from) else { return };
            joiner.on_message(&frame)
        };
        match outcome {
            Ok(JoinerOutcome::Confirm { frame, check_code }) => {
                self.send(from, &frame);
                let check_code = matches!(self.inner.config.asking, Asking::Request).then_some(check_code);
                // Several members may answer; the first code shown stays.
                if !matches!(self.inner.state.get_untracked(), EnrollState::Asked { .. }) {
                    self.inner.state.set(EnrollState::Asked { check_code });
                }
            }
            Ok(JoinerOutcome::Admitted(secret)) => {
                self.stop();
                self.inner.state.set(EnrollState::LetIn);
                (self.inner.on_let_in)(secret);
            }
            Ok(JoinerOutcome::Refused(reason)) => {
                self.inner.exchanges.borrow_mut().remove(&from);
                // Another member may still let this device in; say why this one did not.
                self.inner.state.set(EnrollState::Refused(reason));
            }
            Err(error) => {
                self.inner.exchanges.borrow_mut().remove(&from);
                self.inner.state.set(EnrollState::Refused(error.to_string()));
            }
        }
    }
}
