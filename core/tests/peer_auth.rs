//! Joining a workspace from a share link, and the signed hello that lets a
//! device in only when it holds the workspace secret, is who it says, and is
//! on the very channel it thinks it is on — whatever the relay does.

mod common;

use openprod_core::entropy::SeededEntropy;
use openprod_core::identity::Identity;
use openprod_core::ids::WorkspaceId;
use openprod_core::sync::{
    Admission, AuthError, ChannelBinding, LinkError, MAX_DISPLAY_NAME_BYTES, PeerIntroduction, ShareLink,
    WorkspaceSecret, open_hello, room_name, seal_hello,
};

use common::{identity, workspace_id};

fn secret(n: u8) -> WorkspaceSecret {
    WorkspaceSecret::from_bytes([n; 32])
}

// ---------------------------------------------------------------------------
// The workspace secret.

#[test]
fn secrets_are_43_url_safe_characters_that_read_back() {
    let counting = WorkspaceSecret::from_bytes(std::array::from_fn(|index| index as u8));
    // The same text Python's base64.urlsafe_b64encode gives, without its padding.
    assert_eq!(counting.to_text(), "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8");
    assert_eq!(WorkspaceSecret::from_bytes([0xff; 32]).to_text(), "__________________________________________8");

    let mut entropy = SeededEntropy::new(7);
    for _ in 0..200 {
        let secret = WorkspaceSecret::generate(&mut entropy);
        let text = secret.to_text();
        assert_eq!(text.len(), 43);
        assert!(text.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'));
        assert_eq!(WorkspaceSecret::parse(&text), Ok(secret));
    }
}

#[test]
fn generated_secrets_come_from_the_entropy_passed_in() {
    let a = WorkspaceSecret::generate(&mut SeededEntropy::new(1));
    let b = WorkspaceSecret::generate(&mut SeededEntropy::new(1));
    let c = WorkspaceSecret::generate(&mut SeededEntropy::new(2));
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(WorkspaceSecret::from_bytes(*a.as_bytes()), a);
}

#[test]
fn damaged_secret_texts_are_refused() {
    let text = WorkspaceSecret::from_bytes([0xab; 32]).to_text();
    let cases = [
        String::new(),
        text[..42].to_owned(),       // cut short
        format!("{text}A"),          // too long
        format!("{}+", &text[..42]), // standard base64, not URL-safe
        format!("{}=", &text[..42]), // padding
        format!("é{}", &text[2..]),  // not ASCII, same byte length
        format!("{}9", &text[..42]), // stray low bits: a second text for one secret
    ];
    for case in cases {
        assert_eq!(WorkspaceSecret::parse(&case), Err(LinkError::BadSecret), "{case:?}");
    }
}

#[test]
fn debug_output_never_shows_the_secret() {
    let secret = WorkspaceSecret::from_bytes([0x5a; 32]);
    let link = ShareLink { workspace: workspace_id(1), admission: Admission::Secret(secret.clone()), relay: None };
    for debug in [format!("{secret:?}"), format!("{link:?}"), format!("{link:#?}")] {
        assert!(!debug.contains(&secret.to_text()), "{debug}");
        assert!(!debug.contains("90, 90"), "{debug}");
        assert!(!debug.to_lowercase().contains("5a5a"), "{debug}");
    }
}

// ---------------------------------------------------------------------------
// The relay room.

#[test]
fn the_room_name_hides_the_workspace_id() {
    let workspace = workspace_id(1);
    let room = room_name(workspace);
    assert_eq!(room.len(), 32);
    assert!(room.bytes().all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte)));
    let key = blake3::derive_key("openprod relay room v1", workspace.as_bytes());
    assert_eq!(room, hex::encode(&key[..16]));
    assert!(!room.contains(&hex::encode(workspace.as_bytes())[..8]));
    assert_eq!(room_name(workspace), room, "every device of a workspace meets in one room");
    assert_ne!(room_name(workspace_id(2)), room);
    // Pinned: devices on older and newer versions must keep meeting in the same room.
    let fixed = WorkspaceId::parse("018f6b1c-2e4a-7d00-8abc-1234567890ab").unwrap();
    assert_eq!(room_name(fixed), ROOM_FOR_FIXED_WORKSPACE);
}

