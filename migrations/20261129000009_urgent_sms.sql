-- Texts other than sign-in codes (urgent shifts): one row per text handed to the SMS
-- gateway, so the hourly SMS budget counts every text Shiftwire sends, not only codes.
-- No phone number is kept here.
CREATE TABLE sms_sent (
    id         bigserial PRIMARY KEY,
    purpose    text NOT NULL CHECK (purpose IN ('urgent_shift')),
    user_id    uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sms_sent_recent ON sms_sent (created_at);
