-- +goose Up
CREATE TABLE evidence (
    id            UUID PRIMARY KEY,
    order_id      BIGINT      NOT NULL REFERENCES orders (id),
    uploader_id   BIGINT      NOT NULL REFERENCES users (id),
    uploader_role TEXT        NOT NULL,
    object_key    TEXT        NOT NULL UNIQUE,
    original_name TEXT        NOT NULL,
    content_type  TEXT        NOT NULL,
    size_bytes    BIGINT      NOT NULL CHECK (size_bytes > 0),
    sha256        TEXT        NOT NULL CHECK (length(sha256) = 64),
    description   TEXT        NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX evidence_order_idx ON evidence (order_id, created_at);

-- In-app inbox.
CREATE TABLE notifications (
    id         BIGSERIAL PRIMARY KEY,
    user_id    BIGINT      NOT NULL REFERENCES users (id),
    order_id   BIGINT      REFERENCES orders (id),
    kind       TEXT        NOT NULL,
    title      TEXT        NOT NULL,
    body       TEXT        NOT NULL DEFAULT '',
    data       JSONB       NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    read_at    TIMESTAMPTZ
);
CREATE INDEX notifications_user_idx ON notifications (user_id, id DESC);
CREATE INDEX notifications_user_unread_idx ON notifications (user_id) WHERE read_at IS NULL;

-- +goose Down
DROP TABLE notifications;
DROP TABLE evidence;
