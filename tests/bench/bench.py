"""Measures pg_retrain against its baselines on the `bench` table and writes the report.

Run by run.sh, which builds and installs the extension, starts the cluster and generates
the table; see docs/benchmarks.md for what is measured and why. Standard library only, so
that the quick mode needs no Python packages: SQL goes through psql, whose \\timing gives
the client's wall time of each statement without connection start-up.
"""

import argparse
import datetime
import hashlib
import json
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

FEATURES = "x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, c5, c20, c50"
SOURCE_QUERY = f"SELECT {FEATURES}, target FROM bench"
TRAIN_TEMPLATE = ("SELECT * FROM retrain.train_pipeline($q${q}$q$, 0.2, name => 'bench', "
                  "deploy => '{deploy}')")
TRAIN_SQL = TRAIN_TEMPLATE.format(q=SOURCE_QUERY, deploy="never")
SCAN_SQL = f"SELECT count(*) FROM ({SOURCE_QUERY}) s WHERE s IS NOT NULL"
# The ratio uses the row form, which reads the row's own datums; the jsonb form is
# measured too, because to_jsonb(t) is how most callers would first write it.
PREDICT_ROW_SQL = "SELECT sum(retrain.predict_row('bench', t)) FROM bench t"
PREDICT_SQL = "SELECT sum(retrain.predict('bench', to_jsonb(t))) FROM bench t"
# Two slices of the predict query, to see how much of it is building the jsonb argument
# (to_jsonb) and how much converting that jsonb to text, which is how the extension's
# argument reaches its JSON parser.
JSONB_SQL = "SELECT count(to_jsonb(t)) FROM bench t"
JSONB_TEXT_SQL = "SELECT sum(length(to_jsonb(t)::text)) FROM bench t"
VMHWM_SQL = r"SELECT substring(pg_read_file('/proc/self/status') from 'VmHWM:\s*(\d+) kB')"
# Predictions of the two serving paths must agree to this relative difference.
PREDICT_TOLERANCE = 1e-6
TARGETS = {  # ratio -> (comparison, bound) at 1M rows
    "train_over_scan": ("<=", 3), "python_over_train": (">=", 5),
    "predict_over_sql": ("<=", 3), "mem_over_matrix": ("<=", 2),
}


def file_sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class LibraryGuard:
    """Fails the run if the installed extension library changes while it measures.

    Every measurement opens a fresh connection, which loads whatever pg_retrain.so is
    installed at that moment. run.sh installs into a private copy of PostgreSQL that
    nothing else writes to; this check makes sure of it."""

    def __init__(self, path):
        self.path = path
        self.sha = file_sha256(path)

    def check(self):
        if file_sha256(self.path) != self.sha:
            raise SystemExit(f"FAIL: {self.path} changed during the run (another build was "
                             "installed meanwhile); the numbers are discarded, run again")


def log(message):
    print(message, file=sys.stderr, flush=True)


class Psql:
    """Runs psql scripts against the benchmark database, each in a fresh connection."""

    def __init__(self, host, port, db):
        self.base = ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
                     "-h", host, "-p", str(port), "-U", "postgres", "-d", db]

    def run(self, script):
        """(values, times_ms): result lines, and \\timing's reading of each statement."""
        done = subprocess.run(self.base, input=script, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"psql failed ({done.returncode}):\n{script}\n{done.stderr}")
        values, times = [], []
        for line in done.stdout.splitlines():
            timing = re.match(r"Time: ([0-9.]+) ms", line)
            if timing:
                times.append(float(timing.group(1)))
            elif line.strip():
                values.append(line)
        return values, times

    def value(self, sql):
        return self.run(sql + ";\n")[0][0]

    def timed(self, sql):
        """One statement in a fresh connection: its result, wall ms, and then the
        backend's peak resident memory in KiB."""
        values, times = self.run(
            f"SET client_min_messages = warning;\n\\timing on\n{sql};\n\\timing off\n"
            f"{VMHWM_SQL};\n")
        return values[0], times[0], int(values[1])


