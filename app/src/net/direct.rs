//! The direct path: one `RTCPeerConnection` with one reliable, ordered data
//! channel, negotiated with the "perfect negotiation" pattern so that both
//! sides may start at once without deadlock.
//!
//! The channel is pre-negotiated (id 0 on both sides). The side that starts
//! an attempt creates it at once, which makes it offer; the side that joins
//! an attempt (on the other's first signal) creates it only once the offer
//! is applied, so it never offers back. Both starting at once is avoided
//! for the first attempt (only the impolite side starts it) and resolved by
//! the polite side yielding otherwise: in Chromium an offer rolled back by a
//! collision can leave the answer without ICE candidates, so collisions are
//! kept rare rather than relied upon. Host candidates only, unless
//! STUN/TURN servers are configured: on a LAN with no internet nothing else
//! exists anyway.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use js_sys::{Array, Object, Promise, Reflect};
use leptos::task::spawn_local;
use openprod_core::sync::ChannelBinding;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    MessageEvent, RtcConfiguration, RtcDataChannel, RtcDataChannelInit, RtcDataChannelState, RtcDataChannelType,
    RtcIceCandidateInit, RtcPeerConnection, RtcPeerConnectionIceEvent, RtcPeerConnectionState, RtcSdpType,
    RtcSessionDescriptionInit, RtcSignalingState,
};

use super::signaling::PeerSignal;
use crate::settings::IceServer;

#[wasm_bindgen]
extern "C" {
    /// The same connection, seen through a method web-sys lacks.
    #[wasm_bindgen(extends = RtcPeerConnection, js_name = RTCPeerConnection)]
    type Negotiating;

    /// `setLocalDescription()` with no argument: the browser creates the
    /// right offer or answer itself, which perfect negotiation relies on.
    #[wasm_bindgen(method, js_name = setLocalDescription)]
    fn set_local_description_implicitly(this: &Negotiating) -> Promise;
}

fn describe_locally(pc: &RtcPeerConnection) -> JsFuture {
    JsFuture::from(pc.unchecked_ref::<Negotiating>().set_local_description_implicitly())
}

/// The send buffer is refilled when it drains below this.
pub const LOW_WATER: u32 = 256 * 1024;

/// What a direct link reports to its owner.
pub enum DirectEvent {
    /// To be carried to the other side by the relay.
    Signal(PeerSignal),
    Open,
    Chunk(Vec<u8>),
    /// The send buffer drained: more can go.
    Writable,
    /// The attempt is over; the owner may start another.
    Failed(String),
}

type Events = Rc<dyn Fn(DirectEvent)>;

struct Shared {
    attempt: u32,
    polite: bool,
    pc: RtcPeerConnection,
    /// Made when this side offers, or once the other side's offer is in.
    channel: RefCell<Option<RtcDataChannel>>,
    making_offer: Cell<bool>,
    ignore_offer: Cell<bool>,
    closed: Cell<bool>,
    /// Signals are taken strictly in order: a candidate must not be added
    /// while the description before it is still being set.
    signals: RefCell<VecDeque<PeerSignal>>,
    taking_signals: Cell<bool>,
    events: Events,
    callbacks: RefCell<Vec<Closure<dyn FnMut(JsValue)>>>,
}

/// One attempt at a direct connection with one peer.
pub struct DirectLink {
    shared: Rc<Shared>,
}

impl DirectLink {
    /// Starts attempt `attempt`; `polite` decides who yields when both
    /// offer. `offer`: this side starts the attempt (else it waits for the
    /// other side's offer).
    pub fn start(
        attempt: u32,
        polite: bool,
        offer: bool,
        ice_servers: &[IceServer],
        events: impl Fn(DirectEvent) + 'static,
    ) -> Result<DirectLink, String> {
        let config = RtcConfiguration::new();
        let servers = Array::new();
        for ice_server in ice_servers {
            let server = Object::new();
            let _ = Reflect::set(&server, &"urls".into(), &ice_server.url.as_str().into());
            if let Some((user, password)) = &ice_server.credentials {
                let _ = Reflect::set(&server, &"username".into(), &user.as_str().into());
                let _ = Reflect::set(&server, &"credential".into(), &password.as_str().into());
            }
            servers.push(&server);
        }
        config.set_ice_servers(&servers);
        let pc = RtcPeerConnection::new_with_configuration(&config)
            .map_err(|error| format!("this browser cannot open a direct connection: {}", describe(&error)))?;
        let shared = Rc::new(Shared {
            attempt,
            polite,
            pc,
            channel: RefCell::default(),
            making_offer: Cell::new(false),
            ignore_offer: Cell::new(false),
            closed: Cell::new(false),
            signals: RefCell::default(),
            taking_signals: Cell::new(false),
            events: Rc::new(events),
            callbacks: RefCell::default(),
        });
        wire(&shared);
        if offer {
            open_channel(&shared);
        }
        Ok(DirectLink { shared })
    }

