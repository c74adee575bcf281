use std::{fmt, str::FromStr};

/// A staff sign-in address, trimmed and lower-cased, built only by [`Email::parse`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a valid email address")]
pub struct EmailError;

const MAX_LEN: usize = 254;

impl Email {
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let normalised = input.trim().to_lowercase();
        if normalised.len() > MAX_LEN {
            return Err(EmailError);
        }
        let parsed = email_address::EmailAddress::from_str(&normalised).map_err(|_| EmailError)?;
        // Display names ("Ann <ann@x.org>") are valid RFC 5322 but not a sign-in address.
        if parsed.as_str() != normalised || !normalised.contains('.') {
            return Err(EmailError);
        }
        Ok(Email(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_normalises_addresses() {
        assert_eq!(
            Email::parse("  Ann.Lee@Mercy-General.org ").map(|e| e.as_str().to_owned()),
            Ok("ann.lee@mercy-general.org".to_owned())
        );
    }

    #[test]
    fn rejects_non_addresses() {
        for input in ["", "ann", "ann@", "@x.org", "Ann <ann@x.org>", "a b@x.org"] {
            assert!(Email::parse(input).is_err(), "{input}");
        }
    }
}
