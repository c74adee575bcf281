-- Shiftwire foundation: extensions every later feature relies on, people, facilities,
-- and the sign-in state (SMS codes, refresh-token families).

CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE users (
    id               uuid PRIMARY KEY,
    role             text NOT NULL CHECK (role IN ('nurse', 'scheduler', 'verifier', 'admin')),
    -- Nurses sign in by phone (E.164); staff by email (lower-cased) and password.
    phone            text UNIQUE CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    email            text UNIQUE CHECK (email = lower(email)),
    password_hash    text,
    name             text CHECK (char_length(name) <= 200),
    suspended_at     timestamptz,
    suspended_reason text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_sign_in_matches_role CHECK (
        CASE WHEN role = 'nurse'
             THEN phone IS NOT NULL AND email IS NULL AND password_hash IS NULL
             ELSE phone IS NULL AND email IS NOT NULL AND password_hash IS NOT NULL
        END
    )
);

CREATE TABLE facilities (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    address     text NOT NULL CHECK (char_length(address) BETWEEN 1 AND 500),
    location    geography(Point, 4326) NOT NULL,
    timezone    text NOT NULL,
    state       text NOT NULL CHECK (state ~ '^[A-Z]{2}$'),
    geofence_m  integer NOT NULL CHECK (geofence_m BETWEEN 10 AND 5000),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX facilities_location_gix ON facilities USING gist (location);

-- Which facilities a scheduler works for; every scheduler route is scoped by this.
CREATE TABLE staff_facilities (
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    facility_id uuid NOT NULL REFERENCES facilities (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, facility_id)
);
CREATE INDEX staff_facilities_facility_idx ON staff_facilities (facility_id);

-- One row per SMS code sent. The phone is kept only as a keyed hash (phone_key) and the
-- code only as a keyed hash (code_hash): a database dump reveals neither.
CREATE TABLE otp_codes (
    id            uuid PRIMARY KEY,
    phone_key     bytea NOT NULL,
    code_hash     bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    attempts      integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- Set when the code signs someone in, or when a newer code replaces it.
    closed_at     timestamptz
);
CREATE INDEX otp_codes_phone_recent_idx ON otp_codes (phone_key, created_at DESC);

-- A refresh family is one sign-in on one device; every refresh rotates the token within it.
CREATE TABLE refresh_families (
    id             uuid PRIMARY KEY,
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    revoked_reason text CHECK (revoked_reason IN ('logout', 'reuse', 'suspension'))
);
CREATE INDEX refresh_families_user_idx ON refresh_families (user_id) WHERE revoked_at IS NULL;

CREATE TABLE refresh_tokens (
    token_hash  bytea PRIMARY KEY,
    family_id   uuid NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expiry_idx ON refresh_tokens (expires_at);
