-- Deployment: which version of each name is served. Loaded after schema.sql.
--
-- Append-only: every deployment, automatic, manual or a rollback, is a new row, so the
-- table is also the audit log. The serving version of a name is its newest row.

CREATE TABLE retrain.deployments (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text        NOT NULL,
    pipeline_id  bigint      NOT NULL REFERENCES retrain.pipelines (id),
    deployed_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    deployed_by  name        NOT NULL DEFAULT CURRENT_USER,
    -- auto, always, first, manual or rollback.
    kind         text        NOT NULL CHECK (kind IN ('first', 'auto', 'always', 'manual',
                                                      'rollback')),
    reason       text        NOT NULL,
    -- Set on the deployment a rollback undid, so later rollbacks walk further back.
    rolled_back  boolean     NOT NULL DEFAULT false
);

CREATE INDEX deployments_name_id ON retrain.deployments (name, id DESC);

COMMENT ON TABLE retrain.deployments IS
    'Every deployment of a pipeline version, newest per name = the one served';

-- Per name, the serving version with its metrics.
CREATE VIEW retrain.deployed_pipelines AS
SELECT DISTINCT ON (d.name)
       d.name,
       p.version,
       p.id AS pipeline_id,
       d.deployed_at,
       d.deployed_by,
       d.kind,
       d.reason,
       p.trained_at,
       p.algorithm,
       p.n_rows,
       p.rmse,
       p.mae,
       p.r2
FROM retrain.deployments AS d
JOIN retrain.pipelines AS p ON p.id = d.pipeline_id
ORDER BY d.name, d.id DESC;

COMMENT ON VIEW retrain.deployed_pipelines IS 'Per name, the version served by retrain.predict';

-- The history view gains whether each version is the one served now. Appending a column
-- keeps CREATE OR REPLACE valid.
CREATE OR REPLACE VIEW retrain.pipeline_history AS
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
           AS rmse_change,
       COALESCE(p.id = (SELECT dp.pipeline_id FROM retrain.deployed_pipelines AS dp
                        WHERE dp.name = p.name), false) AS deployed
FROM retrain.pipelines AS p;

GRANT SELECT ON retrain.deployed_pipelines TO PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('retrain.deployments', '');
SELECT pg_catalog.pg_extension_config_dump(
    pg_catalog.pg_get_serial_sequence('retrain.deployments', 'id')::pg_catalog.regclass, '');