const ROOM_FOR_FIXED_WORKSPACE: &str = "86d81b2cbe85bddd7c847d42b23a2683";

// ---------------------------------------------------------------------------
// The share link.

fn link(relay: Option<&str>) -> ShareLink {
    ShareLink { workspace: workspace_id(3), admission: Admission::Secret(secret(9)), relay: relay.map(str::to_owned) }
}

#[test]
fn a_link_without_relay_round_trips() {
    let link = link(None);
    let fragment = link.to_fragment();
    assert_eq!(fragment, format!("#/join/{}/{}", link.workspace, secret(9).to_text()));
    assert_eq!(ShareLink::parse(&fragment), Ok(link));
}

#[test]
fn a_link_with_a_relay_round_trips_with_the_address_escaped() {
    let address = "wss://relay.example:8443/ws?x=1&z=é#top";
    let link = link(Some(address));
    let fragment = link.to_fragment();
    assert!(
        fragment.ends_with("?relay=wss%3A%2F%2Frelay.example%3A8443%2Fws%3Fx%3D1%26z%3D%C3%A9%23top"),
        "{fragment}"
    );
    assert_eq!(ShareLink::parse(&fragment), Ok(link.clone()));

    let plain = self::link(Some("ws://192.168.1.20:8080/ws"));
    assert_eq!(ShareLink::parse(&plain.to_fragment()), Ok(plain));
}

#[test]
fn links_are_read_the_way_people_paste_them() {
    let link = link(Some("wss://relay.example/ws"));
    let fragment = link.to_fragment();
    let bare = fragment.strip_prefix('#').unwrap();
    let cases = [
        fragment.clone(),
        bare.to_owned(),
        format!("https://openprod.example/app/{fragment}"),
        format!("http://192.168.1.20:8080/{fragment}"),
        format!("  {fragment}\n"),
        format!("https://openprod.example/{fragment}&later=1"), // a parameter from a later version
    ];
    for case in cases {
        assert_eq!(ShareLink::parse(&case), Ok(link.clone()), "{case:?}");
    }
    // A slash after the secret, as some chat apps add.
    let without_relay = self::link(None);
    assert_eq!(ShareLink::parse(&format!("{}/", without_relay.to_fragment())), Ok(without_relay));
}

#[test]
fn links_that_cannot_be_used_say_why() {
    let id = workspace_id(3).to_string();
    let key = secret(9).to_text();
    let cases = [
        ("https://openprod.example/", LinkError::NotAJoinLink),
        ("https://openprod.example/#/w/abc", LinkError::NotAJoinLink),
        ("", LinkError::NotAJoinLink),
        ("#join/x/y", LinkError::NotAJoinLink),
        (&format!("#/join/not-a-uuid/{key}"), LinkError::BadWorkspaceId),
        (&format!("#/join//{key}"), LinkError::BadWorkspaceId),
        (&format!("#/join/{id}"), LinkError::BadSecret),
        (&format!("#/join/{id}/"), LinkError::BadSecret),
        (&format!("#/join/{id}/{}", &key[..40]), LinkError::BadSecret),
        (&format!("#/join/{id}/{key}/extra"), LinkError::BadSecret),
        (&format!("#/join/{id}/{key}?relay="), LinkError::BadRelay),
        (&format!("#/join/{id}/{key}?relay=https%3A%2F%2Fexample.org"), LinkError::BadRelay),
        (&format!("#/join/{id}/{key}?relay=ws%3A%2F%2F"), LinkError::BadRelay),
        (&format!("#/join/{id}/{key}?relay=ws%3A%2F%2F%2Fws"), LinkError::BadRelay),
        (&format!("#/join/{id}/{key}?relay=wss%3A%2F%2Fa%20b"), LinkError::BadRelay),
        (&format!("#/join/{id}/{key}?relay=wss%3A%2F%2Fa%0A"), LinkError::BadRelay),
        (&format!("#/join/{id}/{key}?relay=wss%3A%2F%2Fa%2"), LinkError::BadRelay),
        (&format!("#/join/{id}/{key}?relay=wss%3A%2F%2Fa%zz"), LinkError::BadRelay),
        (&format!("#/join/{id}/{key}?relay=wss%3A%2F%2Fa%FF"), LinkError::BadRelay),
        (&format!("#/join/{id}/{key}?relay=ws%3A%2F%2Fa&relay=ws%3A%2F%2Fb"), LinkError::BadRelay),
    ];
    for (text, expected) in cases {
        assert_eq!(ShareLink::parse(text), Err(expected), "{text:?}");
    }
    // An unescaped address still reads, as long as it is a WebSocket one.
    let unescaped = ShareLink::parse(&format!("#/join/{id}/{key}?relay=WSS://relay.example/ws")).unwrap();
    assert_eq!(unescaped.relay.as_deref(), Some("WSS://relay.example/ws"));
}

