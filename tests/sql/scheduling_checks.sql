-- Checks of sql/scheduling.sql against a live server, for psql:
--
--   psql -X -v ON_ERROR_STOP=1 -d DB -f tests/sql/scheduling_checks.sql
--
-- DB has pg_retrain installed. Run it twice:
--   * on a server with shared_preload_libraries = 'pg_cron', cron.database_name = DB and
--     CREATE EXTENSION pg_cron done in DB: every check below runs, and the script waits
--     for one real minute tick of pg_cron (about 1 to 2 minutes in all);
--   * on a server without pg_cron: only the first section runs (scheduling refused with
--     55000, the views still answer), then the script stops.
-- pg_cron must be able to connect for its jobs: libpq mode (the default) with local trust
-- or a password file, or cron.use_background_workers = on (see the Dockerfile for why the
-- demo does not use the latter with pg_cron 1.4).
--
-- Every step checks its own result and raises an error when it differs, so a run that
-- reaches the last line ('all scheduling checks passed') passed. Each step says what it
-- expects. Objects made here are named chk_* (schedules, jobs) or live in schema
-- sched_check; they are removed at the start (leftovers of a failed run) and at the end.
--
-- The tick-dependent steps cannot be #[pg_test]s: a pg_test's transaction never commits,
-- so pg_cron never sees its jobs. Steps 1-4 and 8-9 can.

\set ON_ERROR_STOP on
\pset footer off
SET client_min_messages = warning;

