//! Helpers shared by the in-database tests.

use pgrx::prelude::*;

/// The SQLSTATE `sql` fails with, or None when it succeeds. Runs in a subtransaction (a
/// PL/pgSQL exception block), so whatever `sql` did is rolled back either way.
pub fn sqlstate_of(sql: &str) -> Option<String> {
    Spi::get_one_with_args::<String>("SELECT tests.sqlstate_of($1)", &[sql.into()])
        .expect("sqlstate_of")
}

/// Arms Postgres' own statement-timeout timer, as `statement_timeout` does at the start of
/// a top-level statement (a `SET` inside a test function would come too late to arm it).
pub fn arm_statement_timeout(ms: i32) {
    // utils/timeout.h is not among pgrx's bindings; STATEMENT_TIMEOUT is 3 in PostgreSQL 15.
    extern "C-unwind" {
        fn enable_timeout_after(id: std::ffi::c_int, delay_ms: std::ffi::c_int);
    }
    const STATEMENT_TIMEOUT: std::ffi::c_int = 3;
    // SAFETY: the timeout module is initialized in every backend; this is its public API.
    unsafe { enable_timeout_after(STATEMENT_TIMEOUT, ms) };
}

/// A connection string to this test database, for work that must commit on its own.
pub fn own_database() -> String {
    run("CREATE EXTENSION IF NOT EXISTS dblink");
    Spi::get_one::<String>(
        "SELECT format('dbname=%s port=%s host=%s', current_database(), \
         current_setting('port'), split_part(current_setting('unix_socket_directories'), \
         ',', 1))",
    )
    .unwrap()
    .unwrap()
}

/// Makes sure pg_cron is installed, committed, in this database. Never inside a test's own
/// transaction: the scheduler and other sessions could not see it, and a concurrent test
/// creating it too would wait on that transaction. The advisory lock serializes creators.
pub fn ensure_pg_cron() {
    remote(
        &own_database(),
        "PERFORM pg_advisory_xact_lock(7231); CREATE EXTENSION IF NOT EXISTS pg_cron",
    );
}

/// `s` as an SQL string literal.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Runs `sql` (PL/pgSQL statements) in another session through dblink; it commits when the
/// call returns.
pub fn remote(connection: &str, sql: &str) {
    let block = format!("DO $remote$ BEGIN {sql}; END $remote$");
    run(&format!(
        "SELECT dblink_exec({}, {})",
        quote(connection),
        quote(&block)
    ));
}

/// The error message `sql` fails with.
pub fn message_of(sql: &str) -> Option<String> {
    Spi::get_one_with_args::<String>("SELECT tests.message_of($1)", &[sql.into()])
        .expect("message_of")
}

pub fn count(sql: &str) -> i64 {
    Spi::get_one::<i64>(sql)
        .expect("count query")
        .expect("count is not NULL")
}

/// The float8[] that `sql` returns in its one row and column.
pub fn floats(sql: &str) -> Vec<f64> {
    Spi::get_one::<Vec<f64>>(sql)
        .expect("floats query")
        .expect("floats are not NULL")
}

pub fn run(sql: &str) {
    Spi::run(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// The diamonds dataset, compiled into the test build: the server process may not be
/// allowed to read the checkout (a clone under /root, say), so COPY FROM a file is no option.
const DIAMONDS_CSV: &str = include_str!("../../tests/data/diamonds.csv");

/// Loads the diamonds dataset into `diamonds` (53,940 rows), passing each column as an array.
pub fn load_diamonds() {
    run(
        "CREATE TABLE diamonds (carat float8, cut text, color text, clarity text, \
         depth float8, \"table\" float8, price int4, x float8, y float8, z float8)",
    );
    let mut numbers: Vec<Vec<f64>> = vec![Vec::new(); 6];
    let mut texts: Vec<Vec<String>> = vec![Vec::new(); 3];
    let mut price: Vec<i32> = Vec::new();
    for line in DIAMONDS_CSV.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        for (slot, at) in [0, 4, 5, 7, 8, 9].iter().enumerate() {
            numbers[slot].push(f[*at].parse().expect("number"));
        }
        for (slot, at) in [1, 2, 3].iter().enumerate() {
            texts[slot].push(f[*at].to_string());
        }
        price.push(f[6].parse().expect("price"));
    }
    let n = |i: usize| numbers[i].clone().into();
    let t = |i: usize| texts[i].clone().into();
    Spi::run_with_args(
        "INSERT INTO diamonds SELECT * FROM unnest($1::float8[], $2::text[], $3::text[], \
         $4::text[], $5::float8[], $6::float8[], $7::int4[], $8::float8[], $9::float8[], \
         $10::float8[])",
        &[
            n(0),
            t(0),
            t(1),
            t(2),
            n(1),
            n(2),
            price.into(),
            n(3),
            n(4),
            n(5),
        ],
    )
    .expect("loading diamonds");
}

extension_sql!(
    r#"
CREATE SCHEMA IF NOT EXISTS tests;

CREATE FUNCTION tests.sqlstate_of(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN NULL;
EXCEPTION WHEN OTHERS OR query_canceled THEN
    RETURN SQLSTATE;
END $$;

CREATE FUNCTION tests.message_of(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN NULL;
EXCEPTION WHEN OTHERS OR query_canceled THEN
    RETURN SQLERRM;
END $$;
"#,
    name = "test_helpers",
);
