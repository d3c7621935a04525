-- Scheduled retraining on top of pg_cron. Loaded by CREATE EXTENSION after schema.sql.
--
-- pg_cron is optional: nothing here refers to a cron.* object in a way that PostgreSQL
-- resolves at creation time. PL/pgSQL bodies resolve names when a statement first runs,
-- and the views read cron's tables through set-returning functions that use dynamic SQL
-- only once they have checked that the tables exist, so the extension installs and the
-- views answer (with NULL cron columns) on a server without pg_cron.
--
-- Flow: retrain.schedule() stores the training arguments in retrain.schedules_config and
-- creates a pg_cron job named 'retrain:<name>' whose command is
-- SELECT retrain.run_scheduled('<name>'). Each tick of that job records one row in
-- retrain.runs: succeeded (with the stored pipeline), failed (with the error) or skipped
-- (another training of the same name still held the per-name lock).
--
-- Every function is SECURITY INVOKER: the source query is user SQL and must run with the
-- privileges of the role that scheduled it, which is also the role pg_cron runs the job as.

-- One row per scheduled pipeline name.
CREATE TABLE retrain.schedules_config (
    name         text        PRIMARY KEY,
    -- Five-field cron syntax as pg_cron reads it (in GMT), e.g. '*/10 * * * *'.
    schedule     text        NOT NULL,
    -- The arguments handed to retrain.train_pipeline() on every run.
    source_query text        NOT NULL,
    test_frac    float8      NOT NULL CHECK (test_frac > 0 AND test_frac < 1),
    target       text        NOT NULL,
    algorithm    text        NOT NULL,
    params       jsonb       NOT NULL CHECK (pg_catalog.jsonb_typeof(params) = 'object'),
    deploy       text        NOT NULL CHECK (deploy IN ('auto', 'always', 'never')),
    -- The scheduling session's search_path. A cron job starts with the role's default
    -- path, so without this an unqualified table name in source_query could resolve to
    -- another table, or to none, at 3 a.m. than it did when it was scheduled.
    search_path  text        NOT NULL,
    -- cron.job.jobid of the job that runs this schedule.
    jobid        bigint      NOT NULL,
    -- pg_cron runs the job as this role; only it (or a superuser) may change the row.
    created_by   name        NOT NULL DEFAULT CURRENT_USER,
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at   timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE retrain.schedules_config IS
    'Training arguments and pg_cron job of each scheduled pipeline name';

-- A row's source_query runs as created_by. Without this policy a role granted write access
-- to the table could edit another role's query and have it run with that role's rights.
-- The owner (the role that created the extension) and superusers bypass the policy.
ALTER TABLE retrain.schedules_config ENABLE ROW LEVEL SECURITY;
CREATE POLICY schedules_config_owner ON retrain.schedules_config
    USING (created_by = CURRENT_USER)
    WITH CHECK (created_by = CURRENT_USER);

-- One row per execution of retrain.run_scheduled(), by pg_cron or by hand.
CREATE TABLE retrain.runs (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text        NOT NULL,
    -- The schedule's cron job at the time of the run; with backend_pid and started_at it
    -- finds the run's own row in cron.job_run_details (see retrain.run_history).
    jobid       bigint,
    backend_pid integer     NOT NULL DEFAULT pg_catalog.pg_backend_pid(),
    run_by      name        NOT NULL DEFAULT CURRENT_USER,
    -- clock_timestamp(), not now(): several runs can share one transaction when called
    -- by hand, and a run's duration is the point of these two columns.
    started_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    finished_at timestamptz,
    -- 'running' is only ever seen by the run's own transaction: the row is written and
    -- finished in the same transaction as the training.
    status      text        NOT NULL
                CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
    -- Of the error that failed the training.
    sqlstate    text,
    message     text,
    detail      text,
    hint        text,
    -- retrain.pipelines.id of a succeeded run. Deliberately no foreign key: extension
    -- configuration tables are restored one by one, in no order a key could rely on.
    pipeline_id bigint,
    CHECK (status <> 'failed' OR sqlstate IS NOT NULL)
);

CREATE INDEX runs_name_started_at_idx ON retrain.runs (name, started_at);

COMMENT ON TABLE retrain.runs IS
    'Every run of a scheduled training: succeeded, failed (with the error) or skipped';

-- Both tables hold user data, not extension scaffolding: pg_dump must dump their rows.
SELECT pg_catalog.pg_extension_config_dump('retrain.schedules_config', '');
SELECT pg_catalog.pg_extension_config_dump('retrain.runs', '');
SELECT pg_catalog.pg_extension_config_dump(
    pg_catalog.pg_get_serial_sequence('retrain.runs', 'id')::pg_catalog.regclass, '');

-- Raises object_not_in_prerequisite_state (55000) unless pg_cron can schedule jobs from
-- this database. 55000 rather than feature_not_supported (0A000): scheduling is supported,
-- the server just lacks a prerequisite that an administrator can add.
CREATE FUNCTION retrain._require_pg_cron() RETURNS void
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- NULL unless pg_cron is preloaded (or the setting was written for it).
    cron_db text;
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
        RETURN;
    END IF;
    BEGIN
        cron_db := pg_catalog.current_setting('cron.database_name', true);
    EXCEPTION WHEN insufficient_privilege THEN
        -- pg_cron makes the setting readable to superusers only: give every step.
        RAISE EXCEPTION 'retrain.schedule needs pg_cron in this database'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = pg_catalog.format(
                      'Ask an administrator to set shared_preload_libraries = ''pg_cron'' '
                      'and cron.database_name = %L, restart, and CREATE EXTENSION pg_cron '
                      'here.', pg_catalog.current_database());
    END;
    IF cron_db IS NULL THEN
        RAISE EXCEPTION 'retrain.schedule needs pg_cron, which is not loaded'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = pg_catalog.format(
                      'Add shared_preload_libraries = ''pg_cron'' and '
                      'cron.database_name = %L to postgresql.conf, restart the server, '
                      'then run CREATE EXTENSION pg_cron in this database. '
                      'retrain.train_pipeline works without it.',
                      pg_catalog.current_database());
    END IF;
    IF cron_db <> pg_catalog.current_database() THEN
        -- The pg_cron extension (and so cron.schedule) exists only in cron_db; jobs for
        -- other databases are created there with cron.schedule_in_database, which cannot
        -- be called from here.
        RAISE EXCEPTION 'pg_cron schedules jobs from database %, not from %',
                cron_db, pg_catalog.current_database()
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = pg_catalog.format(
                      'Use pg_retrain in database %s, or set cron.database_name = %L '
                      'in postgresql.conf, restart, and CREATE EXTENSION pg_cron here.',
                      pg_catalog.quote_ident(cron_db), pg_catalog.current_database());
    END IF;
    RAISE EXCEPTION 'extension pg_cron is not installed in this database'
        USING ERRCODE = 'object_not_in_prerequisite_state',
              HINT = 'Run CREATE EXTENSION pg_cron (pg_cron is loaded and '
                     'cron.database_name names this database).';
END
$$;

COMMENT ON FUNCTION retrain._require_pg_cron() IS
    'Internal: errors with a hint unless pg_cron can schedule jobs from this database';

-- The pg_cron jobs of pg_retrain, or no rows when pg_cron is absent or not readable by
-- the caller. cron.job has row-level security: a role sees its own jobs only.
CREATE FUNCTION retrain._cron_jobs()
RETURNS TABLE (jobid bigint, jobname text, schedule text, command text, database text,
               username text, active boolean)
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF pg_catalog.to_regclass('cron.job') IS NULL
       OR NOT pg_catalog.has_schema_privilege('cron', 'USAGE')
       OR NOT pg_catalog.has_table_privilege('cron.job', 'SELECT') THEN
        RETURN;
    END IF;
    RETURN QUERY EXECUTE
        $sql$SELECT j.jobid, j.jobname::text, j.schedule, j.command, j.database,
                    j.username::text, j.active
             FROM cron.job AS j
             WHERE j.jobname LIKE 'retrain:%'$sql$;
END
$$;

COMMENT ON FUNCTION retrain._cron_jobs() IS
    'Internal: pg_retrain''s rows of cron.job; none without pg_cron';

-- pg_cron's own record of the runs of pg_retrain's jobs, current ones and those that ran
-- earlier schedules (their jobid is kept in retrain.runs), or no rows without pg_cron.
-- name comes from the job name, else from the runs that used the job.
CREATE FUNCTION retrain._cron_job_runs()
RETURNS TABLE (name text, jobid bigint, runid bigint, job_pid integer, status text,
               return_message text, start_time timestamptz, end_time timestamptz)
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF pg_catalog.to_regclass('cron.job_run_details') IS NULL
       OR NOT pg_catalog.has_schema_privilege('cron', 'USAGE')
       OR NOT pg_catalog.has_table_privilege('cron.job_run_details', 'SELECT') THEN
        RETURN;
    END IF;
    -- cron.job_run_details has no index on jobid; pg_cron leaves purging it to the
    -- administrator (a daily DELETE of old rows keeps this scan short).
    RETURN QUERY EXECUTE
        $sql$WITH ours AS (
                 SELECT j.jobid, pg_catalog.substr(j.jobname::text, 9) AS name
                 FROM retrain._cron_jobs() AS j
                 UNION
                 SELECT DISTINCT r.jobid, r.name
                 FROM retrain.runs AS r
                 WHERE r.jobid IS NOT NULL
                   AND r.jobid NOT IN (SELECT c.jobid FROM retrain._cron_jobs() AS c)
             )
             SELECT o.name, d.jobid, d.runid, d.job_pid, d.status, d.return_message,
                    d.start_time, d.end_time
             FROM cron.job_run_details AS d
             JOIN ours AS o ON o.jobid = d.jobid$sql$;
END
$$;

COMMENT ON FUNCTION retrain._cron_job_runs() IS
    'Internal: pg_retrain''s rows of cron.job_run_details; none without pg_cron';

CREATE FUNCTION retrain.schedule(
    name         text,
    schedule     text,
    source_query text,
    test_frac    float8 DEFAULT 0.2,
    target       text   DEFAULT 'target',
    algorithm    text   DEFAULT 'linear',
    params       jsonb  DEFAULT '{}',
    deploy       text   DEFAULT 'auto'
) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
-- No SET search_path here, unlike the other functions: this one must see the caller's
-- path, to store it and to check source_query with it. All its own names are qualified.
AS $$
-- The parameters carry the names of the columns they fill (that is the API); inside,
-- a bare name is the parameter and c.name the column.
#variable_conflict use_variable
DECLARE
    job_name    text;
    job_command text;
    prev        retrain.schedules_config;
    new_jobid   bigint;
    -- The query as EXPLAIN sees it: a trailing semicolon would end the wrapping SELECT.
    plain_query text;
BEGIN
    -- Arguments first, so a typo fails before anything is looked up or written.
    IF pg_catalog.num_nulls(name, schedule, source_query, test_frac, target, algorithm,
                            params, deploy) > 0 THEN
        RAISE EXCEPTION '% must not be NULL',
                CASE WHEN name IS NULL THEN 'name'
                     WHEN schedule IS NULL THEN 'schedule'
                     WHEN source_query IS NULL THEN 'source_query'
                     WHEN test_frac IS NULL THEN 'test_frac'
                     WHEN target IS NULL THEN 'target'
                     WHEN algorithm IS NULL THEN 'algorithm'
                     WHEN params IS NULL THEN 'params'
                     ELSE 'deploy' END
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- pg_cron's job names are of type name (63 bytes); a longer one would be cut and
    -- could then collide with another schedule's job.
    IF name = '' OR pg_catalog.octet_length(name) > 55 THEN
        RAISE EXCEPTION 'schedule name must be 1 to 55 bytes long, got % bytes',
                pg_catalog.octet_length(name)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT (test_frac > 0 AND test_frac < 1) THEN
        RAISE EXCEPTION 'test_frac must be in (0, 1), got %', test_frac
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF deploy NOT IN ('auto', 'always', 'never') THEN
        RAISE EXCEPTION 'deploy must be auto, always or never, got %',
                pg_catalog.quote_literal(deploy)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF pg_catalog.jsonb_typeof(params) <> 'object' THEN
        RAISE EXCEPTION 'params must be a JSON object, got a JSON %',
                pg_catalog.jsonb_typeof(params)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF pg_catalog.btrim(source_query, E' \t\r\n;') = '' THEN
        RAISE EXCEPTION 'source_query is empty'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    PERFORM retrain._require_pg_cron();

    SELECT * INTO prev FROM retrain.schedules_config AS c WHERE c.name = name;
    IF FOUND AND prev.created_by <> CURRENT_USER
       AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r
                WHERE r.rolname = CURRENT_USER) THEN
        RAISE EXCEPTION 'schedule % belongs to role %', pg_catalog.quote_literal(name),
                prev.created_by
            USING ERRCODE = 'insufficient_privilege';
    END IF;

    -- Plan, but do not run, the query: a typo, a missing table or a missing privilege
    -- fails now, with its own SQLSTATE, instead of at every tick. Wrapping it in a
    -- subquery also refuses several statements in one string. The newline keeps a
    -- trailing -- comment from swallowing the closing parenthesis.
    plain_query := pg_catalog.rtrim(source_query, E' \t\r\n;');
    EXECUTE 'EXPLAIN (COSTS OFF) SELECT * FROM (' || plain_query || E'\n) AS source_query';
    BEGIN
        EXECUTE pg_catalog.format(
            E'EXPLAIN (COSTS OFF) SELECT source_query.%I FROM (%s\n) AS source_query',
            target, plain_query);
    EXCEPTION WHEN undefined_column THEN
        RAISE EXCEPTION 'source_query has no column %', pg_catalog.quote_ident(target)
            USING ERRCODE = 'undefined_column',
                  HINT = 'Name the column to predict with target => ..., '
                         'or alias it AS target in the query.';
    END;

    -- cron.schedule replaces the job of the same name and role, keeping its jobid.
    -- It runs the job in cron.database_name, which _require_pg_cron() checked is this
    -- database, as CURRENT_USER; cron.schedule_in_database would add nothing here and
    -- is revoked from PUBLIC by default.
    job_name := 'retrain:' || name;
    job_command := pg_catalog.format('SELECT retrain.run_scheduled(%L)', name);
    BEGIN
        new_jobid := cron.schedule(job_name, schedule, job_command);
    EXCEPTION WHEN invalid_parameter_value THEN
        -- pg_cron says only 'invalid schedule: ...'; add what a valid one looks like.
        IF SQLERRM LIKE 'invalid schedule%' THEN
            RAISE EXCEPTION 'invalid cron schedule %', pg_catalog.quote_literal(schedule)
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Use five fields: minute hour day-of-month month '
                             'day-of-week, e.g. ''*/15 * * * *'' (times are GMT).';
        END IF;
        RAISE;
    END;

    -- A schedule replaced by another role (a superuser) got a new job under that role:
    -- drop the old one so that one name never has two jobs.
    IF prev.jobid IS NOT NULL AND prev.jobid <> new_jobid
       AND EXISTS (SELECT FROM retrain._cron_jobs() AS j WHERE j.jobid = prev.jobid) THEN
        PERFORM cron.unschedule(prev.jobid);
    END IF;

    BEGIN
        INSERT INTO retrain.schedules_config AS c
            (name, schedule, source_query, test_frac, target, algorithm, params, deploy,
             search_path, jobid)
        VALUES (name, schedule, source_query, test_frac, target, algorithm, params, deploy,
                pg_catalog.current_setting('search_path'), new_jobid)
        ON CONFLICT ON CONSTRAINT schedules_config_pkey DO UPDATE
        SET schedule = EXCLUDED.schedule,
            source_query = EXCLUDED.source_query,
            test_frac = EXCLUDED.test_frac,
            target = EXCLUDED.target,
            algorithm = EXCLUDED.algorithm,
            params = EXCLUDED.params,
            deploy = EXCLUDED.deploy,
            search_path = EXCLUDED.search_path,
            jobid = EXCLUDED.jobid,
            created_by = CURRENT_USER,
            updated_at = pg_catalog.now();
    EXCEPTION WHEN insufficient_privilege THEN
        -- The row-level security policy hid another role's row of the same name from
        -- the lookup above, and now refuses the update. Other 42501s (no INSERT right on
        -- the table) keep their own message.
        IF SQLERRM LIKE '%row-level security%' THEN
            RAISE EXCEPTION 'schedule % belongs to another role',
                    pg_catalog.quote_literal(name)
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RAISE;
    END;
    RETURN new_jobid;
