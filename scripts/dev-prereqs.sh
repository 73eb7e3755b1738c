#!/usr/bin/env bash
# Installs what `ordem dev` needs and can be installed without asking:
# the Go modules and, when no PostgreSQL answers and none is installed, the
# PostgreSQL server package (Debian/Ubuntu, as root). The versitygw S3
# server is installed by the Makefile (go install).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== go modules"
go mod download

db_url=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/ordem?sslmode=disable}
have_server_binaries() {
  command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}
answers() {
  command -v pg_isready >/dev/null 2>&1 && pg_isready -q -d "$db_url" -t 2
}

if answers; then
  echo "== postgres: answering at ${db_url%%\?*}"
elif have_server_binaries; then
  echo "== postgres: not answering; ordem dev will start a private cluster in its data directory"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "== postgres: installing Debian's postgresql package (ordem dev starts its own cluster with it)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql >/dev/null \
    || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql >/dev/null; }
else
  echo "== postgres: none answers and no server is installed; ordem dev will say how to get one"
fi
