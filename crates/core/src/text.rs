//! Text a person must be able to read: "not blank" means at least one visible character,
//! not merely a non-empty string (zero-width spaces, joiners, bidirectional marks and
//! other invisible characters do not count).

/// Whether `c` shows nothing on its own: whitespace, control characters, and Unicode's
/// default-ignorable code points (plus the blank Braille pattern and Hangul fillers,
/// which render as empty space).
pub fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(
            c as u32,
            0x00AD
                | 0x034F
                | 0x061C
                | 0x115F..=0x1160
                | 0x17B4..=0x17B5
                | 0x180B..=0x180F
                | 0x200B..=0x200F
                | 0x202A..=0x202E
                | 0x2060..=0x206F
                | 0x2800
                | 0x3164
                | 0xFE00..=0xFE0F
                | 0xFEFF
                | 0xFFA0
                | 0xFFF0..=0xFFF8
                | 0x1BCA0..=0x1BCA3
                | 0x1D173..=0x1D17A
                | 0xE0000..=0xE0FFF
        )
}

/// Visible characters in `text`.
pub fn visible_len(text: &str) -> usize {
    text.chars().filter(|c| !is_invisible(*c)).count()
}

/// Whether `text` has no visible character.
pub fn is_blank(text: &str) -> bool {
    text.chars().all(is_invisible)
}

/// Longest reason a person may give (a rejection, a revocation, a suspension, a release,
/// a cancellation).
pub const MAX_REASON_LEN: usize = 1000;

/// A reason a person gave, trimmed: `None` when it is blank or longer than
/// [`MAX_REASON_LEN`] characters.
pub fn reason(raw: &str) -> Option<&str> {
    let reason = raw.trim();
    (!is_blank(reason) && reason.chars().count() <= MAX_REASON_LEN).then_some(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_visible_and_bounded() {
        assert_eq!(reason("  licence lapsed "), Some("licence lapsed"));
        assert_eq!(reason(" \u{200B} "), None);
        assert_eq!(reason(&"r".repeat(1001)), None);
        assert!(reason(&"r".repeat(1000)).is_some());
    }

    #[test]
    fn invisible_text_is_blank() {
        for blank in [
            "",
            "   ",
            "\u{200B}",
            "\u{200B}\u{200C}\u{200D}\u{2060}\u{FEFF}",
            "\u{202E}\u{00AD}\t\n",
            "\u{2800}\u{3164}",
            "\u{E0041}\u{E0042}",
        ] {
            assert!(is_blank(blank), "{blank:?}");
        }
        for visible in ["a", " 4 West ", "\u{200B}x\u{200B}", "é", "护士", "👩‍⚕️"] {
            assert!(!is_blank(visible), "{visible:?}");
        }
        assert_eq!(visible_len("\u{200B}ab\u{200D}c"), 3);
    }
}
