-- Storage of trained pipelines. Loaded first by CREATE EXTENSION (schema "retrain").
--
-- One row per training run that succeeded; a failed run stores nothing here because the
-- row is written in the caller's transaction, after everything else has worked.

CREATE TABLE retrain.pipelines (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text        NOT NULL,
    -- 1, 2, 3 ... per name; assigned under a per-name advisory lock at store time.
    version      integer     NOT NULL CHECK (version > 0),
    trained_at   timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    trained_by   name        NOT NULL DEFAULT CURRENT_USER,
    source_query text        NOT NULL,
    target       text        NOT NULL,
    algorithm    text        NOT NULL,
    -- The checked parameters with every default filled in, so a run can be replayed.
    params       jsonb       NOT NULL,
    test_frac    float8      NOT NULL CHECK (test_frac > 0 AND test_frac < 1),
    seed         bigint      NOT NULL,
    n_rows       bigint      NOT NULL,
    n_train      bigint      NOT NULL,
    n_test       bigint      NOT NULL,
    -- Rows read but not used: their target was NULL.
    n_skipped    bigint      NOT NULL,
    -- Of the pipeline fitted on the train rows, measured on the test rows.
    rmse         float8,
    mae          float8,
    r2           float8,
    -- train_rmse, baseline_rmse, encoded width, rank, timings per stage, ...
    metrics      jsonb       NOT NULL,
    -- Per input column: SQL type, transform and the statistics fitted on all rows.
    features     jsonb       NOT NULL,
    -- The pipeline refitted on all rows: header + bincode payload (see docs/design.md).
    artifact     bytea       NOT NULL,
    UNIQUE (name, version)
);

COMMENT ON TABLE retrain.pipelines IS
    'Every stored pipeline version: arguments, metrics, fitted feature statistics, artifact';

-- One row per version with the change in test RMSE from the previous version of the name.
CREATE VIEW retrain.pipeline_history AS
SELECT p.id,
       p.name,
       p.version,
       p.trained_at,
       p.trained_by,
       p.algorithm,
       p.n_rows,
       p.n_train,
       p.n_test,
       p.n_skipped,
       p.rmse,
       p.mae,
       p.r2,
       (p.metrics ->> 'baseline_rmse')::float8 AS baseline_rmse,
       p.rmse - pg_catalog.lag(p.rmse) OVER (PARTITION BY p.name ORDER BY p.version)
           AS rmse_change
FROM retrain.pipelines AS p;

COMMENT ON VIEW retrain.pipeline_history IS
    'Per pipeline name, each version with its metrics and the RMSE change from the last one';

-- Anyone may call the functions (they run with the caller's privileges) and read the
-- history; storing a version needs INSERT on retrain.pipelines, which the administrator
-- grants to the roles that train.
GRANT USAGE ON SCHEMA retrain TO PUBLIC;
GRANT SELECT ON retrain.pipeline_history TO PUBLIC;

-- Stored versions are user data, not extension scaffolding: pg_dump must dump the rows.
SELECT pg_catalog.pg_extension_config_dump('retrain.pipelines', '');
SELECT pg_catalog.pg_extension_config_dump(
    pg_catalog.pg_get_serial_sequence('retrain.pipelines', 'id')::pg_catalog.regclass, '');
