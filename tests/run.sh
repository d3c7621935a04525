#!/usr/bin/env bash
# The test command: installs prerequisites, then runs every test (the pgrx-free core's unit
# tests and the in-database tests against a real PostgreSQL 15 with pg_cron preloaded, and
# the psql-level scheduling checks), the format and lint checks, and a tiny run of the
# benchmark so that it keeps working.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/setup.sh

# Postgres refuses to run as root: the test cluster runs as the postgres user, in a data
# directory that user owns.
PGDATA_DIR="${PGRX_TEST_PGDATA:-/tmp/pg_retrain-test-pgdata}"
if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA_DIR"
    chown postgres:postgres "$PGDATA_DIR"
    cargo pgrx test pg15 --runas postgres --pgdata "$PGDATA_DIR"
else
    cargo pgrx test pg15
fi

# Scheduling as a psql user meets it, with committed jobs that a real pg_cron runs.
bash tests/scheduling_checks.sh

cargo fmt --check
cargo clippy --all-targets -- -D warnings
cargo clippy --all-targets --features pg_test -- -D warnings

# The benchmark on 20,000 rows with a debug build: proves the script still runs end to end
# (its last line is the ratio line); the numbers of a tiny debug run mean nothing.
bash tests/bench/run.sh --quick
