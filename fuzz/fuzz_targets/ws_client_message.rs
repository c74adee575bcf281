//! Arbitrary bytes as a WebSocket client message (`GET /v1/ws`).
//!
//! The server reads text frames with `serde_json::from_str::<ClientMessage>`
//! (crates/notify/src/connection.rs). Parsing must never panic; a message that parses
//! must survive a serialise/parse round trip unchanged (positions to within a few units in
//! the last place, see `same_f64`), and the byte and text parsers must agree.

#![no_main]

use libfuzzer_sys::fuzz_target;
use shiftwire_core::{Coordinates, ws::ClientMessage};

fuzz_target!(|data: &[u8]| {
    let parsed = serde_json::from_slice::<ClientMessage>(data);

    // What the server actually calls on a text frame: the same answer.
    if let Ok(text) = std::str::from_utf8(data) {
        let from_text = serde_json::from_str::<ClientMessage>(text);
        match (&parsed, &from_text) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "from_slice and from_str disagree"),
            (Err(_), Err(_)) => {}
            _ => panic!("from_slice and from_str disagree: {parsed:?} vs {from_text:?}"),
        }
    }

    let Ok(message) = parsed else { return };
    let json = serde_json::to_vec(&message).expect("a parsed message serialises");
    let again: ClientMessage = serde_json::from_slice(&json).unwrap_or_else(|e| {
        panic!(
            "re-parse of {:?} failed: {e}",
            String::from_utf8_lossy(&json)
        )
    });
    let same = match (&message, &again) {
        (
            ClientMessage::Location { lat, lon },
            ClientMessage::Location {
                lat: lat2,
                lon: lon2,
            },
        ) => same_f64(*lat, *lat2) && same_f64(*lon, *lon2),
        (a, b) => a == b,
    };
    assert!(
        same,
        "round trip changed the message: {message:?} became {again:?} (serialised as {:?})",
        String::from_utf8_lossy(&json)
    );

    // What the server does next with a position: validate it; that must not panic either.
    if let ClientMessage::Location { lat, lon } = message {
        let _ = Coordinates::new(lat, lon);
    }
});

/// Equal, or within a few units in the last place. serde_json without its
/// `float_roundtrip` feature (the server's build) parses some decimal strings one unit in
/// the last place away from the nearest `f64`: e.g. a `lon` written as an 84-digit integer
/// reads as -1.81e83, which serialises as "-1.81e+83", which reads as
/// -1.8099999999999998e83. That is serde_json's documented trade-off, not a server bug
/// (a position is about 1e-14 degrees off at most, and the server never re-serialises a
/// client message), so the round trip only has to be that close.
fn same_f64(a: f64, b: f64) -> bool {
    let diff = (a - b).abs();
    a == b || diff <= 4.0 * f64::EPSILON * a.abs().max(b.abs()) || diff <= f64::MIN_POSITIVE
}
