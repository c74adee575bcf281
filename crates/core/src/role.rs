use serde::{Deserialize, Serialize};

/// What a signed-in user may do; carried in the access token and checked by every route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Nurse,
    Scheduler,
    Verifier,
    Admin,
}

named!(Role, UnknownRole, {
    Nurse => "nurse", Scheduler => "scheduler", Verifier => "verifier", Admin => "admin",
});

impl Role {
    /// Staff sign in with email and password; nurses with their phone.
    pub fn is_staff(self) -> bool {
        !matches!(self, Role::Nurse)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown role")]
pub struct UnknownRole;

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
