#!/bin/sh
# Runs once, when the compose Postgres volume is first initialised (the
# postgres image runs /docker-entrypoint-initdb.d/* only on an empty data
# directory). It gives Ordem and Temporal their own roles and databases, so
# neither process runs as the superuser: the ledger's append-only triggers
# are only as strong as the role that could drop them.
#
# Environment (set by docker-compose.yml from .env):
#   ORDEM_DB_PASSWORD     password of role "ordem" (owner of database ordem)
#   TEMPORAL_DB_PASSWORD  password of role "temporal" (owner of databases
#                         temporal and temporal_visibility)
set -eu

: "${ORDEM_DB_PASSWORD:?set ORDEM_DB_PASSWORD}"
: "${TEMPORAL_DB_PASSWORD:?set TEMPORAL_DB_PASSWORD}"

# psql variables (:'name') quote the passwords, so any character is safe.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v ordem_pw="$ORDEM_DB_PASSWORD" -v temporal_pw="$TEMPORAL_DB_PASSWORD" <<'SQL'
CREATE ROLE ordem LOGIN PASSWORD :'ordem_pw';
CREATE DATABASE ordem OWNER ordem;
CREATE ROLE temporal LOGIN PASSWORD :'temporal_pw';
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
SQL
