-- Nurse profiles, credentials and their documents, the audit log, and the outbox that
-- carries domain events to the real-time layer.

ALTER TABLE users
    ADD COLUMN home            geography(Point, 4326),
    ADD COLUMN max_distance_km double precision NOT NULL DEFAULT 25
        CHECK (max_distance_km >= 1 AND max_distance_km <= 200),
    ADD COLUMN available       boolean NOT NULL DEFAULT true;

CREATE TABLE credentials (
    id              uuid PRIMARY KEY,
    nurse_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('RN', 'LPN', 'CNA', 'NP', 'BLS', 'ACLS', 'PALS')),
    number          text NOT NULL CHECK (char_length(number) BETWEEN 1 AND 40),
    -- Licences are issued by a state board; certifications (BLS, ACLS, PALS) by no state.
    issuing_state   text CHECK (issuing_state ~ '^[A-Z]{2}$'),
    expires_on      date NOT NULL,
    multistate      boolean NOT NULL DEFAULT false,
    status          text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'approved', 'rejected', 'expired')),
    -- When the automatic check ran; NULL while it is still to run.
    checked_at      timestamptz,
    -- Why the automatic check handed the credential to a person.
    reason_code     text,
    reason          text,
    -- What the registry returned when it approved automatically.
    evidence        jsonb,
    decided_by      uuid REFERENCES users (id),
    decided_at      timestamptz,
    decision_reason text,
    submitted_at    timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT credentials_state_for_licences CHECK (
        (kind IN ('RN', 'LPN', 'CNA', 'NP')) = (issuing_state IS NOT NULL)
    )
);
CREATE INDEX credentials_nurse_idx ON credentials (nurse_id);
CREATE INDEX credentials_review_queue_idx ON credentials (submitted_at, id)
    WHERE status = 'pending' AND checked_at IS NOT NULL;
CREATE INDEX credentials_unchecked_idx ON credentials (submitted_at)
    WHERE status = 'pending' AND checked_at IS NULL;
CREATE INDEX credentials_expiry_idx ON credentials (expires_on)
    WHERE status IN ('pending', 'approved');

-- One document per credential (a new upload replaces it). Stored by the DocumentStore
-- under `storage_key`, never under the name the nurse's phone gave it.
CREATE TABLE credential_documents (
    credential_id uuid PRIMARY KEY REFERENCES credentials (id) ON DELETE CASCADE,
    storage_key   text NOT NULL,
    content_type  text NOT NULL CHECK (content_type IN ('application/pdf', 'image/jpeg', 'image/png')),
    size_bytes    bigint NOT NULL CHECK (size_bytes > 0),
    sha256        bytea NOT NULL,
    uploaded_at   timestamptz NOT NULL DEFAULT now()
);

-- Every decision and every document access. Append-only: updates and deletes fail.
CREATE TABLE audit_log (
    id           uuid PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    actor_id     uuid REFERENCES users (id),
    action       text NOT NULL,
    subject_type text NOT NULL,
    subject_id   uuid NOT NULL,
    reason       text,
    details      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, id);
CREATE INDEX audit_log_subject_idx ON audit_log (subject_id, id);

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();

-- Domain events, written in the same transaction as the change they announce, so a crash
-- between commit and delivery loses nothing.
CREATE TABLE outbox (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic      text NOT NULL,
    user_id    uuid,
    payload    jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- A nurse cannot have the same licence or certification on file twice while it counts.
CREATE UNIQUE INDEX credentials_one_live_per_number ON credentials (nurse_id, kind, number)
    WHERE status IN ('pending', 'approved');
