-- Verified means verified: identities checked before any licence is matched against the
-- registry, one licence per account, periodic re-checks of approved licences, revocation,
-- and bookings that follow eligibility.

-- A nurse's identity: the legal name the registry is matched against. Photo ID and selfie
-- are stored by the DocumentStore under generated keys. A newer submission supersedes a
-- pending one; decided submissions stay as history.
CREATE TABLE identities (
    id                  uuid PRIMARY KEY,
    nurse_id            uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    legal_name          text NOT NULL CHECK (char_length(legal_name) BETWEEN 1 AND 200),
    date_of_birth       date NOT NULL,
    status              text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'verified', 'rejected', 'superseded')),
    -- `manual` (a verifier decides) or `external` (an identity service decides).
    provider            text NOT NULL CHECK (provider IN ('manual', 'external')),
    -- Why it waits for a verifier (`identity_review`, `identity_provider_unavailable`).
    reason_code         text,
    reason              text,
    id_document_key     text NOT NULL,
    id_document_type    text NOT NULL
        CHECK (id_document_type IN ('application/pdf', 'image/jpeg', 'image/png')),
    id_document_sha256  bytea NOT NULL,
    selfie_key          text NOT NULL,
    selfie_type         text NOT NULL CHECK (selfie_type IN ('image/jpeg', 'image/png')),
    selfie_sha256       bytea NOT NULL,
    -- What the identity provider reported, when it differs from what was submitted.
    provider_legal_name    text,
    provider_date_of_birth date,
    decided_by          uuid REFERENCES users (id),
    decided_at          timestamptz,
    decision_reason     text,
    submitted_at        timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
-- At most one identity per nurse counts (pending or verified).
CREATE UNIQUE INDEX identities_one_live_per_nurse ON identities (nurse_id)
    WHERE status IN ('pending', 'verified');
CREATE INDEX identities_nurse_idx ON identities (nurse_id, submitted_at DESC);
CREATE INDEX identities_review_queue_idx ON identities (submitted_at, id)
    WHERE status = 'pending' AND reason_code IS NOT NULL;

-- Credentials: revocation, the normalised licence number, and re-checks.
ALTER TABLE credentials DROP CONSTRAINT credentials_status_check;
ALTER TABLE credentials ADD CONSTRAINT credentials_status_check
    CHECK (status IN ('pending', 'approved', 'rejected', 'expired', 'revoked'));
ALTER TABLE credentials
    -- The number as boards compare it: upper-case, letters and digits only.
    ADD COLUMN number_key text GENERATED ALWAYS AS
        (regexp_replace(upper(number), '[^A-Z0-9]', '', 'g')) STORED,
    -- When an approved licence is next compared with the registry again.
    ADD COLUMN recheck_due_at timestamptz,
    -- The last comparison with the registry (first check or re-check).
    ADD COLUMN registry_checked_at timestamptz,
    -- An approved credential a re-check found changed waits for a verifier from here.
    ADD COLUMN flagged_at timestamptz,
    ADD COLUMN revoked_by uuid REFERENCES users (id),
    ADD COLUMN revoked_at timestamptz,
    ADD COLUMN revoke_reason text;

UPDATE credentials SET registry_checked_at = checked_at
WHERE checked_at IS NOT NULL AND kind IN ('RN', 'LPN', 'CNA', 'NP');
UPDATE credentials
SET recheck_due_at = LEAST(COALESCE(decided_at, checked_at, submitted_at) + interval '30 days',
                           expires_on::timestamptz)
WHERE status = 'approved' AND kind IN ('RN', 'LPN', 'CNA', 'NP');

-- One licence, one account. Where existing data already holds a licence approved on
-- several accounts, the earliest approval stands and the others go back to a verifier
-- (pending, `licence_in_use`), each with an audit row: two approvals of one licence mean
-- one of them is not its holder.
WITH ranked AS (
    SELECT id, nurse_id,
           row_number() OVER (
               PARTITION BY kind, issuing_state, regexp_replace(upper(number), '[^A-Z0-9]', '', 'g')
               ORDER BY COALESCE(decided_at, submitted_at), id) AS n
    FROM credentials
    WHERE status = 'approved' AND issuing_state IS NOT NULL
), demoted AS (
    UPDATE credentials c
    SET status = 'pending', reason_code = 'licence_in_use',
        reason = 'This licence is also approved on another account; the earlier approval stands.',
        decided_at = NULL, decided_by = NULL, recheck_due_at = NULL, updated_at = now()
    FROM ranked r
    WHERE c.id = r.id AND r.n > 1
    RETURNING c.id
)
INSERT INTO audit_log (id, actor_id, action, subject_type, subject_id, reason, details)
-- A time-ordered (version 7) id, as the application writes them.
SELECT (lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0')
        || '7' || substr(md5(random()::text), 1, 3)
        || '8' || substr(md5(random()::text), 1, 15))::uuid, NULL, 'credential.flagged', 'credential', id,
       'licence approved on another account', '{"reason_code": "licence_in_use", "by": "migration"}'
FROM demoted;

CREATE UNIQUE INDEX credentials_one_approved_licence
    ON credentials (kind, issuing_state, number_key)
    WHERE status = 'approved' AND issuing_state IS NOT NULL;
CREATE INDEX credentials_recheck_due_idx ON credentials (recheck_due_at)
    WHERE status = 'approved';
CREATE INDEX credentials_flagged_idx ON credentials (flagged_at, id)
    WHERE status = 'approved' AND flagged_at IS NOT NULL;
CREATE INDEX credentials_number_key_idx ON credentials (kind, issuing_state, number_key);

-- The review queue leaves out licences that wait for their nurse's identity: there is
-- nothing for a verifier to decide until the identity is.
DROP INDEX credentials_review_queue_idx;
CREATE INDEX credentials_review_queue_idx ON credentials (submitted_at, id)
    WHERE status = 'pending' AND checked_at IS NOT NULL
      AND reason_code IS DISTINCT FROM 'identity_unverified';

-- A booking the facility or Shiftwire cancelled says why: `facility_cancelled` (with the
-- scheduler's words) or `nurse_ineligible` (with the rule she no longer meets).
ALTER TABLE bookings
    ADD COLUMN cancel_reason text CHECK (cancel_reason IN ('facility_cancelled', 'nurse_ineligible')),
    ADD COLUMN cancel_detail text,
    ADD COLUMN cancelled_at  timestamptz;
CREATE INDEX bookings_nurse_live_idx ON bookings (nurse_id) WHERE status = 'booked';
