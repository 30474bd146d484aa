#!/usr/bin/python3
"""The benchmark report: runs every benchmark in bench/, each against its baseline, and writes a
Markdown page with a table per benchmark, the raw results as JSON, and PNG charts.

    /usr/bin/python3 bench/report.py [--quick] [--out DIR] [--build-dir DIR] [--rounds N]
    /usr/bin/python3 bench/report.py --check DIR

Default: builds nothing (build first: cmake --preset release && cmake --build --preset release),
reads the programs from build/release/bench/ and writes docs/bench/ (the folder the README's
charts come from; the README's machine line is updated with it):

    report.md            the page: machine, date, a table per benchmark, the charts
    results.json         every figure (median, min, max, each round) and the raw program output
    fill_vs_workers.png  fill speed against the number of workers (bench/fill_sweep)
    dispatch_vs_chunk.png  dispatch rate against chunk size, shmpool and multiprocessing.Pool
                         (bench/dispatch_gbench, a Google Benchmark program, and Python here)
    lock_throughput.png  lock+unlock pairs per second, each lock and its Python equivalent
                         (bench/locks)
    logs/                what each program printed

Baselines run in the same invocation as the shmpool figures they are compared with, interleaved
round by round (each program does so; the dispatch rounds alternate the Google Benchmark program
and the Python side here). Full mode takes the median of 5 rounds (--rounds); --quick runs
fewer, shorter rounds (under 2 minutes) and is what ctest's smoke test runs. The report is
checked at the end (--check does only that): report.md, results.json and every chart must be
there and non-empty; a benchmark whose program is not built is reported as "not run" instead of
its chart. No timing is asserted.

Ratios read "times better than the baseline": value / baseline for rates, baseline / value for
times, so > 1 always means shmpool is ahead.
"""

import argparse
import datetime
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
import tempfile
import time
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_OUT = SOURCE_DIR / "docs" / "bench"
DEFAULT_BUILD = SOURCE_DIR / "build" / "release"
PYTHON = sys.executable  # the python3 running this script (it has numpy and matplotlib)
README = SOURCE_DIR / "README.md"
README_BEGIN = "<!-- bench-machine:begin -->"
README_END = "<!-- bench-machine:end -->"

# The charts, and the benchmark each one comes from.
CHARTS = {
    "fill_vs_workers.png": "fill_sweep",
    "dispatch_vs_chunk.png": "dispatch",
    "lock_throughput.png": "locks",
}
# The dispatch sweep: chunk sizes (0 = automatic: the pool's choice; Python's default chunksize).
CHUNKS = [1, 10, 100, 1000, 10000, 0]


def chunk_label(c):
    return "auto" if c == 0 else str(c)


# -------------------------------------------------------------------------------------------
# Statistics and formatting

def summarize(values):
    v = sorted(x for x in values if x is not None and not math.isnan(x))
    if not v:
        return None, None, None
    return statistics.median(v), v[0], v[-1]


def figure(section, name, unit, values, higher_is_better=True, baseline=None, **extra):
    """A figure in the schema of the C++ programs' --json (value = median over the rounds)."""
    med, lo, hi = summarize(values)
    f = {"section": section, "name": name, "value": med, "unit": unit, "min": lo, "max": hi,
         "baseline_name": None, "baseline_value": None, "ratio": None,
         "higher_is_better": higher_is_better, "rounds": list(values)}
    if baseline is not None:
        f["baseline_name"] = baseline["name"]
        f["baseline_value"] = baseline["value"]
        if med and baseline["value"]:
            f["ratio"] = med / baseline["value"] if higher_is_better else baseline["value"] / med
    f.update(extra)
    return f


def num(x):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    a = abs(x)
    if a >= 1e5:
        return f"{x:,.0f}"
    if a >= 100:
        return f"{x:,.1f}"
    if a >= 1:
        return f"{x:.2f}"
    if a == 0:
        return "0"
    return f"{x:.3g}"


def ratio_text(r):
    if r is None or (isinstance(r, float) and math.isnan(r)):
        return ""
    return f"{r:,.0f}x" if r >= 100 else f"{r:.2f}x"


def md_escape(text):
    return str(text).replace("|", "\\|")


# -------------------------------------------------------------------------------------------
# The machine

