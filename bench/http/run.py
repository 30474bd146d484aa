"""bench/http: dataset_service --serve against Flask under gunicorn, measured with wrk.

    /usr/bin/python3 bench/http/run.py [--rows 2000000] [--dim 128] [--workers 1,2,4]
        [--batches 1,8,64] [--seconds 10] [--build-dir build/release]

For each number of workers N: starts dataset_service --serve (the matrix loaded once into
/dev/shm) and gunicorn -w N with bench/http/flask_service.py over the very same matrix file
(numpy.load(mmap_mode='r')), then for each batch size runs wrk with topk.lua against the C++
service and against Flask, in turn, with 2N connections. While the batch-8 runs are under way it
reads the memory of each service's processes (`shmpool mem --json`): the sum of PSS against the
matrix (and the C++ service's own /stats). Prints a table (requests/s, queries/s, p50/p90/p99 ms, the ratio) and the memory lines.
"""
import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
problems = []  # runs with errors, or where the C++ service completed nothing: exit 1
ROOT = os.path.dirname(os.path.dirname(HERE))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_health(port, deadline=120):
    end = time.time() + deadline
    while time.time() < end:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                return json.loads(r.read())
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing answers on port {port}")


def start_service(binary, rows, dim, workers, name, threads):
    proc = subprocess.Popen([binary, "--serve", "--port", "0", "--rows", str(rows), "--dim",
                             str(dim), "--workers", str(workers), "--name", name,
                             "--threads", str(threads)],
                            stdout=subprocess.PIPE, text=True)
    port = None
    for line in proc.stdout:
        print("  service: " + line.rstrip(), flush=True)
        found = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        port = int(found.group(1)) if found else port
        if line.startswith("ready:"):
            break
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    return proc, port


def start_flask(matrix_path, workers):
    port = free_port()
    env = dict(os.environ, DATASET_MATRIX=matrix_path, OPENBLAS_NUM_THREADS="1",
               OMP_NUM_THREADS="1")
    proc = subprocess.Popen(["gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}",
                             "--timeout", "300", "--chdir", HERE, "--log-level", "warning",
                             "flask_service:app"], env=env)
    wait_health(port)
    return proc, port


def wrk(port, batch, dim, connections, seconds):
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "120s",
                          "-s", os.path.join(HERE, "topk.lua"),
                          f"http://127.0.0.1:{port}/topk", "--", str(batch), str(dim), "10"],
                         capture_output=True, text=True, timeout=seconds + 300).stdout
    found = re.search(r"^RESULT (.*)$", out, re.M)
    if not found:
        raise SystemExit(f"wrk printed no RESULT:\n{out}")
    return {k: float(v) for k, v in (kv.split("=") for kv in found.group(1).split())}


def memory(cli, root_pid, matrix_path):
    """(sum of PSS kB over root_pid's tree, the matrix's PSS kB in it, its processes)."""
    out = subprocess.run([cli, "mem", "--root", str(root_pid), "--json"], capture_output=True,
                         text=True, timeout=120).stdout
    report = json.loads(out)
    pss = sum(p["pss_kb"] for p in report["processes"])
    seg = sum(g["pss_sum_kb"] for g in report["segments"] if g["name"] == matrix_path)
    return pss, seg, len(report["processes"])


def measure_memory(cli, procs, matrix_path, delay):
    """Samples each service's memory `delay` seconds into a run, in the background."""
    result = {}

    def sample():
        time.sleep(delay)
        for label, pid in procs:
            result[label] = memory(cli, pid, matrix_path)

    t = threading.Thread(target=sample)
    t.start()
    return t, result


