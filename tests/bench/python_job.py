"""The retraining batch job a user would write without pg_retrain, for comparison.

Reads the training query into pandas, fits a scikit-learn pipeline equivalent to what
retrain.train_pipeline fits (mean imputation + standardization for numbers, a NULL level
+ one-hot over the most frequent levels for text, ordinary least squares), evaluates it
on a 20% test split, refits on all rows, pickles the model and stores it in a bytea
table. Prints one JSON object with the stage timings, metrics and peak memory.

Usage: python_job.py --conninfo 'host=... dbname=...' --query SQL
                     [--reader pandas|connectorx --cx-uri postgresql://...]
"""

import argparse
import json
import resource
import time

STARTED = time.perf_counter()

# The imports are part of a real job's run time but not of the work: timed separately so
# the comparison can leave them out.
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import psycopg2  # noqa: E402
import sqlalchemy  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import LinearRegression  # noqa: E402
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: E402
import pickle  # noqa: E402

IMPORTED = time.perf_counter()


def read(args):
    """The query's rows as a DataFrame, the way a user would load them."""
    if args.reader == "connectorx":
        import connectorx as cx

        # Binary COPY-like protocol, decoded in Rust straight into numpy arrays.
        return cx.read_sql(args.cx_uri, args.query, return_type="pandas")
    # pandas wants an SQLAlchemy connectable; this one hands out psycopg2 connections.
    engine = sqlalchemy.create_engine("postgresql+psycopg2://",
                                      creator=lambda: psycopg2.connect(args.conninfo))
    with engine.connect() as conn:
        # coerce_float (the default) turns numeric's Decimal objects into floats.
        return pd.read_sql(sqlalchemy.text(args.query), conn)


def make_pipeline(numeric, text):
    """Same preprocessing as pg_retrain's defaults, in scikit-learn's vocabulary."""
    numbers = Pipeline([("impute", SimpleImputer(strategy="mean")),
                        ("scale", StandardScaler())])
    levels = Pipeline([
        ("impute", SimpleImputer(strategy="constant", fill_value="<null>")),
        ("onehot", OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=32)),
    ])
    prep = ColumnTransformer([("num", numbers, numeric), ("cat", levels, text)])
    return Pipeline([("prep", prep), ("model", LinearRegression())])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--conninfo", required=True, help="libpq connection string")
    parser.add_argument("--query", required=True)
    parser.add_argument("--target", default="target")
    parser.add_argument("--reader", choices=["pandas", "connectorx"], default="pandas")
    parser.add_argument("--cx-uri", help="postgresql:// URI for connectorx")
    parser.add_argument("--name", default="bench")
    args = parser.parse_args()
    stages = {"import_s": IMPORTED - STARTED}
    clock = time.perf_counter()

    def lap(stage):
        nonlocal clock
        now = time.perf_counter()
        stages[stage] = now - clock
        clock = now

    df = read(args)
    lap("read_s")

    # The same rule as pg_retrain: rows without a target are skipped.
    df = df[df[args.target].notna()]
    y = df.pop(args.target).astype("float64")
    # connectorx returns numeric as float64 already; pandas' reader as float64 via
    # coerce_float. Anything else non-numeric is a text feature.
    text = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    numeric = [c for c in df.columns if c not in text]
    df[numeric] = df[numeric].astype("float64")
    # NULL text must be a real missing value for SimpleImputer, whatever the reader gave.
    for c in text:
        df[c] = df[c].astype(object).where(df[c].notna(), np.nan)
    x_train, x_test, y_train, y_test = train_test_split(
        df, y, test_size=0.2, random_state=42)
    pipeline = make_pipeline(numeric, text)
    pipeline.fit(x_train, y_train)
    lap("fit_s")

    predicted = pipeline.predict(x_test)
    metrics = {
        "rmse": float(np.sqrt(mean_squared_error(y_test, predicted))),
        "mae": float(mean_absolute_error(y_test, predicted)),
        "r2": float(r2_score(y_test, predicted)),
    }
    lap("evaluate_s")

    final = make_pipeline(numeric, text).fit(df, y)
    lap("refit_s")

    blob = pickle.dumps(final, protocol=pickle.HIGHEST_PROTOCOL)
    conn = psycopg2.connect(args.conninfo)
    with conn, conn.cursor() as cur:
        cur.execute("""CREATE TABLE IF NOT EXISTS bench_python_models (
                           id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                           name text NOT NULL, trained_at timestamptz DEFAULT now(),
                           rmse float8, mae float8, r2 float8, model bytea NOT NULL)""")
        cur.execute("INSERT INTO bench_python_models (name, rmse, mae, r2, model) "
                    "VALUES (%s, %s, %s, %s, %s)",
                    (args.name, metrics["rmse"], metrics["mae"], metrics["r2"],
                     psycopg2.Binary(blob)))
    conn.close()
    lap("store_s")

    stages["work_s"] = time.perf_counter() - IMPORTED
    stages["total_s"] = time.perf_counter() - STARTED
    print(json.dumps({
        "reader": args.reader,
        "rows": int(len(df)),
        "encoded_width": int(final.named_steps["prep"].transform(df.head(1)).shape[1]),
        "stages": stages,
        "metrics": metrics,
        "model_bytes": len(blob),
        # ru_maxrss is in KiB on Linux.
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