    pub fn attempt(&self) -> u32 {
        self.shared.attempt
    }

    pub fn is_open(&self) -> bool {
        self.shared.channel.borrow().as_ref().is_some_and(|channel| channel.ready_state() == RtcDataChannelState::Open)
    }

    /// A description or candidate from the other side, for this attempt.
    pub fn on_signal(&self, signal: PeerSignal) {
        self.shared.signals.borrow_mut().push_back(signal);
        if self.shared.taking_signals.replace(true) {
            return; // the running loop takes it in turn
        }
        let shared = self.shared.clone();
        spawn_local(async move {
            loop {
                let Some(signal) = shared.signals.borrow_mut().pop_front() else { break };
                if let Err(error) = take_signal(&shared, signal).await {
                    shared.signals.borrow_mut().clear();
                    fail(&shared, format!("negotiation failed: {error}"));
                    break;
                }
            }
            shared.taking_signals.set(false);
        });
    }

    /// Queues one chunk on the channel; `false` if it is not open.
    pub fn send(&self, chunk: &[u8]) -> bool {
        let channel = self.shared.channel.borrow();
        channel.as_ref().is_some_and(|channel| {
            channel.ready_state() == RtcDataChannelState::Open && channel.send_with_u8_array(chunk).is_ok()
        })
    }

    pub fn buffered(&self) -> u32 {
        self.shared.channel.borrow().as_ref().map_or(0, RtcDataChannel::buffered_amount)
    }

    /// Both DTLS fingerprints, as this side sees them: what the hello binds.
    pub fn binding(&self) -> Option<ChannelBinding> {
        let local = fingerprint(&self.shared.pc.current_local_description()?.sdp())?;
        let remote = fingerprint(&self.shared.pc.current_remote_description()?.sdp())?;
        Some(ChannelBinding::Direct { local_fingerprint: local, remote_fingerprint: remote })
    }
}

impl Drop for DirectLink {
    fn drop(&mut self) {
        close(&self.shared);
    }
}

fn close(shared: &Shared) {
    if shared.closed.replace(true) {
        return;
    }
    if let Some(channel) = shared.channel.borrow().as_ref() {
        channel.set_onopen(None);
        channel.set_onmessage(None);
        channel.set_onclose(None);
        channel.set_onbufferedamountlow(None);
        channel.close();
    }
    shared.pc.set_onnegotiationneeded(None);
    shared.pc.set_onicecandidate(None);
    shared.pc.set_onconnectionstatechange(None);
    shared.pc.close();
}

fn fail(shared: &Shared, reason: String) {
    if !shared.closed.get() {
        (shared.events)(DirectEvent::Failed(reason));
    }
}

fn wire(shared: &Rc<Shared>) {
    let on = |work: fn(&Rc<Shared>, JsValue)| listen(shared, work);
    let negotiation = on(|shared, _| {
        let shared = shared.clone();
        spawn_local(async move {
            if let Err(error) = offer(&shared).await {
                fail(&shared, format!("could not make an offer: {error}"));
            }
        });
    });
    let candidate = on(|shared, event| {
        let Ok(event) = event.dyn_into::<RtcPeerConnectionIceEvent>() else { return };
        // The end of gathering is not signaled: the other side needs no word of it.
        let Some(candidate) = event.candidate() else { return };
        (shared.events)(DirectEvent::Signal(PeerSignal::Candidate {
            attempt: shared.attempt,
            candidate: candidate.candidate(),
            mid: candidate.sdp_mid(),
            line: candidate.sdp_m_line_index(),
        }));
    });
    let state = on(|shared, _| {
        if matches!(shared.pc.connection_state(), RtcPeerConnectionState::Failed | RtcPeerConnectionState::Closed) {
            fail(shared, "the direct connection failed".into());
        }
    });
    shared.pc.set_onnegotiationneeded(Some(&negotiation));
    shared.pc.set_onicecandidate(Some(&candidate));
    shared.pc.set_onconnectionstatechange(Some(&state));
}

