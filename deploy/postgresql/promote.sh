#!/usr/bin/env bash
# Promote this host's standby to primary, once the primary's host is lost (docs/deployment.md, "The primary is lost").
#
#   deploy/postgresql/promote.sh DATA_DIR [--alone]
#
# Run as postgres on the standby's host. First make sure the old primary cannot come back as a primary (its host
# powered off, or its PostgreSQL stopped and disabled): two primaries would each take votes the other lacks.
# Then this promotes the standby and waits until it accepts writes; the collectors find it by themselves (their
# multi-host URL, target_session_attrs=read-write) within a few seconds.
#
# The new primary has no standby yet, so its commits wait (receipts wait, kiosks keep their votes) until one joins
# (standby.sh on the other host, or on a replacement). With --alone, it stops waiting: the degraded mode, where a
# receipt means one host only, until a standby joins and synchronous_standby_names is set back to '*'.
set -euo pipefail
data=${1:?usage: promote.sh DATA_DIR [--alone]}
alone=${2:-}
bin=${PG_BIN:-$(dirname "$(command -v pg_ctl 2>/dev/null || ls /usr/lib/postgresql/*/bin/pg_ctl | tail -n 1)")}
"$bin/pg_ctl" promote -D "$data" -w -t "${PROMOTE_TIMEOUT_S:-60}"
echo "promoted: $data is the primary"
if [ "$alone" = "--alone" ]; then
  # psql connects as PGHOST/PGPORT/PGUSER say (default: the local socket, user postgres).
  psql -v ON_ERROR_STOP=1 -qAt -c "ALTER SYSTEM SET synchronous_standby_names = ''" -c "SELECT pg_reload_conf()" \
    >/dev/null
  echo "degraded mode: commits no longer wait for a standby; set synchronous_standby_names back to '*' once one joins"
fi
