-- +goose Up
-- Webhook signing secrets are stored sealed (internal/secretbox: AES-GCM
-- under a key derived from SECRET_KEY) instead of in clear. Signing needs
-- the secret itself, so it cannot be hashed like a password.
--
-- SQL cannot seal (the key is not in the database), so the clear column
-- is kept, renamed secret_legacy and nullable, for the rows written before
-- this migration: `ordem migrate up` seals them right after applying it
-- and sets secret_legacy to NULL, as the worker and the API do at start
-- (and `ordem secrets rotate`). Nothing writes secret_legacy any more;
-- renaming it makes any code that still would fail loudly.
ALTER TABLE webhook_endpoints RENAME COLUMN secret TO secret_legacy;
ALTER TABLE webhook_endpoints ALTER COLUMN secret_legacy DROP NOT NULL;
ALTER TABLE webhook_endpoints
    -- The 12-byte nonce, the ciphertext and the 16-byte tag.
    ADD COLUMN secret_ciphertext BYTEA CHECK (length(secret_ciphertext) >= 28),
    -- Which key sealed it: a short hash of the derived key, so a value
    -- sealed under SECRET_KEY_PREVIOUS still opens during a rotation.
    ADD COLUMN secret_key_id TEXT CHECK (secret_key_id ~ '^[0-9a-f]{16}$'),
    -- Every endpoint has exactly one secret: sealed, or (until sealed) clear.
    ADD CONSTRAINT webhook_endpoints_one_secret CHECK (num_nonnulls(secret_legacy, secret_ciphertext) = 1),
    ADD CONSTRAINT webhook_endpoints_sealed_with_key CHECK ((secret_ciphertext IS NULL) = (secret_key_id IS NULL));

-- +goose Down
-- A sealed secret cannot be put back in clear by SQL: going down with
-- sealed rows would leave endpoints that cannot sign. Refuse, and say why.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM webhook_endpoints WHERE secret_ciphertext IS NOT NULL) THEN
        RAISE EXCEPTION 'webhook_endpoints holds sealed secrets, which SQL cannot decrypt: below 00014 those endpoints could not sign; restore a backup taken before 00014 instead';
    END IF;
END
$$;
-- +goose StatementEnd
ALTER TABLE webhook_endpoints
    DROP CONSTRAINT webhook_endpoints_sealed_with_key,
    DROP CONSTRAINT webhook_endpoints_one_secret,
    DROP COLUMN secret_key_id,
    DROP COLUMN secret_ciphertext;
ALTER TABLE webhook_endpoints ALTER COLUMN secret_legacy SET NOT NULL;
ALTER TABLE webhook_endpoints RENAME COLUMN secret_legacy TO secret;
