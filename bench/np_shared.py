"""The book's np_shared pipeline in Python, the baseline of demos/np_shared.

multiprocessing.Array (no lock) viewed as a numpy array, filled with 42, a Pool(4) of forked
workers that each check row[0] == 42 and write their PID over the row, then numpy.unique to
count the values. Prints one JSON object with the phase times and the end-to-end time.

    /usr/bin/python3 bench/np_shared.py [--rows 10000] [--cols 8000] [--workers 4]
                                        [--shm-dir DIR]

--shm-dir puts multiprocessing's shared heap in DIR instead of /dev/shm (for a comparison on
another tmpfs, such as one mounted with huge=within_size; shmpool's side: SHMPOOL_SHM_DIR=DIR).
"""
import argparse
import ctypes
import json
import multiprocessing
import multiprocessing.heap
import os
import time

import numpy as np

grid = None  # the shared array, inherited by the forked workers


def write_pid(row):
    r = grid[row]
    assert r[0] == 42.0, "row written twice"
    r[:] = os.getpid()


def main():
    global grid
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=10000)
    p.add_argument("--cols", type=int, default=8000)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--shm-dir", help="where multiprocessing keeps its shared heap")
    a = p.parse_args()
    if a.shm_dir:
        multiprocessing.heap.Arena._dir_candidates = [a.shm_dir]
    ctx = multiprocessing.get_context("fork")
    t0 = time.perf_counter()
    base = ctx.Array(ctypes.c_double, a.rows * a.cols, lock=False)
    grid = np.frombuffer(base, dtype=np.float64).reshape(a.rows, a.cols)
    t1 = time.perf_counter()
    grid.fill(42.0)
    t2 = time.perf_counter()
    with ctx.Pool(a.workers) as pool:
        pool.map(write_pid, range(a.rows))
    t3 = time.perf_counter()
    values, counts = np.unique(grid, return_counts=True)
    ok = 42.0 not in values and int(counts.sum()) == a.rows * a.cols
    t4 = time.perf_counter()
    print(json.dumps({"rows": a.rows, "cols": a.cols, "workers": a.workers, "ok": ok,
                      "pids": len(values), "allocate_s": t1 - t0, "fill_s": t2 - t1,
                      "map_s": t3 - t2, "verify_s": t4 - t3, "total_s": t4 - t0}))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
