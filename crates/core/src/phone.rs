use phonenumber::{Mode, PhoneNumber};
use std::fmt;

/// A mobile phone number in E.164 form (`+15551234567`), built only by [`Phone::parse`].
///
/// `Debug` masks all but the last two digits so a number never reaches a log by accident.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PhoneError {
    #[error("the phone number could not be read; use international form, e.g. +1 555 010 0100")]
    Unparseable,
    #[error("the phone number is not a valid number")]
    Invalid,
}

/// Longest input we try to parse; real numbers with spacing are far shorter.
const MAX_INPUT_LEN: usize = 32;

impl Phone {
    /// Parses a number written in international form (a leading `+` and country code) or
    /// as a US national number, and normalises it to E.164.
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        let input = input.trim();
        if input.is_empty()
            || input.len() > MAX_INPUT_LEN
            || !input
                .chars()
                .all(|c| c.is_ascii_digit() || " +-().".contains(c))
        {
            return Err(PhoneError::Unparseable);
        }
        // Without a country code we read the number as a US one: Shiftwire's facilities
        // are in the US, and that is how US nurses type their number.
        let default_region = if input.starts_with('+') {
            None
        } else {
            Some(phonenumber::country::Id::US)
        };
        let parsed: PhoneNumber =
            phonenumber::parse(default_region, input).map_err(|_| PhoneError::Unparseable)?;
        if !phonenumber::is_valid(&parsed) {
            return Err(PhoneError::Invalid);
        }
        let e164 = parsed.format().mode(Mode::E164).to_string();
        // The metadata accepts a few numbers longer than E.164 allows (found by fuzzing:
        // "+49 46756789 467569"); an SMS must not be paid for a number we cannot store.
        let digits = &e164[1..];
        if !(7..=15).contains(&digits.len())
            || digits.starts_with('0')
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(PhoneError::Invalid);
        }
        Ok(Phone(e164))
    }

    /// The E.164 form, e.g. `+15551234567`.
    pub fn as_e164(&self) -> &str {
        &self.0
    }

    /// The number with every digit but the last two hidden, for logs and support views.
    pub fn masked(&self) -> String {
        let digits = self.0.len().saturating_sub(1);
        let shown = &self.0[self.0.len().saturating_sub(2)..];
        format!("+{}{}", "*".repeat(digits.saturating_sub(2)), shown)
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_longer_than_e164_are_invalid() {
        // 16 digits that the numbering metadata would accept.
        assert_eq!(
            Phone::parse("+49 46756789 467569").err(),
            Some(PhoneError::Invalid)
        );
        assert_eq!(
            Phone::parse("+498769355 21605060").err(),
            Some(PhoneError::Invalid)
        );
    }

    #[test]
    fn normalises_common_spellings_to_e164() {
        for input in [
            "+1 415 555 2671",
            "(415) 555-2671",
            "415.555.2671",
            "+14155552671",
            " 4155552671 ",
        ] {
            assert_eq!(
                Phone::parse(input).map(|p| p.as_e164().to_owned()),
                Ok("+14155552671".to_owned()),
                "{input}"
            );
        }
        assert_eq!(
            Phone::parse("+44 20 7946 0958").map(|p| p.as_e164().to_owned()),
            Ok("+442079460958".to_owned())
        );
    }

    #[test]
    fn rejects_what_is_not_a_phone_number() {
        for input in [
            "",
            "abc",
            "12",
            "+1 415 555 2671 ext 9",
            "+999 1234",
            &"1".repeat(40),
        ] {
            assert!(Phone::parse(input).is_err(), "{input}");
        }
    }

    #[test]
    fn debug_output_hides_the_number() {
        let phone = Phone::parse("+14155552671").expect("valid");
        let shown = format!("{phone:?}");
        assert!(!shown.contains("4155552671"), "{shown}");
        assert!(shown.ends_with("71)"), "{shown}");
    }
}