def read(path):
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def machine_info(build_dir):
    cpuinfo = read("/proc/cpuinfo")
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    mem = re.search(r"^MemTotal:\s*(\d+) kB", read("/proc/meminfo"), re.M)
    distro = re.search(r'^PRETTY_NAME="?([^"\n]+)"?', read("/etc/os-release"), re.M)
    cache = read(Path(build_dir) / "CMakeCache.txt")
    build_type = re.search(r"^CMAKE_BUILD_TYPE:\w+=(.*)$", cache, re.M)
    compiler = re.search(r"^CMAKE_CXX_COMPILER:\w+=(.*)$", cache, re.M)
    compiler_version = ""
    if compiler:
        try:
            compiler_version = subprocess.run([compiler.group(1), "--version"],
                                              capture_output=True, text=True,
                                              timeout=10).stdout.splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            compiler_version = compiler.group(1)
    commit = ""
    try:
        commit = subprocess.run(["git", "-C", str(SOURCE_DIR), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(SOURCE_DIR), "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        if commit and dirty:
            commit += " (with uncommitted changes)"
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        python_version = subprocess.run([PYTHON, "-c", "import sys; print(sys.version.split()[0])"],
                                        capture_output=True, text=True,
                                        timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        python_version = ""
    info = {
        "cpu": model.group(1).strip() if model else platform.processor() or "unknown CPU",
        "cpus_online": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "memory_gib": round(int(mem.group(1)) / 2**20, 1) if mem else None,
        "kernel": platform.release(),
        "distro": distro.group(1) if distro else platform.platform(),
        "compiler": compiler_version,
        "build_type": build_type.group(1) if build_type else "",
        "python": python_version,
        "commit": commit,
    }
    info["summary"] = (f"{info['cpu']}, {info['cpus_usable']} vCPUs, "
                       f"{info['memory_gib']:g} GiB, {info['distro']}, Linux {info['kernel']}")
    return info


# -------------------------------------------------------------------------------------------
# Running the programs

class Runner:
    def __init__(self, build_dir, work, logs, quick):
        self.bench_dir = Path(build_dir) / "bench"
        self.work = Path(work)
        self.logs = Path(logs)
        self.quick = quick
        self.pids = []  # every process started: their /dev/shm names carry their PID

    def binary(self, name):
        path = self.bench_dir / name
        return path if path.is_file() and os.access(path, os.X_OK) else None

    def run(self, args, log_name, timeout):
        """Runs args, appends its output to logs/<log_name>.log; returns (exit code, stdout)."""
        started = time.monotonic()
        proc = subprocess.Popen([str(a) for a in args], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        self.pids.append(proc.pid)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            # SIGTERM first: the programs remove their shared memory on it.
            proc.send_signal(signal.SIGTERM)
            try:
                out, _ = proc.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
            out += f"\n[report.py: stopped after {timeout} s]\n"
            proc.returncode = proc.returncode if proc.returncode else -signal.SIGTERM
        took = time.monotonic() - started
        with open(self.logs / f"{log_name}.log", "a") as log:
            log.write(f"$ {' '.join(str(a) for a in args)}\n{out}\n"
                      f"[exit {proc.returncode}, {took:.1f} s]\n\n")
        return proc.returncode, out


class NotRun(Exception):
    """A benchmark that could not run: its program is not built (the report says so)."""


class Failed(Exception):
    """A benchmark whose program failed."""


def run_program_json(runner, name, args, timeout):
    exe = runner.binary(name)
    if exe is None:
        raise NotRun(f"bench/{name} not built (no {runner.bench_dir / name})")
    out_json = runner.work / f"{name}.json"
    rc, _ = runner.run([exe, *args, "--json", out_json], name, timeout)
    if rc != 0:
        raise Failed(f"bench/{name} exited with status {rc} (see logs/{name}.log)")
    try:
        return json.loads(out_json.read_text())
    except (OSError, ValueError) as e:
        raise Failed(f"bench/{name} wrote no readable JSON: {e}")


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
            rc, out = runner.run([PYTHON, Path(__file__).resolve(), "--python-dispatch",
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

def pyplot():
    try:
        import matplotlib
    except ImportError:
        sys.exit("report.py: matplotlib is missing: apt-get install python3-matplotlib "
                 "(scripts/install-deps.sh installs it)")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({"figure.dpi": 110, "font.size": 9, "axes.grid": True,
                         "grid.alpha": 0.3, "savefig.bbox": "tight"})
    return plt


def err(f):
    """Error bar half-lengths (median - min, max - median) of a figure."""
    if f["value"] is None:
        return [[0], [0]]
    return [[f["value"] - f["min"]], [f["max"] - f["value"]]]


def subtitle(results):
    m = results["machine"]
    rounds = "quick run" if results["quick"] else "median of the rounds"
    return (f"{m['summary']}\n{results['date'][:10]}; {rounds}, bars from min to max; "
            "ratios: times better than the baseline")


def chart_fill(results, path):
    plt = pyplot()
    figs = results["benchmarks"]["fill_sweep"]["figures"]
    styles = [  # series, label, colour, line style, marker
        ("shmpool warm", "shmpool for_each, warm, static_", "tab:blue", "-", "o"),
        ("shmpool warm, dynamic", "shmpool for_each, warm, dynamic (default)", "tab:blue",
         ":", "s"),
        ("OpenMP", "OpenMP parallel for, warm (threads)", "tab:orange", "-", "D"),
        ("shmpool first touch", "shmpool first call + touch_rows (fresh array)", "tab:green",
         "-", "^"),
        ("fork and write", "fork N children, write, _exit (fresh array)", "tab:red", "-", "v"),
    ]
    fig, ax = plt.subplots(figsize=(8, 5.5), layout="constrained")
    workers = sorted({f["workers"] for f in figs if f.get("workers")})
    for k, (series, label, colour, ls, marker) in enumerate(styles):
        pts = sorted((f for f in figs if f.get("series") == series and f["value"] is not None),
                     key=lambda f: f["workers"])
        if not pts:
            continue
        shift = 1 + 0.025 * (k - len(styles) / 2)  # keeps the error bars apart
        xs = [f["workers"] * shift for f in pts]
        ax.errorbar(xs, [f["value"] for f in pts],
                    yerr=[[f["value"] - f["min"] for f in pts],
                          [f["max"] - f["value"] for f in pts]],
                    label=label, color=colour, linestyle=ls, marker=marker, capsize=3)
    ceiling = [f for f in figs if f.get("series") == "memset, 1 thread" and f["value"]]
    if ceiling:
        c = ceiling[0]
        ax.axhline(c["value"], color="gray", linestyle="--",
                   label="memset, 1 thread, warm (the ceiling)")
        ax.axhspan(c["min"], c["max"], color="gray", alpha=0.12)
    ax.set_xscale("log", base=2)
    ax.set_xticks(workers)
    ax.set_xticklabels([str(w) for w in workers])
    ax.set_ylim(bottom=0)
    ax.set_xlabel("workers (processes for shmpool and fork, threads for OpenMP)")
    ax.set_ylabel("fill speed, GB/s (higher is better)")
    cfg = results["benchmarks"]["fill_sweep"].get("config", {})
    ax.set_title(f"Filling a {cfg.get('gib', 0):.3g} GiB shared array, float64\n"
                 + subtitle(results), fontsize=8)
    ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    fig.savefig(path)
    plt.close(fig)


def chart_dispatch(results, path):
    plt = pyplot()
    figs = [f for f in results["benchmarks"]["dispatch"]["figures"] if f.get("chunk")]
    labels = [chunk_label(c) for c in CHUNKS]
    fig, ax = plt.subplots(figsize=(8, 5), layout="constrained")
    for side, label, colour, marker in (
            ("shmpool", "shmpool process_pool(2).for_each (Google Benchmark)", "tab:blue", "o"),
            ("python", "Python multiprocessing.Pool(2).map", "tab:orange", "s")):
        pts = {f["chunk"]: f for f in figs if f.get("side") == side}
        xs = [i for i, c in enumerate(labels) if c in pts and pts[c]["value"] is not None]
        ys = [pts[labels[i]]["value"] for i in xs]
        ax.errorbar(xs, ys, yerr=[[pts[labels[i]]["value"] - pts[labels[i]]["min"] for i in xs],
                                  [pts[labels[i]]["max"] - pts[labels[i]]["value"] for i in xs]],
                    label=label, color=colour, marker=marker, capsize=3)
        if side == "shmpool":
            for i in xs:
                r = pts[labels[i]]["ratio"]
                if r:
                    ax.annotate(ratio_text(r), (i, pts[labels[i]]["max"]),
                                textcoords="offset points", xytext=(0, 6), ha="center",
                                fontsize=7.5, color="tab:blue")
    ax.set_yscale("log")
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels)
    ax.set_xlabel("chunk size (tasks handed to a worker at once; auto: each library's default)")
    ax.set_ylabel("empty tasks per second, millions (log scale, higher is better)")
    ax.set_title("Dispatch rate against chunk size, 2 workers\n" + subtitle(results),
                 fontsize=8)
    ax.legend(fontsize=8, loc="lower right")
    fig.savefig(path)
    plt.close(fig)


def lock_pairs(results):
    """[(condition, [(lock, shmpool figure, baseline figure or None)])] from bench/locks."""
    figs = results["benchmarks"]["locks"]["figures"]
    by_name = {f["name"]: f for f in figs}
    rates = [f for f in figs if f.get("unit") == "pairs/s"
             and not f["name"].startswith("Python")]
    conditions = []
    for f in rates:
        lock, _, cond = f["name"].rpartition(", ")
        if not lock:
            lock, cond = f["name"], ""
        base = by_name.get(f["baseline_name"]) if f.get("baseline_name") else None
        for c, rows in conditions:
            if c == cond:
                rows.append((lock, f, base))
                break
        else:
            conditions.append((cond, [(lock, f, base)]))
    return conditions


def chart_locks(results, path):
    plt = pyplot()
    conditions = lock_pairs(results)
    if not conditions:
        raise Failed("bench/locks reported no lock rates (no figure in pairs/s)")
    locks = []
    for _, rows in conditions:
        for lock, _, base in rows:
            py = ""
            if base:
                py = (base["name"].rpartition(", ")[0] or base["name"]).replace("Python ", "")
            label = lock.replace(" acquire/release", "") + (f"\nvs {py}" if py else "")
            if label not in locks:
                locks.append(label)
    fig, axes = plt.subplots(1, len(conditions), figsize=(5 * len(conditions), 1.2 + 0.75 *
                             len(locks)), sharex=True, sharey=True, squeeze=False,
                             layout="constrained")
    height = 0.38
    top = max(max(f["max"] or 0, (b or {}).get("max") or 0)
              for _, rows in conditions for _, f, b in rows)
    for ax, (cond, rows) in zip(axes[0], conditions):
        for lock, f, base in rows:
            py = ""
            if base:
                py = (base["name"].rpartition(", ")[0] or base["name"]).replace("Python ", "")
            y = locks.index(lock.replace(" acquire/release", "") + (f"\nvs {py}" if py else ""))
            ax.barh(y - height / 2, f["value"], height, xerr=err(f), capsize=3,
                    color="tab:blue", label="shmpool" if y == 0 else None)
            if base and base["value"]:
                ax.barh(y + height / 2, base["value"], height, xerr=err(base), capsize=3,
                        color="tab:orange", label="Python equivalent" if y == 0 else None)
                ax.annotate(ratio_text(f["ratio"]), (max(f["max"], base["max"]), y),
                            textcoords="offset points", xytext=(6, 0), va="center",
                            fontsize=8)
        ax.set_xscale("log")
        ax.set_xlim(right=top * 8)
        ax.set_title(cond or "lock+unlock", fontsize=9)
        ax.set_xlabel("lock+unlock pairs per second (log scale, higher is better)")
    axes[0][0].set_yticks(range(len(locks)))
    axes[0][0].set_yticklabels(locks, fontsize=8)
    axes[0][0].invert_yaxis()
    axes[0][-1].legend(*axes[0][0].get_legend_handles_labels(), loc="lower right", fontsize=8)
    fig.suptitle("Lock throughput: shmpool's locks against Python's\n" + subtitle(results),
                 fontsize=8)
    fig.savefig(path)
    plt.close(fig)


CHART_MAKERS = {
    "fill_vs_workers.png": chart_fill,
    "dispatch_vs_chunk.png": chart_dispatch,
    "lock_throughput.png": chart_locks,
}


# -------------------------------------------------------------------------------------------
# The page

TITLES = {
    "fill_sweep": ("Fill speed against the number of workers", "bench/fill_sweep/",
                   "fill_vs_workers.png"),
    "dispatch": ("Dispatch rate against chunk size, and a call's round trip",
                 "bench/dispatch_gbench.cpp (Google Benchmark) and multiprocessing.Pool, "
                 "run from bench/report.py", "dispatch_vs_chunk.png"),
    "locks": ("Locks and counters against Python's", "bench/locks/, "
              "bench/python_counters.py", "lock_throughput.png"),
    "pool": ("The process pool against OpenMP, fork and multiprocessing.Pool",
             "bench/pool/, bench/python_pool.py", None),
    "first_day": ("First pass of for_each_row, a mutex opened by name, opening a named mutex",
                  "bench/first_day/ (Boost.Interprocess's named_mutex the baseline of "
                  "opening)", None),
    "stream": ("Streams: an imap pipeline, zero-copy blocks, empty tasks, early stop",
               "bench/stream/, bench/stream/python_stream.py (multiprocessing.Pool(2).imap)",
               None),
    "create_fill": ("Creating and filling an array against a private memset",
                    "bench/create_fill.cpp", None),
    "np_shared": ("The np_shared demo against the same pipeline in Python",
                  "bench/np_shared_compare.sh (demos/np_shared.cpp, bench/np_shared.py)", None),
}
ORDER = ["fill_sweep", "dispatch", "locks", "pool", "first_day", "stream", "create_fill",
         "np_shared"]


def table(bench, results):
    figs = bench["figures"]
    with_target = any(f.get("target") for f in figs)
    lines = []
    sections = []
    for f in figs:
        if f["section"] not in sections:
            sections.append(f["section"])

    def numbered(section):  # "3. dispatch ..." sections in their numbers' order
        m = re.match(r"(\d+)\.", section)
        return int(m.group(1)) if m else math.inf

    sections.sort(key=numbered)
    for section in sections:
        lines.append(f"**{md_escape(section)}**\n")
        head = ["figure", "median", "min", "max", "unit", "baseline", "baseline median", "ratio"]
        if with_target:
            head.append("target")
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "|".join(["---"] + ["---:"] * 3 + ["---", "---", "---:", "---:"]
                                    + (["---"] if with_target else [])) + "|")
        for f in figs:
            if f["section"] != section:
                continue
            row = [md_escape(f["name"].strip()), num(f["value"]), num(f["min"]), num(f["max"]),
                   md_escape(f["unit"]), md_escape((f["baseline_name"] or "").strip()),
                   num(f["baseline_value"]) if f["baseline_name"] else "",
                   ratio_text(f["ratio"])]
            if with_target:
                t = f.get("target") or ""
                if t:
                    met = f.get("target_met")
                    t += ": " + ("met" if met else "n/a" if met is None else "**missed**")
                row.append(md_escape(t))
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    return "\n".join(lines)


def write_page(results, out):
    m = results["machine"]
    mode = ("quick: short rounds, a smoke test, not figures to quote" if results["quick"]
            else "full run")
    p = [
        "# shmpool benchmark report",
        "",
        f"- **Machine:** {m['summary']}",
        f"- **Date:** {results['date']} (the whole report took {results['seconds']:.0f} s)",
        f"- **Build:** {m['build_type'] or 'unknown'}, {m['compiler']}; commit {m['commit']}; "
        f"baselines with Python {m['python']}",
        f"- **Command:** `{results['command']}` ({mode})",
        "",
        "Each figure is the median over the rounds, with the min and max; every baseline ran in "
        "the same invocation, interleaved round by round with the shmpool figure it is compared "
        "with. **Ratio** = times better than the baseline (value / baseline for rates, "
        "baseline / value for times): > 1 means shmpool is ahead. The machine is shared and "
        "noisy: compare ratios, not absolute figures across reports. Raw results: "
        "[results.json](results.json); what each program printed: [logs/](logs/).",
        "",
    ]
    for name in ORDER:
        title, source, chart = TITLES[name]
        status = results["status"].get(name, "not run")
        p.append(f"## {title}")
        p.append("")
        p.append(f"Source: {source}.")
        p.append("")
        bench = results["benchmarks"].get(name)
        if status != "ok":
            p.append(f"**{status}**")
            p.append("")
        if chart and (Path(out) / chart).is_file():
            p.append(f"![{title}]({chart})")
            p.append("")
        if bench and bench.get("figures"):
            p.append(table(bench, results))
            rounds = bench.get("config", {}).get("rounds")
            p.append(f"*{name}: {rounds} rounds; {m['summary']}; {results['date'][:10]}.*")
            p.append("")
    if results.get("shm_left"):
        p.append("**Left in /dev/shm by the benchmarks:** " + ", ".join(results["shm_left"]))
        p.append("")
    (Path(out) / "report.md").write_text("\n".join(p) + "\n")


def update_readme(results):
    """Rewrites the README's machine line (between its markers), if the README has them."""
    try:
        text = README.read_text()
    except OSError:
        return
    begin, end = text.find(README_BEGIN), text.find(README_END)
    if begin < 0 or end < begin:
        return
    m = results["machine"]
    line = (f"Made on {results['date'][:10]} with `{results['command']}` on {m['summary']} "
            f"({m['build_type'] or 'unknown'} build, {m['compiler']}, Python {m['python']}); "
            f"the whole run took {results['seconds'] / 60:.1f} minutes.")
    new = text[:begin + len(README_BEGIN)] + "\n" + line + "\n" + text[end:]
    if new != text:
        README.write_text(new)


# -------------------------------------------------------------------------------------------
# The check

def check(out):
    """The report folder is complete: report.md, results.json, every chart (or the reason it
    was not made). Returns the list of problems."""
    out = Path(out)
    problems = []
    for name in ("report.md", "results.json"):
        p = out / name
        if not p.is_file() or p.stat().st_size == 0:
            problems.append(f"{p} is missing or empty")
    if problems:
        return problems
    try:
        results = json.loads((out / "results.json").read_text())
    except ValueError as e:
        return [f"{out / 'results.json'} is not JSON: {e}"]
    page = (out / "report.md").read_text()
    for name in ORDER:
        status = results.get("status", {}).get(name)
        if status is None:
            problems.append(f"results.json: no status for {name}")
        elif status.startswith("not run:"):
            if status not in page:
                problems.append(f"report.md does not say '{status}'")
        elif status != "ok":
            problems.append(f"{name}: {status}")
        elif not results.get("benchmarks", {}).get(name, {}).get("figures"):
            problems.append(f"results.json: no figures for {name}")
        elif f"## {TITLES[name][0]}" not in page:
            problems.append(f"report.md has no section for {name}")
    for chart, name in CHARTS.items():
        p = out / chart
        if str(results.get("status", {}).get(name, "")).startswith("not run:"):
            continue
        if not p.is_file() or p.stat().st_size == 0:
            problems.append(f"{p} is missing or empty")
        elif p.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
            problems.append(f"{p} is not a PNG")
        elif f"]({chart})" not in page:
            problems.append(f"report.md does not show {chart}")
    return problems


# -------------------------------------------------------------------------------------------

def shm_names():
    try:
        return set(os.listdir("/dev/shm"))
    except OSError:
        return set()


def main():
    parser = argparse.ArgumentParser(
        description="Runs every benchmark in bench/ against its baseline and writes a report "
                    "(report.md, results.json, PNG charts).")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"the report folder (default: {DEFAULT_OUT.relative_to(SOURCE_DIR)}"
                             ", which the README shows)")
    parser.add_argument("--build-dir", type=Path, default=DEFAULT_BUILD,
                        help="the build folder whose bench/ holds the programs (default: "
                             f"{DEFAULT_BUILD.relative_to(SOURCE_DIR)})")
    parser.add_argument("--quick", action="store_true",
                        help="fewer, shorter rounds (under 2 minutes): a smoke test")
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds per benchmark (default: 5; fewer with --quick)")
    parser.add_argument("--only", default=None,
                        help="comma-separated benchmarks to run (" + ",".join(ORDER) + ")")
    parser.add_argument("--redraw", action="store_true",
                        help="only redraw the charts and report.md from --out's results.json")
    parser.add_argument("--check", type=Path, metavar="DIR",
                        help="only check that the report in DIR is complete")
    parser.add_argument("--python-dispatch", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=1.0, help=argparse.SUPPRESS)
    parser.add_argument("--apply-calls", type=int, default=2000, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.python_dispatch:
        python_dispatch(args.seconds, args.apply_calls)
        return 0
    if args.check:
        problems = check(args.check)
        for p in problems:
            print(f"report.py --check: {p}", file=sys.stderr)
        print(f"report.py --check: {args.check}: " + ("incomplete" if problems else "complete"))
        return 1 if problems else 0
    if args.redraw:
        out = args.out.resolve()
        results = json.loads((out / "results.json").read_text())
        for name, status in results["status"].items():
            if status.startswith("failed: drawing "):
                results["status"][name] = "ok"  # drawn again now
        draw_and_write(results, out)
        return report_problems(out, results)
    if args.rounds is not None and args.rounds < 1:
        parser.error("--rounds must be at least 1")
    only = ORDER if not args.only else args.only.split(",")
    for name in only:
        if name not in ORDER:
            parser.error(f"--only: unknown benchmark {name} (known: {', '.join(ORDER)})")
    pyplot()  # fail now, not after the benchmarks, when matplotlib is missing

    started = time.monotonic()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    logs = out / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir()
    for chart in CHARTS:
        (out / chart).unlink(missing_ok=True)  # a stale chart must not pass the check
    for stale in ("report.md", "results.json"):
        (out / stale).unlink(missing_ok=True)

    command = "/usr/bin/python3 bench/report.py" + (" --quick" if args.quick else "")
    if args.rounds:
        command += f" --rounds {args.rounds}"
    if args.out.resolve() != DEFAULT_OUT:
        command += " --out " + str(args.out)
    results = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(args.build_dir),
        "quick": args.quick,
        "command": command,
        "ratio_meaning": "times better than the baseline (value/baseline for rates, "
                         "baseline/value for times)",
        "status": {},
        "seconds_per_benchmark": {},
        "benchmarks": {},
    }
    print(f"report.py: {results['machine']['summary']}; writing {out}", flush=True)

    shm_before = shm_names()
    runners = {"fill_sweep": bench_fill_sweep, "dispatch": bench_dispatch, "pool": bench_pool,
               "locks": bench_locks, "first_day": bench_first_day, "stream": bench_stream,
               "create_fill": bench_create_fill, "np_shared": bench_np_shared}
    with tempfile.TemporaryDirectory(prefix="shmpool-report-") as work:
        runner = Runner(args.build_dir, work, logs, args.quick)
        for name in ORDER:
            if name not in only:
                results["status"][name] = "not run: left out with --only"
                continue
            t = time.monotonic()
            print(f"report.py: {name} ...", end=" ", flush=True)
            try:
                results["benchmarks"][name] = runners[name](runner, args.rounds)
                results["status"][name] = "ok"
            except NotRun as e:
                results["status"][name] = f"not run: {e}"
            except Failed as e:
                results["status"][name] = f"failed: {e}"
            except (OSError, ValueError, KeyError, IndexError) as e:
                results["status"][name] = f"failed: {type(e).__name__}: {e}"
            took = time.monotonic() - t
            results["seconds_per_benchmark"][name] = round(took, 1)
            print(f"{results['status'][name]} ({took:.0f} s)", flush=True)
        pids = runner.pids

    left = sorted(n for n in shm_names() - shm_before
                  if any(f"_{pid}_" in n or n.endswith(f"_{pid}") for pid in pids))
    results["shm_left"] = left
    if left:
        print(f"report.py: warning: left in /dev/shm: {', '.join(left)}", file=sys.stderr)

    results["seconds"] = round(time.monotonic() - started, 1)
    draw_and_write(results, out)
    if out == DEFAULT_OUT:
        update_readme(results)
    return report_problems(out, results)


def draw_and_write(results, out):
    """The charts, results.json and report.md, from the results."""
    for chart, name in CHARTS.items():
        (out / chart).unlink(missing_ok=True)
        if results["status"].get(name) != "ok":
            continue
        try:
            CHART_MAKERS[chart](results, out / chart)
        except Exception as e:  # a chart that cannot be drawn fails the report, not the run
            results["status"][name] = f"failed: drawing {chart}: {type(e).__name__}: {e}"
            print(f"report.py: {results['status'][name]}", file=sys.stderr)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    write_page(results, out)


def report_problems(out, results):
    problems = check(out)
    for p in problems:
        print(f"report.py: {p}", file=sys.stderr)
    print(f"report.py: {out / 'report.md'} ({results['seconds']:.0f} s)"
          + (f"; INCOMPLETE: {len(problems)} problem(s)" if problems else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
