-- +goose Up
-- The outboxes wake the dispatcher: a row to dispatch (new, or sent back
-- to pending by a redelivery) notifies channel ordem_outbox when its
-- transaction commits, so a delivery starts at once instead of at the
-- next poll. The dispatcher keeps a slow safety sweep for notifications
-- it missed (its connection was down). Identical notifications of one
-- transaction are delivered once.
-- +goose StatementBegin
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ordem_outbox', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER webhook_deliveries_notify
    AFTER INSERT OR UPDATE OF status, dispatched_at ON webhook_deliveries
    FOR EACH ROW WHEN (NEW.status = 'pending' AND NEW.dispatched_at IS NULL)
    EXECUTE FUNCTION outbox_notify();
CREATE TRIGGER email_outbox_notify
    AFTER INSERT OR UPDATE OF status, dispatched_at ON email_outbox
    FOR EACH ROW WHEN (NEW.status = 'pending' AND NEW.dispatched_at IS NULL)
    EXECUTE FUNCTION outbox_notify();

-- +goose Down
DROP TRIGGER email_outbox_notify ON email_outbox;
DROP TRIGGER webhook_deliveries_notify ON webhook_deliveries;
DROP FUNCTION outbox_notify();
