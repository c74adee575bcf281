use serde::{Deserialize, Serialize};
use std::fmt;

/// A licence (issued by a state board) or a certification (BLS, ACLS, PALS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CredentialKind {
    RN,
    LPN,
    CNA,
    NP,
    BLS,
    ACLS,
    PALS,
}

named!(CredentialKind, UnknownCredentialKind, {
    RN => "RN", LPN => "LPN", CNA => "CNA", NP => "NP", BLS => "BLS", ACLS => "ACLS",
    PALS => "PALS",
});

impl CredentialKind {
    /// Licences make a nurse verified and are checked against a state board registry.
    pub fn is_licence(self) -> bool {
        matches!(self, Self::RN | Self::LPN | Self::CNA | Self::NP)
    }

    /// The Nurse Licensure Compact issues multistate licences to RNs and LPNs only.
    pub fn may_be_multistate(self) -> bool {
        matches!(self, Self::RN | Self::LPN)
    }
}

/// A stored or sent name that is no credential kind or status.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown credential kind")]
pub struct UnknownCredentialKind;

/// Where a credential stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialStatus {
    Pending,
    Approved,
    Rejected,
    Expired,
    /// Approved once, then withdrawn by a verifier.
    Revoked,
}

named!(CredentialStatus, UnknownCredentialKind, {
    Pending => "pending", Approved => "approved", Rejected => "rejected",
    Expired => "expired", Revoked => "revoked",
});

/// A nurse's standing, derived from their credentials and account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationStatus {
    /// No licence awaiting review or approved.
    Unverified,
    /// A licence awaits review.
    Pending,
    /// Holds an approved, unexpired licence.
    Verified,
    /// Suspended by an admin; overrides everything else.
    Suspended,
}

impl VerificationStatus {
    /// Derives the status from the account and its licences' statuses.
    pub fn derive(suspended: bool, licences: impl IntoIterator<Item = CredentialStatus>) -> Self {
        if suspended {
            return Self::Suspended;
        }
        let mut pending = false;
        for status in licences {
            match status {
                CredentialStatus::Approved => return Self::Verified,
                CredentialStatus::Pending => pending = true,
                CredentialStatus::Rejected
                | CredentialStatus::Expired
                | CredentialStatus::Revoked => {}
            }
        }
        if pending {
            Self::Pending
        } else {
            Self::Unverified
        }
    }
}

/// Where a nurse's identity check stands: `none` until a submission, then `pending`
/// until a verifier or the identity provider decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityStatus {
    None,
    Pending,
    Verified,
    Rejected,
}

named!(IdentityStatus, UnknownCredentialKind, {
    None => "none", Pending => "pending", Verified => "verified", Rejected => "rejected",
});

/// A US state, DC or territory postal code: where a licence was issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UsState([u8; 2]);

const STATES: &[&str] = &[
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS",
    "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY",
    "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV",
    "WI", "WY", "DC", "AS", "GU", "MP", "PR", "VI",
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a US state or territory code (e.g. CA, NY, DC)")]
pub struct UsStateError;

impl UsState {
    pub fn parse(input: &str) -> Result<Self, UsStateError> {
        let upper = input.trim().to_ascii_uppercase();
        if !STATES.contains(&upper.as_str()) {
            return Err(UsStateError);
        }
        let bytes = upper.as_bytes();
        Ok(Self([bytes[0], bytes[1]]))
    }

    pub fn as_str(&self) -> &str {
        // Built only from ASCII codes in STATES.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Display for UsState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CredentialStatus as S;

    #[test]
    fn kinds_round_trip_and_classify() {
        for kind in CredentialKind::ALL {
            assert_eq!(kind.as_str().parse::<CredentialKind>(), Ok(kind));
        }
        assert!(CredentialKind::RN.is_licence() && !CredentialKind::BLS.is_licence());
        assert!(CredentialKind::LPN.may_be_multistate() && !CredentialKind::NP.may_be_multistate());
        assert!("rn".parse::<CredentialKind>().is_err());
    }

    #[test]
    fn verification_status_follows_the_licences() {
        use VerificationStatus as V;
        assert_eq!(V::derive(false, []), V::Unverified);
        assert_eq!(V::derive(false, [S::Rejected, S::Expired]), V::Unverified);
        assert_eq!(V::derive(false, [S::Rejected, S::Pending]), V::Pending);
        assert_eq!(V::derive(false, [S::Pending, S::Approved]), V::Verified);
        assert_eq!(V::derive(true, [S::Approved]), V::Suspended);
        assert_eq!(V::derive(false, [S::Revoked]), V::Unverified);
        for status in [S::Pending, S::Approved, S::Rejected, S::Expired, S::Revoked] {
            assert_eq!(status.as_str().parse::<CredentialStatus>(), Ok(status));
        }
    }

    #[test]
    fn states_are_postal_codes() {
        assert_eq!(
            UsState::parse(" ca ").map(|s| s.to_string()),
            Ok("CA".into())
        );
        assert!(UsState::parse("PR").is_ok());
        for bad in ["", "C", "XX", "CAL", "ÇA"] {
            assert!(UsState::parse(bad).is_err(), "{bad}");
        }
    }
}
