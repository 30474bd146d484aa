#!/usr/bin/python3
"""The Python baseline of bench/pool/: what multiprocessing.Pool costs per task.

Measures, with the 'fork' start method:
  * Pool(2).map(noop, range(N), chunksize=c) for c in 1, 100, 10000: tasks per second, with N
    calibrated so that each map takes about a second (a quarter of a second with --quick);
  * Pool(4).apply(noop) round trips: the median over 2000 calls (500 with --quick), after a
    warm-up.

    /usr/bin/python3 bench/python_pool.py [--json] [--quick]

--json prints one line: {"map_rate": {"1": r1, "100": r100, "10000": r10000},
"apply_median_us": x, ...}; otherwise a readable summary.
"""

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import time


def noop(_=None):
    return None


def map_rate(pool, chunksize, seconds):
    """Tasks per second of pool.map(noop, range(n), chunksize), n chosen to last `seconds`."""
    n = max(2 * chunksize, 2000 if chunksize == 1 else 200_000)
    while True:
        start = time.perf_counter()
        pool.map(noop, range(n), chunksize=chunksize)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds * 0.5:
            return n / elapsed, n, elapsed
        # Aim at `seconds` from the rate just seen; at most 20x per step.
        n = int(n * min(20.0, seconds / max(elapsed, 1e-6)))


def apply_round_trips(pool, calls, warmup):
    for _ in range(warmup):
        pool.apply(noop)
    times = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        pool.apply(noop)
        times.append(time.perf_counter_ns() - start)
    times.sort()
    return statistics.median(times) / 1000.0, times[int(len(times) * 0.99)] / 1000.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    args = parser.parse_args()

    ctx = mp.get_context("fork")
    seconds = 0.25 if args.quick else 1.0
    calls = 500 if args.quick else 2000

    rates, sizes = {}, {}
    with ctx.Pool(2) as pool:
        pool.map(noop, range(1000), chunksize=1)  # start the workers
        for chunksize in (1, 100, 10000):
            rate, n, _ = map_rate(pool, chunksize, seconds)
            rates[str(chunksize)] = rate
            sizes[str(chunksize)] = n
    with ctx.Pool(4) as pool:
        median_us, p99_us = apply_round_trips(pool, calls, warmup=100)

    out = {
        "map_rate": rates,
        "apply_median_us": median_us,
        "apply_p99_us": p99_us,
        "map_n": sizes,
        "apply_calls": calls,
        "python": sys.version.split()[0],
    }
    if args.json:
        print(json.dumps(out))
    else:
        for c, r in rates.items():
            print(f"Pool(2).map chunksize {c:>5}: {r:14,.0f} tasks/s (n = {sizes[c]:,})")
        print(f"Pool(4).apply round trip: median {median_us:.1f} us, p99 {p99_us:.1f} us "
              f"({calls} calls)")


if __name__ == "__main__":
    main()
