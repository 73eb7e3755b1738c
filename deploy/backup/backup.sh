#!/usr/bin/env bash
# Back up Ordem: its Postgres database (pg_dump -Fc), optionally the
# Temporal databases, and the evidence files of the S3 bucket.
#
# Usage: backup.sh [--no-evidence] [--dest DIR]
#
# Environment:
#   DATABASE_URL            Ordem's database (required), e.g.
#                           postgres://postgres:PASSWORD@127.0.0.1:5433/ordem
#                           for the compose stack.
#   TEMPORAL_DATABASE_URL, TEMPORAL_VISIBILITY_DATABASE_URL
#                           Temporal's two databases (optional, recommended
#                           when Temporal runs on your Postgres: running
#                           orders' timers live there).
#   BACKUP_DIR              where backups go (default /var/backups/ordem);
#                           --dest overrides it.
#   BACKUP_KEEP             complete backups to keep (default 14; 0 keeps all).
#   S3_BUCKET               evidence bucket (default ordem-evidence)
#   S3_ENDPOINT             S3-compatible endpoint URL; empty means AWS
#   S3_REGION               (default us-east-1)
#   S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY
#                           credentials, unless AWS_ACCESS_KEY_ID /
#                           AWS_SECRET_ACCESS_KEY (or an AWS profile or
#                           instance role) are already set.
# Ordem's env file has the same S3_* names, so on a systemd host:
#   set -a; . /etc/ordem/ordem.env; set +a; deploy/backup/backup.sh
#
# Needs pg_dump (of the server's major version or newer) and, for the
# evidence, the aws CLI.
#
# Layout: BACKUP_DIR/ordem-YYYYMMDDTHHMMSSZ/ with ordem.dump,
# temporal.dump and temporal_visibility.dump (when asked), evidence/ (the
# bucket's evidence/ prefix) and SHA256SUMS. It is written under a
# .partial name and renamed only when complete, so a directory without
# that suffix is a whole backup.
#
# Order matters: Temporal first, then Ordem, then the evidence. A Temporal
# snapshot older than Ordem's is safe (a replayed transition finds its step
# key already claimed and moves no money twice); the reverse would let
# Temporal believe in transitions Ordem's database no longer has. Evidence
# objects are written before their database rows and never deleted, so a
# later bucket copy holds every object the dump names.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

evidence=1
dest="${BACKUP_DIR:-/var/backups/ordem}"
while [ $# -gt 0 ]; do
  case "$1" in
    --no-evidence) evidence=0 ;;
    --dest) [ $# -ge 2 ] || { echo "backup.sh: --dest needs a directory" >&2; exit 2; }; dest="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "backup.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

: "${DATABASE_URL:?backup.sh: set DATABASE_URL to the Ordem database}"
keep="${BACKUP_KEEP:-14}"
case "$keep" in ''|*[!0-9]*) echo "backup.sh: BACKUP_KEEP must be a whole number" >&2; exit 2 ;; esac

log() { printf '%s backup: %s\n' "$(date -u +%FT%TZ)" "$*" >&2; }

s3() {
  # Ordem's S3_* names, mapped to the aws CLI's unless those are set.
  AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-${S3_ACCESS_KEY_ID:-}}" \
  AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-${S3_SECRET_ACCESS_KEY:-}}" \
  AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-${S3_REGION:-us-east-1}}" \
    aws ${S3_ENDPOINT:+--endpoint-url "$S3_ENDPOINT"} "$@"
}

if [ "$evidence" = 1 ] && ! command -v aws >/dev/null; then
  echo "backup.sh: the aws CLI is needed for the evidence bucket (or pass --no-evidence)" >&2
  exit 2
fi

mkdir -p "$dest"
name="ordem-$(date -u +%Y%m%dT%H%M%SZ)"
work="$dest/$name.partial"
rm -rf "$work"
mkdir -m 0700 "$work"
# An interrupted run leaves no half backup that looks whole.
trap 'rm -rf "$work"' EXIT

dump() { # dump URL FILE
  log "pg_dump $2"
  pg_dump --format=custom --compress=6 --no-password --dbname="$1" --file="$work/$2"
}

if [ -n "${TEMPORAL_DATABASE_URL:-}" ]; then
  dump "$TEMPORAL_DATABASE_URL" temporal.dump
fi
if [ -n "${TEMPORAL_VISIBILITY_DATABASE_URL:-}" ]; then
  dump "$TEMPORAL_VISIBILITY_DATABASE_URL" temporal_visibility.dump
fi
dump "$DATABASE_URL" ordem.dump

if [ "$evidence" = 1 ]; then
  bucket="${S3_BUCKET:-ordem-evidence}"
  log "evidence s3://$bucket/evidence/"
  mkdir -p "$work/evidence"
  # Only attached evidence: staging/ holds uploads in flight, which the
  # worker removes after a day anyway.
  s3 s3 sync --only-show-errors "s3://$bucket/evidence/" "$work/evidence/"
fi

sums="$(cd "$work" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum)"
printf '%s\n' "$sums" > "$work/SHA256SUMS"
mv "$work" "$dest/$name"
trap - EXIT
log "complete: $dest/$name ($(du -sh "$dest/$name" | cut -f1))"

if [ "$keep" -gt 0 ]; then
  # Names sort by time; drop the oldest complete backups beyond $keep.
  find "$dest" -mindepth 1 -maxdepth 1 -type d -name 'ordem-*' ! -name '*.partial' -printf '%f\n' \
    | sort -r | tail -n +"$((keep + 1))" | while read -r old; do
      log "pruning $old"
      rm -rf "${dest:?}/$old"
    done
fi
echo "$dest/$name"