#[test]
fn links_without_a_secret_say_how_their_holder_gets_in() {
    let id = workspace_id(3);
    for (admission, by) in [(Admission::AccessKey, "key"), (Admission::Request, "request")] {
        let link =
            ShareLink { workspace: id, admission: admission.clone(), relay: Some("ws://10.0.0.2:8080/ws".into()) };
        let fragment = link.to_fragment();
        assert_eq!(fragment, format!("#/join/{id}?by={by}&relay=ws%3A%2F%2F10.0.0.2%3A8080%2Fws"));
        assert_eq!(ShareLink::parse(&fragment), Ok(link));
        let plain = ShareLink { workspace: id, admission, relay: None };
        assert_eq!(plain.to_fragment(), format!("#/join/{id}?by={by}"));
        assert_eq!(ShareLink::parse(&plain.to_fragment()), Ok(plain));
    }
    // A secret wins over a stray `by`; a missing secret with an unknown `by` is a cut link.
    let key = secret(9).to_text();
    let with_both = ShareLink::parse(&format!("#/join/{id}/{key}?by=request")).unwrap();
    assert_eq!(with_both.admission, Admission::Secret(secret(9)));
    assert_eq!(ShareLink::parse(&format!("#/join/{id}?by=magic")), Err(LinkError::BadSecret));
}

#[test]
fn link_errors_are_plain_words() {
    for (error, words) in [
        (LinkError::NotAJoinLink, "not an Openprod invitation link"),
        (LinkError::BadWorkspaceId, "ask for the link again"),
        (LinkError::BadSecret, "copy all of it"),
        (LinkError::BadRelay, "ws:// or wss://"),
    ] {
        assert!(error.to_string().contains(words), "{error}");
    }
}

// ---------------------------------------------------------------------------
// The hello.

/// One side of a channel: who, and what it sees of the connection.
struct Side {
    identity: Identity,
    name: &'static str,
    binding: ChannelBinding,
}

fn direct(local: &str, remote: &str) -> ChannelBinding {
    ChannelBinding::Direct { local_fingerprint: local.to_owned(), remote_fingerprint: remote.to_owned() }
}

fn relayed(local: u8, remote: u8) -> ChannelBinding {
    ChannelBinding::Relayed { local_nonce: [local; 16], remote_nonce: [remote; 16] }
}

const JANE_FP: &str =
    "sha-256 AA:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";
const ALEX_FP: &str =
    "sha-256 BB:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";
const RELAY_FP_1: &str =
    "sha-256 C1:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";
const RELAY_FP_2: &str =
    "sha-256 C2:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";

/// Jane and Alex on one channel, each seeing it from their end.
fn pair(jane: ChannelBinding, alex: ChannelBinding) -> (Side, Side) {
    (
        Side { identity: identity("jane"), name: "Jane", binding: jane },
        Side { identity: identity("alex"), name: "Alex", binding: alex },
    )
}

