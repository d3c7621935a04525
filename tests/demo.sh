#!/usr/bin/env bash
# The main job on a local PostgreSQL 15: installs prerequisites, builds and installs the
# extension, starts a throwaway cluster, loads the real diamonds data, trains, and prints
# what was stored. `--keep` leaves the cluster running (the script prints how to connect).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

bash tests/setup.sh

PG_BIN=/usr/lib/postgresql/15/bin
PORT=${DEMO_PORT:-54329}
DATA=${DEMO_PGDATA:-/tmp/pg_retrain-demo}
DB=retrain_demo
# shellcheck source=tests/cluster.sh
source tests/cluster.sh

echo "== building and installing the extension (release)"
if [ "$(id -u)" = 0 ]; then
    cargo pgrx install --release --pg-config "$PG_BIN/pg_config"
else
    cargo pgrx install --release --sudo --pg-config "$PG_BIN/pg_config"
fi

start_fresh_cluster "$PG_BIN" "$DATA" "$PORT" \
    "-c shared_preload_libraries=pg_cron -c cron.database_name=$DB"
[ "${1:-}" = "--keep" ] || trap 'stop_cluster "$PG_BIN" "$DATA"' EXIT

psql_do() { "${AS_PG[@]}" psql -X -q -h /tmp -p "$PORT" -U postgres "$@"; }
psql_do -d postgres -c "CREATE DATABASE $DB"
psql_do -d "$DB" -v ON_ERROR_STOP=1 <<'SQL'
CREATE EXTENSION pg_retrain;
CREATE TABLE diamonds (carat float8, cut text, color text, clarity text, depth float8,
                       "table" float8, price int4, x float8, y float8, z float8);
SQL
COPY_DIAMONDS='\copy diamonds (carat, cut, color, clarity, depth, "table", price, x, y, z)'
psql_do -d "$DB" -c "$COPY_DIAMONDS FROM STDIN WITH (FORMAT csv, HEADER true)" \
    < "$REPO/tests/data/diamonds.csv"

echo "== training (the NOTICE line is what a psql user sees)"
psql_do -d "$DB" -v ON_ERROR_STOP=1 <<'SQL'
\pset footer off
SELECT count(*) AS diamonds_rows FROM diamonds;
SELECT * FROM retrain.train_pipeline(
  'SELECT carat, cut, color, clarity, depth, "table", x, y, z, price AS target FROM diamonds',
  0.2, name => 'diamonds', seed => 42);
SELECT * FROM retrain.train_pipeline(
  'SELECT carat, cut, color, clarity, depth, "table", x, y, z, price AS target FROM diamonds',
  0.2, name => 'diamonds', algorithm => 'ridge', params => '{"alpha": 0.01}');

\echo '== stored rows (retrain.pipelines, artifact shown by size)'
SELECT id, name, version, trained_at, algorithm, seed, n_rows, n_train, n_test, n_skipped,
       round(rmse::numeric, 2) AS rmse, round(mae::numeric, 2) AS mae,
       round(r2::numeric, 4) AS r2, pg_size_pretty(length(artifact)::bigint) AS artifact
FROM retrain.pipelines ORDER BY id;
SELECT name, version, jsonb_pretty(metrics) AS metrics FROM retrain.pipelines
WHERE version = 1;
\echo '== history and deployment'
SELECT name, version, round(rmse::numeric, 2) AS rmse, round(rmse_change::numeric, 3)
       AS rmse_change, round(baseline_rmse::numeric, 2) AS baseline_rmse, deployed
FROM retrain.pipeline_history ORDER BY version;
SELECT name, version, kind, reason FROM retrain.deployed_pipelines;
\echo '== serving: predictions next to the real price, and the weights'
SELECT price, round(retrain.predict('diamonds', to_jsonb(d))::numeric, 1) AS predicted
FROM diamonds d LIMIT 5;
SELECT feature, round(weight::numeric, 3) AS weight FROM retrain.weights('diamonds')
LIMIT 12;
SQL
if [ "${1:-}" = "--keep" ]; then
    echo "== cluster left running: psql -h /tmp -p $PORT -U postgres $DB"
fi
