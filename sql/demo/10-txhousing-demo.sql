-- Demo of scheduled retraining on data that arrives over time and drifts.
--
-- tests/data/txhousing.csv holds monthly home sales of 46 Texas cities, Jan 2000 to
-- Jul 2015. Here it plays a live feed: demo.txhousing starts with the first 24 months,
-- and a pg_cron job releases one more month every minute. The schedule 'txhousing'
-- retrains a model of the median sale price on the latest 36 released months at every
-- tick of RETRAIN_SCHEDULE (default every minute), so retrain.pipeline_history gains a
-- version a minute whose metrics move as prices rise and the window slides.
--
-- Run once by the postgres image's entrypoint on an empty data directory, after
-- 00-pg-retrain.sh has installed pg_cron and pg_retrain. docker-compose.yml mounts the
-- CSV at /demo/txhousing.csv.

\set ON_ERROR_STOP on

\getenv retrain_schedule RETRAIN_SCHEDULE
\if :{?retrain_schedule}
\else
    \set retrain_schedule '* * * * *'
\endif

CREATE SCHEMA demo;

-- Every month of the file, waiting to be released. Empty CSV fields are NULL.
CREATE TABLE demo.txhousing_feed (
    city      text    NOT NULL,
    year      integer NOT NULL,
    month     integer NOT NULL,
    sales     float8,
    volume    float8,
    median    float8,
    listings  float8,
    inventory float8,
    date      float8
);
\copy demo.txhousing_feed FROM '/demo/txhousing.csv' WITH (FORMAT csv, HEADER true)

-- The months released so far: what the model may learn from.
CREATE TABLE demo.txhousing (
    LIKE demo.txhousing_feed,
    period date GENERATED ALWAYS AS (make_date(year, month, 1)) STORED
);
CREATE INDEX ON demo.txhousing (period);

-- Moves the earliest month not yet released from the feed into demo.txhousing and
-- returns it; NULL once the feed is exhausted (the retraining then goes on over the
-- same last 36 months).
CREATE FUNCTION demo.release_next_month() RETURNS date
LANGUAGE plpgsql AS $$
DECLARE
    next_period date;
BEGIN
    SELECT min(make_date(f.year, f.month, 1)) INTO next_period
    FROM demo.txhousing_feed AS f
    WHERE make_date(f.year, f.month, 1)
          > coalesce((SELECT max(t.period) FROM demo.txhousing AS t), '-infinity');
    INSERT INTO demo.txhousing (city, year, month, sales, volume, median, listings,
                                inventory, date)
    SELECT f.city, f.year, f.month, f.sales, f.volume, f.median, f.listings, f.inventory,
           f.date
    FROM demo.txhousing_feed AS f
    WHERE make_date(f.year, f.month, 1) = next_period;
    RETURN next_period;
END
$$;

-- Two years of history to start from.
SELECT demo.release_next_month() FROM generate_series(1, 24) \g /dev/null
SELECT count(*) AS rows_released, min(period) AS first_month, max(period) AS last_month
FROM demo.txhousing;

-- The feed: one more month every minute.
SELECT cron.schedule('demo:release-month', '* * * * *',
                     'SELECT demo.release_next_month()');

-- The model: median price from city, calendar month (as a category, for seasonality),
-- sales, active listings and months of inventory. Rows whose median is NULL are skipped
-- by train_pipeline. 46 cities: max_categories 64 gives each its own level (the default,
-- 32, would lump the smallest together). On the first 24 months this model has a test R²
-- of about 0.94, against a baseline (the mean) RMSE of about 27,000 dollars.
SELECT retrain.schedule(
    name         => 'txhousing',
    schedule     => :'retrain_schedule',
    source_query => $q$
        SELECT city, month::text AS month, sales, listings, inventory, median
        FROM demo.txhousing
        WHERE period > (SELECT max(period) FROM demo.txhousing) - interval '36 months'
    $q$,
    target       => 'median',
    algorithm    => 'linear',
    params       => '{"max_categories": 64}'
) AS retrain_jobid;

-- Version 1 right away, so the history is not empty while waiting for the first tick.
SELECT retrain.run_scheduled('txhousing') AS first_run \gset
SELECT run_id, status, version, rmse, message
FROM retrain.run_history
WHERE run_id = :first_run;
