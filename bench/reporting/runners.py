"""One function per benchmark: runs its program (each against its baseline, interleaved
round by round) and returns its figures; the dispatch benchmark's Python side runs here.
"""

import json
import os
import re
import statistics
import sys
import time
from reporting.common import *  # noqa: F401,F403  (the report's shared names)


def bench_fill_sweep(runner, rounds):
    args = ["--workers-list", "1,2,4,8"]
    if runner.quick:
        args.append("--quick")
    if rounds:
        args += ["--rounds", rounds]
    return run_program_json(runner, "fill_sweep", args, 240 if runner.quick else 1200)


def bench_pool(runner, rounds):
    args = ["--quick"] if runner.quick else []
    if rounds:
        args += ["--rounds", rounds]
    return run_program_json(runner, "pool", args, 240 if runner.quick else 1200)


def bench_locks(runner, rounds):
    args = ["--quick"] if runner.quick else []
    if rounds:
        args += ["--rounds", rounds]
    return run_program_json(runner, "locks", args, 240 if runner.quick else 1200)


def bench_first_day(runner, rounds):
    args = ["--quick"] if runner.quick else []
    if rounds:
        args += ["--rounds", rounds]
    return run_program_json(runner, "first_day", args, 120 if runner.quick else 900)


def bench_stream(runner, rounds):
    args = ["--quick"] if runner.quick else []
    if rounds:
        args += ["--rounds", rounds]
    return run_program_json(runner, "stream", args, 120 if runner.quick else 900)


def bench_create_fill(runner, rounds):
    """bench/create_fill prints a table (no --json): parsed here."""
    exe = runner.binary("create_fill")
    if exe is None:
        raise NotRun(f"bench/create_fill not built (no {runner.bench_dir / 'create_fill'})")
    mib = 128 if runner.quick else 1024
    n = rounds or (3 if runner.quick else 5)
    rc, out = runner.run([exe, "--mib", mib, "--rounds", n], "create_fill",
                         120 if runner.quick else 600)
    if rc != 0:
        raise Failed(f"bench/create_fill exited with status {rc} (see logs/create_fill.log)")
    rows = re.findall(r"^(.+?)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)x\s*$",
                      out, re.M)
    if not rows:
        raise Failed("cannot read the table bench/create_fill printed (see logs/create_fill.log)")
    section = f"create and fill {mib} MiB (time; the baseline is a private memset)"
    figures = []
    base = None
    for label, med, lo, hi, _gbs, _vs in rows:
        label = label.strip()
        f = {"section": section, "name": label, "value": float(med), "unit": "s",
             "min": float(lo), "max": float(hi), "baseline_name": None, "baseline_value": None,
             "ratio": None, "higher_is_better": False, "rounds": None}
        if base is None:
            base = f
        else:
            f["baseline_name"] = base["name"]
            f["baseline_value"] = base["value"]
            f["ratio"] = base["value"] / f["value"] if f["value"] else None
        figures.append(f)
    return {"benchmark": "create_fill", "config": {"mib": mib, "rounds": n},
            "figures": figures, "output": out}


def bench_np_shared(runner, rounds):
    """demos/np_shared against bench/np_shared.py, end to end (bench/np_shared_compare.sh)."""
    demo = runner.bench_dir.parent / "demos" / "np_shared"
    if not (demo.is_file() and os.access(demo, os.X_OK)):
        raise NotRun(f"demos/np_shared not built (no {demo})")
    rows, cols = (1000, 8000) if runner.quick else (10000, 8000)
    n = rounds or (2 if runner.quick else 5)
    script = SOURCE_DIR / "bench" / "np_shared_compare.sh"
    rc, out = runner.run(["bash", script, runner.bench_dir.parent, n, rows, cols], "np_shared",
                         120 if runner.quick else 600)
    if rc != 0:
        raise Failed(f"bench/np_shared_compare.sh exited with status {rc} "
                     "(see logs/np_shared.log)")
    runs = dict(re.findall(r"^\s+(shmpool|Python)\b.*?\(runs: ([\d. ]+)\)", out, re.M))
    if set(runs) != {"shmpool", "Python"}:
        raise Failed("cannot read what bench/np_shared_compare.sh printed "
                     "(see logs/np_shared.log)")
    section = (f"np_shared {rows:,} x {cols:,} float64, end to end (process start to exit), "
               "against the same pipeline in Python")

    def figure(name, key):
        values = sorted(float(v) for v in runs[key].split())
        return {"section": section, "name": name, "value": statistics.median(values),
                "unit": "s", "min": values[0], "max": values[-1], "baseline_name": None,
                "baseline_value": None, "ratio": None, "higher_is_better": False,
                "rounds": values, "target": None, "target_met": None}

    py = figure("Python: multiprocessing.Array + numpy + Pool(4), numpy.unique", "Python")
    shm = figure("shmpool: demos/np_shared", "shmpool")
    shm.update(baseline_name=py["name"], baseline_value=py["value"],
               ratio=py["value"] / shm["value"] if shm["value"] else None)
    if not runner.quick:
        shm.update(target=">= 10x", target_met=shm["ratio"] is not None and shm["ratio"] >= 10)
    return {"benchmark": "np_shared", "config": {"rows": rows, "cols": cols, "rounds": n},
            "figures": [py, shm], "output": out}


# --- dispatch: Google Benchmark (shmpool) and multiprocessing.Pool (Python), alternating ------

PY_SECTION = "dispatch of empty tasks, 2 workers, against multiprocessing.Pool(2).map"
LAT_SECTION = "round trip of one call, 4 workers, against multiprocessing.Pool(4).apply"


