#!/usr/bin/python3
"""The Python baseline of bench/stream: multiprocessing.Pool(2)'s imap and imap_unordered.

Measures, with the 'fork' start method and one Pool(2) (started and warmed up first):
  * pipeline   a producer and a consumer of equal cost per item: produce(i) runs in the pool,
               consume(x) in this process, each a busy loop (an LCG in pure Python, no numpy)
               calibrated here to about 20 us (--item-us). Times per item of: the consumer
               alone (a loop here), the producer alone (pool.map with its default chunksize),
               and the pipeline `for x in pool.imap(produce, items, chunksize): consume(x)` at
               chunksize 1, 16 and 256. 20,000 items (2,000 with --quick); bench/stream
               compares rates, so fewer items than its own 200,000 are enough;
  * empty      empty tasks through pool.imap_unordered(chunksize=1): 20,000 (5,000 with
               --quick), as tasks per second.

    /usr/bin/python3 bench/stream/python_stream.py [--json] [--quick] [--item-us 20]

--json prints one line of JSON (what bench/stream reads); otherwise a readable summary.
"""

import argparse
import json
import multiprocessing as mp
import sys
import time

ITERS = 1  # the busy loop's length, set by calibrate() before the pool forks its workers


def spin(n, x):
    """n steps of a 31-bit LCG: busy CPU work that nothing can skip."""
    x = (x | 1) & 0x7FFFFFFF
    for _ in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
    return x


def produce(i):
    return spin(ITERS, i)


def noop(_):
    return None


def calibrate(item_us):
    """Sets ITERS so that spin(ITERS, x) takes about item_us; returns (ITERS, measured us)."""
    global ITERS
    n = 20000
    best = min(_time(lambda: spin(n, 7)) for _ in range(5))
    ITERS = max(1, round(n * item_us * 1e-6 / best))
    measured = min(_time(lambda: spin(ITERS, 7)) for _ in range(50)) * 1e6
    return ITERS, measured


def _time(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def consumer_alone(n):
    acc = 0
    start = time.perf_counter()
    for i in range(n):
        acc += spin(ITERS, i)
    return time.perf_counter() - start, acc


def producer_alone(pool, n):
    start = time.perf_counter()
    out = pool.map(produce, range(n))
    took = time.perf_counter() - start
    if len(out) != n:
        raise RuntimeError("producer: missing results")
    return took


def pipeline(pool, n, chunksize):
    acc = 0
    start = time.perf_counter()
    for x in pool.imap(produce, range(n), chunksize=chunksize):
        acc += spin(ITERS, x)
    return time.perf_counter() - start, acc


def empty_unordered(pool, n):
    count = 0
    start = time.perf_counter()
    for _ in pool.imap_unordered(noop, range(n), chunksize=1):
        count += 1
    took = time.perf_counter() - start
    if count != n:
        raise RuntimeError(f"imap_unordered: {count} results, expected {n}")
    return took


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--quick", action="store_true", help="fewer items")
    parser.add_argument("--item-us", type=float, default=20.0,
                        help="the work of each stage per item, in microseconds")
    args = parser.parse_args()

    items = 2000 if args.quick else 20000
    empty_items = 5000 if args.quick else 20000
    iters, item_us = calibrate(args.item_us)
    ctx = mp.get_context("fork")
    out = {"python": sys.version.split()[0], "iters": iters, "item_us": item_us,
           "items": items, "empty_items": empty_items}
    with ctx.Pool(2) as pool:  # forked after calibrate(): the workers have ITERS
        pool.map(noop, range(1000), chunksize=1)  # the workers are up
        consumer_s, _ = consumer_alone(items)
        out["consumer_s"] = consumer_s
        out["producer_s"] = producer_alone(pool, items)
        out["pipeline_s"] = {}
        for chunksize in (1, 16, 256):
            took, acc = pipeline(pool, items, chunksize)
            # produce(i) then consume: not the consumer-alone values, but the same on each run.
            out["pipeline_s"][str(chunksize)] = took
            out.setdefault("pipeline_check", acc)
            if acc != out["pipeline_check"]:
                raise RuntimeError(f"pipeline, chunksize {chunksize}: wrong results")
        out["empty_s"] = empty_unordered(pool, empty_items)
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"Python {out['python']}: {items} items, {item_us:.1f} us per stage per item "
          f"({iters} LCG steps)")
    print(f"  consumer alone   {consumer_s / items * 1e6:8.2f} us/item")
    print(f"  producer alone   {out['producer_s'] / items * 1e6:8.2f} us/item (Pool(2).map)")
    for c, s in out["pipeline_s"].items():
        print(f"  imap chunksize {c:>3} {s / items * 1e6:8.2f} us/item")
    print(f"  imap_unordered, empty tasks, chunksize 1: {empty_items / out['empty_s']:,.0f} "
          "tasks/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
