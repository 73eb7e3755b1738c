-- +goose Up
-- The provider directory (GET /v1/providers): a name search that ignores
-- case and accents ("joao" finds "João"), served by an index.
--
-- unaccent and pg_trgm ship with PostgreSQL (contrib) and are trusted
-- extensions: the database owner may create them without superuser.
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- unaccent() is only STABLE (its dictionary could change), so it cannot be
-- indexed directly; naming the dictionary makes this wrapper safe to
-- declare IMMUTABLE, the usual recipe. Readers and the index must call
-- this same function for the index to apply.
-- +goose StatementBegin
CREATE FUNCTION ordem_fold(t TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT lower(public.unaccent('public.unaccent'::regdictionary, t))
$$;
-- +goose StatementEnd

-- Substring search (LIKE '%q%') over active providers' folded names.
CREATE INDEX users_provider_name_trgm_idx ON users USING gin (ordem_fold(name) gin_trgm_ops)
    WHERE role = 'provider' AND deleted_at IS NULL;
-- The directory's order (folded name, id), for its keyset pages.
CREATE INDEX users_provider_name_idx ON users (ordem_fold(name), id)
    WHERE role = 'provider' AND deleted_at IS NULL;

-- Each user's language and time zone (spec §8): the texts sent to them
-- (notifications, e-mails) are in their locale, times in their zone. The
-- API validates the zone against Go's time zone database; the check here
-- keeps the locale to the ones Ordem has texts for.
ALTER TABLE users
    ADD COLUMN locale    TEXT NOT NULL DEFAULT 'pt-BR' CHECK (locale IN ('pt-BR', 'en')),
    ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'America/Sao_Paulo' CHECK (length(time_zone) BETWEEN 1 AND 64);

-- +goose Down
ALTER TABLE users DROP COLUMN time_zone, DROP COLUMN locale;
DROP INDEX users_provider_name_idx;
DROP INDEX users_provider_name_trgm_idx;
DROP FUNCTION ordem_fold(TEXT);
DROP EXTENSION IF EXISTS pg_trgm;
DROP EXTENSION IF EXISTS unaccent;