def measure_sql(psql, sql):
    result, ms, vmhwm = psql.timed(sql)
    return {"ms": ms, "result": result, "vmhwm_kb": vmhwm}


def measure_train(psql):
    values, times = psql.run(
        "SET client_min_messages = warning;\n\\timing on\n"
        f"{TRAIN_SQL} \\gset\n\\timing off\n{VMHWM_SQL};\n"
        "SELECT metrics::text FROM retrain.pipelines WHERE id = :id;\n")
    return {"ms": times[0], "vmhwm_kb": int(values[0]), "metrics": json.loads(values[1])}


def measure_python(args, reader):
    command = [args.python, os.path.join(HERE, "python_job.py"),
               "--conninfo", f"host={args.host} port={args.port} user=postgres "
                             f"dbname={args.db}",
               "--query", SOURCE_QUERY, "--reader", reader,
               "--cx-uri", f"postgresql://postgres@localhost:{args.port}/{args.db}"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"python job ({reader}) failed:\n{done.stderr}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    # The work, without interpreter start-up and imports: the smaller, fairer number.
    report["ms"] = report["stages"]["work_s"] * 1e3
    report["process_ms"] = wall * 1e3
    return report


def hand_written_sql(psql):
    """The deployed model as a plain SQL expression, from its weights and feature means:
    intercept + sum of w * coalesce(x, mean) + one CASE per text column."""
    weights_text, _ = psql.run(
        "SELECT feature || E'\\t' || weight::text FROM retrain.weights('bench');\n")
    weights = [line.split("\t") for line in weights_text]
    features = json.loads(psql.value(
        "SELECT p.features::text FROM retrain.pipelines p JOIN retrain.deployed_pipelines d"
        " ON p.id = d.pipeline_id WHERE d.name = 'bench'"))
    assert weights[0][0] == "(intercept)", weights[0]
    terms = [f"float8 '{weights[0][1]}'"]
    at = 1  # weights come in feature order, one per encoded slot
    for feature in features:
        column = '"' + feature["column"].replace('"', '""') + '"'
        if feature["transform"] == "one_hot":
            levels = [c["value"] for c in feature["categories"]]
            slots = weights[at:at + len(levels) + 2]
            at += len(levels) + 2
            whens = "\n     ".join(
                f"WHEN '{lv.replace(chr(39), chr(39) * 2)}' THEN float8 '{w}'"
                for lv, (_, w) in zip(levels, slots))
            terms.append(f"CASE WHEN t.{column} IS NULL THEN float8 '{slots[-2][1]}'\n"
                         f"   ELSE CASE t.{column}\n     {whens}\n"
                         f"     ELSE float8 '{slots[-1][1]}' END END")
        else:
            name, w = weights[at]
            at += 1
            assert name == feature["column"], (name, feature["column"])
            mean = feature["mean"] if feature["mean"] is not None else 0
            terms.append(f"float8 '{w}' * coalesce(t.{column}::float8, float8 '{mean!r}')")
    assert at == len(weights), "weights and features do not line up"
    return "SELECT sum(" + "\n + ".join(terms) + ") FROM bench t"


def check_predictions(results):
    """All serving paths must give the same sum; stop loudly if they ever differ."""
    for name in ("predict", "predict_row"):
        for a in results[name]:
            for b in results["predict_sql"]:
                x, y = float(a["result"]), float(b["result"])
                if abs(x - y) > PREDICT_TOLERANCE * max(abs(x), abs(y)):
                    raise SystemExit(
                        f"FAIL: retrain.{name} sums to {x!r} but the hand-written SQL to "
                        f"{y!r} (relative tolerance {PREDICT_TOLERANCE})")


def summary(samples):
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples),
            "n": len(samples)}