def post_batch(port, batch, dim):
    """One request of `batch` queries (a warm-up), waited for."""
    body = json.dumps({"k": 10, "queries": [[0.01 * (i % 7)] * dim for i in range(batch)]})
    req = urllib.request.Request(f"http://127.0.0.1:{port}/topk", data=body.encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as r:
        r.read()


def log_memory(log, label, n, sample, matrix_kb, stats=None):
    """The sum of PSS of a service's processes; `alone`: the same with the matrix's pages counted
    in full (what it would be if this service alone mapped the matrix: both services map it
    during the run, so each tree holds only a share of its PSS)."""
    pss, seg, procs = sample
    alone = pss - seg + matrix_kb
    extra = ""
    if stats:
        m = stats["memory"]
        extra = (f" stats_pss_sum_mb={m['pss_sum_kb'] / 1024:.1f}"
                 f" stats_matrix_pss_mb={m.get('matrix_pss_sum_kb', 0) / 1024:.1f}")
    log(f"memory  {label:8s} workers={n} processes={procs} pss_sum_mb={pss / 1024:.1f} "
        f"matrix_pss_in_tree_mb={seg / 1024:.1f} matrix_mb={matrix_kb / 1024:.1f} "
        f"alone_pss_sum_mb={alone / 1024:.1f} alone_over_matrix={alone / matrix_kb:.3f}{extra}")


def get_stats(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=60) as r:
        return json.loads(r.read())


def measure(args, n, label, port, pid, batch, matrix_path, log):
    """One wrk run (the memory sampled half-way for batch 8), then a pause for the requests
    wrk left in flight."""
    start = time.time()
    post_batch(port, batch, args.dim)  # warm-up, waited for
    # Long enough for several requests of each connection even when one takes seconds.
    seconds = int(min(args.max_seconds, max(args.seconds, 3 * 2 * (time.time() - start))))
    sampler = None
    if batch == 8:
        sampler, mem = measure_memory(os.path.join(args.build_dir, "tools", "shmpool"),
                                      [(label, pid)], matrix_path, seconds / 2)
    r = wrk(port, batch, args.dim, 2 * n, seconds)
    r["seconds"] = seconds
    if sampler:
        sampler.join()
        stats = get_stats(port) if label == "shmpool" else None
        log_memory(log, label, n, mem[label], args.rows * args.dim * 4 / 1024, stats)
    time.sleep(max(1.0, 1.2 * r["p99_ms"] / 1000))  # requests wrk abandoned finish meanwhile
    return r


def run_workers(args, n, log):
    name = f"shmpool_bench_http_{os.getpid()}_{n}"
    binary = os.path.join(args.build_dir, "demos", "dataset_service")
    service, sport = start_service(binary, args.rows, args.dim, n, name, args.threads)
    matrix_path = wait_health(sport)["matrix_path"]
    flask, fport = start_flask(matrix_path, n)
    try:
        for batch in args.batches:
            row = {}
            for label, port, pid in (("shmpool", sport, service.pid), ("flask", fport, flask.pid)):
                row[label] = measure(args, n, label, port, pid, batch, matrix_path, log)
            for label in ("shmpool", "flask"):
                r = row[label]
                log(f"result  {label:8s} workers={n} batch={batch:3d} rps={r['rps']:9.2f} "
                    f"qps={r['rps'] * batch:10.1f} p50_ms={r['p50_ms']:9.1f} "
                    f"p90_ms={r['p90_ms']:9.1f} p99_ms={r['p99_ms']:9.1f} "
                    f"requests={int(r['requests'])} errors={int(r['errors'] + r['non2xx'])} "
                    f"wrk_seconds={r['seconds']}")
                if r["errors"] + r["non2xx"] > 0 or (label == "shmpool" and r["requests"] == 0):
                    problems.append(f"{label} workers={n} batch={batch}: {r}")
            f = row["flask"]["rps"]
            ratio = f"{row['shmpool']['rps'] / f:.2f}x" if f > 0 else "n/a (flask: no request done)"
            log(f"ratio   workers={n} batch={batch:3d} shmpool/flask requests/s = {ratio}")
    finally:
        flask.send_signal(signal.SIGTERM)
        flask.wait(timeout=120)
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=120)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=2_000_000)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--workers", default="1,2,4")
    p.add_argument("--batches", default="1,8,64")
    p.add_argument("--seconds", type=int, default=15, help="wrk's duration at least")
    p.add_argument("--max-seconds", type=int, default=90,
                   help="wrk's duration at most (it is 6 x a warm-up request's time if longer)")
    p.add_argument("--threads", type=int, default=4,
                   help="HTTP threads per dataset_service worker (gunicorn's sync workers: 1)")
    p.add_argument("--build-dir", default=os.path.join(ROOT, "build", "release"))
    args = p.parse_args()
    args.workers = [int(x) for x in args.workers.split(",")]
    args.batches = [int(x) for x in args.batches.split(",")]

    def log(line):
        print(line, flush=True)

    log(f"$ {' '.join(sys.argv)}")
    log(f"matrix {args.rows} x {args.dim} float32 = {args.rows * args.dim * 4 / 1e9:.3f} GB; "
        f"wrk -t1 -c(2 x workers) -d{args.seconds}s (up to {args.max_seconds} s for slow requests) "
        f"per figure; dataset_service --threads {args.threads}; {os.cpu_count()} CPUs")
    for n in args.workers:
        run_workers(args, n, log)
    if problems:
        sys.exit("runs with errors:\n  " + "\n  ".join(problems))


if __name__ == "__main__":
    main()