END
$$;

COMMENT ON FUNCTION retrain.schedule(text, text, text, float8, text, text, jsonb, text) IS
    'Create or replace the pg_cron job that retrains pipeline NAME on SCHEDULE; '
    'returns the cron jobid';

CREATE FUNCTION retrain.unschedule(name text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    cfg     retrain.schedules_config;
    had_job boolean := false;
BEGIN
    IF name IS NULL THEN
        RAISE EXCEPTION 'schedule name must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT * INTO cfg FROM retrain.schedules_config AS c WHERE c.name = name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no schedule named %', pg_catalog.quote_literal(name)
            USING ERRCODE = 'undefined_object',
                  HINT = 'SELECT name FROM retrain.schedules lists the schedules.';
    END IF;
    IF cfg.created_by <> CURRENT_USER
       AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r
                WHERE r.rolname = CURRENT_USER) THEN
        RAISE EXCEPTION 'schedule % belongs to role %', pg_catalog.quote_literal(name),
                cfg.created_by
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- The job may already be gone (removed with cron.unschedule, or pg_cron dropped):
    -- the row is removed all the same, and false tells that no job was.
    IF EXISTS (SELECT FROM retrain._cron_jobs() AS j WHERE j.jobid = cfg.jobid) THEN
        PERFORM cron.unschedule(cfg.jobid);
        had_job := true;
    END IF;
    -- retrain.runs keeps the history: scheduling the name again continues it.
    DELETE FROM retrain.schedules_config AS c WHERE c.name = name;
    RETURN had_job;
