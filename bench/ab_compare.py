#!/usr/bin/env python3
"""Compares two builds of one Google Benchmark program, A (before) and B (after), in one run.

The two binaries run alternately, round after round (A, B, A, B...), so that both see the same
machine; the table gives each benchmark's median real time over the rounds and the ratio B/A
(< 1: B is faster). Use it to check a change against the figures it must not cost, e.g.:

    git worktree add /tmp/before HEAD~1
    cmake -S /tmp/before -B /tmp/before/build -DCMAKE_BUILD_TYPE=Release && \\
        cmake --build /tmp/before/build --target bench_dispatch_gbench
    bench/ab_compare.py /tmp/before/build/bench/dispatch_gbench \\
        build/release/bench/dispatch_gbench --rounds 7

Extra arguments after `--` go to both programs (e.g. `-- --benchmark_filter=chunk`).
"""
import argparse
import json
import statistics
import subprocess
import sys


def run_once(exe, extra, min_time):
    out = subprocess.run([exe, "--benchmark_format=json", f"--benchmark_min_time={min_time}"] + extra,
                         capture_output=True, text=True, check=True).stdout
    return {b["name"]: b["real_time"] for b in json.loads(out)["benchmarks"]}, \
        {b["name"]: b.get("time_unit", "ns") for b in json.loads(out)["benchmarks"]}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("before", help="program A (the baseline)")
    p.add_argument("after", help="program B (the change)")
    p.add_argument("--rounds", type=int, default=7, help="rounds of A then B (default 7)")
    p.add_argument("--min-time", type=float, default=0.3, help="--benchmark_min_time per run")
    p.add_argument("extra", nargs="*", help="arguments for both programs (after --)")
    a = p.parse_args()
    times = {a.before: {}, a.after: {}}
    units = {}
    for r in range(a.rounds):
        for exe in (a.before, a.after):
            figures, u = run_once(exe, a.extra, a.min_time)
            units.update(u)
            for name, t in figures.items():
                times[exe].setdefault(name, []).append(t)
        print(f"round {r + 1}/{a.rounds} done", file=sys.stderr)
    print(f"| benchmark | A median | B median | B/A |")
    print(f"|---|---:|---:|---:|")
    for name, ta in times[a.before].items():
        tb = times[a.after].get(name)
        if not tb:
            continue
        ma, mb = statistics.median(ta), statistics.median(tb)
        unit = units.get(name, "")
        print(f"| {name} | {ma:.2f} {unit} | {mb:.2f} {unit} | {mb / ma:.2f} |")


if __name__ == "__main__":
    main()
