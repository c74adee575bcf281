-- Sessions of the web portal and console (crates/auth): a browser holds a random token in
-- an HttpOnly cookie; only its SHA-256 is stored. A session ends at sign-out, after
-- WEB_SESSION_IDLE_MINUTES without a request, after WEB_SESSION_ABSOLUTE_HOURS, or when
-- its user's token generation moves on (suspension), exactly like access tokens.
CREATE TABLE web_sessions (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   bytea NOT NULL UNIQUE,
    token_epoch  integer NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    ended_at     timestamptz
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);
COMMENT ON TABLE web_sessions IS 'Browser sessions of staff (crates/auth).';
