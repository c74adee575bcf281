use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// What a signed-in user may do; carried in the access token and checked by every route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Nurse,
    Scheduler,
    Verifier,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Nurse, Role::Scheduler, Role::Verifier, Role::Admin];

    /// The role's name as stored and as sent in tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Nurse => "nurse",
            Role::Scheduler => "scheduler",
            Role::Verifier => "verifier",
            Role::Admin => "admin",
        }
    }

    /// Staff sign in with email and password; nurses with their phone.
    pub fn is_staff(self) -> bool {
        !matches!(self, Role::Nurse)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown role")]
pub struct UnknownRole;

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or(UnknownRole)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_its_name() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().ok(), Some(role));
            assert_eq!(
                serde_json::to_string(&role).ok(),
                Some(format!("\"{role}\""))
            );
        }
        assert!("root".parse::<Role>().is_err());
        assert!(!Role::Nurse.is_staff() && Role::Admin.is_staff());
    }
}