-- expect_error(sql, sqlstate): runs sql, returns the error message when it fails with
-- exactly that SQLSTATE, fails the script otherwise.
CREATE FUNCTION pg_temp.expect_error(stmt text, state text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RAISE EXCEPTION 'expected SQLSTATE % but it succeeded: %', state, stmt;
EXCEPTION WHEN OTHERS THEN
    IF SQLSTATE = state THEN
        RETURN state || ' ' || SQLERRM;
    END IF;
    RAISE;
END
$$;

-- check(condition, what): fails the script unless condition is true.
CREATE FUNCTION pg_temp.check(ok boolean, what text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION 'check failed: %', what;
    END IF;
    RETURN 'ok: ' || what;
END
$$;

-- forget_pipelines(): deletes the chk_* pipelines, and first what refers to them
-- (retrain.deployments, when this version of pg_retrain has it).
CREATE FUNCTION pg_temp.forget_pipelines() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF to_regclass('retrain.deployments') IS NOT NULL THEN
        EXECUTE $sql$DELETE FROM retrain.deployments WHERE name LIKE 'chk\_%'$sql$;
    END IF;
    DELETE FROM retrain.pipelines WHERE name LIKE 'chk\_%';
END
$$;

-- ---------------------------------------------------------------------------------------
-- 0. Without pg_cron: schedule() refuses with 55000 and a hint; the views answer.
-- ---------------------------------------------------------------------------------------
SELECT NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron') AS no_cron \gset
\if :no_cron
    -- Expected: 55000, message naming pg_cron; HINT with shared_preload_libraries.
    SELECT pg_temp.expect_error(
        $$SELECT retrain.schedule('chk_nocron', '* * * * *', 'SELECT 1 AS target')$$,
        '55000');
    -- Expected: both views run; no error although cron.* does not exist.
    SELECT pg_temp.check((SELECT count(*) >= 0 FROM retrain.schedules), 'schedules view');
    SELECT pg_temp.check((SELECT count(*) >= 0 FROM retrain.run_history),
                         'run_history view');
    \echo 'all scheduling checks passed (server without pg_cron)'
    \quit
\endif

-- Leftovers of an earlier, failed run.
SELECT cron.unschedule(jobid) FROM cron.job
WHERE jobname LIKE 'retrain:chk\_%' OR jobname = 'chk_holder';
DELETE FROM retrain.schedules_config WHERE name LIKE 'chk\_%';
DELETE FROM retrain.runs WHERE name LIKE 'chk\_%';
SELECT pg_temp.forget_pipelines();
DROP SCHEMA IF EXISTS sched_check CASCADE;

CREATE SCHEMA sched_check;
-- 120 rows, target = 3x + a small periodic wobble, so a linear fit is good but not exact.
CREATE TABLE sched_check.chk_houses AS
SELECT g AS id, (g % 17)::float8 AS x, 3.0 * (g % 17) + (g % 5) * 0.1 AS target
FROM generate_series(1, 120) AS g;
-- Slow on purpose: 0.05 s per row read, for the statement_timeout step.
CREATE FUNCTION sched_check.nap(seconds float8) RETURNS boolean
LANGUAGE sql AS $$ SELECT true FROM pg_catalog.pg_sleep(seconds) $$;

-- ---------------------------------------------------------------------------------------
-- 1. Argument validation, before anything is written.
-- ---------------------------------------------------------------------------------------
-- Expected: 22004 for each NULL argument, message naming it.
SELECT pg_temp.expect_error($$SELECT retrain.schedule(NULL, '* * * * *', 'SELECT 1')$$,
                            '22004');
SELECT pg_temp.expect_error(
    $$SELECT retrain.schedule('chk_a', '* * * * *', 'SELECT 1', params => NULL)$$, '22004');
-- Expected: 22023 for test_frac outside (0, 1), NaN included.
SELECT pg_temp.expect_error(
    $$SELECT retrain.schedule('chk_a', '* * * * *', 'SELECT 1', test_frac => 1)$$, '22023');
SELECT pg_temp.expect_error(
    $$SELECT retrain.schedule('chk_a', '* * * * *', 'SELECT 1', test_frac => 'NaN')$$,
    '22023');
-- Expected: 22023 for deploy not in auto/always/never, params not an object, an empty
-- query, a name over 55 bytes, and a schedule pg_cron cannot read.
SELECT pg_temp.expect_error(
    $$SELECT retrain.schedule('chk_a', '* * * * *', 'SELECT 1', deploy => 'maybe')$$,
    '22023');
SELECT pg_temp.expect_error(
    $$SELECT retrain.schedule('chk_a', '* * * * *', 'SELECT 1', params => '[1]')$$, '22023');
SELECT pg_temp.expect_error($$SELECT retrain.schedule('chk_a', '* * * * *', ' ; ')$$,
                            '22023');
SELECT pg_temp.expect_error(
    $$SELECT retrain.schedule(repeat('n', 56), '* * * * *', 'SELECT 1 AS target')$$,
    '22023');
SELECT pg_temp.expect_error(
    $$SELECT retrain.schedule('chk_a', 'every minute', 'SELECT 1 AS target')$$, '22023');
-- Expected: the query is planned (not run) now: 42703 when the target column is
-- missing, 42601 for a syntax error or two statements, 42P01 for a missing table.
SELECT pg_temp.expect_error(
    $$SELECT retrain.schedule('chk_a', '* * * * *', 'SELECT 1 AS y')$$, '42703');
SELECT pg_temp.expect_error(
    $$SELECT retrain.schedule('chk_a', '* * * * *', 'SELEC 1 AS target')$$, '42601');
SELECT pg_temp.expect_error(
    $$SELECT retrain.schedule('chk_a', '* * * * *',
                              'SELECT 1 AS target; DROP TABLE sched_check.chk_houses')$$,
    '42601');
SELECT pg_temp.expect_error(
    $$SELECT retrain.schedule('chk_a', '* * * * *', 'SELECT * FROM sched_check.nosuch')$$,
    '42P01');
-- Expected: 42704 for names that have no schedule.
SELECT pg_temp.expect_error($$SELECT retrain.unschedule('chk_nosuch')$$, '42704');
SELECT pg_temp.expect_error($$SELECT retrain.run_scheduled('chk_nosuch')$$, '42704');
-- Expected: none of the above left a job or a row.
SELECT pg_temp.check(NOT EXISTS (SELECT FROM cron.job WHERE jobname LIKE 'retrain:chk\_%')
                     AND NOT EXISTS (SELECT FROM retrain.schedules_config
                                     WHERE name LIKE 'chk\_%'),
                     'failed calls stored nothing');

-- ---------------------------------------------------------------------------------------
-- 2. schedule() creates the job; calling it again replaces it in place.
-- ---------------------------------------------------------------------------------------
SELECT retrain.schedule('chk_ok', '0 0 1 1 *',
                        'SELECT x, target FROM sched_check.chk_houses -- trailing comment')
    AS ok_jobid \gset
-- Expected: one job named retrain:chk_ok, in this database, as this role, active.
SELECT pg_temp.check(
    (SELECT j.command = $$SELECT retrain.run_scheduled('chk_ok')$$
            AND j.database = current_database() AND j.username = current_user
            AND j.schedule = '0 0 1 1 *' AND j.active
     FROM cron.job AS j WHERE j.jobname = 'retrain:chk_ok' AND j.jobid = :ok_jobid),
    'cron job created');
-- Expected: same jobid, new schedule and query, updated_at moved, still one job.
SELECT pg_temp.check(
    retrain.schedule('chk_ok', '* * * * *', 'SELECT x, target FROM sched_check.chk_houses;')
        = :ok_jobid,
    'rescheduling keeps the jobid');
SELECT pg_temp.check(
    (SELECT count(*) = 1 FROM cron.job WHERE jobname = 'retrain:chk_ok')
    AND (SELECT schedule = '* * * * *' AND active AND jobid = :ok_jobid
         FROM retrain.schedules WHERE name = 'chk_ok'),
    'schedules view shows the new schedule, active');

-- A query that plans but fails while running: division by zero on every row.
SELECT retrain.schedule('chk_fail', '* * * * *',
                        'SELECT x, target FROM sched_check.chk_houses WHERE 1 / (id - id) = 0');

-- The search_path of the scheduling session is stored and used by every run.
SET search_path = sched_check, public;
SELECT retrain.schedule('chk_path', '* * * * *', 'SELECT x, target FROM chk_houses');
RESET search_path;
-- Expected: scheduling the same unqualified query under the default path fails (42P01).
SELECT pg_temp.expect_error(
    $$SELECT retrain.schedule('chk_path2', '* * * * *', 'SELECT x, target FROM chk_houses')$$,
    '42P01');

-- ---------------------------------------------------------------------------------------
-- 3. run_scheduled() by hand: success, failure, statement timeout.
-- ---------------------------------------------------------------------------------------
-- Expected: a succeeded run pointing at a new version of chk_path, found through the
-- stored search_path although this session's path does not contain sched_check.
SELECT retrain.run_scheduled('chk_path') AS path_run \gset
SELECT pg_temp.check(
    (SELECT r.status = 'succeeded' AND p.name = 'chk_path' AND p.version >= 1
     FROM retrain.runs AS r JOIN retrain.pipelines AS p ON p.id = r.pipeline_id
     WHERE r.id = :path_run),
    'manual run succeeded with the stored search_path');
-- Expected: no error raised (a WARNING only); a failed run with SQLSTATE 22012; no
-- pipeline stored for chk_fail.
SELECT retrain.run_scheduled('chk_fail') AS fail_run \gset
SELECT pg_temp.check(
    (SELECT status = 'failed' AND sqlstate = '22012' AND message = 'division by zero'
            AND pipeline_id IS NULL AND finished_at >= started_at
     FROM retrain.runs WHERE id = :fail_run),
    'failed run recorded with its SQLSTATE');
SELECT pg_temp.check(NOT EXISTS (SELECT FROM retrain.pipelines WHERE name = 'chk_fail'),
                     'failed run stored no pipeline');
-- Expected: a training cut by statement_timeout is a failed run with 57014 (query_canceled
-- is caught too), and the timeout does not abort the caller.
SELECT retrain.schedule(
    'chk_slow', '0 0 1 1 *',
    'SELECT x, target FROM sched_check.chk_houses WHERE sched_check.nap(0.05)');
SET statement_timeout = '1s';
SELECT retrain.run_scheduled('chk_slow') AS slow_run \gset
RESET statement_timeout;
SELECT pg_temp.check(
    (SELECT status = 'failed' AND sqlstate = '57014' FROM retrain.runs WHERE id = :slow_run),
    'statement_timeout recorded as a failed run');

-- ---------------------------------------------------------------------------------------
-- 4. Ownership: another role can neither see nor replace nor run a schedule.
-- ---------------------------------------------------------------------------------------
DROP ROLE IF EXISTS chk_other;
CREATE ROLE chk_other;
GRANT USAGE ON SCHEMA retrain TO chk_other;
GRANT SELECT, INSERT, UPDATE, DELETE ON retrain.schedules_config, retrain.runs TO chk_other;
GRANT SELECT ON retrain.schedules TO chk_other;
SET ROLE chk_other;
-- Expected: row-level security hides chk_ok from chk_other.
SELECT pg_temp.check((SELECT count(*) = 0 FROM retrain.schedules WHERE name = 'chk_ok'),
                     'another role does not see the schedule');
RESET ROLE;
GRANT USAGE ON SCHEMA cron TO chk_other;
GRANT SELECT ON sched_check.chk_houses TO chk_other;
GRANT USAGE ON SCHEMA sched_check TO chk_other;
SET ROLE chk_other;
-- Expected: replacing chk_ok is refused with 42501 ('belongs to another role'); the
-- statement rolls back, so the job pg_cron made for chk_other on the way is gone too.
SELECT pg_temp.expect_error(
    $$SELECT retrain.schedule('chk_ok', '* * * * *',
                              'SELECT x, target FROM sched_check.chk_houses')$$,
    '42501');
SELECT pg_temp.expect_error($$SELECT retrain.run_scheduled('chk_ok')$$, '42704');
SELECT pg_temp.expect_error($$SELECT retrain.unschedule('chk_ok')$$, '42704');
RESET ROLE;
SELECT pg_temp.check((SELECT count(*) = 1 FROM cron.job WHERE jobname = 'retrain:chk_ok'),
                     'the other role created no job');
DROP OWNED BY chk_other;
DROP ROLE chk_other;

-- ---------------------------------------------------------------------------------------
-- 5. One real pg_cron tick.
-- ---------------------------------------------------------------------------------------
-- chk_held never fires by itself; chk_holder is a plain cron job that takes chk_held's
-- training lock for 30 s at the tick, so that step 6 can find it taken by another backend.
SELECT retrain.schedule('chk_held', '0 0 1 1 *', 'SELECT x, target FROM sched_check.chk_houses');
SELECT cron.schedule('chk_holder', '* * * * *',
    $$SELECT pg_advisory_xact_lock(hashtext('pg_retrain'), hashtext('chk_held')),
             pg_sleep(30)$$);
-- A job pg_retrain does not know (no schedule row): its runs fail inside pg_cron before
-- any run row exists, and must still appear in run_history.
SELECT cron.schedule('retrain:chk_ghost', '* * * * *',
                     $$SELECT retrain.run_scheduled('chk_ghost')$$);
CREATE TEMP TABLE chk_t0 AS SELECT clock_timestamp() AS t0;
SELECT clock_timestamp() AS waiting_from;

-- Expected within 130 s (the next minute, or the one after when the jobs were created in
-- the last instant of a minute): pg_cron has run chk_ok, chk_fail and chk_path and
-- finished its bookkeeping for them, chk_ghost has a failed cron run, and chk_holder
-- holds the lock.
DO $$
DECLARE
    deadline timestamptz := clock_timestamp() + interval '130 seconds';
    t0 timestamptz := (SELECT t.t0 FROM chk_t0 AS t);
BEGIN
    LOOP
        EXIT WHEN (SELECT count(DISTINCT h.name) = 3 FROM retrain.run_history AS h
                   WHERE h.name IN ('chk_ok', 'chk_fail', 'chk_path')
                     AND h.started_at > t0 AND h.cron_status IN ('succeeded', 'failed'))
              AND EXISTS (SELECT FROM retrain.run_history AS h
                          WHERE h.name = 'chk_ghost' AND h.cron_status = 'failed')
              AND EXISTS (SELECT FROM pg_locks AS l
                          WHERE l.locktype = 'advisory' AND l.granted
                            AND l.objid = hashtext('chk_held')::oid
                            AND l.pid <> pg_backend_pid());
        IF clock_timestamp() > deadline THEN
            RAISE EXCEPTION 'no pg_cron tick within 130 s (is pg_cron running, and can '
                            'its jobs connect? see cron.job_run_details)';
        END IF;
        PERFORM pg_sleep(1);
    END LOOP;
END
$$;
SELECT clock_timestamp() AS tick_seen;

-- Expected: chk_ok succeeded through cron: a new pipeline version, and pg_cron's record of
-- the same run (matched by pid and time) says succeeded.
SELECT pg_temp.check(
    (SELECT bool_and(h.status = 'succeeded' AND h.version >= 1 AND h.cron_runid IS NOT NULL
                     AND h.cron_status = 'succeeded')
     FROM retrain.run_history AS h, chk_t0 AS t
     WHERE h.name = 'chk_ok' AND h.started_at > t.t0),
    'cron tick stored a chk_ok pipeline');
-- Expected: chk_fail failed with 22012, no pipeline; pg_cron counts the job itself as
-- succeeded because run_scheduled records the failure instead of raising it.
SELECT pg_temp.check(
    (SELECT bool_and(h.status = 'failed' AND h.sqlstate = '22012' AND h.pipeline_id IS NULL
                     AND h.cron_status = 'succeeded')
     FROM retrain.run_history AS h, chk_t0 AS t
     WHERE h.name = 'chk_fail' AND h.started_at > t.t0)
    AND NOT EXISTS (SELECT FROM retrain.pipelines WHERE name = 'chk_fail'),
    'cron tick recorded chk_fail as failed, stored nothing');
-- Expected: chk_path succeeded from cron, whose session has the default search_path.
SELECT pg_temp.check(
    (SELECT bool_and(h.status = 'succeeded')
     FROM retrain.run_history AS h, chk_t0 AS t
     WHERE h.name = 'chk_path' AND h.started_at > t.t0),
    'cron run used the stored search_path');
-- Expected: the ghost job appears with NULL run columns and pg_cron's error (42704 text).
SELECT pg_temp.check(
    (SELECT bool_and(h.run_id IS NULL AND h.cron_message LIKE '%no schedule named%')
     FROM retrain.run_history AS h WHERE h.name = 'chk_ghost'),
    'cron-only failure visible in run_history');

-- ---------------------------------------------------------------------------------------
-- 6. Overlap: the lock is held by chk_holder's backend, so this run is skipped.
-- ---------------------------------------------------------------------------------------
-- Expected: returns at once (no wait for the lock), status skipped, message naming the
-- holder's pid, no pipeline for chk_held.
SELECT retrain.run_scheduled('chk_held') AS held_run \gset
SELECT pg_temp.check(
    (SELECT r.status = 'skipped' AND r.finished_at IS NOT NULL AND r.pipeline_id IS NULL
            AND r.message LIKE '%pid ' || l.pid || ')'
     FROM retrain.runs AS r, pg_locks AS l
     WHERE r.id = :held_run AND l.locktype = 'advisory' AND l.granted
       AND l.objid = hashtext('chk_held')::oid),
    'overlapping run skipped, holder named');
SELECT pg_temp.check(NOT EXISTS (SELECT FROM retrain.pipelines WHERE name = 'chk_held'),
                     'skipped run stored nothing');

-- ---------------------------------------------------------------------------------------
-- 7. Views.
-- ---------------------------------------------------------------------------------------
-- Expected: schedules shows each schedule's last run.
SELECT name, schedule, active, last_status, left(last_message, 40) AS last_message
FROM retrain.schedules WHERE name LIKE 'chk\_%' ORDER BY name;
SELECT pg_temp.check(
    (SELECT last_status = 'failed' FROM retrain.schedules WHERE name = 'chk_fail')
    AND (SELECT last_status = 'skipped' FROM retrain.schedules WHERE name = 'chk_held')
    AND (SELECT last_status = 'succeeded' AND last_success_at IS NOT NULL
         FROM retrain.schedules WHERE name = 'chk_ok'),
    'schedules view: last status per name');
SELECT name, run_id, status, version, sqlstate, cron_runid, cron_status,
       left(cron_message, 30) AS cron_message
FROM retrain.run_history WHERE name LIKE 'chk\_%'
ORDER BY name, coalesce(started_at, cron_start_time);

-- ---------------------------------------------------------------------------------------
-- 8. unschedule().
-- ---------------------------------------------------------------------------------------
-- Expected: true, the job and the row are gone, the runs stay.
SELECT pg_temp.check(retrain.unschedule('chk_ok'), 'unschedule returns true');
SELECT pg_temp.check(
    NOT EXISTS (SELECT FROM cron.job WHERE jobname = 'retrain:chk_ok')
    AND NOT EXISTS (SELECT FROM retrain.schedules_config WHERE name = 'chk_ok')
    AND EXISTS (SELECT FROM retrain.runs WHERE name = 'chk_ok'),
    'job and row removed, runs kept');
-- Expected: a second call is 42704.
SELECT pg_temp.expect_error($$SELECT retrain.unschedule('chk_ok')$$, '42704');
-- Expected: false when the cron job was already removed behind pg_retrain's back.
SELECT cron.unschedule('retrain:chk_fail');
SELECT pg_temp.check(NOT retrain.unschedule('chk_fail'),
                     'unschedule returns false when the job was gone');

-- ---------------------------------------------------------------------------------------
-- 9. Clean up.
-- ---------------------------------------------------------------------------------------
SELECT retrain.unschedule(name) FROM retrain.schedules_config WHERE name LIKE 'chk\_%';
SELECT cron.unschedule(jobid) FROM cron.job
WHERE jobname LIKE 'retrain:chk\_%' OR jobname = 'chk_holder';
SELECT pg_cancel_backend(l.pid) FROM pg_locks AS l
WHERE l.locktype = 'advisory' AND l.objid = hashtext('chk_held')::oid
  AND l.pid <> pg_backend_pid();
DELETE FROM retrain.runs WHERE name LIKE 'chk\_%';
SELECT pg_temp.forget_pipelines();
DROP SCHEMA sched_check CASCADE;
SELECT pg_temp.check(NOT EXISTS (SELECT FROM cron.job WHERE jobname LIKE 'retrain:chk\_%'),
                     'no job left');
\echo 'all scheduling checks passed'
