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

The parts live in bench/reporting/: common.py (paths, figures, the Runner), runners.py (one
function per benchmark), charts.py and pages.py (report.md, the README line, --check); this file
parses the command line and runs them in order.
"""

import argparse
import datetime
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from reporting.common import *  # noqa: F401,F403
from reporting.runners import *  # noqa: F401,F403
from reporting.charts import *  # noqa: F401,F403
from reporting.pages import *  # noqa: F401,F403


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