fn hello(from: &Side) -> Vec<u8> {
    seal_hello(&from.identity, from.name, workspace_id(1), &secret(1), &from.binding)
}

fn open(frame: &[u8], at: &Side) -> Result<PeerIntroduction, AuthError> {
    open_hello(frame, workspace_id(1), &secret(1), &at.binding)
}

fn introduction(side: &Side) -> PeerIntroduction {
    PeerIntroduction { actor: side.identity.actor_id(), display_name: side.name.to_owned() }
}

#[test]
fn hellos_are_accepted_both_ways_on_a_direct_channel() {
    let (jane, alex) = pair(direct(JANE_FP, ALEX_FP), direct(ALEX_FP, JANE_FP));
    assert_eq!(open(&hello(&jane), &alex), Ok(introduction(&jane)));
    assert_eq!(open(&hello(&alex), &jane), Ok(introduction(&alex)));
}

#[test]
fn hellos_are_accepted_both_ways_on_a_relayed_channel() {
    let (jane, alex) = pair(relayed(1, 2), relayed(2, 1));
    assert_eq!(open(&hello(&jane), &alex), Ok(introduction(&jane)));
    assert_eq!(open(&hello(&alex), &jane), Ok(introduction(&alex)));
}

#[test]
fn fingerprints_match_whatever_their_case_and_surrounding_spaces() {
    let shouted = format!("  {}\t", JANE_FP.to_uppercase());
    let (jane, alex) = pair(direct(&shouted, ALEX_FP), direct(&ALEX_FP.to_lowercase(), &JANE_FP.to_lowercase()));
    assert_eq!(open(&hello(&jane), &alex), Ok(introduction(&jane)));
    assert_eq!(open(&hello(&alex), &jane), Ok(introduction(&alex)));
}

#[test]
fn a_device_without_the_secret_is_refused() {
    let (jane, alex) = pair(direct(JANE_FP, ALEX_FP), direct(ALEX_FP, JANE_FP));
    let stranger = seal_hello(&jane.identity, "Jane", workspace_id(1), &secret(2), &jane.binding);
    assert_eq!(open(&stranger, &alex), Err(AuthError::WrongSecret));
    let (jane, alex) = pair(relayed(1, 2), relayed(2, 1));
    let stranger = seal_hello(&jane.identity, "Jane", workspace_id(1), &secret(2), &jane.binding);
    assert_eq!(open(&stranger, &alex), Err(AuthError::WrongSecret));
}

#[test]
fn a_device_of_another_workspace_is_refused() {
    let (jane, alex) = pair(direct(JANE_FP, ALEX_FP), direct(ALEX_FP, JANE_FP));
    let elsewhere = seal_hello(&jane.identity, "Jane", workspace_id(2), &secret(1), &jane.binding);
    assert_eq!(open(&elsewhere, &alex), Err(AuthError::OtherWorkspace));
}

#[test]
fn a_hello_replayed_onto_another_channel_is_refused() {
    let (jane, _) = pair(direct(JANE_FP, ALEX_FP), direct(ALEX_FP, JANE_FP));
    let recorded = hello(&jane);
    // Later, someone replays Jane's hello to Alex on a new connection: new
    // certificates, or at least a new one on Alex's side.
    let later = Side { identity: identity("alex"), name: "Alex", binding: direct(RELAY_FP_1, RELAY_FP_2) };
    assert_eq!(open(&recorded, &later), Err(AuthError::ChannelMismatch));
    let alex_new_cert = Side { identity: identity("alex"), name: "Alex", binding: direct(RELAY_FP_1, JANE_FP) };
    assert_eq!(open(&recorded, &alex_new_cert), Err(AuthError::ChannelMismatch));

    // The same with relayed sessions: each side picks a fresh nonce.
    let (jane, _) = pair(relayed(1, 2), relayed(2, 1));
    let recorded = hello(&jane);
    for binding in [relayed(3, 1), relayed(2, 3), relayed(4, 5)] {
        let alex = Side { identity: identity("alex"), name: "Alex", binding };
        assert_eq!(open(&recorded, &alex), Err(AuthError::ChannelMismatch));
    }
    // A relayed hello never passes for a direct one, nor the other way.
    let direct_alex = Side { identity: identity("alex"), name: "Alex", binding: direct(ALEX_FP, JANE_FP) };
    assert_eq!(open(&recorded, &direct_alex), Err(AuthError::ChannelMismatch));
}

