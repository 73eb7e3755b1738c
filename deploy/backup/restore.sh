#!/usr/bin/env bash
# Restore a backup made by backup.sh: Ordem's database, the Temporal
# databases when the backup has them and their URLs are set, and the
# evidence files.
#
# Usage: restore.sh [--force] [--no-evidence] BACKUP_DIR
#
#   BACKUP_DIR     one backup, e.g. /var/backups/ordem/ordem-20260101T030000Z
#   --force        restore over a database that already has tables
#                  (pg_restore --clean: objects of the dump are dropped and
#                  recreated; anything else in the database is left). Without
#                  it, a non-empty target database is refused (exit 3).
#   --no-evidence  skip the evidence files.
#
# Environment: the same as backup.sh (DATABASE_URL required;
# TEMPORAL_DATABASE_URL, TEMPORAL_VISIBILITY_DATABASE_URL; S3_BUCKET,
# S3_ENDPOINT, S3_REGION, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY).
#
# Stop the API and every worker first (docs/operations.md, "Restore"):
# a worker running against a half-restored database moves money on a
# ledger that is about to be replaced. Best target: a freshly created,
# empty database (createdb -O ordem ordem). Afterwards run
# `ordem migrate status` and `ordem ledger verify`, then start the workers
# and the API.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

force=0
evidence=1
src=""
while [ $# -gt 0 ]; do
  case "$1" in
    --force) force=1 ;;
    --no-evidence) evidence=0 ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "restore.sh: unknown option: $1 (see --help)" >&2; exit 2 ;;
    *) [ -z "$src" ] || { echo "restore.sh: one backup directory only" >&2; exit 2; }; src="$1" ;;
  esac
  shift
done
[ -n "$src" ] || { echo "restore.sh: name the backup directory (see --help)" >&2; exit 2; }
: "${DATABASE_URL:?restore.sh: set DATABASE_URL to the database to restore into}"

log() { printf '%s restore: %s\n' "$(date -u +%FT%TZ)" "$*" >&2; }

s3() {
  AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-${S3_ACCESS_KEY_ID:-}}" \
  AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-${S3_SECRET_ACCESS_KEY:-}}" \
  AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-${S3_REGION:-us-east-1}}" \
    aws ${S3_ENDPOINT:+--endpoint-url "$S3_ENDPOINT"} "$@"
}

case "$src" in
  *.partial|*.partial/) echo "restore.sh: $src is an incomplete backup" >&2; exit 2 ;;
esac
if [ ! -f "$src/ordem.dump" ] || [ ! -f "$src/SHA256SUMS" ]; then
  echo "restore.sh: $src is not a backup (no ordem.dump or SHA256SUMS)" >&2
  exit 2
fi
if [ "$evidence" = 1 ] && [ -d "$src/evidence" ] && ! command -v aws >/dev/null; then
  echo "restore.sh: the aws CLI is needed for the evidence (or pass --no-evidence)" >&2
  exit 2
fi

log "checking $src/SHA256SUMS"
(cd "$src" && sha256sum --quiet --check SHA256SUMS)

# Tables, views and sequences outside the system schemas.
user_relations() {
  psql --no-psqlrc --no-password --quiet --tuples-only --no-align --dbname="$1" --command="
    SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r','p','v','m','S','f')
      AND n.nspname NOT IN ('pg_catalog','information_schema')
      AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'"
}

# Every target is checked before anything is written, so a refusal leaves
# all of them untouched.
targets=()
plan() { # plan URL FILE
  [ -f "$src/$2" ] || return 0
  if [ -z "$1" ]; then
    log "skipping $2: its database URL is not set"
    return 0
  fi
  local n
  n="$(user_relations "$1")"
  if [ "$n" != 0 ] && [ "$force" = 0 ]; then
    echo "restore.sh: the target database of $2 is not empty ($n relations); refusing without --force" >&2
    exit 3
  fi
  targets+=("$1|$2")
}
plan "${TEMPORAL_DATABASE_URL:-}" temporal.dump
plan "${TEMPORAL_VISIBILITY_DATABASE_URL:-}" temporal_visibility.dump
plan "$DATABASE_URL" ordem.dump

for t in "${targets[@]}"; do
  url="${t%|*}" file="${t##*|}"
  log "pg_restore $file"
  args=(--no-password --no-owner --no-privileges --single-transaction --exit-on-error --dbname="$url")
  if [ "$force" = 1 ]; then
    args+=(--clean --if-exists)
  fi
  pg_restore "${args[@]}" "$src/$file"
done

if [ "$evidence" = 1 ] && [ -d "$src/evidence" ]; then
  bucket="${S3_BUCKET:-ordem-evidence}"
  if ! s3 s3api head-bucket --bucket "$bucket" >/dev/null 2>&1; then
    # New buckets are private; the worker leaves an existing bucket as is.
    log "creating bucket $bucket"
    s3 s3 mb "s3://$bucket" >/dev/null
  fi
  log "evidence -> s3://$bucket/evidence/"
  s3 s3 sync --only-show-errors "$src/evidence/" "s3://$bucket/evidence/"
fi

log "done. Next: ordem migrate status; ordem ledger verify; then start the workers and the API."