END
$$;

COMMENT ON FUNCTION retrain.unschedule(text) IS
    'Remove the schedule NAME and its pg_cron job (false if the job was already gone); '
    'keeps its runs';

CREATE FUNCTION retrain.run_scheduled(name text) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
-- Restored on return, which also undoes the schedule's search_path set below.
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    cfg         retrain.schedules_config;
    run_id      bigint;
    new_id      bigint;
    err_state   text;
    err_message text;
    err_detail  text;
    err_hint    text;
    holder      integer;
BEGIN
    IF name IS NULL THEN
        RAISE EXCEPTION 'schedule name must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT * INTO cfg FROM retrain.schedules_config AS c WHERE c.name = name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no schedule named %', pg_catalog.quote_literal(name)
            USING ERRCODE = 'undefined_object',
                  HINT = 'SELECT name FROM retrain.schedules lists the schedules.';
    END IF;

    -- The same key retrain.train_pipeline() waits on. A run that finds it taken skips
    -- instead of waiting: with a training longer than the schedule's interval, waiting
    -- runs would pile up, each holding a connection (or a pg_cron worker).
    IF NOT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('pg_retrain'),
                                                pg_catalog.hashtext(name)) THEN
        -- Name the holder in the message; two-key advisory locks show as objsubid 2.
        SELECT l.pid INTO holder
        FROM pg_catalog.pg_locks AS l
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
          AND l.database = (SELECT d.oid FROM pg_catalog.pg_database AS d
                            WHERE d.datname = pg_catalog.current_database())
          AND l.classid = pg_catalog.hashtext('pg_retrain')::oid
          AND l.objid = pg_catalog.hashtext(name)::oid
        LIMIT 1;
        INSERT INTO retrain.runs AS r (name, jobid, status, finished_at, message)
        VALUES (name, cfg.jobid, 'skipped', pg_catalog.clock_timestamp(),
                pg_catalog.format('another training of %L was running (pid %s)',
                                  name, coalesce(holder::text, 'unknown')))
        RETURNING r.id INTO run_id;
        RAISE NOTICE 'retrain: skipped % (run %): another training of it is running',
            pg_catalog.quote_literal(name), run_id;
        RETURN run_id;
    END IF;

    INSERT INTO retrain.runs AS r (name, jobid, status)
    VALUES (name, cfg.jobid, 'running')
    RETURNING r.id INTO run_id;

    -- The block is a subtransaction: when training fails, everything it wrote is rolled
    -- back (no pipeline row), while the run row written above stays and records why.
    BEGIN
        PERFORM pg_catalog.set_config('search_path', cfg.search_path, true);
        SELECT t.id INTO new_id
        FROM retrain.train_pipeline(cfg.source_query, cfg.test_frac, cfg.target, name,
                                    cfg.algorithm, cfg.params, NULL, cfg.deploy) AS t;
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
        UPDATE retrain.runs AS r
        SET status = 'succeeded', pipeline_id = new_id,
            finished_at = pg_catalog.clock_timestamp()
        WHERE r.id = run_id;
    -- OTHERS leaves out query_canceled: a statement_timeout or pg_cancel_backend() that
    -- stops a long training is a failed run too, and worth recording as one.
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE,
                                err_message = MESSAGE_TEXT,
                                err_detail = PG_EXCEPTION_DETAIL,
                                err_hint = PG_EXCEPTION_HINT;
        UPDATE retrain.runs AS r
        SET status = 'failed', sqlstate = err_state, message = err_message,
            detail = nullif(err_detail, ''), hint = nullif(err_hint, ''),
            finished_at = pg_catalog.clock_timestamp()
        WHERE r.id = run_id;
        -- Not re-raised: an error would roll back the run row with the training, and the
        -- failure would be known only from pg_cron's one-line message. The warning puts
        -- it in the server log too; pg_cron itself records the job as succeeded.
        RAISE WARNING 'retrain: scheduled training % failed (run %): %',
                pg_catalog.quote_literal(name), run_id, err_message
            USING ERRCODE = err_state,
                  HINT = 'SELECT * FROM retrain.run_history WHERE run_id = ' || run_id;
    END;
    RETURN run_id;
