#!/usr/bin/env bash
# Smoke test of the Docker image and its demo: builds the image, starts the compose stack
# under a project name of its own, waits until pg_cron has run the demo's retraining
# schedule three times with success, prints what it saw, and removes the stack's
# containers, network and volume, on failure too.
#
#   tests/docker/smoke.sh
#
# Needs a Docker engine with `docker compose` or `docker-compose`. Not part of CI: the
# first build compiles cargo-pgrx and the extension (15-30 minutes on 2 cores); later
# ones reuse the cached layers. Environment:
#   SMOKE_TIMEOUT  seconds to wait for the three runs once the server is up (600)
#   SMOKE_PORT     host port for the database (default: the first free one from 55432)
set -Eeuo pipefail

cd "$(dirname "$0")/../.."

timeout="${SMOKE_TIMEOUT:-600}"
project="pg_retrain_smoke_$$"

if docker compose version >/dev/null 2>&1; then
	compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
	compose=(docker-compose)
else
	echo "smoke: neither 'docker compose' nor 'docker-compose' is installed" >&2
	exit 2
fi
compose+=(-p "$project")

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port="${SMOKE_PORT:-}"
if [ -z "$port" ]; then
	for candidate in $(seq 55432 55532); do
		if port_free "$candidate"; then port="$candidate"; break; fi
	done
fi
[ -n "$port" ] || { echo "smoke: no free port in 55432-55532" >&2; exit 2; }
export POSTGRES_PORT="$port"

log() { printf '\n== %s  %s\n' "$(date -u +%H:%M:%S)" "$*"; }

teardown() {
	local status=$?
	if [ "$status" -ne 0 ]; then
		log "FAILED (exit $status); server log:"
		"${compose[@]}" logs --tail 80 db 2>&1 || true
	fi
	log "tearing down $project"
	"${compose[@]}" down --volumes --remove-orphans >/dev/null 2>&1 || true
	exit "$status"
}
trap teardown EXIT
trap 'exit 130' INT TERM

psql_db() {
	"${compose[@]}" exec -T db psql -X -v ON_ERROR_STOP=1 -U postgres -d retrain "$@"
}

log "building with ${compose[*]}"
"${compose[@]}" build db

log "starting (project $project, port 127.0.0.1:$port)"
"${compose[@]}" up -d db
container="$("${compose[@]}" ps -q db)"

# Healthy means the init scripts (extensions, demo data, first training) are done.
deadline=$((SECONDS + 300))
while :; do
	state="$(docker inspect -f '{{.State.Status}} {{.State.Health.Status}}' "$container")"
	case "$state" in
		'running healthy') break ;;
		exited* | dead*) echo "smoke: the container stopped during start-up" >&2; exit 1 ;;
	esac
	if [ "$SECONDS" -ge "$deadline" ]; then
		echo "smoke: not healthy after 300 s (state: $state)" >&2
		exit 1
	fi
	sleep 5
done
log "server healthy; waiting up to ${timeout}s for three scheduled runs"

# A run counts when pg_cron started it (it has a cron_runid: the init-time run made by
# hand does not) and both it and pg_cron's record of it succeeded. Any failed run ends
# the wait at once, with its error.
deadline=$((SECONDS + timeout))
while :; do
	counts="$(psql_db -A -t -F ' ' -c "
		SELECT count(*) FILTER (WHERE status = 'succeeded' AND cron_status = 'succeeded'
		                          AND cron_runid IS NOT NULL),
		       count(*) FILTER (WHERE status = 'failed' OR cron_status = 'failed')
		FROM retrain.run_history WHERE name = 'txhousing'")"
	read -r ok failed <<<"$counts"
	printf '  %s  scheduled runs succeeded: %s, failed: %s\n' \
		"$(date -u +%H:%M:%S)" "$ok" "$failed"
	if [ "$failed" -gt 0 ]; then
		psql_db -c "SELECT run_id, status, sqlstate, message, cron_status, cron_message
		            FROM retrain.run_history
		            WHERE name = 'txhousing' AND (status = 'failed' OR cron_status = 'failed')"
		echo "smoke: a scheduled run failed" >&2
		exit 1
	fi
	[ "$ok" -ge 3 ] && break
	if [ "$SECONDS" -ge "$deadline" ]; then
		echo "smoke: fewer than three scheduled runs after ${timeout}s" >&2
		exit 1
	fi
	sleep 15
done

log "what the demo stored"
psql_db <<'SQL'
\pset footer off
SELECT count(*) AS rows_released, min(period) AS first_month, max(period) AS last_month
FROM demo.txhousing;
SELECT name, schedule, active, last_status, last_run_at FROM retrain.schedules;
SELECT name, version, trained_at, n_rows, n_train, n_test,
       round(rmse::numeric) AS rmse, round(r2::numeric, 3) AS r2,
       round(rmse_change::numeric) AS rmse_change
FROM retrain.pipeline_history ORDER BY name, version;
SELECT name, run_id, status, version, round(rmse::numeric) AS rmse,
       date_trunc('second', started_at) AS started_at, duration, cron_runid, cron_status
FROM retrain.run_history ORDER BY name, coalesce(started_at, cron_start_time);
SELECT jobid, jobname, schedule, active FROM cron.job ORDER BY jobid;
SQL

# The demo's promise: the model changes as the data drifts.
distinct_rmse="$(psql_db -A -t -c \
	"SELECT count(DISTINCT round(rmse::numeric, 6)) FROM retrain.pipelines
	 WHERE name = 'txhousing'")"
if [ "$distinct_rmse" -lt 2 ]; then
	echo "smoke: every version has the same RMSE; the data did not move" >&2
	exit 1
fi
# The image puts retrain on the database's search_path: the API works unqualified.
log "an unqualified train_pipeline() call"
psql_db -c "SELECT name, version, round(rmse::numeric) AS rmse, round(r2::numeric, 3) AS r2
            FROM train_pipeline('SELECT city, sales, listings, median FROM demo.txhousing',
                                target => 'median', name => 'smoke_unqualified')"

log "PASSED: three scheduled runs succeeded, $distinct_rmse distinct RMSE values"
