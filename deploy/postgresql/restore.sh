#!/usr/bin/env bash
# Restore a backup.sh file into an empty database, in one transaction, and say how many votes it holds.
#
#   deploy/postgresql/restore.sh BACKUP_FILE DATABASE_URI
#
# The database must exist and be empty (createdb -O borne borne): a restore never mixes with what is there.
# Afterwards, with the collectors stopped: point them at it, start them (they check the schema's revision), and
# rotate the kiosks' broker passwords if the brokers' accounts were lost too (docs/deployment.md).
set -euo pipefail
file=${1:?usage: restore.sh BACKUP_FILE DATABASE_URI}
uri=${2:?usage: restore.sh BACKUP_FILE DATABASE_URI}
existing=$(psql -v ON_ERROR_STOP=1 -qAt --dbname="$uri" -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
if [ "$existing" != 0 ]; then
  echo "restore.sh: the database already has $existing tables: restore into an empty one" >&2
  exit 1
fi
pg_restore --no-owner --no-privileges --exit-on-error --single-transaction --dbname="$uri" "$file"
votes=$(psql -v ON_ERROR_STOP=1 -qAt --dbname="$uri" -c "SELECT count(*) FROM votes")
echo "restored $file: $votes votes"
