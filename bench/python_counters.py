#!/usr/bin/python3
"""The Python baseline of bench/locks: shared counters and locks in multiprocessing.

Measures, with the 'fork' start method:
  * value      multiprocessing.Value('l') incremented under its own lock, the documented way
               (`with v.get_lock(): v.value += 1`; v.value takes the same RLock again), by 4
               processes x 100,000 increments (20,000 with --quick), and at the book's size,
               4 x 1,000, where starting and joining the processes dominates;
  * rawvalue   multiprocessing.RawValue('l') incremented under a separate multiprocessing.Lock,
               4 x 100,000 (20,000 with --quick);
  * file       the book's lock-file counter: a number kept as text in a file under /tmp, each
               increment opening the file, reading the number and writing the next one over it,
               under fcntl.flock(LOCK_EX) on a lock file that each process opens after the fork;
               4 x 1,000 (4 x 250 with --quick). The number is 20 zero-padded digits rewritten
               in place (os.pwrite at offset 0, no truncation), with the very system calls of
               the C++ side (open, pread, pwrite, close: os.* rather than Python's buffered
               files, which add fstat, ioctl and lseek calls of their own). Why in place: on
               ext4, a file truncated to 0 and rewritten is flushed to disk when it is closed
               (auto_da_alloc), so a counter that truncates measures the disk, on both sides;
  * file_truncate  the former protocol, for reference: the number written after truncating
               the file to 0 (as many digits as it needs), each increment waiting for the disk;
  * file_book  the book's program itself (Example 9-38) with fcntl.flock for the lockfile
               package: Python file objects, open "r" and read, open "w" (truncating) and write
               the number and a newline; the baseline of the issue's file-counter target;
  * lock rates acquire+release pairs per second of multiprocessing.Lock, multiprocessing.
               Semaphore(1) and fcntl.flock, uncontended (this process alone) and contended (4
               processes for a fixed time, started together).
Counter times are wall times from starting the processes to joining them, as the book takes
them; per-increment figures divide by processes x increments.

    /usr/bin/python3 bench/python_counters.py [--json] [--quick]

--json prints one line of JSON; otherwise a readable summary. Files created under /tmp are
removed on the way out, exceptions included.
"""

import argparse
import fcntl
import functools
import json
import multiprocessing as mp
import os
import sys
import time

PROCS = 4


def run_processes(ctx, procs, work):
    """Starts `procs` processes running work(i), joins them; returns the seconds it took."""
    start = time.perf_counter()
    ps = [ctx.Process(target=work, args=(i,)) for i in range(procs)]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    elapsed = time.perf_counter() - start
    bad = [p.exitcode for p in ps if p.exitcode != 0]
    if bad:
        raise RuntimeError(f"a counting process failed (exit codes {bad})")
    return elapsed


def counter_result(procs, count, seconds, total):
    expected = procs * count
    if total != expected:
        raise RuntimeError(f"counter: expected {expected}, got {total}")
    return {"procs": procs, "count": count, "seconds": seconds,
            "per_increment_ns": seconds / expected * 1e9, "total": total}


def value_counter(ctx, procs, count):
    """Value('l') with its own lock, the documented way."""
    v = ctx.Value("l", 0)

    def work(_):
        for _ in range(count):
            with v.get_lock():
                v.value += 1

    seconds = run_processes(ctx, procs, work)
    return counter_result(procs, count, seconds, v.value)


def rawvalue_counter(ctx, procs, count):
    """RawValue('l') under a separate Lock."""
    v = ctx.RawValue("l", 0)
    lock = ctx.Lock()

    def work(_):
        for _ in range(count):
            with lock:
                v.value += 1

    seconds = run_processes(ctx, procs, work)
    return counter_result(procs, count, seconds, v.value)


WIDTH = 20  # digits of the counter file: any 64-bit count fits


def read_count(fd, truncating=False):
    """The number in the counter file open as `fd` (os.pread, as the C++ side)."""
    if truncating:
        return int(os.pread(fd, 32, 0) or b"0")
    text = os.pread(fd, WIDTH, 0)
    if len(text) != WIDTH or not text.isdigit():
        raise RuntimeError(f"the counter file holds no number: {text!r}")
    return int(text)


def write_count(fd, value, truncating=False):
    if truncating:
        os.ftruncate(fd, 0)
        text = b"%d" % value
    else:
        text = b"%0*d" % (WIDTH, value)
    if os.pwrite(fd, text, 0) != len(text):
        raise RuntimeError("short write to the counter file")


def file_total(path, truncating=False):
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return read_count(fd, truncating)
    finally:
        os.close(fd)