def python_dispatch(seconds, apply_calls):
    """Runs in a fresh /usr/bin/python3 (report.py --python-dispatch): Pool(2).map of a no-op at
    each chunk size (None: Python's default, len / (4 * processes)), then Pool(4).apply round
    trips. Prints one line of JSON."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")

    def map_rate(pool, chunksize):
        c = chunksize or 1
        n = max(2 * c, min(2000 * c, 200_000))
        while True:
            start = time.perf_counter()
            pool.map(_noop, range(n), chunksize=chunksize)
            elapsed = time.perf_counter() - start
            if elapsed >= seconds * 0.5:
                return n / elapsed, n
            n = int(n * min(20.0, seconds / max(elapsed, 1e-6)))

    rates, sizes = {}, {}
    with ctx.Pool(2) as pool:
        pool.map(_noop, range(1000), chunksize=1)  # the workers are up
        for c in CHUNKS:
            rate, n = map_rate(pool, c or None)
            rates[chunk_label(c)] = rate
            sizes[chunk_label(c)] = n
    with ctx.Pool(4) as pool:
        for _ in range(100):
            pool.apply(_noop)
        times = []
        for _ in range(apply_calls):
            start = time.perf_counter_ns()
            pool.apply(_noop)
            times.append(time.perf_counter_ns() - start)
    print(json.dumps({"map_rate": rates, "map_n": sizes,
                      "apply_mean_us": statistics.fmean(times) / 1000.0,
                      "apply_median_us": statistics.median(times) / 1000.0,
                      "apply_calls": apply_calls, "python": sys.version.split()[0]}))


def _noop(_=None):
    return None


def bench_dispatch(runner, rounds):
    exe = runner.binary("dispatch_gbench")
    if exe is None:
        raise NotRun(f"bench/dispatch_gbench not built (no {runner.bench_dir / 'dispatch_gbench'}"
                     "; it needs Google Benchmark, libbenchmark-dev)")
    n = rounds or (2 if runner.quick else 5)
    min_time = "0.05" if runner.quick else "0.5"
    py_seconds = "0.1" if runner.quick else "1.0"
    apply_calls = "300" if runner.quick else "2000"
    gbench_runs, python_runs = [], []
    for r in range(n):
        def shmpool_side():
            out = runner.work / f"dispatch_gbench_{r}.json"
            rc, _ = runner.run([exe, "--benchmark_min_time=" + min_time,
                                "--benchmark_out=" + str(out), "--benchmark_out_format=json"],
                               "dispatch_gbench", 120 if runner.quick else 600)
            if rc != 0:
                raise Failed(f"bench/dispatch_gbench exited with status {rc} "
                             "(see logs/dispatch_gbench.log)")
            gbench_runs.append(json.loads(out.read_text()))

        def python_side():
            rc, out = runner.run([PYTHON, REPORT_SCRIPT, "--python-dispatch",
                                  "--seconds", py_seconds, "--apply-calls", apply_calls],
                                 "dispatch_python", 120 if runner.quick else 600)
            if rc != 0:
                raise Failed(f"the Python dispatch baseline exited with status {rc} "
                             "(see logs/dispatch_python.log)")
            python_runs.append(json.loads(out.strip().splitlines()[-1]))

        for side in (shmpool_side, python_side) if r % 2 == 0 else (python_side, shmpool_side):
            side()

    def gbench_values(run_name, key):
        values = []
        for run in gbench_runs:
            for b in run["benchmarks"]:
                if b.get("run_type", "iteration") == "iteration" and \
                        b["name"].split("/real_time")[0] == run_name:
                    values.append(b[key])
        return values

    figures = []
    for c in CHUNKS:
        label = chunk_label(c)
        py = figure(PY_SECTION, f"Python Pool(2).map, chunksize {label}"
                    + (" (its default, len/8)" if c == 0 else ""), "Mtasks/s",
                    [p["map_rate"][label] / 1e6 for p in python_runs],
                    chunk=label, side="python")
        sp = figure(PY_SECTION, f"shmpool for_each, chunk {label}", "Mtasks/s",
                    [v / 1e6 for v in gbench_values(f"dispatch/chunk:{label}",
                                                    "items_per_second")],
                    baseline=py, chunk=label, side="shmpool")
        figures += [py, sp]
    # Google Benchmark reports the mean time per call: the Python side is taken the same way.
    py_apply = figure(LAT_SECTION, "Python Pool(4).apply, mean per call", "us",
                      [p["apply_mean_us"] for p in python_runs], higher_is_better=False)
    unit_scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}
    trips = []
    for run in gbench_runs:
        for b in run["benchmarks"]:
            if b["name"].startswith("round_trip/workers:4") and \
                    b.get("run_type", "iteration") == "iteration":
                trips.append(b["real_time"] * unit_scale[b["time_unit"]])
    sp_trip = figure(LAT_SECTION, "shmpool for_each(0, 4), mean per call", "us", trips,
                     higher_is_better=False, baseline=py_apply)
    figures += [py_apply, sp_trip]
    context = gbench_runs[0].get("context", {}) if gbench_runs else {}
    return {"benchmark": "dispatch", "config": {
                "rounds": n, "benchmark_min_time": float(min_time),
                "python_seconds_per_map": float(py_seconds), "python_apply_calls":
                int(apply_calls), "python": python_runs[0].get("python") if python_runs else None,
                "google_benchmark_context": context},
            "figures": figures, "gbench_runs": gbench_runs, "python_runs": python_runs}


# -------------------------------------------------------------------------------------------
# Charts (matplotlib, Agg)
