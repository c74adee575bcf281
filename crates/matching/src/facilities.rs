use crate::{Facility, Matching, MatchingError, NewFacility, geo_sql};
use shiftwire_core::new_id;
use uuid::Uuid;

impl Matching {
    /// Registers a facility (admin).
    pub async fn create_facility(&self, new: NewFacility) -> Result<Facility, MatchingError> {
        let name = new.name.trim();
        let address = new.address.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(MatchingError::Invalid(
                "name must be 1 to 200 characters".into(),
            ));
        }
        if address.is_empty() || address.chars().count() > 500 {
            return Err(MatchingError::Invalid(
                "address must be 1 to 500 characters".into(),
            ));
        }
        if !(10..=5000).contains(&new.geofence_m) {
            return Err(MatchingError::Invalid(
                "geofence_m must be between 10 and 5000".into(),
            ));
        }
        let known_zone = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1) AS "known!""#,
            new.timezone
        )
        .fetch_one(&self.pool)
        .await?;
        if !known_zone || !new.timezone.contains('/') {
            return Err(MatchingError::Invalid(
                "timezone must be an IANA zone such as America/Los_Angeles".into(),
            ));
        }
        let id = new_id();
        let created_at = sqlx::query_scalar!(
            "INSERT INTO facilities (id, name, address, location, timezone, state, geofence_m)
             VALUES ($1, $2, $3, ST_SetSRID($4::geometry, 4326)::geography, $5, $6, $7)
             RETURNING created_at",
            id,
            name,
            address,
            geo_sql::to_sql(new.location) as _,
            new.timezone,
            new.state.as_str(),
            new.geofence_m
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(Facility {
            id,
            name: name.to_owned(),
            address: address.to_owned(),
            location: new.location,
            timezone: new.timezone,
            state: new.state.as_str().to_owned(),
            geofence_m: new.geofence_m,
            created_at,
        })
    }
}

impl Matching {
    /// Every facility, by name.
    pub async fn facilities(&self) -> Result<Vec<Facility>, MatchingError> {
        self.select_facilities(None).await
    }

    /// One facility in `scope` (another is not found).
    pub async fn facility(&self, scope: &[Uuid], id: Uuid) -> Result<Facility, MatchingError> {
        crate::in_scope(scope, id)?;
        self.select_facilities(Some(id))
            .await?
            .pop()
            .ok_or(MatchingError::NotFound)
    }

    /// Facilities by name: all, or the one of `id`.
    async fn select_facilities(&self, id: Option<Uuid>) -> Result<Vec<Facility>, MatchingError> {
        let rows = sqlx::query!(
            r#"SELECT id, name, address, location::geometry AS "location!: geo_sql::Wkb",
                      timezone, state, geofence_m, created_at
               FROM facilities WHERE ($1::uuid IS NULL OR id = $1) ORDER BY name, id"#,
            id
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(Facility {
                    id: r.id,
                    name: r.name,
                    address: r.address,
                    location: geo_sql::from_sql(r.location)?,
                    timezone: r.timezone,
                    state: r.state,
                    geofence_m: r.geofence_m,
                    created_at: r.created_at,
                })
            })
            .collect()
    }
}
