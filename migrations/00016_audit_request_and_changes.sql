-- +goose Up
-- Audit rows name the HTTP request that made them (the X-Request-Id the
-- API answered with, so an operator can join a row to the access log) and,
-- where an action replaces something, the object before and after it as
-- JSON. The admin audit route filters by action and by time, newest
-- first: these indexes serve its keyset pages.
ALTER TABLE audit_log
    ADD COLUMN request_id  TEXT  NOT NULL DEFAULT '',
    ADD COLUMN before_data JSONB,
    ADD COLUMN after_data  JSONB;
CREATE INDEX audit_log_created_idx ON audit_log (created_at DESC, id DESC);
CREATE INDEX audit_log_action_idx ON audit_log (action, created_at DESC, id DESC);

-- +goose Down
DROP INDEX audit_log_action_idx;
DROP INDEX audit_log_created_idx;
ALTER TABLE audit_log
    DROP COLUMN after_data,
    DROP COLUMN before_data,
    DROP COLUMN request_id;
