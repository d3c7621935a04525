#!/usr/bin/env bash
# Benchmarks pg_retrain against the scan it cannot beat, the pandas + scikit-learn job it
# replaces, and the hand-written SQL it serves like. Builds the release build, installs it
# into a private copy of PostgreSQL 15, starts a throwaway cluster, generates the data,
# measures (tests/bench/bench.py) and writes docs/benchmarks.md. The last line printed is
#   bench rows=<N> train_over_scan=<x> python_over_train=<y> predict_over_sql=<z> \
#         mem_over_matrix=<w>
# on one line, two decimals each (python_over_train is nan with --no-python).
#
# Usage: tests/bench/run.sh [--rows N] [--repeat K] [--no-python] [--profile]
#                           [--out FILE] [--no-build] [--quick]
#   --rows N      table size (default 1000000)
#   --repeat K    measurements per contender, round-robin (default 3)
#   --no-python   skip the Python contenders (no venv, no PyPI)
#   --profile     also record one perf profile of train and of predict for the report
#   --out FILE    where the report goes (default docs/benchmarks.md)
#   --no-build    use the last package built in target/ instead of building it
#   --quick       CI mode: --rows 20000 --repeat 1 --no-python, a debug build (it shares
#                 the test build's dependencies), report in /tmp; proves the script
#                 works, its numbers mean nothing
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$(pwd)

ROWS=1000000
REPEAT=3
PYTHON=1
PROFILE=()
BUILD=1
OUT="$REPO/docs/benchmarks.md"
QUICK=0
BUILD_MODE=release
while [ $# -gt 0 ]; do
    case "$1" in
        --rows) ROWS=$2; shift ;;
        --repeat) REPEAT=$2; shift ;;
        --no-python) PYTHON=0 ;;
        --profile) PROFILE=(--profile) ;;
        --out) OUT=$(realpath -m "$2"); shift ;;
        --no-build) BUILD=0 ;;
        --quick) QUICK=1 ;;
        *) echo "unknown argument: $1 (see the header of $0)" >&2; exit 2 ;;
    esac
    shift
done
if [ "$QUICK" = 1 ]; then
    ROWS=20000
    REPEAT=1
    PYTHON=0
    BUILD_MODE=debug
    # A CI run must never replace the committed report with toy numbers.
    [ "$OUT" = "$REPO/docs/benchmarks.md" ] && OUT=/tmp/pg_retrain-bench-quick.md
fi
COMMAND="tests/bench/run.sh --rows $ROWS --repeat $REPEAT"
[ "$PYTHON" = 0 ] && COMMAND+=" --no-python"
[ ${#PROFILE[@]} -gt 0 ] && COMMAND+=" --profile"

SYSTEM_PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
# The extension is installed into a private copy of PostgreSQL (see tests/cluster.sh).
PG_TREE=/tmp/pg_retrain-bench-pg
PG_BIN=$PG_TREE/usr/lib/postgresql/15/bin
PACKAGE=$REPO/target/$BUILD_MODE/pg_retrain-pg15
PORT=5488
DATA=/tmp/pg_retrain-bench
DB=bench
VENV=/tmp/pg_retrain-bench-venv
# shellcheck source=tests/cluster.sh
source tests/cluster.sh
# 1 GiB of shared buffers per million rows (at least 256 MiB): the table (about 140 MB
# per million rows) and the extension's own tables stay in shared buffers, so every
# contender reads from memory and no seq scan falls back to a small ring buffer.
SHARED_BUFFERS_MB=$(( ROWS * 1024 / 1000000 ))
[ "$SHARED_BUFFERS_MB" -lt 256 ] && SHARED_BUFFERS_MB=256

bash tests/setup.sh

if [ "$BUILD" = 1 ]; then
    echo "== building the extension ($BUILD_MODE) into $PACKAGE"
    MODE_FLAG=()
    [ "$BUILD_MODE" = debug ] && MODE_FLAG=(--debug)
    cargo pgrx package --pg-config "$SYSTEM_PG_CONFIG" "${MODE_FLAG[@]}"
fi
install_private_copy "$PACKAGE" "$PG_TREE"

if [ "$PYTHON" = 1 ]; then
    echo "== Python venv for the scikit-learn contender ($VENV)"
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r tests/bench/requirements.txt
fi

# Why each setting: see "What is measured" in docs/benchmarks.md. TCP on localhost is
# for connectorx; everything else uses the Unix socket in /tmp.
start_fresh_cluster "$PG_BIN" "$DATA" "$PORT" \
    "-c listen_addresses=localhost -c shared_buffers=${SHARED_BUFFERS_MB}MB \
     -c max_parallel_workers_per_gather=0 -c jit=off -c autovacuum=off"
trap 'stop_cluster "$PG_BIN" "$DATA"' EXIT

psql_do() { psql -X -q -h /tmp -p "$PORT" -U postgres -v ON_ERROR_STOP=1 "$@"; }
psql_do -d postgres -c "CREATE DATABASE $DB"
psql_do -d "$DB" -c "CREATE EXTENSION pg_retrain" -c "CREATE EXTENSION pg_prewarm"

echo "== generating $ROWS rows"
started=$(date +%s)
psql_do -d "$DB" -v rows="$ROWS" -f tests/bench/generate.sql
psql_do -d "$DB" -At -c "SELECT pg_prewarm('bench')" >/dev/null
echo "   done in $(( $(date +%s) - started )) s"

echo "== measuring ($REPEAT rounds)"
BENCH_ARGS=(--rows "$ROWS" --repeat "$REPEAT" --port "$PORT" --db "$DB" --out "$OUT"
            --command "$COMMAND" --build-mode "$BUILD_MODE" "${PROFILE[@]}"
            --library "$("$PG_BIN/pg_config" --pkglibdir)/pg_retrain.so")
if [ "$PYTHON" = 1 ]; then
    BENCH_ARGS+=(--python "$VENV/bin/python")
else
    BENCH_ARGS+=(--no-python)
fi
# bench.py prints progress on stderr and the result line last on stdout.
python3 tests/bench/bench.py "${BENCH_ARGS[@]}"