#[test]
fn a_relay_that_swaps_offers_is_caught() {
    // Jane <-> relay <-> Alex: the relay answered each with its own offer, so
    // Jane's DTLS connection ends at the relay's first certificate and
    // Alex's at its second. It forwards Jane's hello to Alex unchanged.
    let jane = Side { identity: identity("jane"), name: "Jane", binding: direct(JANE_FP, RELAY_FP_1) };
    let alex = Side { identity: identity("alex"), name: "Alex", binding: direct(ALEX_FP, RELAY_FP_2) };
    let error = open(&hello(&jane), &alex).unwrap_err();
    assert_eq!(error, AuthError::ChannelMismatch);
    assert_eq!(error.to_string(), "the connection was tampered with on its way (the relay may have swapped it)");
    assert_eq!(open(&hello(&alex), &jane), Err(AuthError::ChannelMismatch));

    // It cannot rewrite the fingerprints in the hello either: without the
    // secret it cannot make the proof for the new ones.
    let rewritten = seal_hello(&identity("relay"), "Jane", workspace_id(1), &secret(99), &direct(RELAY_FP_2, ALEX_FP));
    assert_eq!(open(&rewritten, &alex), Err(AuthError::WrongSecret));

    // Nor swap only the relayed nonces it carries.
    let jane = Side { identity: identity("jane"), name: "Jane", binding: relayed(1, 8) };
    let alex = Side { identity: identity("alex"), name: "Alex", binding: relayed(2, 9) };
    assert_eq!(open(&hello(&jane), &alex), Err(AuthError::ChannelMismatch));
}

#[test]
fn a_hello_sent_back_to_its_sender_is_refused() {
    let (jane, _) = pair(direct(JANE_FP, ALEX_FP), direct(ALEX_FP, JANE_FP));
    assert_eq!(open(&hello(&jane), &jane), Err(AuthError::ChannelMismatch));
    let (jane, _) = pair(relayed(1, 2), relayed(2, 1));
    assert_eq!(open(&hello(&jane), &jane), Err(AuthError::ChannelMismatch));
    // A relay that hands Jane her own nonce as the other side's makes both
    // ends look the same; her own hello must still not pass for a peer's.
    let mirrored = Side { identity: identity("jane"), name: "Jane", binding: relayed(1, 1) };
    assert_eq!(open(&hello(&mirrored), &mirrored), Err(AuthError::ChannelMismatch));
    let mirrored = Side { identity: identity("jane"), name: "Jane", binding: direct(JANE_FP, JANE_FP) };
    assert_eq!(open(&hello(&mirrored), &mirrored), Err(AuthError::ChannelMismatch));
}

/// Offset of the display name's first byte: version, workspace, actor, one-byte length.
const NAME_AT: usize = 1 + 16 + 32 + 1;

