use std::fmt;

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
        // Display names ("Ann <ann@x.org>") are valid RFC 5322 but not a sign-in address,
        // and a sign-in domain has at least two labels.
        let options = email_address::Options {
            allow_display_text: false,
            minimum_sub_domains: 2,
            ..email_address::Options::default()
        };
        email_address::EmailAddress::parse_with_options(&normalised, options)
            .map_err(|_| EmailError)?;
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
