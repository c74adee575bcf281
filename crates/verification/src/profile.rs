use crate::{NurseProfile, ProfilePatch, Verification, VerificationError};
use shiftwire_core::{Coordinates, CredentialStatus, DomainEvent, VerificationStatus};
use uuid::Uuid;

/// Longest display name.
const MAX_NAME_LEN: usize = 100;

fn invalid(why: &str) -> VerificationError {
    VerificationError::InvalidProfile(why.to_owned())
}

impl Verification {
    /// The nurse's standing, derived from their account and licences right now.
    pub async fn verification_status(
        &self,
        nurse_id: Uuid,
    ) -> Result<VerificationStatus, VerificationError> {
        let row = sqlx::query!(
            r#"SELECT u.suspended_at IS NOT NULL AS "suspended!",
                      COALESCE(array_agg(c.status) FILTER (WHERE c.id IS NOT NULL), '{}')
                          AS "licence_statuses!: Vec<String>"
               FROM users u
               LEFT JOIN credentials c ON c.nurse_id = u.id
                    AND c.kind IN ('RN', 'LPN', 'CNA', 'NP')
                    AND (c.status <> 'approved' OR c.expires_on >= (now() AT TIME ZONE 'UTC')::date)
               WHERE u.id = $1 AND u.role = 'nurse'
               GROUP BY u.id"#,
            nurse_id
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or(VerificationError::NotFound)?;
        let statuses = row
            .licence_statuses
            .iter()
            .filter_map(|s| s.parse::<CredentialStatus>().ok());
        Ok(VerificationStatus::derive(row.suspended, statuses))
    }

    pub async fn profile(&self, nurse_id: Uuid) -> Result<NurseProfile, VerificationError> {
        let row = sqlx::query!(
            r#"SELECT id, phone AS "phone!", name, max_distance_km, available,
                      ST_Y(home::geometry) AS home_lat, ST_X(home::geometry) AS home_lon
               FROM users WHERE id = $1 AND role = 'nurse'"#,
            nurse_id
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or(VerificationError::NotFound)?;
        let home = match (row.home_lat, row.home_lon) {
            (Some(lat), Some(lon)) => Coordinates::new(lat, lon).ok(),
            _ => None,
        };
        Ok(NurseProfile {
            id: row.id,
            phone: row.phone,
            name: row.name,
            home,
            max_distance_km: row.max_distance_km,
            available: row.available,
            verification_status: self.verification_status(nurse_id).await?,
            identity: self.identity_summary(nurse_id).await?,
            credentials: self.credentials_of(nurse_id).await?,
        })
    }

    /// Applies a profile change; announces it when it changes what matching uses.
    pub async fn update_profile(
        &self,
        nurse_id: Uuid,
        patch: ProfilePatch,
    ) -> Result<NurseProfile, VerificationError> {
        let name = match &patch.name {
            Some(name) => {
                let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
                if shiftwire_core::text::is_blank(&name) || name.chars().count() > MAX_NAME_LEN {
                    return Err(invalid("name must be 1 to 100 characters"));
                }
                if name.chars().any(char::is_control) {
                    return Err(invalid("name must not contain control characters"));
                }
                Some(name)
            }
            None => None,
        };
        if let Some(km) = patch.max_distance_km
            && !(km.is_finite() && (1.0..=200.0).contains(&km))
        {
            return Err(invalid("max_distance_km must be between 1 and 200"));
        }
        let (set_home, home) = match patch.home {
            None => (false, None),
            Some(home) => (true, home),
        };
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query!(
            "UPDATE users SET
                 name = COALESCE($2, name),
                 home = CASE WHEN $3 THEN
                            CASE WHEN $4::float8 IS NULL THEN NULL
                                 ELSE ST_SetSRID(ST_MakePoint($5, $4), 4326)::geography END
                        ELSE home END,
                 max_distance_km = COALESCE($6, max_distance_km),
                 available = COALESCE($7, available)
             WHERE id = $1 AND role = 'nurse'",
            nurse_id,
            name,
            set_home,
            home.map(Coordinates::lat),
            home.map(Coordinates::lon),
            patch.max_distance_km,
            patch.available
        )
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(VerificationError::NotFound);
        }
        let matching_changed =
            set_home || patch.max_distance_km.is_some() || patch.available.is_some();
        let mut events = Vec::new();
        if matching_changed {
            let event = DomainEvent::ProfileUpdated { nurse_id };
            events.push(event);
        }
        self.commit(tx, events).await?;
        self.profile(nurse_id).await
    }
}
