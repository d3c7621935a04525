#!/usr/bin/env bash
# Runs tests/sql/scheduling_checks.sql the way a psql user meets scheduling: against a
# throwaway PostgreSQL 15 cluster with pg_cron preloaded, in a database where pg_cron is
# installed (every check, one real minute tick included: one to two minutes) and in one
# where it is not (schedule refused with 55000 and a hint, the views still answer).
# Unlike the #[pg_test]s, these steps commit, so pg_cron sees the jobs they make.
#
# Builds the debug package (it shares the test build's dependencies) and installs it into a
# private copy of PostgreSQL. Part of tests/run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
PG_TREE=/tmp/pg_retrain-checks-pg
PG_BIN=$PG_TREE/usr/lib/postgresql/15/bin
DATA=/tmp/pg_retrain-checks
PORT=5489
DB=checks
# shellcheck source=tests/cluster.sh
source tests/cluster.sh

echo "== building the extension (debug package)"
cargo pgrx package --debug --pg-config "$SYSTEM_PG_CONFIG"
install_private_copy target/debug/pg_retrain-pg15 "$PG_TREE"

# pg_cron's jobs connect over TCP to localhost, which the cluster trusts.
start_fresh_cluster "$PG_BIN" "$DATA" "$PORT" \
    "-c shared_preload_libraries=pg_cron -c cron.database_name=$DB"
OUTPUT=$(mktemp)
trap 'stop_cluster "$PG_BIN" "$DATA"; rm -f "$OUTPUT"' EXIT

psql_do() { psql -X -q -h /tmp -p "$PORT" -U postgres -v ON_ERROR_STOP=1 "$@"; }
psql_do -d postgres -c "CREATE DATABASE $DB" -c "CREATE DATABASE ${DB}_without_cron"
psql_do -d "$DB" -c "CREATE EXTENSION pg_retrain" -c "CREATE EXTENSION pg_cron"
psql_do -d "${DB}_without_cron" -c "CREATE EXTENSION pg_retrain"

# Each run must end on the script's own last line; anything else failed.
check() {
    local db=$1 expected=$2 status=0
    echo "== tests/sql/scheduling_checks.sql in $db"
    psql_do -d "$db" -f tests/sql/scheduling_checks.sql >"$OUTPUT" 2>&1 || status=$?
    cat "$OUTPUT"
    if [ "$status" != 0 ] || [ "$(tail -n 1 "$OUTPUT")" != "$expected" ]; then
        echo "scheduling checks in $db did not pass" >&2
        exit 1
    fi
}
check "${DB}_without_cron" "all scheduling checks passed (server without pg_cron)"
check "$DB" "all scheduling checks passed"
echo "scheduling: 2 passed, 0 failed"
