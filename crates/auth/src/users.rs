use crate::{AuthError, PasswordHasher, principal_reads::PrincipalReads};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use shiftwire_core::{Email, Phone, Role, new_id};
use sqlx::PgPool;
use uuid::Uuid;

/// Who is making a request, as the database knows them right now (not as the token
/// remembered them): role, suspension, and the facilities a scheduler works for.
#[derive(Debug, Clone)]
pub struct Principal {
    pub id: Uuid,
    pub role: Role,
    pub suspended: bool,
    pub facility_ids: Vec<Uuid>,
    /// The generation of access tokens that count (suspension starts a new one).
    pub token_epoch: i32,
}

/// A staff account (scheduler, verifier, admin) as shown to admins.
#[derive(Debug, Clone)]
pub struct StaffUser {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    pub facility_ids: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// What an admin supplies to create a staff account.
pub struct NewStaffUser {
    pub email: Email,
    pub password: SecretString,
    pub role: Role,
    pub facility_ids: Vec<Uuid>,
}

/// A staff member's stored sign-in data.
pub struct StaffLogin {
    pub id: Uuid,
    pub role: Role,
    pub password_hash: String,
    pub suspended: bool,
}

/// The `users` table and the facility assignments of staff.
#[derive(Clone)]
pub struct Users {
    pool: PgPool,
    principals: PrincipalReads,
}

pub(crate) fn parse_role(stored: &str) -> Result<Role, AuthError> {
    stored
        .parse()
        .map_err(|_| AuthError::Internal(format!("unknown role {stored:?} in users table")))
}

impl Users {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            principals: PrincipalReads::default(),
        }
    }

    /// The current role, suspension and facilities of a user, or `None` if they no longer
    /// exist. Read on every authenticated request; reads that arrive together share one
    /// query ([`crate::principal_reads`]).
    pub async fn principal(&self, id: Uuid) -> Result<Option<Principal>, AuthError> {
        self.principals.read(&self.pool, id).await
    }

    pub async fn staff_login(&self, email: &Email) -> Result<Option<StaffLogin>, AuthError> {
        let row = sqlx::query!(
            r#"SELECT id, role, password_hash AS "password_hash!",
                      suspended_at IS NOT NULL AS "suspended!"
               FROM users WHERE email = $1 AND role <> 'nurse'"#,
            email.as_str()
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(StaffLogin {
                id: r.id,
                role: parse_role(&r.role)?,
                password_hash: r.password_hash,
                suspended: r.suspended,
            })
        })
        .transpose()
    }

    /// Finds the nurse with this phone, creating them on first sight. Returns the id and
    /// whether the account is suspended.
    pub async fn nurse_for_phone(&self, phone: &Phone) -> Result<(Uuid, bool), AuthError> {
        let row = sqlx::query!(
            r#"WITH created AS (
                   INSERT INTO users (id, role, phone) VALUES ($1, 'nurse', $2)
                   ON CONFLICT (phone) DO NOTHING
                   RETURNING id, false AS suspended
               )
               SELECT id AS "id!", suspended AS "suspended!" FROM created
               UNION ALL
               SELECT id, suspended_at IS NOT NULL FROM users WHERE phone = $2
               LIMIT 1"#,
            new_id(),
            phone.as_e164()
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((row.id, row.suspended))
    }

    /// Creates a staff account. Schedulers need at least one facility; other staff roles
    /// work across facilities and take none.
    pub async fn create_staff(
        &self,
        hasher: &PasswordHasher,
        new: NewStaffUser,
    ) -> Result<StaffUser, AuthError> {
        if !new.role.is_staff() {
            return Err(AuthError::InvalidStaffUser(
                "role must be scheduler, verifier or admin; nurses sign in by phone",
            ));
        }
        match (new.role, new.facility_ids.is_empty()) {
            (Role::Scheduler, true) => {
                return Err(AuthError::InvalidStaffUser(
                    "a scheduler needs at least one facility in facility_ids",
                ));
            }
            (Role::Verifier | Role::Admin, false) => {
                return Err(AuthError::InvalidStaffUser(
                    "facility_ids apply to schedulers only",
                ));
            }
            _ => {}
        }
        PasswordHasher::check_policy(secrecy::ExposeSecret::expose_secret(&new.password))?;
        let mut facility_ids = new.facility_ids;
        facility_ids.sort();
        facility_ids.dedup();
        let hash = hasher.hash(&new.password).await?;

        let mut tx = self.pool.begin().await?;
        let id = new_id();
        let created_at = sqlx::query_scalar!(
            "INSERT INTO users (id, role, email, password_hash) VALUES ($1, $2, $3, $4)
             RETURNING created_at",
            id,
            new.role.as_str(),
            new.email.as_str(),
            hash
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(
            |e| match e.as_database_error().and_then(|d| d.constraint()) {
                Some("users_email_key") => AuthError::EmailTaken,
                _ => AuthError::Database(e),
            },
        )?;
        sqlx::query!(
            "INSERT INTO staff_facilities (user_id, facility_id) SELECT $1, unnest($2::uuid[])",
            id,
            &facility_ids
        )
        .execute(&mut *tx)
        .await
        .map_err(
            |e| match e.as_database_error().and_then(|d| d.constraint()) {
                Some("staff_facilities_facility_id_fkey") => AuthError::UnknownFacility,
                _ => AuthError::Database(e),
            },
        )?;
        tx.commit().await?;
        Ok(StaffUser {
            id,
            email: new.email.as_str().to_owned(),
            role: new.role,
            facility_ids,
            created_at,
        })
    }

    /// Every staff account, newest first (the console's staff list).
    pub async fn staff(&self) -> Result<Vec<StaffUser>, AuthError> {
        let rows = sqlx::query!(
            r#"SELECT u.id, u.email AS "email!", u.role, u.created_at,
                      COALESCE(array_agg(sf.facility_id ORDER BY sf.facility_id)
                               FILTER (WHERE sf.facility_id IS NOT NULL), '{}')
                          AS "facility_ids!: Vec<Uuid>"
               FROM users u LEFT JOIN staff_facilities sf ON sf.user_id = u.id
               WHERE u.role <> 'nurse'
               GROUP BY u.id ORDER BY u.created_at DESC, u.id LIMIT 1000"#
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(StaffUser {
                    id: r.id,
                    email: r.email,
                    role: parse_role(&r.role)?,
                    facility_ids: r.facility_ids,
                    created_at: r.created_at,
                })
            })
            .collect()
    }

    /// A staff member's email (what the pages show as "signed in as").
    pub async fn staff_email(&self, id: Uuid) -> Result<Option<String>, AuthError> {
        Ok(sqlx::query_scalar!(
            "SELECT email FROM users WHERE id = $1 AND role <> 'nurse'",
            id
        )
        .fetch_optional(&self.pool)
        .await?
        .flatten())
    }
}
