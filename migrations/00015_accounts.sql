-- +goose Up
-- Sessions get a public id (the token hash is a credential and never leaves
-- the server) and the time they were last used, for GET /v1/me/sessions.
ALTER TABLE api_sessions ADD COLUMN id BIGSERIAL;
ALTER TABLE api_sessions ADD CONSTRAINT api_sessions_id_key UNIQUE (id);
ALTER TABLE api_sessions ADD COLUMN last_seen_at TIMESTAMPTZ;
UPDATE api_sessions SET last_seen_at = created_at;
ALTER TABLE api_sessions ALTER COLUMN last_seen_at SET NOT NULL;
ALTER TABLE api_sessions ALTER COLUMN last_seen_at SET DEFAULT now();

-- Admin-initiated password resets: one-time tokens, only their SHA-256
-- stored. A new reset of a user supersedes the earlier unused ones.
CREATE TABLE password_resets (
    id            BIGSERIAL PRIMARY KEY,
    user_id       BIGINT      NOT NULL REFERENCES users (id),
    token_hash    BYTEA       NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_by    BIGINT      NOT NULL REFERENCES users (id),
    reason        TEXT        NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at    TIMESTAMPTZ NOT NULL,
    used_at       TIMESTAMPTZ,
    superseded_at TIMESTAMPTZ
);
CREATE INDEX password_resets_user_idx ON password_resets (user_id, created_at DESC);

-- Per-account login throttling, keyed by the lower-cased e-mail tried
-- (known or not, so the answers do not tell which accounts exist).
CREATE TABLE login_throttle (
    email           TEXT        PRIMARY KEY CHECK (length(email) <= 320),
    failures        INTEGER     NOT NULL DEFAULT 0 CHECK (failures >= 0),
    window_start    TIMESTAMPTZ NOT NULL,
    last_attempt_at TIMESTAMPTZ NOT NULL,
    locked_until    TIMESTAMPTZ
);
-- For pruning the rows of attempts long past (see accounts.Throttle.Failed).
CREATE INDEX login_throttle_idle_idx ON login_throttle (last_attempt_at) WHERE locked_until IS NULL;

-- +goose Down
DROP TABLE login_throttle;
DROP TABLE password_resets;
ALTER TABLE api_sessions DROP COLUMN last_seen_at;
ALTER TABLE api_sessions DROP COLUMN id;