def file_counter(ctx, procs, count, path, lock_path, truncating=False):
    """The lock-file counter: open, read, rewrite, close the counter file under fcntl.flock,
    with the system calls of bench/locks/file_counter.cpp under shmpool::file_lock."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        write_count(fd, 0, truncating)
    finally:
        os.close(fd)

    def work(_):
        # Opened after the fork: flock locks belong to the open file, which must not be shared.
        lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            for _ in range(count):
                fcntl.flock(lock_fd, fcntl.LOCK_EX)
                try:
                    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
                    try:
                        write_count(fd, read_count(fd, truncating) + 1, truncating)
                    finally:
                        os.close(fd)
                finally:
                    fcntl.flock(lock_fd, fcntl.LOCK_UN)
        finally:
            os.close(lock_fd)

    seconds = run_processes(ctx, procs, work)
    return counter_result(procs, count, seconds, file_total(path, truncating))


def book_file_counter(ctx, procs, count, path, lock_path):
    """The book's lock-file counter (Example 9-38) with fcntl.flock in place of the lockfile
    package: under the lock, open the file, read the number, open it again for writing (which
    truncates it), write the next number and a newline, close. The issue's "about 150 us per
    increment" is this program."""
    with open(path, "w") as f:
        f.write("0\n")

    def work(_):
        with open(lock_path, "a") as lock:  # after the fork: flock belongs to the open file
            for _ in range(count):
                fcntl.flock(lock, fcntl.LOCK_EX)
                with open(path, "r") as f:
                    nbr = int(f.read())
                with open(path, "w") as f:
                    f.write(str(nbr + 1) + "\n")
                fcntl.flock(lock, fcntl.LOCK_UN)

    seconds = run_processes(ctx, procs, work)
    with open(path) as f:
        return counter_result(procs, count, seconds, int(f.read()))


BATCH = 64  # pairs between two looks at the clock or the stop flag


def uncontended_rate(acquire, release, seconds):
    """Pairs per second in this process alone, for about `seconds`."""
    for _ in range(1000):  # warm-up
        acquire()
        release()
    n = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(BATCH):
            acquire()
            release()
        n += BATCH
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def contended_rate(ctx, procs, seconds, make_ops):
    """Pairs per second of `procs` processes together for about `seconds`: they start at a
    barrier, loop until a stop flag is raised, and report how many pairs they did.
    make_ops() runs in each process (after the fork) and returns (acquire, release)."""
    ready = ctx.Barrier(procs + 1)
    stop = ctx.RawValue("b", 0)
    done = ctx.RawArray("q", procs)

    def work(i):
        acquire, release = make_ops()
        ready.wait()
        n = 0
        while not stop.value:
            for _ in range(BATCH):
                acquire()
                release()
            n += BATCH
        done[i] = n

    ps = [ctx.Process(target=work, args=(i,)) for i in range(procs)]
    for p in ps:
        p.start()
    try:
        ready.wait(timeout=60)
        start = time.perf_counter()
        time.sleep(seconds)
        stop.value = 1
        elapsed = time.perf_counter() - start
    finally:
        stop.value = 1
        for p in ps:
            p.join()
    if any(p.exitcode != 0 for p in ps):
        raise RuntimeError("a contending process failed")
    return sum(done) / elapsed


def flock_ops(lock_path):
    """(acquire, release) on a lock file opened here (after the fork, in a contender)."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    return (functools.partial(fcntl.flock, fd, fcntl.LOCK_EX),
            functools.partial(fcntl.flock, fd, fcntl.LOCK_UN))


def lock_rates(ctx, seconds_uncontended, seconds_contended, lock_path):
    out = {}
    lock = ctx.Lock()
    sem = ctx.Semaphore(1)
    kinds = {
        "multiprocessing.Lock": lambda: (lock.acquire, lock.release),
        "multiprocessing.Semaphore": lambda: (sem.acquire, sem.release),
        "fcntl.flock": lambda: flock_ops(lock_path),
    }
    for name, make_ops in kinds.items():
        acquire, release = make_ops()
        try:
            alone = uncontended_rate(acquire, release, seconds_uncontended)
        finally:
            if name == "fcntl.flock":
                os.close(acquire.args[0])
        together = contended_rate(ctx, PROCS, seconds_contended, make_ops)
        out[name] = {"uncontended": alone, "contended": together}
    return out


def remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    args = parser.parse_args()

    ctx = mp.get_context("fork")
    big = 20_000 if args.quick else 100_000
    book = 1_000
    file_count = 250 if args.quick else 1_000
    seconds_uncontended = 0.05 if args.quick else 0.2
    seconds_contended = 0.1 if args.quick else 0.4

    base = f"/tmp/shmpool_bench_pycounters_{os.getpid()}"
    paths = [base + ".count", base + ".count.lock", base + ".rates.lock"]
    try:
        out = {
            "value": value_counter(ctx, PROCS, big),
            "value_book": value_counter(ctx, PROCS, book),
            "rawvalue": rawvalue_counter(ctx, PROCS, big),
            "file": file_counter(ctx, PROCS, file_count, paths[0], paths[1]),
            "file_truncate": file_counter(ctx, PROCS, file_count, paths[0], paths[1],
                                          truncating=True),
            "file_book": book_file_counter(ctx, PROCS, file_count, paths[0], paths[1]),
            "lock_rates": lock_rates(ctx, seconds_uncontended, seconds_contended, paths[2]),
            "start_method": "fork",
            "python": sys.version.split()[0],
        }
    finally:
        for path in paths:
            remove(path)

    if args.json:
        print(json.dumps(out))
        return
    for key in ("value", "value_book", "rawvalue", "file", "file_truncate", "file_book"):
        r = out[key]
        print(f"{key:>12}: {r['procs']} x {r['count']:>7,}: {r['seconds'] * 1e3:9.1f} ms, "
              f"{r['per_increment_ns'] / 1e3:8.3f} us per increment")
    for name, r in out["lock_rates"].items():
        print(f"{name:>26}: {r['uncontended']:12,.0f} pairs/s alone, "
              f"{r['contended']:12,.0f} pairs/s with {PROCS} processes")


if __name__ == "__main__":
    main()
