//! Every user error gets its precise SQLSTATE, and a failed call stores nothing.

use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    use crate::tests::support::{arm_statement_timeout, count, message_of, run, sqlstate_of};

    fn setup() {
        run(
            "CREATE TABLE src AS SELECT g::float8 AS x, (g % 5)::text AS t, \
             2.0 * g AS target, 'label' || g AS label, point(g, g) AS pt \
             FROM generate_series(1, 100) g",
        );
    }

    fn train_sql(args: &str) -> String {
        format!("SELECT * FROM retrain.train_pipeline({args})")
    }

    fn assert_state(args: &str, expected: &str) {
        let got = sqlstate_of(&train_sql(args));
        assert_eq!(got.as_deref(), Some(expected), "train_pipeline({args})");
    }

    #[pg_test]
    fn argument_errors_have_precise_sqlstates() {
        setup();
        let q = "'SELECT x, t, target FROM src'";
        for frac in ["0", "1", "-0.5", "1.5", "'NaN'", "'Infinity'"] {
            assert_state(&format!("{q}, {frac}"), "22023");
        }
        assert_state(&format!("{q}, NULL"), "22004");
        assert_state("NULL", "22004");
        assert_state(&format!("{q}, name => NULL"), "22004");
        assert_state(&format!("{q}, algorithm => 'forest'"), "22023");
        assert_state(&format!("{q}, params => '{{\"alpah\": 1}}'"), "22023");
        assert_state(
            &format!("{q}, algorithm => 'ridge', params => '{{\"alpha\": \"x\"}}'"),
            "22023",
        );
        let message =
            message_of(&train_sql(&format!("{q}, params => '{{\"alpah\": 1}}'"))).unwrap();
        assert!(message.contains("alpah"), "{message}");
    }

    #[pg_test]
    fn column_errors_name_the_column() {
        setup();
        assert_state("'SELECT x, t FROM src'", "42703");
        let message = message_of(&train_sql("'SELECT x, t FROM src', target => 'price'")).unwrap();
        assert!(message.contains("\"price\""), "{message}");
        assert_state("'SELECT x, label AS target FROM src'", "42804");
        assert_state("'SELECT x, pt, target FROM src'", "42804");
        let message = message_of(&train_sql("'SELECT x, pt, target FROM src'")).unwrap();
        assert!(
            message.contains("\"pt\"") && message.contains("point"),
            "{message}"
        );
        assert_state("'SELECT x, x, target FROM src'", "42701");
        assert_state("'SELECT ''NaN''::float8 AS x, target FROM src'", "22023");
        assert_state(
            "'SELECT x, CASE WHEN x = 50 THEN ''Infinity'' ELSE target END AS target \
                      FROM src'",
            "22023",
        );
        let message = message_of(&train_sql(
            "'SELECT x / 0.0::float8 * 0 AS bad, target FROM src \
                                              WHERE x > 0'",
        ));
        assert!(message.is_some());
    }

    #[pg_test]
    fn too_few_rows_report_the_counts() {
        setup();
        assert_state("'SELECT x, target FROM src LIMIT 1'", "22023");
        let message =
            message_of(&train_sql("'SELECT x, t, target FROM src LIMIT 5', 0.2")).unwrap();
        assert!(message.contains("4 rows"), "{message}");
        // An empty result.
        assert_state("'SELECT x, target FROM src WHERE false'", "22023");
    }

    #[pg_test]
    fn query_errors_keep_their_own_sqlstate() {
        setup();
        assert_state("'SELECT x, target FROM no_such_table'", "42P01");
        assert_state("'SELEC x, target FROM src'", "42601");
        assert_state("'SELECT x, target FROM src; SELECT 1'", "42601");
        assert_state("''", "42601");
        run("CREATE ROLE retrain_test_reader NOLOGIN");
        run("REVOKE ALL ON src FROM PUBLIC");
        run("GRANT USAGE ON SCHEMA tests TO retrain_test_reader");
        run("SET LOCAL ROLE retrain_test_reader");
        assert_state("'SELECT x, target FROM src'", "42501");
        run("RESET ROLE");
    }

    #[pg_test]
    fn the_source_query_cannot_change_data() {
        setup();
        run(
            "CREATE TABLE victim AS SELECT g::float8 AS x, g::float8 AS target \
             FROM generate_series(1, 20) g",
        );
        run(
            "CREATE FUNCTION sneaky_delete() RETURNS float8 LANGUAGE plpgsql AS \
             $$ BEGIN DELETE FROM victim; RETURN 1; END $$",
        );
        assert_state("'DELETE FROM victim RETURNING x, target'", "25006");
        assert_state(
            "'WITH d AS (DELETE FROM victim RETURNING *) SELECT x, target FROM d'",
            "25006",
        );
        assert_state("'SELECT x, target FROM victim FOR UPDATE'", "25006");
        assert_state(
            "'SELECT x, sneaky_delete() AS s, target FROM victim'",
            "25006",
        );
        assert_state("'UPDATE victim SET x = 0 RETURNING x, target'", "25006");
        assert_eq!(count("SELECT count(*) FROM victim WHERE x > 0"), 20);
        // After a refused query the session can still write.
        run("INSERT INTO victim VALUES (21, 21)");
    }

    #[pg_test]
    fn a_failed_call_stores_nothing() {
        setup();
        run("SELECT * FROM retrain.train_pipeline('SELECT x, target FROM src', name => 'keep')");
        let before = count("SELECT count(*) FROM retrain.pipelines");
        for args in [
            "'SELECT x, target FROM src', 2.0, name => 'keep'",
            "'SELECT ''NaN''::float8 AS x, target FROM src', name => 'keep'",
            "'SELECT x, target FROM src LIMIT 2', name => 'keep'",
        ] {
            assert!(sqlstate_of(&train_sql(args)).is_some());
        }
        assert_eq!(count("SELECT count(*) FROM retrain.pipelines"), before);
        let next = Spi::get_one::<i32>(
            "SELECT version FROM retrain.train_pipeline('SELECT x, target FROM src', \
             name => 'keep')",
        )
        .unwrap();
        assert_eq!(next, Some(2), "failed runs must not use up versions");
    }

    #[pg_test]
    fn statement_timeout_cancels_reading() {
        arm_statement_timeout(300);
        assert_state(
            "'SELECT g::float8 AS x, g::float8 AS target FROM generate_series(1, 200000000) g'",
            "57014",
        );
    }

    /// A lasso that would sweep for hours over 1,000 features is cancelled between sweeps.
    #[pg_test]
    fn statement_timeout_cancels_fitting() {
        run(
            "CREATE TABLE wide AS SELECT 'c' || (g % 1000) AS cat, (g % 7)::float8 AS target \
             FROM generate_series(1, 3000) g",
        );
        arm_statement_timeout(1500);
        assert_state(
            "'SELECT cat, target FROM wide', algorithm => 'lasso', \
             params => '{\"alpha\": 1e-9, \"max_iter\": 4000000000, \"tol\": 1e-300, \
             \"max_categories\": 1000}'",
            "57014",
        );
    }
}
