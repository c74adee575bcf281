//! Arbitrary bytes as an uploaded credential document: the server's content sniffing
//! (`shiftwire_verification::sniff_document_type`, called by `upload_document`).
//!
//! Must never panic, must be deterministic, and may accept only PDF, JPEG and PNG, each
//! only when the bytes really start with that format's signature.

#![no_main]

use libfuzzer_sys::fuzz_target;
use shiftwire_verification::sniff_document_type;

fuzz_target!(|data: &[u8]| {
    let sniffed = sniff_document_type(data);
    assert_eq!(
        sniffed,
        sniff_document_type(data),
        "sniffing is not deterministic"
    );
    let Some(mime) = sniffed else { return };
    let signature: &[u8] = match mime {
        "application/pdf" => b"%PDF",
        "image/jpeg" => &[0xFF, 0xD8, 0xFF],
        "image/png" => &[0x89, b'P', b'N', b'G'],
        other => panic!("accepted a type that is not allowed: {other:?}"),
    };
    assert!(
        data.starts_with(signature),
        "accepted as {mime} without its signature: {:?}",
        &data[..data.len().min(16)]
    );
});