END
$$;

COMMENT ON FUNCTION retrain.run_scheduled(text) IS
    'Run the scheduled training NAME now and record it in retrain.runs; returns the run id';

-- security_invoker: the row-level security of schedules_config and cron.job applies to
-- the role reading the view, not to the view's owner (who bypasses it).
CREATE VIEW retrain.schedules WITH (security_invoker = true) AS
SELECT c.name,
       c.schedule,
       c.source_query,
       c.test_frac,
       c.target,
       c.algorithm,
       c.params,
       c.deploy,
       c.search_path,
       c.jobid,
       -- NULL when pg_cron is absent or the job was removed behind pg_retrain's back.
       j.active,
       c.created_by,
       c.created_at,
       c.updated_at,
       last.started_at AS last_run_at,
       last.status     AS last_status,
       last.message    AS last_message,
       ok.started_at   AS last_success_at
FROM retrain.schedules_config AS c
LEFT JOIN retrain._cron_jobs() AS j ON j.jobid = c.jobid
LEFT JOIN LATERAL (
    SELECT r.started_at, r.status, r.message
    FROM retrain.runs AS r
    WHERE r.name = c.name
    ORDER BY r.started_at DESC, r.id DESC
    LIMIT 1
) AS last ON true
LEFT JOIN LATERAL (
    SELECT r.started_at
    FROM retrain.runs AS r
    WHERE r.name = c.name AND r.status = 'succeeded'
    ORDER BY r.started_at DESC, r.id DESC
    LIMIT 1
) AS ok ON true;

