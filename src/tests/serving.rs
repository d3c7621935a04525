//! Serving: predictions against an independent fit, jsonb edge cases, deployment rules,
//! cache invalidation across statements and sessions.

use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    use crate::tests::support::{count, floats, own_database, remote, run, sqlstate_of};

    fn one(sql: &str) -> f64 {
        Spi::get_one::<f64>(sql).unwrap().unwrap()
    }

    fn noisy_table(name: &str, noise: f64) {
        run(&format!(
            "CREATE TABLE {name} AS SELECT g::float8 AS a, ((g * 7919) % 101)::float8 AS b, \
             (ARRAY['x','y','z'])[1 + g % 3] AS cat, \
             1 + 2 * g - 3 * ((g * 7919) % 101) + (ARRAY[0, 5, -2])[1 + g % 3] \
               + {noise} * (((g * 104729) % 1000) / 1000.0 - 0.5) AS target \
             FROM generate_series(1, 400) g"
        ));
    }

    /// Predictions in SQL equal an independent least-squares fit on all rows (linfa-linear
    /// on a drop-first design), the pipeline the refit stored.
    #[pg_test]
    fn predictions_equal_an_independent_fit() {
        use linfa::prelude::*;
        use linfa_linear::LinearRegression;
        use ndarray::{Array1, Array2};

        noisy_table("pn", 10.0);
        run(
            "SELECT * FROM retrain.train_pipeline('SELECT a, b, cat, target FROM pn', \
             name => 'pn')",
        );
        let ours = floats(
            "SELECT array_agg(retrain.predict('pn', to_jsonb(p)) ORDER BY a) \
                           FROM pn p",
        );
        let mut x = Vec::new();
        let mut y = Vec::new();
        Spi::connect(|c| {
            for row in c
                .select("SELECT a, b, cat, target FROM pn ORDER BY a", None, &[])
                .unwrap()
            {
                let cat: String = row.get(3).unwrap().unwrap();
                x.extend([
                    row.get::<f64>(1).unwrap().unwrap(),
                    row.get(2).unwrap().unwrap(),
                ]);
                x.extend([
                    f64::from(u8::from(cat == "y")),
                    f64::from(u8::from(cat == "z")),
                ]);
                y.push(
                    row.get::<pgrx::AnyNumeric>(4)
                        .unwrap()
                        .unwrap()
                        .try_into()
                        .unwrap(),
                );
            }
        });
        let n = y.len();
        let x = Array2::from_shape_vec((n, 4), x).unwrap();
        let model = LinearRegression::new()
            .fit(&Dataset::new(x.clone(), Array1::from(y)))
            .unwrap();
        let reference = model.predict(&x);
        let worst = ours
            .iter()
            .zip(reference.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-7, "largest difference {worst}");
        // Weights in original units reproduce the same prediction by hand.
        let row_form = one("SELECT max(abs(retrain.predict('pn', to_jsonb(p)) \
                            - retrain.predict_row('pn', p))) FROM pn p");
        assert!(row_form < 1e-9, "row form differs by {row_form}");
        let by_hand = one(
            "SELECT sum(w.weight * CASE w.feature WHEN '(intercept)' THEN 1 \
                           WHEN 'a' THEN 10 WHEN 'b' THEN 20 WHEN 'cat=z' THEN 1 ELSE 0 END) \
                           FROM retrain.weights('pn') w",
        );
        let served = one("SELECT retrain.predict('pn', '{\"a\": 10, \"b\": 20, \"cat\": \"z\"}')");
        assert!((by_hand - served).abs() < 1e-9, "{by_hand} vs {served}");
    }

    #[pg_test]
    fn jsonb_edge_cases() {
        noisy_table("pj", 0.0);
        run(
            "SELECT * FROM retrain.train_pipeline('SELECT a, b, cat, target FROM pj', \
             name => 'pj')",
        );
        let exact = one("SELECT retrain.predict('pj', '{\"a\": 3, \"b\": 4, \"cat\": \"y\"}')");
        assert!((exact - (1.0 + 6.0 - 12.0 + 5.0)).abs() < 1e-6, "{exact}");
        // Extra keys and the target are ignored.
        let extra = one("SELECT retrain.predict('pj', \
                         '{\"a\": 3, \"b\": 4, \"cat\": \"y\", \"target\": 1e9, \"zz\": [1]}')");
        assert!((extra - exact).abs() < 1e-12);
        // An explicit null is imputed with the training mean (encoded 0).
        let mean_a = one("SELECT avg(a) FROM pj");
        let imputed =
            one("SELECT retrain.predict('pj', '{\"a\": null, \"b\": 4, \"cat\": \"y\"}')");
        let at_mean = one(&format!(
            "SELECT retrain.predict('pj', '{{\"a\": {mean_a}, \"b\": 4, \"cat\": \"y\"}}')"
        ));
        assert!((imputed - at_mean).abs() < 1e-9);
        // Missing key, wrong kinds, unknown names.
        let state = |sql: &str| sqlstate_of(sql).unwrap_or_default();
        assert_eq!(
            state("SELECT retrain.predict('pj', '{\"a\": 3, \"cat\": \"y\"}')"),
            "42703"
        );
        assert_eq!(
            state("SELECT retrain.predict('pj', '{\"a\": \"3\", \"b\": 4, \"cat\": \"y\"}')"),
            "22P02"
        );
        assert_eq!(
            state("SELECT retrain.predict('pj', '{\"a\": 3, \"b\": 4, \"cat\": 7}')"),
            "22P02"
        );
        assert_eq!(state("SELECT retrain.predict('pj', '[1, 2]')"), "22P02");
        assert_eq!(state("SELECT retrain.predict('nope', '{}')"), "42704");
        assert_eq!(state("SELECT retrain.predict(-5, '{}')"), "42704");
        assert_eq!(state("SELECT * FROM retrain.weights('nope')"), "42704");
        assert_eq!(
            state("SELECT retrain.predict_row('pj', r) FROM (SELECT a, cat FROM pj) r"),
            "42703"
        );
        assert_eq!(
            state(
                "SELECT retrain.predict_row('pj', r) \
                          FROM (SELECT a, b, 1 AS cat FROM pj) r"
            ),
            "22P02"
        );
        assert_eq!(state("SELECT retrain.predict_row('pj', 5)"), "42804");
        // A name whose deployments are gone has nothing to serve.
        run("DELETE FROM retrain.deployments WHERE name = 'pj'");
        assert_eq!(state("SELECT retrain.predict('pj', '{}')"), "55000");
        // A corrupted artifact is a clear error.
        run("UPDATE retrain.pipelines SET artifact = substr(artifact, 1, 30) WHERE name = 'pj'");
        let id = count("SELECT id FROM retrain.pipelines WHERE name = 'pj'");
        assert_eq!(
            state(&format!("SELECT retrain.predict({id}, '{{}}')")),
            "XX001"
        );
    }

    fn deployed_version(name: &str) -> i64 {
        count(&format!(
            "SELECT version FROM retrain.deployed_pipelines WHERE name = '{name}'"
        ))
    }

    #[pg_test]
    fn auto_deploy_compares_on_the_same_rows() {
        noisy_table("good", 1.0);
        noisy_table("bad", 400.0);
        let train = |table: &str, mode: &str| {
            Spi::get_one::<bool>(&format!(
                "SELECT deployed FROM retrain.train_pipeline(\
                 'SELECT a, b, cat, target FROM {table}', name => 'champ', deploy => '{mode}')"
            ))
            .unwrap()
            .unwrap()
        };
        assert!(train("bad", "never"), "the first version always deploys");
        assert!(train("good", "auto"), "a better challenger deploys");
        assert_eq!(deployed_version("champ"), 2);
        assert!(!train("bad", "auto"), "a worse challenger must not deploy");
        assert_eq!(deployed_version("champ"), 2);
        let stored = Spi::get_one::<bool>(
            "SELECT (metrics->'deploy'->>'champion_rmse')::float8 \
                    < (metrics->'deploy'->>'challenger_rmse')::float8 \
                AND (metrics->'deploy'->>'champion_version')::int = 2 \
             FROM retrain.pipelines WHERE name = 'champ' AND version = 3",
        )
        .unwrap();
        assert_eq!(stored, Some(true));
        // The champion saw these rows in its all-rows refit; a tolerance lets a challenger
        // that is about as good on them through.
        let tolerated = Spi::get_one::<bool>(
            "SELECT deployed FROM retrain.train_pipeline('SELECT a, b, cat, target FROM good', \
             name => 'champ', params => '{\"deploy_tolerance\": 0.5}')",
        )
        .unwrap();
        assert_eq!(tolerated, Some(true));
        assert_eq!(deployed_version("champ"), 4);
        assert!(train("bad", "always"));
        assert_eq!(deployed_version("champ"), 5);
        assert!(!train("good", "never"));
        assert_eq!(deployed_version("champ"), 5);
        // Manual deploy and rollbacks walk back through what was served.
        run("SELECT retrain.deploy('champ', 1)");
        assert_eq!(deployed_version("champ"), 1);
        assert_eq!(count("SELECT retrain.rollback('champ')"), 5);
        assert_eq!(count("SELECT retrain.rollback('champ')"), 4);
        assert_eq!(
            sqlstate_of("SELECT retrain.deploy('champ', 99)").as_deref(),
            Some("42704")
        );
        assert_eq!(
            sqlstate_of("SELECT retrain.rollback('nobody')").as_deref(),
            Some("42704")
        );
        let flags = count(
            "SELECT count(*) FROM retrain.pipeline_history \
                           WHERE name = 'champ' AND deployed",
        );
        assert_eq!(flags, 1);
    }

    /// A training rolled back is never served, even by a backend that cached it.
    #[pg_test]
    fn a_rolled_back_training_is_never_served() {
        noisy_table("rb", 1.0);
        run(
            "SELECT * FROM retrain.train_pipeline('SELECT a, b, cat, target FROM rb', \
             name => 'rb')",
        );
        let row = "'{\"a\": 3, \"b\": 4, \"cat\": \"y\"}'";
        let before = one(&format!("SELECT retrain.predict('rb', {row})"));
        let undone = sqlstate_of(&format!(
            "DO $$ DECLARE v float8; BEGIN \
               PERFORM retrain.train_pipeline('SELECT a, b, cat, 2 * target AS target FROM rb', \
                 name => 'rb', deploy => 'always'); \
               v := retrain.predict('rb', {row}); \
               IF abs(v - 2 * {before}) > 1e-6 THEN RAISE 'new version not served: %', v; END IF; \
               RAISE EXCEPTION USING ERRCODE = 'P0099'; END $$"
        ));
        assert_eq!(undone.as_deref(), Some("P0099"));
        let after = one(&format!("SELECT retrain.predict('rb', {row})"));
        assert!((after - before).abs() < 1e-12, "{after} vs {before}");
        assert_eq!(
            count("SELECT count(*) FROM retrain.pipelines WHERE name = 'rb'"),
            1
        );
    }

    /// A retrain committed by another session is served by this session's next statement.
    #[pg_test]
    fn another_sessions_commit_is_seen_on_the_next_statement() {
        let conn = own_database();
        let remote = |sql: &str| remote(&conn, sql);
        remote(
            "DROP TABLE IF EXISTS xs_src; \
                CREATE TABLE xs_src AS SELECT g::float8 AS a, 3.0 * g AS target \
                FROM generate_series(1, 100) g",
        );
        remote("PERFORM retrain.train_pipeline('SELECT a, target FROM xs_src', name => 'xs')");
        let first = one("SELECT retrain.predict('xs', '{\"a\": 10}')");
        assert!((first - 30.0).abs() < 1e-6, "{first}");
        remote(
            "PERFORM retrain.train_pipeline('SELECT a, 5 * a AS target FROM xs_src', \
                name => 'xs', deploy => 'always')",
        );
        let second = one("SELECT retrain.predict('xs', '{\"a\": 10}')");
        assert!((second - 50.0).abs() < 1e-6, "{second}");
        remote("PERFORM retrain.rollback('xs')");
        let third = one("SELECT retrain.predict('xs', '{\"a\": 10}')");
        assert!((third - 30.0).abs() < 1e-6, "{third}");
    }
}
