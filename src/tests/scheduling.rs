//! Scheduling with a real pg_cron: the test cluster preloads it (see `crate::pg_test`).

use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    use crate::tests::support::{
        count, ensure_pg_cron, own_database, quote, remote, run, sqlstate_of,
    };

    fn setup() {
        ensure_pg_cron();
        run(
            "CREATE TABLE s AS SELECT g::float8 AS x, 2.0 * g + g % 3 AS target \
             FROM generate_series(1, 100) g",
        );
    }

    fn last_run(name: &str) -> (String, Option<String>, Option<i64>) {
        Spi::get_three_with_args::<String, String, i64>(
            "SELECT status, sqlstate, pipeline_id FROM retrain.runs WHERE name = $1 \
             ORDER BY id DESC LIMIT 1",
            &[name.into()],
        )
        .map(|(status, state, id)| (status.unwrap(), state, id))
        .unwrap()
    }

    #[pg_test]
    fn runs_record_success_failure_and_skips() {
        setup();
        run("SELECT retrain.schedule('ok', '0 3 * * *', 'SELECT x, target FROM s')");
        run("SELECT retrain.run_scheduled('ok')");
        let (status, _, pipeline) = last_run("ok");
        assert_eq!(status, "succeeded");
        let stored = count("SELECT id FROM retrain.pipelines WHERE name = 'ok'");
        assert_eq!(pipeline, Some(stored));

        // A query that plans fine but fails at run time: no rows to train on.
        run("SELECT retrain.schedule('empty', '0 3 * * *', \
             'SELECT x, target FROM s WHERE x > 1000')");
        run("SELECT retrain.run_scheduled('empty')");
        let (status, state, pipeline) = last_run("empty");
        assert_eq!(
            (status.as_str(), state.as_deref(), pipeline),
            ("failed", Some("22023"), None)
        );
        assert_eq!(
            count("SELECT count(*) FROM retrain.pipelines WHERE name = 'empty'"),
            0
        );

        // Another session holds a name's training lock: the run is skipped, not queued.
        // (A name this transaction has not trained yet: its own xact lock would block
        // the other session.)
        run("SELECT retrain.schedule('busy', '0 3 * * *', 'SELECT x, target FROM s')");
        let conn = own_database();
        run(&format!(
            "SELECT dblink_connect('holder', {})",
            quote(&conn)
        ));
        run(
            "SELECT * FROM dblink('holder', 'SELECT pg_advisory_lock(hashtext(''pg_retrain''), \
             hashtext(''busy''))::text') AS t(x text)",
        );
        run("SELECT retrain.run_scheduled('busy')");
        run("SELECT dblink_disconnect('holder')");
        assert_eq!(last_run("busy").0, "skipped");
        assert_eq!(
            count("SELECT count(*) FROM retrain.pipelines WHERE name = 'busy'"),
            0
        );

        // Unscheduling removes the cron job and the schedule but keeps the runs.
        assert_eq!(
            count("SELECT count(*) FROM cron.job WHERE jobname = 'retrain:ok'"),
            1
        );
        run("SELECT retrain.unschedule('ok')");
        assert_eq!(
            count("SELECT count(*) FROM cron.job WHERE jobname = 'retrain:ok'"),
            0
        );
        assert_eq!(
            count("SELECT count(*) FROM retrain.schedules WHERE name = 'ok'"),
            0
        );
        assert_eq!(
            count("SELECT count(*) FROM retrain.runs WHERE name = 'ok'"),
            1
        );
        assert_eq!(
            sqlstate_of("SELECT retrain.unschedule('ok')").as_deref(),
            Some("42704")
        );
        assert_eq!(
            sqlstate_of("SELECT retrain.run_scheduled('nope')").as_deref(),
            Some("42704")
        );
        let history = count("SELECT count(*) FROM retrain.run_history WHERE name = 'empty'");
        assert_eq!(history, 1);
    }

    /// In a database without pg_cron, training works and `schedule` explains how to enable
    /// it. A database of its own, so that no other test's pg_cron is disturbed.
    #[pg_test]
    fn schedule_without_pg_cron_says_how_to_enable_it() {
        let conn = own_database();
        let exec = |c: &str, sql: &str| {
            run(&format!("SELECT dblink_exec({}, {})", quote(c), quote(sql)));
        };
        exec(&conn, "DROP DATABASE IF EXISTS retrain_no_cron");
        exec(&conn, "CREATE DATABASE retrain_no_cron");
        let other = conn.replace("dbname=pgrx_tests", "dbname=retrain_no_cron");
        exec(&other, "CREATE EXTENSION pg_retrain");
        exec(
            &other,
            "CREATE TABLE s2 AS SELECT g::float8 AS x, 2.0 * g AS target \
             FROM generate_series(1, 50) g",
        );
        // PERFORM inside a DO block: dblink_exec refuses statements that return rows.
        let state = |sql: &str| {
            let block = format!("DO $b$ BEGIN PERFORM {sql}; END $b$");
            sqlstate_of(&format!(
                "SELECT dblink_exec({}, {})",
                quote(&other),
                quote(&block)
            ))
        };
        assert_eq!(
            state("* FROM retrain.train_pipeline('SELECT x, target FROM s2')"),
            None
        );
        assert_eq!(
            state("retrain.schedule('x', '* * * * *', 'SELECT x, target FROM s2')").as_deref(),
            Some("55000")
        );
        assert_eq!(state("count(*) FROM retrain.schedules"), None);
        assert_eq!(state("count(*) FROM retrain.run_history"), None);
        exec(&conn, "DROP DATABASE retrain_no_cron");
    }

    /// One real minute tick of pg_cron stores a version. The schedule is made in another
    /// session so that it commits and the scheduler can see it.
    #[pg_test]
    fn a_real_cron_tick_stores_a_version() {
        let conn = own_database();
        ensure_pg_cron();
        remote(
            &conn,
            "DROP TABLE IF EXISTS tick_src; \
             CREATE TABLE tick_src AS SELECT g::float8 AS x, 3.0 * g AS target \
             FROM generate_series(1, 100) g; \
             PERFORM retrain.schedule('tick', '* * * * *', 'SELECT x, target FROM tick_src')",
        );
        // pg_cron ticks on the minute: wait up to 150 s for a run to finish.
        let mut succeeded = 0;
        for _ in 0..150 {
            run("SELECT pg_sleep(1)");
            succeeded = count(
                "SELECT count(*) FROM retrain.runs WHERE name = 'tick' AND status = 'succeeded'",
            );
            if succeeded > 0 {
                break;
            }
        }
        remote(&conn, "PERFORM retrain.unschedule('tick')");
        assert!(succeeded > 0, "no scheduled run succeeded within 150 s");
        let versions = count("SELECT count(*) FROM retrain.pipelines WHERE name = 'tick'");
        assert!(versions >= 1);
        let cron_record = count(
            "SELECT count(*) FROM retrain.run_history WHERE name = 'tick' \
             AND cron_status IS NOT NULL",
        );
        pgrx::notice!("tick: {succeeded} succeeded runs, cron records: {cron_record}");
    }
}
