#!/usr/bin/env bash
# Back up the collector's database: one pg_dump file (custom format), checked by reading it back, kept KEEP_DAYS.
#
#   deploy/postgresql/backup.sh DATABASE_URI BACKUP_DIR [KEEP_DAYS]
#
# DATABASE_URI is libpq's, and may name both hosts: postgresql://borne_backup@db1,db2/borne?target_session_attrs=
# read-write&sslmode=verify-full (its password in ~/.pgpass). Run it daily (a systemd timer, cron); the standby
# is not a backup: a vote deleted by mistake is deleted on both hosts. restore.sh restores a file;
# tests/ha/test_backup_restore.py runs both on a throw-away cluster.
set -euo pipefail
uri=${1:?usage: backup.sh DATABASE_URI BACKUP_DIR [KEEP_DAYS]}
dir=${2:?usage: backup.sh DATABASE_URI BACKUP_DIR [KEEP_DAYS]}
keep=${3:-30}
umask 077  # the dump holds kiosks' password hashes and staff accounts
mkdir -p "$dir"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
part="$dir/.borne-$stamp.dump.part"
trap 'rm -f "$part"' EXIT
pg_dump --format=custom --no-owner --no-privileges --dbname="$uri" --file="$part"
pg_restore --list "$part" >/dev/null  # readable to the end
mv "$part" "$dir/borne-$stamp.dump"
find "$dir" -maxdepth 1 -name 'borne-*.dump' -mtime +"$keep" -delete
echo "$dir/borne-$stamp.dump"
