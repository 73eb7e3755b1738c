-- +goose Up
CREATE TABLE system_config (
    key         TEXT        PRIMARY KEY,
    value       TEXT        NOT NULL,
    description TEXT        NOT NULL DEFAULT '',
    category    TEXT        NOT NULL DEFAULT '',
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by  BIGINT      REFERENCES users (id)
);

-- Every change to system config, with who, why, old and new value.
CREATE TABLE system_config_changes (
    id         BIGSERIAL PRIMARY KEY,
    key        TEXT        NOT NULL REFERENCES system_config (key),
    old_value  TEXT,
    new_value  TEXT        NOT NULL,
    changed_by BIGINT      REFERENCES users (id),
    reason     TEXT        NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX system_config_changes_key_idx ON system_config_changes (key, changed_at DESC);

-- Admin actions and other security-relevant events.
CREATE TABLE audit_log (
    id          BIGSERIAL PRIMARY KEY,
    actor_id    BIGINT      REFERENCES users (id),
    actor_role  TEXT        NOT NULL DEFAULT '',
    action      TEXT        NOT NULL,
    target_type TEXT        NOT NULL DEFAULT '',
    target_id   TEXT        NOT NULL DEFAULT '',
    reason      TEXT        NOT NULL DEFAULT '',
    data        JSONB       NOT NULL DEFAULT '{}',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_target_idx ON audit_log (target_type, target_id, created_at DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, created_at DESC);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE system_config_changes;
DROP TABLE system_config;
