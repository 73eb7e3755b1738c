-- +goose Up
CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    name          TEXT        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    email         TEXT        NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
    phone         TEXT        NOT NULL DEFAULT '',
    password_hash TEXT        NOT NULL,
    role          TEXT        NOT NULL CHECK (role IN ('client', 'provider', 'admin')),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Soft delete: the row and its history stay; the user can no longer log in.
    deleted_at    TIMESTAMPTZ
);

-- One live account per e-mail; a soft-deleted user's address may be reused.
CREATE UNIQUE INDEX users_email_live_key ON users (lower(email)) WHERE deleted_at IS NULL;
CREATE INDEX users_role_created_idx ON users (role, created_at DESC, id DESC);

-- Bearer tokens are opaque; only their SHA-256 is stored.
CREATE TABLE api_sessions (
    token_hash BYTEA       PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id    BIGINT      NOT NULL REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ,
    user_agent TEXT        NOT NULL DEFAULT '',
    ip         TEXT        NOT NULL DEFAULT ''
);
CREATE INDEX api_sessions_user_idx ON api_sessions (user_id);
CREATE INDEX api_sessions_expires_idx ON api_sessions (expires_at);

-- +goose Down
DROP TABLE api_sessions;
DROP TABLE users;
