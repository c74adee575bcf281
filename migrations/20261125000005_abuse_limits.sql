-- Abuse limits that must hold across nodes: SMS send budgets per number prefix and
-- overall, and per-account backoff after failed staff logins.

-- A keyed hash of the phone's first digits (country and area code and exchange), so
-- SMS pumping through one range of numbers is capped without storing numbers.
ALTER TABLE otp_codes ADD COLUMN prefix_key bytea;
CREATE INDEX otp_codes_prefix_recent_idx ON otp_codes (prefix_key, created_at DESC);
CREATE INDEX otp_codes_created_at_idx ON otp_codes (created_at);

-- Failed logins per email (a keyed hash, known and unknown addresses alike, so the
-- backoff tells nothing about which accounts exist).
CREATE TABLE login_failures (
    account_key    bytea       PRIMARY KEY,
    failures       integer     NOT NULL CHECK (failures > 0),
    last_failed_at timestamptz NOT NULL DEFAULT now(),
    locked_until   timestamptz
);
CREATE INDEX login_failures_last_failed_at ON login_failures (last_failed_at);