#[test]
fn a_tampered_display_name_or_actor_is_refused() {
    let (jane, alex) = pair(direct(JANE_FP, ALEX_FP), direct(ALEX_FP, JANE_FP));
    let genuine = hello(&jane);

    let mut renamed = genuine.clone();
    assert_eq!(&renamed[NAME_AT..NAME_AT + 4], b"Jane");
    renamed[NAME_AT..NAME_AT + 4].copy_from_slice(b"Joan");
    assert_eq!(open(&renamed, &alex), Err(AuthError::WrongSecret), "the proof covers the name");

    // Someone who holds the secret (another member) cannot pass as Jane:
    // the proof is theirs to make, the signature is not.
    let member = identity("mallory");
    let mut as_jane = seal_hello(&member, "Jane", workspace_id(1), &secret(1), &jane.binding);
    as_jane[17..49].copy_from_slice(jane.identity.actor_id().as_bytes());
    // The proof over the altered transcript must be redone too; only the
    // signature then stands in the way.
    let transcript_end = as_jane.len() - 32 - 64;
    let key = blake3::derive_key("openprod peer proof v1", secret(1).as_bytes());
    let proof = blake3::keyed_hash(&key, &as_jane[..transcript_end]);
    as_jane[transcript_end..transcript_end + 32].copy_from_slice(proof.as_bytes());
    assert_eq!(open(&as_jane, &alex), Err(AuthError::BadSignature));

    // Swapping the actor alone, without redoing the proof.
    let mut swapped = genuine.clone();
    swapped[17..49].copy_from_slice(member.actor_id().as_bytes());
    assert_eq!(open(&swapped, &alex), Err(AuthError::WrongSecret));

    // A renamed hello with a fresh proof still fails the signature.
    let mut renamed = genuine.clone();
    renamed[NAME_AT..NAME_AT + 4].copy_from_slice(b"Joan");
    let proof = blake3::keyed_hash(&key, &renamed[..transcript_end]);
    renamed[transcript_end..transcript_end + 32].copy_from_slice(proof.as_bytes());
    assert_eq!(open(&renamed, &alex), Err(AuthError::BadSignature));

    assert_eq!(open(&genuine, &alex), Ok(introduction(&jane)));
}

#[test]
fn every_single_byte_change_is_refused() {
    let (jane, alex) = pair(relayed(1, 2), relayed(2, 1));
    let genuine = hello(&jane);
    for index in 0..genuine.len() {
        for flip in [0x01, 0x80, 0xff] {
            let mut altered = genuine.clone();
            altered[index] ^= flip;
            assert!(open(&altered, &alex).is_err(), "byte {index} ^ {flip:#x} was accepted");
        }
    }
}

#[test]
fn long_display_names_are_cut_on_a_character_boundary() {
    let (jane, alex) = pair(direct(JANE_FP, ALEX_FP), direct(ALEX_FP, JANE_FP));
    // 'é' is two bytes: 199 'a's and a whole 'é' would need 201.
    let long = format!("{}é and more", "a".repeat(MAX_DISPLAY_NAME_BYTES - 1));
    let frame = seal_hello(&jane.identity, &long, workspace_id(1), &secret(1), &jane.binding);
    let peer = open(&frame, &alex).unwrap();
    assert_eq!(peer.display_name, "a".repeat(MAX_DISPLAY_NAME_BYTES - 1));

    let exact = "é".repeat(MAX_DISPLAY_NAME_BYTES / 2);
    let frame = seal_hello(&jane.identity, &exact, workspace_id(1), &secret(1), &jane.binding);
    assert_eq!(open(&frame, &alex).unwrap().display_name, exact);

    let frame = seal_hello(&jane.identity, "", workspace_id(1), &secret(1), &jane.binding);
    assert_eq!(open(&frame, &alex).unwrap().display_name, "");
}

#[test]
fn an_overlong_name_is_refused() {
    // A device that does not cut its name: the receiver refuses rather than
    // show a name of any length.
    let (jane, alex) = pair(relayed(1, 2), relayed(2, 1));
    let short = hello(&jane);
    let mut long = short[..NAME_AT - 1].to_vec();
    let name = "n".repeat(MAX_DISPLAY_NAME_BYTES + 1);
    long.extend_from_slice(&[0xc9, 0x01]); // varint 201
    long.extend_from_slice(name.as_bytes());
    long.extend_from_slice(&short[NAME_AT + 4..]);
    assert!(matches!(open(&long, &alex), Err(AuthError::Malformed(error)) if error.offset == NAME_AT - 1));
}