def perf_profile(psql_base, sql, seconds_limit=600):
    """Top functions by self time while one backend runs `sql` (perf, cpu-clock)."""
    if not shutil.which("perf"):
        return None
    data = "/tmp/pg_retrain-bench-perf.data"
    session = subprocess.Popen(psql_base, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    session.stdin.write("SET client_min_messages = warning;\nSELECT pg_backend_pid();\n")
    session.stdin.flush()
    pid = session.stdout.readline().strip()
    recorder = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "999",
                                 "-p", pid, "-o", data],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)  # let perf attach before the statement starts
    session.communicate(f"{sql};\n", timeout=seconds_limit)
    recorder.send_signal(signal.SIGINT)
    recorder.wait()
    report = subprocess.run(["perf", "report", "-i", data, "--no-children", "--stdio",
                             "--sort", "dso,sym", "--percent-limit", "1.5"],
                            capture_output=True, text=True)
    rows = []
    for line in report.stdout.splitlines():
        hit = re.match(r"\s+([0-9.]+)%\s+(\S+)\s+\[[.k]\]\s+(.*?)\s*$", line)
        if hit:
            rows.append((float(hit.group(1)), hit.group(2), hit.group(3)[:80]))
    by_object = subprocess.run(["perf", "report", "-i", data, "--no-children", "--stdio",
                                "--sort", "dso"], capture_output=True, text=True)
    objects = re.findall(r"^\s+([0-9.]+)%\s+(\S+)\s*$", by_object.stdout, re.M)
    if not rows:
        return None
    return {"functions": rows, "objects": [(float(p), o) for p, o in objects]}


def machine_facts(psql):
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    settings, _ = psql.run(
        "SELECT name || ' = ' || current_setting(name) FROM pg_settings WHERE name IN "
        "('shared_buffers', 'work_mem', 'jit', 'max_parallel_workers_per_gather', "
        "'autovacuum', 'huge_pages', 'synchronous_commit') ORDER BY name;\n")
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "src"],
                           capture_output=True, text=True).stdout.strip()
    return {
        "cpu": cpu, "nproc": os.cpu_count(), "mem_gib": mem_kb / 1024 ** 2,
        "kernel": platform.release(),
        "postgres": psql.value("SELECT version()"),
        "settings": settings,
        "table_size": psql.value("SELECT pg_size_pretty(pg_table_size('bench'))"),
        "commit": commit + (" with uncommitted changes in src/" if dirty else ""),
        "loadavg": open("/proc/loadavg").read().split()[:3],
    }


def fmt_ms(ms):
    return f"{ms / 1e3:.2f} s" if ms >= 1000 else f"{ms:.1f} ms"


