//! `train_pipeline` end to end: recovered relations, real data against linfa, versions,
//! stored rows.

use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    use crate::tests::support::{count, floats, load_diamonds, own_database, quote, remote, run};

    /// A perfect linear relation with a categorical term is recovered exactly.
    #[pg_test]
    fn perfect_relation_with_a_category_is_recovered() {
        run("CREATE TABLE exact AS \
             SELECT g::float8 AS x1, (g % 7)::int4 AS x2, \
                    (ARRAY['a','b','c'])[1 + g % 3] AS cat, \
                    3 + 2 * g - 0.5 * (g % 7) + (ARRAY[0, 4, -1])[1 + g % 3] AS target \
             FROM generate_series(1, 500) AS g");
        let got = floats(
            "SELECT ARRAY[rmse, r2, n_train, n_test] FROM retrain.train_pipeline(\
             'SELECT x1, x2, cat, target FROM exact', 0.2, name => 'exact', seed => 7)",
        );
        assert!(got[0] < 1e-6, "test RMSE {}", got[0]);
        assert!((got[1] - 1.0).abs() < 1e-9);
        assert_eq!((got[2], got[3]), (400.0, 100.0));
    }

    /// Versions count up per name, independently for each name.
    #[pg_test]
    fn versions_increment_per_name() {
        run(
            "CREATE TABLE v AS SELECT g::float8 AS x, 2.0 * g + (g % 3) AS target \
             FROM generate_series(1, 50) g",
        );
        for expected in 1..=3 {
            let version = Spi::get_one::<i32>(
                "SELECT version FROM retrain.train_pipeline('SELECT x, target FROM v', \
                 name => 'versioned')",
            )
            .unwrap();
            assert_eq!(version, Some(expected));
        }
        let other = Spi::get_one::<i32>(
            "SELECT version FROM retrain.train_pipeline('SELECT x, target FROM v', \
             name => 'other')",
        )
        .unwrap();
        assert_eq!(other, Some(1));
        let changes = count(
            "SELECT count(*) FROM retrain.pipeline_history \
             WHERE name = 'versioned' AND version > 1 AND rmse_change IS NOT NULL",
        );
        assert_eq!(changes, 2);
    }

    /// Every type family is accepted and described in the stored `features`.
    #[pg_test]
    fn every_supported_type_is_encoded_and_described() {
        run("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')");
        run("CREATE TABLE typed AS SELECT \
               g::int2 AS small, g::int8 AS big, (g / 3.0)::numeric(10,3) AS num, \
               (g * 1.5)::float4 AS real4, (g % 2 = 0) AS flag, \
               ('v' || g % 4)::varchar(8) AS vc, ('c' || g % 2)::char(4) AS ch, \
               (ARRAY['sad','ok','happy'])[1 + g % 3]::mood AS mood, \
               DATE '2020-01-01' + g AS day, \
               TIMESTAMPTZ '2020-01-01 00:00+00' + g * interval '1h' AS ts, \
               CASE WHEN g % 10 = 0 THEN NULL ELSE g END AS target \
             FROM generate_series(1, 300) g");
        let (n_train, n_test) = Spi::get_two::<i64, i64>(
            "SELECT n_train, n_test FROM retrain.train_pipeline('SELECT * FROM typed', 0.25, \
             name => 'typed', algorithm => 'ridge', params => '{\"alpha\": 0.01}')",
        )
        .unwrap();
        // 30 rows have a NULL target and are skipped.
        assert_eq!((n_train, n_test), (Some(202), Some(68)));
        let skipped = count("SELECT n_skipped FROM retrain.pipelines WHERE name = 'typed'");
        assert_eq!(skipped, 30);
        let kinds = Spi::get_one::<String>(
            "SELECT string_agg(f->>'column' || ':' || (f->>'transform'), ',') \
             FROM retrain.pipelines, jsonb_array_elements(features) f WHERE name = 'typed'",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            kinds,
            "small:impute_mean_standardize,big:impute_mean_standardize,\
             num:impute_mean_standardize,real4:impute_mean_standardize,flag:binary,\
             vc:one_hot,ch:one_hot,mood:one_hot,day:impute_mean_standardize,\
             ts:impute_mean_standardize"
        );
        // char(n) padding is dropped and enum labels are read as text.
        let levels = Spi::get_one::<String>(
            "SELECT string_agg(c->>'value', ',' ORDER BY c->>'value') \
             FROM retrain.pipelines, jsonb_array_elements(features) f, \
                  jsonb_array_elements(f->'categories') c \
             WHERE name = 'typed' AND f->>'column' IN ('ch', 'mood')",
        )
        .unwrap()
        .unwrap();
        assert_eq!(levels, "c0,c1,happy,ok,sad");
        // Dates become seconds since 1970: the mean of 2020-01-02 .. 2020-10-27 over all rows.
        let day_mean = Spi::get_one::<f64>(
            "SELECT (f->>'mean')::float8 FROM retrain.pipelines, jsonb_array_elements(features) f \
             WHERE name = 'typed' AND f->>'column' = 'day'",
        )
        .unwrap()
        .unwrap();
        let expected = Spi::get_one::<f64>(
            "SELECT avg(extract(epoch FROM day::timestamp AT TIME ZONE 'UTC'))::float8 \
             FROM typed WHERE target IS NOT NULL",
        )
        .unwrap()
        .unwrap();
        assert!(
            (day_mean - expected).abs() < 1e-3,
            "{day_mean} vs {expected}"
        );
        // Served from jsonb (dates and timestamps parsed back, enums and char as text) and
        // from the row itself, every type gives the same prediction.
        let diff = Spi::get_one::<f64>(
            "SELECT max(abs(retrain.predict('typed', to_jsonb(t)) \
                        - retrain.predict_row('typed', t))) FROM typed t",
        )
        .unwrap()
        .unwrap();
        assert!(diff < 1e-9, "jsonb and row forms differ by {diff}");
    }

    /// The stored row carries the replayable arguments, metrics and a loadable artifact.
    #[pg_test]
    fn stored_row_is_complete_and_replayable() {
        run(
            "CREATE TABLE r AS SELECT g::float8 AS x, (g * 37 % 11)::float8 AS noise, \
             3.0 * g + (g * 37 % 11) AS target FROM generate_series(1, 200) g",
        );
        let query = "SELECT * FROM retrain.train_pipeline('SELECT x, noise, target FROM r', 0.3, \
                     name => 'replay', seed => 1234)";
        run(query);
        run(query);
        let same = count(
            "SELECT count(DISTINCT (rmse, mae, r2, seed, artifact)) FROM retrain.pipelines \
             WHERE name = 'replay'",
        );
        assert_eq!(same, 1, "the same seed must replay the same run");
        let fields = Spi::get_one::<bool>(
            "SELECT seed = 1234 AND test_frac = 0.3 AND n_rows = 200 AND target = 'target' \
               AND algorithm = 'linear' AND params ? 'max_categories' \
               AND trained_by = current_user \
               AND metrics ? 'train_rmse' AND metrics ? 'baseline_rmse' \
               AND (metrics->'timings_ms') ? 'fit_ms' AND (metrics->'timings_ms') ? 'total_ms' \
               AND (metrics->>'baseline_rmse')::float8 > rmse \
               AND substr(artifact, 1, 8) = 'PGRTRAIN'::bytea \
             FROM retrain.pipelines WHERE name = 'replay' AND version = 1",
        )
        .unwrap();
        assert_eq!(fields, Some(true));
    }

    /// On the real diamonds data, the stored test metrics equal those of an independent
    /// least-squares fit (linfa-linear's QR on a drop-first dummy design, no scaling) on the
    /// same split.
    #[pg_test]
    fn diamonds_metrics_match_an_independent_fit() {
        use linfa::prelude::*;
        use linfa_linear::LinearRegression;
        use ndarray::{Array1, Array2};

        load_diamonds();
        run("SET LOCAL max_parallel_workers_per_gather = 0");
        let query = "SELECT carat, cut, color, clarity, depth, \"table\", x, y, z, \
                     price AS target FROM diamonds";
        let id = Spi::get_one_with_args::<i64>(
            "SELECT id FROM retrain.train_pipeline($1, 0.2, name => 'diamonds')",
            &[query.into()],
        )
        .unwrap()
        .unwrap();
        let got = floats(&format!(
            "SELECT ARRAY[rmse, mae, r2] FROM retrain.pipelines WHERE id = {id}"
        ));
        let (rmse, mae, r2) = (got[0], got[1], got[2]);
        // The seed is a bigint: a float8 array would round it.
        let seed = count(&format!(
            "SELECT seed FROM retrain.pipelines WHERE id = {id}"
        ));

        // Independent design: numeric columns as they are, one dummy per level but the first.
        let cuts = ["Fair", "Good", "Very Good", "Premium", "Ideal"];
        let colors = ["D", "E", "F", "G", "H", "I", "J"];
        let clarities = ["I1", "SI2", "SI1", "VS2", "VS1", "VVS2", "VVS1", "IF"];
        let width = 6 + (cuts.len() - 1) + (colors.len() - 1) + (clarities.len() - 1);
        let mut rows: Vec<(Vec<f64>, f64)> = Vec::new();
        Spi::connect(|client| {
            for row in client.select(query, None, &[]).unwrap() {
                let num = |name: &str| row.get_by_name::<f64, _>(name).unwrap().unwrap();
                let text = |name: &str| row.get_by_name::<String, _>(name).unwrap().unwrap();
                let mut x = vec![num("carat"), num("depth"), num("table"), num("x"), num("y")];
                x.push(num("z"));
                for (levels, value) in [(&cuts[..], text("cut")), (&colors[..], text("color"))]
                    .into_iter()
                    .chain([(&clarities[..], text("clarity"))])
                {
                    x.extend(levels[1..].iter().map(|l| f64::from(u8::from(*l == value))));
                }
                let y = f64::from(row.get_by_name::<i32, _>("target").unwrap().unwrap());
                rows.push((x, y));
            }
        });
        assert_eq!(rows.len(), 53_940);
        let split = crate::pipeline::split::split_rows(rows.len(), 0.2, seed as u64).unwrap();
        let pick = |test: bool| {
            let chosen: Vec<&(Vec<f64>, f64)> = rows
                .iter()
                .zip(&split.is_test)
                .filter(|(_, &t)| t == test)
                .map(|(r, _)| r)
                .collect();
            let x = Array2::from_shape_fn((chosen.len(), width), |(i, j)| chosen[i].0[j]);
            let y = Array1::from_iter(chosen.iter().map(|r| r.1));
            (x, y)
        };
        let (x_train, y_train) = pick(false);
        let (x_test, y_test) = pick(true);
        let model = LinearRegression::new()
            .fit(&Dataset::new(x_train, y_train))
            .unwrap();
        let predicted = model.predict(&x_test);
        let n = y_test.len() as f64;
        let errors: Vec<f64> = y_test
            .iter()
            .zip(predicted.iter())
            .map(|(a, p)| a - p)
            .collect();
        let ref_rmse = (errors.iter().map(|e| e * e).sum::<f64>() / n).sqrt();
        let ref_mae = errors.iter().map(|e| e.abs()).sum::<f64>() / n;
        let mean = y_test.sum() / n;
        let sst: f64 = y_test.iter().map(|y| (y - mean).powi(2)).sum();
        let ref_r2 = 1.0 - errors.iter().map(|e| e * e).sum::<f64>() / sst;
        pgrx::notice!(
            "diamonds: ours rmse {rmse} mae {mae} r2 {r2}; linfa {ref_rmse} {ref_mae} {ref_r2}"
        );
        assert!(
            (rmse - ref_rmse).abs() / ref_rmse < 1e-6,
            "{rmse} vs {ref_rmse}"
        );
        assert!((mae - ref_mae).abs() / ref_mae < 1e-6, "{mae} vs {ref_mae}");
        assert!((r2 - ref_r2).abs() < 1e-8, "{r2} vs {ref_r2}");
        // A sanity anchor independent of both: the well-known fit quality on this data.
        assert!(
            rmse > 1000.0 && rmse < 1300.0 && r2 > 0.9,
            "rmse {rmse}, r2 {r2}"
        );

        // Serving: the stored refit predicts what an independent all-rows fit predicts.
        let all = Array2::from_shape_fn((rows.len(), width), |(i, j)| rows[i].0[j]);
        let y_all = Array1::from_iter(rows.iter().map(|r| r.1));
        let full = LinearRegression::new()
            .fit(&Dataset::new(all.clone(), y_all))
            .unwrap();
        let reference = full.predict(&all);
        let served = floats(&format!(
            "SELECT array_agg(retrain.predict_row('diamonds', d)) FROM ({query}) d"
        ));
        assert_eq!(served.len(), rows.len());
        let worst = served
            .iter()
            .zip(reference.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-6, "largest prediction difference {worst}");
    }

    /// Two sessions training one name at once get consecutive versions: the second waits
    /// for the first to commit, then sees its version.
    #[pg_test]
    fn concurrent_trainings_of_one_name_get_consecutive_versions() {
        let conn = own_database();
        remote(
            &conn,
            "DROP TABLE IF EXISTS conc_src; \
             CREATE TABLE conc_src AS SELECT g::float8 AS x, 2.0 * g + g % 7 AS target \
             FROM generate_series(1, 200000) g",
        );
        let train = "SELECT version FROM retrain.train_pipeline(\
                     'SELECT x, target FROM conc_src', name => 'concurrent')";
        for session in ["first", "second"] {
            run(&format!(
                "SELECT dblink_connect({}, {})",
                quote(session),
                quote(&conn)
            ));
            run(&format!(
                "SELECT dblink_send_query({}, {})",
                quote(session),
                quote(train)
            ));
        }
        let mut versions: Vec<i64> = ["first", "second"]
            .iter()
            .map(|session| {
                count(&format!(
                    "SELECT v::bigint FROM dblink_get_result({}) AS t(v int)",
                    quote(session)
                ))
            })
            .collect();
        for session in ["first", "second"] {
            run(&format!("SELECT dblink_disconnect({})", quote(session)));
        }
        versions.sort();
        assert_eq!(versions, vec![1, 2]);
    }

    /// The binary numeric decoder gives exactly the f64 that `numeric::float8` gives.
    #[pg_test]
    fn numeric_values_decode_exactly_like_postgres() {
        use crate::source::Decoder;
        use pgrx::IntoDatum;
        for text in [
            "0",
            "1",
            "-1",
            "123.456",
            "0.1",
            "-0.000123",
            "1e-20",
            "4.5e-7",
            "-4.5",
            "1000000",
            "99999999999999.99",
            "9007199254740993",
            "12345678901234567890",
            "3.141592653589793238462643383279",
            "1e300",
            "-1e-300",
            "0.30000000000000004",
            "65536.0001",
            "1e22",
            "1e23",
            "123456789012.3456",
        ] {
            let value = Spi::get_one::<pgrx::AnyNumeric>(&format!("SELECT '{text}'::numeric"))
                .unwrap()
                .unwrap();
            let datum = value.into_datum().unwrap();
            // SAFETY: a non-NULL numeric datum.
            let ours = unsafe { Decoder::Numeric.number(datum, "x") }.unwrap();
            let theirs = Spi::get_one::<f64>(&format!("SELECT '{text}'::numeric::float8"))
                .unwrap()
                .unwrap();
            assert_eq!(
                ours.to_bits(),
                theirs.to_bits(),
                "{text}: {ours} vs {theirs}"
            );
        }
    }
}
