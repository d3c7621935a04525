-- Generates the benchmark table `bench` with :rows rows (psql -v rows=N).
--
-- Deterministic: setseed() fixes random() for this session, and the table is written by
-- one serial INSERT ... SELECT (random() is parallel restricted, so no worker draws from
-- another sequence). The same N always gives the same table.
--
-- Columns: ten numeric features of mixed types (int4, float8, numeric), three of them
-- with 2% NULLs; three text features with 5, 20 (1% NULL) and 50 levels, the last one
-- skewed so that its 18 rarest levels fall outside the top 32 and land in "other"; and a
-- target that is a known linear function of the raw values plus noise.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SELECT setseed(0.42) AS seeded \gset
DROP TABLE IF EXISTS bench;
CREATE TABLE bench (
    x1 int4, x2 float8, x3 numeric(10, 3), x4 float8, x5 int4, x6 numeric(6, 2),
    x7 float8, x8 int4, x9 float8, x10 numeric(9, 1),
    c5 text, c20 text, c50 text,
    target float8
);
-- The subquery is not flattened into the outer query (its target list is volatile), so
-- every random() below is drawn exactly once per row, in this order.
INSERT INTO bench
SELECT x1, x2, x3,
       CASE WHEN n4 THEN NULL ELSE r4 END,
       CASE WHEN n5 THEN NULL ELSE r5 END,
       CASE WHEN n6 THEN NULL ELSE r6 END,
       x7, x8, x9, x10,
       'k' || k5,
       CASE WHEN n20 THEN NULL ELSE 'level_' || k20 END,
       'cat' || lpad(k50::text, 2, '0'),
       -- The true model. A NULL cell hides the value the target was computed from, as
       -- a missing measurement would.
       100 + 0.8 * x1 + 3 * x2 + 0.05 * x3::float8 + 10 * r4 - 0.4 * r5 + 1.5 * r6::float8
           + 0.02 * (x7 - 10000) + 2 * x8 + 500 * x9 + 0.00001 * x10::float8
           + (k5 - 2) * 4 + ((k20 * 7) % 11 - 5) + ((k50 * 13) % 17) * 0.5 - 4
           + 2 * noise
FROM (
    SELECT (random() * 100)::int4 AS x1,
           random() * 10 - 5 AS x2,
           round((random() * 1000)::numeric, 3) AS x3,
           random() * 2 AS r4, random() < 0.02 AS n4,
           (random() * 50)::int4 AS r5, random() < 0.02 AS n5,
           round((random() * 20 - 10)::numeric, 2) AS r6, random() < 0.02 AS n6,
           10000 + random() * 1000 AS x7,          -- a large offset, small spread
           (random() * 5)::int4 AS x8,
           (random() - 0.5) * 0.01 AS x9,           -- a tiny scale
           round((random() * 1e6)::numeric, 1) AS x10,
           floor(random() * 5)::int4 AS k5,
           floor(random() * 20)::int4 AS k20, random() < 0.01 AS n20,
           floor(50 * random() ^ 2)::int4 AS k50,   -- level k is rarer as k grows
           random() + random() + random() - 1.5 AS noise
    FROM generate_series(1, :rows)
) AS raw;
-- Set hint bits and the visibility map now, so that no measured scan pays for them.
VACUUM (FREEZE, ANALYZE) bench;
CHECKPOINT;
