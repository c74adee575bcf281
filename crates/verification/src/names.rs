//! Comparing a registry's holder name with a nurse's verified legal name.
//!
//! The rule (written out in `api-spec/decisions.md`): both names are reduced to words
//! without case, accents or punctuation; generational suffixes (Jr, Sr, II, III, IV) are
//! dropped; "Last, First Middle" reads as "First Middle Last". Two names match when their
//! first and last words are equal and the middle words of one are, in order, among the
//! middle words of the other, where an initial matches any word it begins. A missing
//! middle name is therefore no mismatch, a different first or last name always is.

use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};

/// Words that end a name without being part of it.
const SUFFIXES: [&str; 5] = ["jr", "sr", "ii", "iii", "iv"];

/// The words of a name as compared: lower-case ASCII-folded letters and digits.
pub fn name_words(name: &str) -> Vec<String> {
    // "Okafor, Amara" is "Amara Okafor".
    let reordered = match name.split_once(',') {
        Some((last, rest)) if !rest.contains(',') && !rest.trim().is_empty() => {
            format!("{rest} {last}")
        }
        _ => name.to_owned(),
    };
    let folded: String = reordered
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect::<String>()
        .replace('ß', "ss");
    let mut words: Vec<String> = folded
        // An apostrophe joins (O'Brien is OBrien); every other mark separates.
        .replace(['\'', '\u{2019}', '\u{02bc}'], "")
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect();
    while words.len() > 2 && words.last().is_some_and(|w| SUFFIXES.contains(&w.as_str())) {
        words.pop();
    }
    words
}

/// Whether a registry holder name and a legal name name the same person (see the module
/// documentation for the rule).
pub fn names_match(a: &str, b: &str) -> bool {
    let (a, b) = (name_words(a), name_words(b));
    match (a.as_slice(), b.as_slice()) {
        ([], _) | (_, []) => false,
        ([one], [other]) => one == other,
        ([_], _) | (_, [_]) => false,
        ([first_a, middle_a @ .., last_a], [first_b, middle_b @ .., last_b]) => {
            if first_a != first_b || last_a != last_b {
                return false;
            }
            let (short, long) = if middle_a.len() <= middle_b.len() {
                (middle_a, middle_b)
            } else {
                (middle_b, middle_a)
            };
            in_order_within(short, long)
        }
    }
}

/// Whether every word of `short` matches a word of `long`, in order.
fn in_order_within(short: &[String], long: &[String]) -> bool {
    let mut rest = long.iter();
    short
        .iter()
        .all(|word| rest.by_ref().any(|other| same_middle(word, other)))
}

/// Equal, or one is the initial of the other.
fn same_middle(a: &str, b: &str) -> bool {
    let initial = |w: &str, of: &str| w.chars().count() == 1 && of.starts_with(w);
    a == b || initial(a, b) || initial(b, a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples_of_the_rule() {
        for (a, b) in [
            ("Amara Okafor", "AMARA  okafor"),
            ("José Álvarez", "Jose Alvarez"),
            ("Zoë Brontë-Smith", "ZOE BRONTE SMITH"),
            ("Siobhán O'Brien", "Siobhan OBrien"),
            ("Amara N. Okafor", "Amara Okafor"),
            ("Amara Nneka Okafor", "Amara N Okafor"),
            ("Luis Herrera Jr.", "Luis Herrera"),
            ("Okafor, Amara", "Amara Okafor"),
            ("Mary Anne Louise Smith", "Mary Louise Smith"),
            ("Strauß Anna", "STRAUSS ANNA"),
        ] {
            assert!(names_match(a, b), "{a:?} = {b:?}");
            assert!(names_match(b, a), "{b:?} = {a:?}");
        }
        for (a, b) in [
            ("Amara Okafor", "Amara Okafor-Bello"),
            ("Amara Okafor", "Ada Okafor"),
            ("Amara Nneka Okafor", "Amara Chioma Okafor"),
            ("Amara Okafor", "Okafor"),
            ("Amara", "Amara Okafor"),
            ("", ""),
            ("Amara Okafor", "Amara"),
            ("Mary Louise Anne Smith", "Mary Anne Louise Ann Smith Jones"),
        ] {
            assert!(!names_match(a, b), "{a:?} != {b:?}");
        }
        assert_eq!(name_words("Henry Ford II"), ["henry", "ford"]);
        assert_eq!(
            name_words("Iv Jr"),
            ["iv", "jr"],
            "a two-word name keeps both"
        );
    }

    fn word() -> impl Strategy<Value = String> {
        "[a-z]{2,9}".prop_filter("a name, not a suffix", |w| !SUFFIXES.contains(&w.as_str()))
    }

    /// Letters with accents that fold to the plain letter.
    fn decorate(word: &str, seed: u64) -> String {
        word.chars()
            .enumerate()
            .map(|(i, c)| {
                let pick = (seed >> (i % 60)) & 3;
                match (c, pick) {
                    ('a', 1) => 'Á',
                    ('e', 1) => 'è',
                    ('o', 1) => 'Ö',
                    ('u', 1) => 'ü',
                    ('n', 2) => 'ñ',
                    ('c', 2) => 'ç',
                    (c, 3) => c.to_ascii_uppercase(),
                    (c, _) => c,
                }
            })
            .collect()
    }

    proptest! {
        #[test]
        fn case_accents_and_punctuation_never_matter(
            first in word(), middle in word(), last in word(), seed: u64,
        ) {
            let plain = format!("{first} {middle} {last}");
            let fancy = format!(
                " {} , {}. {} ",
                decorate(&last, seed),
                decorate(&first, seed.rotate_left(7)),
                decorate(&middle, seed.rotate_left(13)),
            );
            prop_assert!(names_match(&plain, &fancy), "{} / {}", plain, fancy);
            prop_assert!(names_match(&fancy, &plain));
        }

        #[test]
        fn middle_names_and_suffixes_may_be_left_out(
            first in word(), middle in word(), last in word(),
            suffix in prop::sample::select(vec!["Jr.", "Sr", "II", "III", "iv"]),
        ) {
            let full = format!("{first} {middle} {last} {suffix}");
            let short = format!("{first} {last}");
            prop_assert!(names_match(&full, &short));
            let initial = &middle[..1];
            let with_initial = format!("{first} {initial}. {last}");
            prop_assert!(names_match(&full, &with_initial));
        }

        #[test]
        fn another_first_or_last_name_never_matches(
            first in word(), other_first in word(), last in word(), other_last in word(),
            middle in prop::option::of(word()),
        ) {
            let middle = middle.map(|m| format!("{m} ")).unwrap_or_default();
            let name = format!("{first} {middle}{last}");
            let moved = format!("{first} {other_last}");
            if other_last != last {
                prop_assert!(!names_match(&name, &moved));
            }
            let renamed = format!("{other_first} {last}");
            if other_first != first {
                prop_assert!(!names_match(&name, &renamed));
            }
        }

        #[test]
        fn matching_is_symmetric(a in "[A-Za-z ,.'-]{0,30}", b in "[A-Za-z ,.'-]{0,30}") {
            prop_assert_eq!(names_match(&a, &b), names_match(&b, &a));
        }
    }
}