COMMENT ON VIEW retrain.schedules IS
    'Each scheduled pipeline: its arguments, whether its pg_cron job is active, last run';

-- retrain.runs next to pg_cron's record of the same run. A job's run is matched by the
-- process that ran it and the time window: pg_cron notes job_pid and start/end times,
-- the run notes backend_pid and its start. pg_cron writes start_time after it has sent
-- the command, so a quick run can start a few milliseconds before it: the window opens
-- 10 s early, which cannot pair a run with another one of the same pid in practice (every
-- pg_cron run gets a new process). Runs made by hand match nothing, and cron runs with
-- no run row (the job failed before recording one, or is still running and its row is
-- not committed yet) appear with NULL run columns.
CREATE VIEW retrain.run_history WITH (security_invoker = true) AS
WITH cron_runs AS (
    SELECT * FROM retrain._cron_job_runs()
),
matched AS (
    SELECT r.*, d.runid, d.status AS cron_status, d.return_message,
           d.start_time, d.end_time
    FROM retrain.runs AS r
    LEFT JOIN cron_runs AS d
           ON d.jobid = r.jobid
          AND d.job_pid = r.backend_pid
          AND r.started_at >= d.start_time - interval '10 seconds'
          AND (d.end_time IS NULL OR r.started_at <= d.end_time)
)
SELECT m.name,
       m.id AS run_id,
       m.status,
       m.started_at,
       m.finished_at,
       m.finished_at - m.started_at AS duration,
       m.pipeline_id,
       p.version,
       p.rmse,
       m.sqlstate,
       m.message,
       m.run_by,
       m.jobid,
       m.runid AS cron_runid,
       m.cron_status,
       m.return_message AS cron_message,
       m.start_time AS cron_start_time,
       m.end_time AS cron_end_time
FROM matched AS m
LEFT JOIN retrain.pipelines AS p ON p.id = m.pipeline_id
UNION ALL
SELECT d.name, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       d.jobid, d.runid, d.status, d.return_message, d.start_time, d.end_time
FROM cron_runs AS d
WHERE NOT EXISTS (SELECT FROM matched AS m WHERE m.runid = d.runid);

COMMENT ON VIEW retrain.run_history IS
    'Every scheduled run with its outcome, pipeline version and pg_cron''s own record';
