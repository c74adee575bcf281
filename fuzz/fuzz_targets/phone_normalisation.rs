//! Arbitrary UTF-8 as a phone number typed at sign-in (`Phone::parse`).
//!
//! Must never panic. A number that parses is in E.164 form (`+` then 7 to 15 digits, the
//! first not 0: what the `users.phone` column's CHECK admits), re-parses to the same
//! number, and its masked forms (`Debug`, `masked()`) never show the full number: at most
//! its last two digits.

#![no_main]

use libfuzzer_sys::fuzz_target;
use shiftwire_core::Phone;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(phone) = Phone::parse(input) else {
        return;
    };

    let e164 = phone.as_e164();
    let digits = e164
        .strip_prefix('+')
        .unwrap_or_else(|| panic!("{input:?} normalised to {e164:?}, without a leading '+'"));
    // E.164, and exactly what the `users.phone` column admits
    // (`CHECK (phone ~ '^\+[1-9][0-9]{6,14}$')`): a number `parse` accepts must be storable.
    assert!(
        (7..=15).contains(&digits.len())
            && !digits.starts_with('0')
            && digits.bytes().all(|b| b.is_ascii_digit()),
        "{input:?} normalised to {e164:?}, which is not E.164 (7 to 15 digits) \
         and which the users table refuses"
    );

    match Phone::parse(e164) {
        Ok(again) => assert_eq!(
            again.as_e164(),
            e164,
            "{input:?} normalised to {e164:?}, which re-parses to another number"
        ),
        Err(e) => panic!("{input:?} normalised to {e164:?}, which does not re-parse: {e}"),
    }

    for shown in [format!("{phone:?}"), phone.masked()] {
        assert!(
            !shown.contains(digits),
            "masked form {shown:?} shows the full number {e164:?}"
        );
        let shown_digits = shown.bytes().filter(u8::is_ascii_digit).count();
        assert!(
            shown_digits <= 2,
            "masked form {shown:?} of {e164:?} shows {shown_digits} digits"
        );
    }
});