#[test]
fn truncated_and_garbage_hellos_are_errors_not_panics() {
    let (jane, alex) = pair(direct(JANE_FP, ALEX_FP), direct(ALEX_FP, JANE_FP));
    let genuine = hello(&jane);
    for length in 0..genuine.len() {
        assert!(open(&genuine[..length], &alex).is_err(), "cut at {length}");
    }
    let mut trailing = genuine.clone();
    trailing.push(0);
    assert!(matches!(open(&trailing, &alex), Err(AuthError::Malformed(_))));
    assert!(matches!(open(&[], &alex), Err(AuthError::Malformed(_))));
    assert_eq!(open(&[2], &alex), Err(AuthError::UnknownVersion(2)));
    let mut unknown_kind = genuine.clone();
    unknown_kind[NAME_AT + 4] = 7;
    assert!(matches!(open(&unknown_kind, &alex), Err(AuthError::Malformed(_))));
}

#[test]
fn auth_errors_are_plain_words() {
    let malformed = open_hello(&[1, 2, 3], workspace_id(1), &secret(1), &relayed(1, 2)).unwrap_err();
    assert!(malformed.to_string().starts_with("the other device's greeting could not be read: damaged data"));
    assert!(AuthError::UnknownVersion(2).to_string().contains("update both"));
    assert!(AuthError::OtherWorkspace.to_string().contains("another workspace"));
    assert!(AuthError::WrongSecret.to_string().contains("invitation link"));
    assert!(AuthError::BadSignature.to_string().contains("not signed by the person it names"));
}

#[cfg(not(target_arch = "wasm32"))]
mod hostile_bytes {
    use super::*;
    use proptest::prelude::*;

    fn config() -> ProptestConfig {
        ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() }
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn random_bytes_never_open(frame in proptest::collection::vec(any::<u8>(), 0..400)) {
            let (_, alex) = pair(direct(JANE_FP, ALEX_FP), direct(ALEX_FP, JANE_FP));
            prop_assert!(open(&frame, &alex).is_err());
        }

        #[test]
        fn random_damage_to_a_genuine_hello_never_opens(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), 1..=255u8), 1..4),
        ) {
            let (jane, alex) = pair(direct(JANE_FP, ALEX_FP), direct(ALEX_FP, JANE_FP));
            let mut frame = hello(&jane);
            let length = frame.len();
            for (index, flip) in edits {
                frame[index.index(length)] ^= flip;
            }
            // Edits may cancel out: then it is the genuine hello again.
            prop_assert_eq!(open(&frame, &alex).is_ok(), frame == hello(&jane));
        }

        #[test]
        fn any_name_and_binding_round_trip(
            name in ".{0,80}",
            local in "[ -~]{0,120}",
            remote in "[ -~]{0,120}",
            nonces in any::<([u8; 16], [u8; 16])>(),
        ) {
            let normalized = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
            let cases = [
                (direct(&local, &remote), direct(&remote, &local), normalized(&local) == normalized(&remote)),
                (
                    ChannelBinding::Relayed { local_nonce: nonces.0, remote_nonce: nonces.1 },
                    ChannelBinding::Relayed { local_nonce: nonces.1, remote_nonce: nonces.0 },
                    nonces.0 == nonces.1,
                ),
            ];
            for (jane_sees, alex_sees, looped) in cases {
                let frame = seal_hello(&identity("jane"), &name, workspace_id(1), &secret(1), &jane_sees);
                let opened = open_hello(&frame, workspace_id(1), &secret(1), &alex_sees);
                if looped {
                    prop_assert_eq!(opened, Err(AuthError::ChannelMismatch));
                } else {
                    let peer = opened.map_err(|error| TestCaseError::fail(error.to_string()))?;
                    prop_assert_eq!(peer.actor, identity("jane").actor_id());
                    prop_assert!(name.starts_with(&peer.display_name));
                    prop_assert!(peer.display_name.len() <= MAX_DISPLAY_NAME_BYTES);
                }
            }
        }
    }
}
