#!/usr/bin/env bash
# Make this host the standby of the primary at PRIMARY_HOST (a new host, a replaced one, or the old primary after
# a failover): an empty DATA_DIR filled by pg_basebackup, set to follow the primary, then started.
#
#   deploy/postgresql/standby.sh PRIMARY_HOST DATA_DIR [PORT]
#
# Run as postgres. The replication user's password comes from ~/.pgpass (never on the command line). On Debian,
# DATA_DIR is /var/lib/postgresql/15/main with the cluster stopped (pg_ctlcluster 15 main stop) and emptied.
set -euo pipefail
primary=${1:?usage: standby.sh PRIMARY_HOST DATA_DIR [PORT]}
data=${2:?usage: standby.sh PRIMARY_HOST DATA_DIR [PORT]}
port=${3:-5432}
if [ -n "$(ls -A "$data" 2>/dev/null)" ]; then
  echo "standby.sh: $data is not empty: stop the cluster and empty it first (its data is the lost timeline's)" >&2
  exit 1
fi
pg_basebackup -d "host=$primary port=$port user=${REPLICATION_USER:-replicator} sslmode=${PGSSLMODE:-require}" \
  -D "$data" -X stream -R -c fast --progress
echo "standby ready in $data: start it (Debian: pg_ctlcluster 15 main start); the primary reports it in pg_stat_replication"