def ratio_line(rows, ratios):
    parts = " ".join(f"{k}={'nan' if v is None else f'{v:.2f}'}" for k, v in ratios.items())
    return f"bench rows={rows} {parts}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-python", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--python", default="python3", help="the venv's interpreter")
    parser.add_argument("--host", default="/tmp")
    parser.add_argument("--port", type=int, default=5488)
    parser.add_argument("--db", default="bench")
    parser.add_argument("--out", required=True)
    parser.add_argument("--command", default="tests/bench/run.sh", help="for the report")
    parser.add_argument("--library", required=True, help="the installed pg_retrain.so")
    parser.add_argument("--build-mode", default="release", choices=["release", "debug"])
    args = parser.parse_args()
    psql = Psql(args.host, args.port, args.db)
    guard = LibraryGuard(args.library)
    server_libdir = psql.value("SELECT setting FROM pg_config WHERE name = 'PKGLIBDIR'")
    if os.path.realpath(server_libdir) != os.path.dirname(os.path.realpath(args.library)):
        raise SystemExit(f"FAIL: the server loads extensions from {server_libdir}, not from "
                         f"the directory of {args.library}")

    # Version 1, deployed: what predict serves. Every measured training stores a new,
    # undeployed version, so the served model (and so the prediction sums) never change,
    # and each measured run also scores that champion on its test rows, as a scheduled
    # retraining of a served pipeline does.
    setup_ms = psql.run(f"SET client_min_messages = warning;\n\\timing on\n"
                        f"{TRAIN_TEMPLATE.format(q=SOURCE_QUERY, deploy='always')};\n")[1][0]
    log(f"setup: trained and deployed version 1 in {fmt_ms(setup_ms)}")
    hand_sql = hand_written_sql(psql)
    facts = machine_facts(psql)
    facts["library"] = guard.sha[:12]

    contenders = {
        "scan": lambda: measure_sql(psql, SCAN_SQL),
        "train": lambda: measure_train(psql),
        "predict_row": lambda: measure_sql(psql, PREDICT_ROW_SQL),
        "predict": lambda: measure_sql(psql, PREDICT_SQL),
        "predict_sql": lambda: measure_sql(psql, hand_sql),
        "jsonb": lambda: measure_sql(psql, JSONB_SQL),
        "jsonb_text": lambda: measure_sql(psql, JSONB_TEXT_SQL),
    }
    if not args.no_python:
        contenders["python"] = lambda: measure_python(args, "pandas")
        contenders["python_cx"] = lambda: measure_python(args, "connectorx")
    names = list(contenders)
    results = {name: [] for name in names}
    for round_no in range(args.repeat):
        # Round-robin, each round starting one contender later, so that no contender
        # always runs right after the same neighbour (cache and CPU-frequency effects).
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            outcome = contenders[name]()
            guard.check()
            results[name].append(outcome)
            log(f"round {round_no + 1}/{args.repeat} {name:12} {fmt_ms(outcome['ms'])}")
            check_predictions(results)

    profiles = {}
    if args.profile:
        for label, sql in [("train", TRAIN_SQL), ("predict_row", PREDICT_ROW_SQL),
                           ("predict", PREDICT_SQL)]:
            log(f"profiling {label} with perf")
            profiles[label] = perf_profile(psql.base, sql)
            guard.check()

    facts["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    stats = {name: summary([r["ms"] for r in results[name]]) for name in names}
    train_metrics = [r["metrics"] for r in results["train"]]
    width = train_metrics[0]["n_encoded_features"]
    matrix_bytes = args.rows * width * 8
    mem = {
        "train": summary([r["vmhwm_kb"] * 1024 for r in results["train"]]),
        "scan": summary([r["vmhwm_kb"] * 1024 for r in results["scan"]]),
    }
    ratios = ratios_of(stats, mem, matrix_bytes, "median")
    report = render(args, facts, results, stats, mem, matrix_bytes, width, ratios,
                    setup_ms, hand_sql, profiles)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(report)
    log(f"report written to {args.out}")
    print(ratio_line(args.rows, ratios), flush=True)


def ratios_of(stats, mem, matrix_bytes, which):
    """The four ratios from the `which` statistic ("median" or "min") of each contender."""
    return {
        "train_over_scan": stats["train"][which] / stats["scan"][which],
        "python_over_train": (stats["python"][which] / stats["train"][which]
                              if "python" in stats else None),
        "predict_over_sql": stats["predict_row"][which] / stats["predict_sql"][which],
        "mem_over_matrix": mem["train"][which] / matrix_bytes,
    }


def render(args, facts, results, stats, mem, matrix_bytes, width, ratios, setup_ms,
           hand_sql, profiles):
    rows = args.rows
    mib = 1024 ** 2
    out = []
    w = out.append
    w("# Benchmarks\n")
    w(f"Generated by `{args.command}` on "
      f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC "
      f"(pg_retrain {facts['commit']}, {args.build_mode} build, pg_retrain.so sha256 "
      f"{facts['library']}…). Every number below comes from that one run; rerun the "
      "command to refresh this page.\n")

    w("## Machine and settings\n")
    w(f"- CPU: {facts['cpu']}, {facts['nproc']} cores (nproc); memory "
      f"{facts['mem_gib']:.1f} GiB; Linux {facts['kernel']}")
    w(f"- {facts['postgres']}")
    w("- Server settings: " + ", ".join(f"`{s}`" for s in facts["settings"]))
    w(f"- Load average before / after: {' '.join(facts['loadavg'])} / "
      f"{' '.join(facts['loadavg_end'])} (the machine may be shared)")
    w(f"- Table `bench`: {rows:,} rows, {facts['table_size']} on disk, held in shared "
      "buffers (pg_prewarm) before measuring")
    w(f"- Each contender ran {args.repeat} times, round-robin; median and range (min–max)"
      " below.\n")

    w("## Results\n")
    w("| contender | what | median | range | runs |")
    w("| --- | --- | ---: | ---: | ---: |")
    described = [
        ("scan", "`SELECT count(*) FROM (<source_query>) s WHERE s IS NOT NULL`"),
        ("train", "`retrain.train_pipeline(<source_query>, 0.2, ..., deploy => 'never')`"),
        ("python", "pandas.read_sql + scikit-learn, split/fit/evaluate/refit/pickle/store"),
        ("python_cx", "the same job reading with connectorx (tuned; not in the ratio)"),
        ("predict_row", "`sum(retrain.predict_row('bench', t))` over the table"),
        ("predict", "`sum(retrain.predict('bench', to_jsonb(t)))`: the jsonb form"),
        ("predict_sql", "the same model as a hand-written SQL expression"),
        ("jsonb", "`count(to_jsonb(t))`: building predict's argument alone"),
        ("jsonb_text", "`sum(length(to_jsonb(t)::text))`: that jsonb also as text"),
    ]
    for name, what in described:
        if name in stats:
            s = stats[name]
            w(f"| {name} | {what} | {fmt_ms(s['median'])} | {fmt_ms(s['min'])} – "
              f"{fmt_ms(s['max'])} | {s['n']} |")
    w("")
    w("| memory | median | range |")
    w("| --- | ---: | ---: |")
    w(f"| train backend VmHWM | {mem['train']['median'] / mib:.0f} MiB | "
      f"{mem['train']['min'] / mib:.0f} – {mem['train']['max'] / mib:.0f} MiB |")
    w(f"| scan-only backend VmHWM (context) | {mem['scan']['median'] / mib:.0f} MiB | "
      f"{mem['scan']['min'] / mib:.0f} – {mem['scan']['max'] / mib:.0f} MiB |")
    w(f"| encoded f64 matrix ({rows:,} × {width} × 8 B) | {matrix_bytes / mib:.0f} MiB | |")
    if "python" in results:
        for name in ("python", "python_cx"):
            peak = summary([r["peak_rss_mb"] for r in results[name]])
            w(f"| {name} process peak RSS | {peak['median']:.0f} MiB | {peak['min']:.0f} – "
              f"{peak['max']:.0f} MiB |")
    w("")

    w("## Ratios\n")
    fastest = ratios_of(stats, mem, matrix_bytes, "min")
    w("| ratio | value (medians) | from the fastest runs | target at 1M rows | met |")
    w("| --- | ---: | ---: | --- | --- |")
    for name, value in ratios.items():
        op, bound = TARGETS[name]
        if value is None:
            w(f"| {name} | n/a | n/a | {op} {bound} | not measured |")
            continue
        met = value <= bound if op == "<=" else value >= bound
        w(f"| {name} | {value:.2f} | {fastest[name]:.2f} | {op} {bound} | "
          f"{'yes' if met else 'no'} |")
    w("")
    w("`python_over_train` divides the Python job's time without interpreter start-up "
      "and imports (the smaller number) by the client time of `train_pipeline`. The "
      "column from the fastest runs divides minimum by minimum: on a shared machine other "
      "work only ever adds time, so it shows whether noise moved a median.\n")

    w("## Where the time goes\n")
    w("Training, from the `metrics->'timings_ms'` that each measured run stored "
      "(medians):\n")
    # statistics_ms is the shared pass over the rows; a run without it has none (0).
    stages = ["read_ms", "split_ms", "statistics_ms", "fit_ms", "evaluate_ms", "refit_ms",
              "total_ms"]
    timings = {s: statistics.median(m["metrics"]["timings_ms"].get(s, 0.0)
                                    for m in results["train"]) for s in stages}
    known = sum(timings[s] for s in stages[:-1])
    client = stats["train"]["median"]
    w("| stage | median | share of client time |")
    w("| --- | ---: | ---: |")
    for s in stages[:-1]:
        w(f"| {s} | {fmt_ms(timings[s])} | {timings[s] / client:.0%} |")
    w(f"| rest of total_ms (artifact, insert) | "
      f"{fmt_ms(timings['total_ms'] - known)} | {(timings['total_ms'] - known) / client:.0%} |")
    w(f"| outside total_ms (planning, commit, round trip) | "
      f"{fmt_ms(client - timings['total_ms'])} | {(client - timings['total_ms']) / client:.0%} |")
    w(f"| **client wall time** | **{fmt_ms(client)}** | |")
    w("")
    w(f"Reading alone (read_ms) is {timings['read_ms'] / stats['scan']['median']:.2f}× the "
      "scan baseline: both run the same plan, and the difference is decoding every value "
      "into the extension's columns.\n")
    if "python" in results:
        w("The Python job by stage (medians, seconds):\n")
        keys = ["import_s", "read_s", "fit_s", "evaluate_s", "refit_s", "store_s",
                "work_s", "total_s"]
        w("| job | " + " | ".join(keys) + " |")
        w("| --- |" + " ---: |" * len(keys))
        for name in ("python", "python_cx"):
            med = {k: statistics.median(r["stages"][k] for r in results[name]) for k in keys}
            w(f"| {name} | " + " | ".join(f"{med[k]:.2f}" for k in keys) + " |")
        m = results["python"][0]
        w(f"\nIts test RMSE {m['metrics']['rmse']:.4f}, R² {m['metrics']['r2']:.4f} "
          f"(encoded width {m['encoded_width']}); pg_retrain's: "
          f"{statistics.median(t['metrics']['rmse'] for t in results['train']):.4f}, "
          f"{statistics.median(t['metrics']['r2'] for t in results['train']):.4f} "
          f"(width {width}).\n")
    p, j, jt, h, r = (stats[n]["median"] for n in ("predict", "jsonb", "jsonb_text",
                                                   "predict_sql", "predict_row"))
    w(f"Serving, per row (medians). `retrain.predict_row('bench', t)` reads the row's "
      f"datums directly: {r * 1e3 / rows:.2f} µs per row against {h * 1e3 / rows:.2f} µs "
      "for the hand-written expression; predict_over_sql is measured with it. "
      "`retrain.predict` takes a jsonb: pgrx hands it to the "
      "extension by printing it with jsonb_out and parsing that text with serde_json, so "
      "the predict query splits into these steps, each measured as a query of its own "
      "(every line includes reading the table):\n")
    w("| step | per row | share of predict |")
    w("| --- | ---: | ---: |")
    steps = [("`to_jsonb(t)`: building the argument", j),
             ("jsonb → text (`to_jsonb(t)::text` minus the line above)", jt - j),
             ("in the extension: parse the text, pick the features, score (the rest)",
              p - jt),
             ("**`retrain.predict('bench', to_jsonb(t))`**", p),
             ("the hand-written SQL expression, for comparison", h)]
    for label, ms in steps:
        w(f"| {label} | {ms * 1e3 / rows:.2f} µs | {ms / p:.0%} |")
    w("")
    w(f"Building the jsonb alone costs {j / h:.2f}× the whole hand-written expression, so "
      "the jsonb form can never come near the hand-written SQL however fast the "
      "extension's own part gets; use `predict_row` to score table rows.\n")
    if profiles:
        w("### perf profiles (one run each, cpu-clock, self time ≥ 1.5%)\n")
        for label, profile in profiles.items():
            if not profile:
                w(f"{label}: perf gave no samples here (not installed, or not permitted).\n")
                continue
            w(f"{label}, by object: " + ", ".join(
                f"{obj} {pct:.0f}%" for pct, obj in profile["objects"] if pct >= 0.5) + "\n")
            w("| self | object | function |")
            w("| ---: | --- | --- |")
            for pct, dso, sym in profile["functions"]:
                w(f"| {pct:.1f}% | {dso} | `{sym.replace('|', '/')}` |")
            w("")
    w(f"The setup training (version 1, deployed, no champion) took {fmt_ms(setup_ms)}.\n")

    w("## What is measured\n")
    w("- **Data**: `tests/bench/generate.sql`, deterministic (setseed): ten numeric "
      "columns (int4, float8, numeric; x4, x5, x6 with 2% NULLs), text columns with 5, 20 "
      "(1% NULL) and 50 levels (skewed, so 18 levels fall into \"other\" beyond the top "
      "32), and a target that is a known linear function plus noise. Source query: "
      f"`{SOURCE_QUERY}`.")
    w("- **scan**: the cost of just running the source query to completion and looking "
      "at every row, the floor for anything that reads it.")
    w("- **train**: client wall time of one `train_pipeline` call (read, split, fit, "
      "evaluate, refit, score the deployed champion, store), each in a fresh connection.")
    w("- **python**: `tests/bench/python_job.py`, what a user would otherwise run: "
      "pandas.read_sql through SQLAlchemy/psycopg2, scikit-learn (SimpleImputer + "
      "StandardScaler; SimpleImputer(constant) + OneHotEncoder(max_categories=32); "
      "LinearRegression), train_test_split(0.2), RMSE/MAE/R², refit on all rows, pickle, "
      "INSERT into a bytea table. Package versions: `tests/bench/requirements.txt`.")
    w("- **predict_row**, **predict** vs **predict_sql**: the same deployed model scored "
      "over every row, through `retrain.predict_row`, `retrain.predict` and through a "
      "SQL expression generated from "
      "`retrain.weights('bench')` and the stored feature means. The sums must agree to "
      f"a relative {PREDICT_TOLERANCE:g}, or the run fails.")
    w("- **memory**: VmHWM (peak resident set) of the backend, read from "
      "/proc/self/status right after the call in the same fresh connection. Shared "
      "buffers the backend touched count in it, which is why a scan-only backend's "
      "VmHWM is shown as context; nothing is subtracted. The matrix is rows × "
      "`metrics->>'n_encoded_features'` × 8 bytes, what materializing the encoded "
      "features as f64 would take.")
    w("- Server settings chosen for repeatable numbers: no parallel query (the training "
      "read runs serially, so the baseline does too), no JIT, no autovacuum (the table "
      "is vacuumed and frozen after loading and never changes).\n")

    w("## How to reproduce\n")
    w("```sh")
    w("bash tests/bench/run.sh                  # 1,000,000 rows, 3 rounds, writes this page")
    w("bash tests/bench/run.sh --rows 100000 --out /tmp/bench-100k.md")
    w("bash tests/bench/run.sh --quick          # 20,000 rows, 1 round, no Python; for CI")
    w("```\n")
    w("Runs as root or as a user with sudo (the server runs as `postgres`). It installs "
      "prerequisites (tests/setup.sh), builds the release package (`cargo pgrx package`), "
      "installs it into a private copy of PostgreSQL 15 in /tmp/pg_retrain-bench-pg (so "
      "that nobody else's install on the machine can swap the library mid-run), starts a "
      "throwaway cluster on port 5488 in /tmp/pg_retrain-bench (stopped on exit), creates "
      "a Python venv in /tmp/pg_retrain-bench-venv, and prints as its last line:\n")
    w("```")
    w(ratio_line(rows, ratios))
    w("```\n")
    w("The hand-written SQL used for predict_sql:\n")
    w("```sql")
    w(hand_sql)
    w("```")
    return wrap_markdown("\n".join(out)) + "\n"


def wrap_markdown(text, width=92):
    """Wraps prose and list items; leaves tables and code blocks as they are."""
    out, in_code = [], False
    for line in text.split("\n"):
        if line.startswith("```"):
            in_code = not in_code
        if in_code or line.startswith("|") or len(line) <= width:
            out.append(line)
            continue
        indent = "  " if line.startswith("- ") else ""
        out.append(textwrap.fill(line, width, subsequent_indent=indent,
                                 break_long_words=False, break_on_hyphens=False))
    return "\n".join(out)


if __name__ == "__main__":
    main()