/// Creates the data channel (id 0 on both sides) and listens to it.
fn open_channel(shared: &Rc<Shared>) {
    if shared.channel.borrow().is_some() {
        return;
    }
    let init = RtcDataChannelInit::new();
    init.set_negotiated(true);
    init.set_id(0);
    init.set_ordered(true);
    let channel = shared.pc.create_data_channel_with_data_channel_dict("openprod-sync", &init);
    channel.set_binary_type(RtcDataChannelType::Arraybuffer);
    channel.set_buffered_amount_low_threshold(LOW_WATER);
    let on = |work: fn(&Rc<Shared>, JsValue)| listen(shared, work);
    channel.set_onopen(Some(&on(|shared, _| (shared.events)(DirectEvent::Open))));
    channel.set_onmessage(Some(&on(|shared, event| {
        let Ok(event) = event.dyn_into::<MessageEvent>() else { return };
        if let Ok(buffer) = event.data().dyn_into::<js_sys::ArrayBuffer>() {
            (shared.events)(DirectEvent::Chunk(js_sys::Uint8Array::new(&buffer).to_vec()));
        }
    })));
    channel.set_onclose(Some(&on(|shared, _| fail(shared, "the direct channel closed".into()))));
    channel.set_onbufferedamountlow(Some(&on(|shared, _| (shared.events)(DirectEvent::Writable))));
    *shared.channel.borrow_mut() = Some(channel);
}

/// A JS listener calling `work` while the link lives; kept alive by it.
fn listen(shared: &Rc<Shared>, work: fn(&Rc<Shared>, JsValue)) -> js_sys::Function {
    let weak = Rc::downgrade(shared);
    let closure = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
        if let Some(shared) = weak.upgrade().filter(|shared| !shared.closed.get()) {
            work(&shared, event);
        }
    });
    let function = closure.as_ref().unchecked_ref::<js_sys::Function>().clone();
    shared.callbacks.borrow_mut().push(closure);
    function
}

async fn offer(shared: &Rc<Shared>) -> Result<(), String> {
    shared.making_offer.set(true);
    let result = describe_locally(&shared.pc).await;
    shared.making_offer.set(false);
    result.map_err(|error| describe(&error))?;
    send_local_description(shared);
    Ok(())
}

fn send_local_description(shared: &Shared) {
    let Some(description) = shared.pc.local_description() else { return };
    let offer = description.type_() == RtcSdpType::Offer;
    (shared.events)(DirectEvent::Signal(PeerSignal::Description {
        attempt: shared.attempt,
        offer,
        sdp: description.sdp(),
    }));
}

async fn take_signal(shared: &Rc<Shared>, signal: PeerSignal) -> Result<(), String> {
    match signal {
        PeerSignal::Description { offer, sdp, .. } => {
            let collision =
                offer && (shared.making_offer.get() || shared.pc.signaling_state() != RtcSignalingState::Stable);
            shared.ignore_offer.set(!shared.polite && collision);
            if shared.ignore_offer.get() {
                return Ok(());
            }
            let description =
                RtcSessionDescriptionInit::new(if offer { RtcSdpType::Offer } else { RtcSdpType::Answer });
            description.set_sdp(&sdp);
            // On a collision the polite side's own offer is rolled back by this.
            JsFuture::from(shared.pc.set_remote_description(&description)).await.map_err(|error| describe(&error))?;
            if offer {
                // Now the channel's transport exists: creating it renegotiates nothing.
                open_channel(shared);
                describe_locally(&shared.pc).await.map_err(|error| describe(&error))?;
                send_local_description(shared);
            }
        }
        PeerSignal::Candidate { candidate, mid, line, .. } => {
            let init = RtcIceCandidateInit::new(&candidate);
            init.set_sdp_mid(mid.as_deref());
            init.set_sdp_m_line_index(line);
            let added = JsFuture::from(shared.pc.add_ice_candidate_with_opt_rtc_ice_candidate_init(Some(&init))).await;
            // Candidates of an offer this side ignored cannot be added, and need not be.
            if let Err(error) = added
                && !shared.ignore_offer.get()
            {
                return Err(describe(&error));
            }
        }
        PeerSignal::RelayNonce { .. } | PeerSignal::Enroll { .. } => {}
    }
    Ok(())
}

/// The DTLS certificate fingerprint an SDP announces.
fn fingerprint(sdp: &str) -> Option<String> {
    sdp.lines().find_map(|line| line.trim().strip_prefix("a=fingerprint:")).map(|value| value.trim().to_owned())
}

fn describe(error: &JsValue) -> String {
    error
        .dyn_ref::<js_sys::Error>()
        .map(|error| String::from(error.message()))
        .or_else(|| error.as_string())
        .unwrap_or_else(|| "an unknown browser error".into())
}
