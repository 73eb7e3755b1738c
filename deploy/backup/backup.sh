#!/usr/bin/env bash
# Back up Ordem: its Postgres database (pg_dump -Fc), optionally the
# Temporal databases, and the evidence files of the S3 bucket.
#
# Usage: backup.sh [--no-evidence] [--no-prune] [--dest DIR]
#        backup.sh --prune-only [--dest DIR]
#
#   --no-evidence  skip the evidence bucket.
#   --no-prune     make the backup, apply no retention.
#   --prune-only   apply the retention below to DIR and exit; no backup.
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
#   BACKUP_KEEP_DAYS        retention by age: complete backups older than
#                           this many days are deleted (default 30, as the
#                           old system's daily rotation kept; 0: no age limit).
#   BACKUP_KEEP             retention by count: at most this many complete
#                           backups are kept, the newest (default 0: no limit).
#   BACKUP_KEEP_MIN         the newest this many complete backups are never
#                           deleted for their age (default 3), so backups that
#                           stopped for a month are not all pruned by the
#                           first one that works again.
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
# Needs pg_dump and pg_restore (of the server's major version or newer),
# flock (util-linux; without it no lock is taken) and, for the
# evidence, the aws CLI.
#
# Layout: BACKUP_DIR/ordem-YYYYMMDDTHHMMSSZ/ with ordem.dump,
# temporal.dump and temporal_visibility.dump (when asked), evidence/ (the
# bucket's evidence/ prefix) and SHA256SUMS. It is written under a
# .partial name and renamed only when complete, so a directory without
# that suffix is a whole backup. Each dump is read back (pg_restore
# --list) before the backup is declared complete.
#
# Retention runs after a backup succeeded, never after one that failed
# (a failing backup must not eat the good ones), and only over complete
# backups (ordem-YYYYMMDDTHHMMSSZ, aged by the time in their name) and
# .partial leftovers of killed runs older than a day. Exit status: 0 when
# the backup (and retention) succeeded, 2 for a usage error, 4 when
# another backup.sh holds DIR's lock, anything else when a step failed; the
# systemd unit and the Kubernetes CronJob turn that into a failed unit or
# Job (deploy/systemd/ordem-backup.service, deploy/k8s/base/backup-cronjob.yaml).
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
prune=1
backup=1
dest="${BACKUP_DIR:-/var/backups/ordem}"
while [ $# -gt 0 ]; do
  case "$1" in
    --no-evidence) evidence=0 ;;
    --no-prune) prune=0 ;;
    --prune-only) backup=0 ;;
    --dest) [ $# -ge 2 ] || { echo "backup.sh: --dest needs a directory" >&2; exit 2; }; dest="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "backup.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

whole() { # whole NAME DEFAULT: prints $NAME, or DEFAULT when unset or empty
  local v="${!1:-$2}"
  case "$v" in ''|*[!0-9]*) echo "backup.sh: $1 must be a whole number (got \"$v\")" >&2; exit 2 ;; esac
  echo "$((10#$v))"
}
keep="$(whole BACKUP_KEEP 0)"
keep_days="$(whole BACKUP_KEEP_DAYS 30)"
keep_min="$(whole BACKUP_KEEP_MIN 3)"
[ "$keep_min" -ge 1 ] || keep_min=1 # the newest backup is never pruned

log() { printf '%s backup: %s\n' "$(date -u +%FT%TZ)" "$*" >&2; }

# retention: delete complete backups beyond BACKUP_KEEP, and those older
# than BACKUP_KEEP_DAYS except the newest BACKUP_KEEP_MIN; and .partial
# directories of killed runs older than a day.
retention() {
  [ -d "$dest" ] || return 0
  local cutoff="" i=0 old
  if [ "$keep_days" -gt 0 ]; then
    # Backup names carry their UTC time; fixed width, so they compare as
    # strings.
    cutoff="ordem-$(date -u -d "@$(( $(date -u +%s) - keep_days * 86400 ))" +%Y%m%dT%H%M%SZ)"
  fi
  while read -r old; do
    i=$((i + 1))
    if [ "$keep" -gt 0 ] && [ "$i" -gt "$keep" ]; then
      log "pruning $old (more than BACKUP_KEEP=$keep backups)"
    elif [ -n "$cutoff" ] && [ "$i" -gt "$keep_min" ] && [[ "$old" < "$cutoff" ]]; then
      log "pruning $old (older than BACKUP_KEEP_DAYS=$keep_days days)"
    else
      continue
    fi
    rm -rf "${dest:?}/$old"
  done < <(find "$dest" -mindepth 1 -maxdepth 1 -type d -name 'ordem-*' ! -name '*.partial' -printf '%f\n' \
             | grep -E '^ordem-[0-9]{8}T[0-9]{6}Z$' | sort -r)
  while read -r old; do
    log "removing $old (left by an interrupted run)"
    rm -rf "${dest:?}/$old"
  done < <(find "$dest" -mindepth 1 -maxdepth 1 -type d -name 'ordem-*.partial' -mmin +1440 -printf '%f\n')
}

# One backup.sh at a time per directory (a timer and a hand run, say):
# the second would reuse the first's name or prune under it.
mkdir -p "$dest"
if command -v flock >/dev/null; then
  exec 9>>"$dest/.backup.lock"
  if ! flock -n 9; then
    echo "backup.sh: another backup.sh is running on $dest" >&2
    exit 4
  fi
else
  log "flock not found (util-linux): running without the lock on $dest"
fi

if [ "$backup" = 0 ]; then
  retention
  exit 0
fi

: "${DATABASE_URL:?backup.sh: set DATABASE_URL to the Ordem database}"

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

name="ordem-$(date -u +%Y%m%dT%H%M%SZ)"
while [ -e "$dest/$name" ]; do # a backup in the same second
  sleep 1
  name="ordem-$(date -u +%Y%m%dT%H%M%SZ)"
done
work="$dest/$name.partial"
rm -rf "$work"
mkdir -m 0700 "$work"
# An interrupted run leaves no half backup that looks whole.
trap 'rm -rf "$work"' EXIT

dump() { # dump URL FILE
  log "pg_dump $2"
  pg_dump --format=custom --compress=6 --no-password --dbname="$1" --file="$work/$2"
  # A dump that pg_restore cannot read back is no backup.
  pg_restore --list "$work/$2" >/dev/null
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
  # Evidence objects never change once written: start from hard links to
  # the previous complete backup's copy, so sync downloads only the new
  # objects (same size and time are skipped) and 30 backups take the
  # room of one copy. --delete unlinks, in this backup only, what the
  # bucket no longer has.
  prev="$(find "$dest" -mindepth 1 -maxdepth 1 -type d -name 'ordem-*' ! -name '*.partial' -printf '%f\n' \
            | grep -E '^ordem-[0-9]{8}T[0-9]{6}Z$' | sort -r | head -n 1 || true)"
  if [ -n "$prev" ] && [ -d "$dest/$prev/evidence" ]; then
    cp -al "$dest/$prev/evidence" "$work/evidence"
  else
    mkdir -p "$work/evidence"
  fi
  # Only attached evidence: staging/ holds uploads in flight, which the
  # worker removes after a day anyway.
  s3 s3 sync --only-show-errors --delete "s3://$bucket/evidence/" "$work/evidence/"
fi

sums="$(cd "$work" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum)"
printf '%s\n' "$sums" > "$work/SHA256SUMS"
mv "$work" "$dest/$name"
trap - EXIT
log "complete: $dest/$name ($(du -sh "$dest/$name" | cut -f1))"

if [ "$prune" = 1 ]; then
  retention
fi
echo "$dest/$name"
