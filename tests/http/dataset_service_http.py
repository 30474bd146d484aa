"""dataset_service --serve against real HTTP clients: Python's urllib and curl.

Usage: dataset_service_http.py DATASET_SERVICE
Starts `dataset_service --serve --port 0 --rows 20000 --dim 32 --workers 2` (unique --name, a
small --max-body and --read-timeout), reads the port it prints, and checks: /health; /topk in
JSON against a numpy brute force over the matrix opened from /dev/shm with numpy.load(mmap_mode=
'r'); the raw float32 form (curl) equals the JSON form; /update then /topk finds the new rows;
/stats; every error status; a slow client timed out; a worker SIGKILLed under load is replaced;
1,000 random bodies leave every worker alive; SIGTERM (and SIGINT) stop it with status 0, no
process left and /dev/shm as found; --matrix-file keeps the matrix (and its updates) across a
restart. Exit 0 when all of that held.
"""
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import numpy

ROWS, DIM, WORKERS, MAX_BODY = 20000, 32, 2, 65536


class Service:
    """The service as a child process; its port parsed from stdout."""

    def __init__(self, binary, extra=(), max_body=MAX_BODY):
        self.name = f"shmpool_httptest_{os.getpid()}_{random.randrange(1 << 30)}"
        args = [binary, "--serve", "--port", "0", "--rows", str(ROWS), "--dim", str(DIM),
                "--workers", str(WORKERS), "--name", self.name, "--max-body", str(max_body),
                "--read-timeout", "1", *extra]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        self.lines = []
        self.port = None
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise SystemExit(f"the service exited before it was ready: {self.lines}")
            self.lines.append(line.rstrip())
            found = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
            if found:
                self.port = int(found.group(1))
            if line.startswith("ready:"):
                break
        if self.port is None:
            raise SystemExit(f"no port printed: {self.lines}")
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def request(self, path, body=None, headers=None, method=None):
        """(status, parsed JSON body or None) by urllib; 4xx/5xx are returned, not raised."""
        data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(self.url(path), data=data, headers=headers or {},
                                     method=method)
        if data is not None and not (headers and "Content-Type" in headers):
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            text = e.read()
            try:
                return e.code, json.loads(text)
            except ValueError:
                return e.code, None

    def worker_pids(self):
        status, stats = self.request("/stats")
        check(status == 200, "/stats answers")
        return [w["pid"] for w in stats["workers"]]


failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def curl(*args):
    run = subprocess.run(["curl", "-s", "-S", "--max-time", "30", *args], capture_output=True,
                         timeout=60)
    return run.returncode, run.stdout


def test_health(s):
    status, h = s.request("/health")
    check(status == 200 and h["status"] == "ok" and h["rows"] == ROWS and h["dim"] == DIM
          and h["workers"] == WORKERS, f"GET /health (urllib): {h}")
    rc, out = curl(s.url("/health"))
    check(rc == 0 and json.loads(out)["status"] == "ok", "GET /health (curl)")
    return h["matrix_path"]


def test_topk_json(s, x):
    rng = numpy.random.default_rng(1)
    queries = rng.standard_normal((5, DIM)).astype(numpy.float32)
    status, a = s.request("/topk", {"k": 10, "queries": queries.tolist()})
    check(status == 200 and len(a["indices"]) == 5 and all(len(r) == 10 for r in a["indices"]),
          "POST /topk JSON: 5 queries, k = 10")
    scores = x.astype(numpy.float64) @ queries.astype(numpy.float64).T  # rows x m
    ok = True
    for q in range(5):
        best = numpy.sort(scores[:, q])[::-1][:10]
        got = numpy.array(a["scores"][q])
        ok &= numpy.allclose(got, best, atol=1e-4)
        ok &= numpy.allclose(scores[a["indices"][q], q], got, atol=1e-4)
    check(ok, "POST /topk JSON equals a numpy brute force over the mmap'ed matrix")
    rows = [0, 123, ROWS - 1]
    status, a = s.request("/topk", {"k": 3, "queries": x[rows].tolist()})
    check(status == 200 and [r[0] for r in a["indices"]] == rows,
          "queries equal to rows find those rows first")
    return queries, a


def test_topk_raw(s, queries):
    _, a = s.request("/topk", {"k": 7, "queries": queries.tolist()})
    with tempfile.NamedTemporaryFile(suffix=".f32") as f:
        f.write(queries.tobytes())
        f.flush()
        rc, out = curl("-X", "POST", "-H", "Content-Type: application/octet-stream",
                       "--data-binary", "@" + f.name, s.url(f"/topk?k=7&m={len(queries)}"))
    b = json.loads(out) if rc == 0 else {}
    check(rc == 0 and b.get("indices") == a["indices"],
          "POST /topk raw float32 (curl, ?k=&m=) equals the JSON form")
    status, c = s.request("/topk", queries.tobytes(), {
        "Content-Type": "application/octet-stream", "X-K": "7", "X-M": str(len(queries))})
    check(status == 200 and c["indices"] == a["indices"], "raw float32 with X-K/X-M headers")


def unit_rows(rng, n):
    v = rng.standard_normal((n, DIM)).astype(numpy.float32)
    return v / numpy.linalg.norm(v, axis=1, keepdims=True)


def test_update(s, x):
    rng = numpy.random.default_rng(2)
    new = unit_rows(rng, 3)
    status, u = s.request("/update", {"rows": [5, 777, 19999], "values": new.tolist()})
    check(status == 200 and u["updated"] == 3, f"POST /update rows: {u}")
    status, a = s.request("/topk", {"k": 1, "queries": new.tolist()})
    check(status == 200 and [r[0] for r in a["indices"]] == [5, 777, 19999],
          "after /update, /topk finds the new rows first")
    check(numpy.allclose(x[[5, 777, 19999]], new), "numpy's mapping sees the rewritten rows")
    more = unit_rows(rng, 4)
    status, u = s.request("/update", {"start": 100, "values": more.tolist()})
    _, a = s.request("/topk", {"k": 1, "queries": more.tolist()})
    check(status == 200 and [r[0] for r in a["indices"]] == [100, 101, 102, 103],
          "POST /update with a start row")


def test_stats(s):
    status, st = s.request("/stats")
    lat, mem = st["latency_ms"], st["memory"]
    check(status == 200 and len(st["workers"]) == WORKERS and st["served"] > 0
          and all(w["pid"] > 0 for w in st["workers"]), "GET /stats: per-worker counters")
    check(lat["count"] > 0 and 0 < lat["p50"] <= lat["p90"] <= lat["p99"],
          f"GET /stats: latency percentiles {lat}")
    check(len(mem["processes"]) == WORKERS + 1 and mem["pss_sum_kb"] > 0
          and mem["matrix_bytes"] == ROWS * DIM * 4 and "matrix_pss_sum_kb" in mem
          and all(p["rss_kb"] >= p["pss_kb"] >= p["uss_kb"] for p in mem["processes"]),
          f"GET /stats: memory proof (sum of PSS / matrix = {mem['pss_sum_over_matrix']:.2f})")


def test_errors(s):
    q = [[0.5] * DIM]
    cases = [
        ("malformed JSON", "/topk", b"{\"k\": 3, \"queries\": [[1, 2", {}, 400),
        ("not an object", "/topk", b"[1, 2, 3]", {}, 400),
        ("wrong dimensions", "/topk", {"k": 3, "queries": [[0.5] * (DIM - 1)]}, {}, 400),
        ("no queries", "/topk", {"k": 3, "queries": []}, {}, 400),
        ("k = 0", "/topk", {"k": 0, "queries": q}, {}, 400),
        ("k over the limit", "/topk", {"k": 1001, "queries": q}, {}, 400),
        ("k not an integer", "/topk", {"k": "ten", "queries": q}, {}, 400),
        ("raw body of a wrong length", "/topk?k=3", b"\0" * (DIM * 4 + 3),
         {"Content-Type": "application/octet-stream"}, 400),
        ("raw m not matching the body", "/topk?k=3&m=2", b"\0" * (DIM * 4),
         {"Content-Type": "application/octet-stream"}, 400),
        ("raw NaN", "/topk?k=3", numpy.full(DIM, numpy.nan, numpy.float32).tobytes(),
         {"Content-Type": "application/octet-stream"}, 400),
        ("update row out of range", "/update", {"rows": [ROWS], "values": q}, {}, 400),
        ("update start out of range", "/update", {"start": ROWS, "values": q}, {}, 400),
        ("update without rows", "/update", {"values": q}, {}, 400),
        ("body over --max-body", "/topk", b"x" * (MAX_BODY + 1), {}, 413),
        ("unknown path", "/nowhere", None, {}, 404),
    ]
    for what, path, body, headers, want in cases:
        status, answer = s.request(path, body, headers)
        check(status == want and isinstance(answer, dict) and "error" in answer,
              f"{what}: {status} {answer}")
    rc, out = curl("-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "--data-binary",
                   "{bad", s.url("/topk"))
    check(out == b"400", "malformed JSON by curl: 400")
    big = json.dumps({"k": 2, "queries": numpy.random.default_rng(4).random((16, DIM)).tolist()})
    rc, out = curl("-X", "POST", "-d", big, s.url("/topk"))  # as application/x-www-form-urlencoded
    check(len(big) > 8192 and rc == 0 and len(json.loads(out).get("indices", [])) == 16,
          f"curl -d with a JSON body of {len(big)} bytes and curl's default Content-Type")


def test_slow_client(s):
    start = time.time()
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
        c.sendall(b"POST /topk HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"k\":")
        status, _ = s.request("/health")  # others are served meanwhile
        try:
            while c.recv(4096):
                pass
            closed = True
        except socket.timeout:
            closed = False
    took = time.time() - start
    check(closed and took < 8 and status == 200,
          f"a slow client is dropped after the read timeout ({took:.1f} s), others served")


def load(s, stop, outcomes):
    body = {"k": 5, "queries": [[0.1] * DIM] * 4}
    while not stop.is_set():
        try:
            outcomes.append(s.request("/topk", body)[0])
        except OSError:
            outcomes.append("connection error")


def test_kill_worker(s):
    before = s.worker_pids()
    stop, outcomes = threading.Event(), []
    threads = [threading.Thread(target=load, args=(s, stop, outcomes)) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    os.kill(before[0], signal.SIGKILL)
    time.sleep(1.5)
    stop.set()
    for t in threads:
        t.join()
    after = s.worker_pids()
    _, st = s.request("/stats")
    check(after[0] != before[0] and after[0] > 0 and after[1] == before[1]
          and st["workers"][0]["restarts"] == 1, f"SIGKILLed worker replaced: {before} -> {after}")
    ok_count = outcomes.count(200)
    check(ok_count > 20 and ok_count >= len(outcomes) - 8,
          f"requests under load kept succeeding ({ok_count} of {len(outcomes)})")
    statuses = [s.request("/topk", {"k": 3, "queries": [[0.2] * DIM]})[0] for _ in range(20)]
    check(statuses == [200] * 20, "20 requests after the replacement all succeed")


def random_body(rng):
    kind = rng.randrange(6)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(300)))
    if kind == 1:
        text = json.dumps({"k": rng.randrange(-5, 30), "queries": [[rng.uniform(-1, 1)
                          for _ in range(rng.choice([DIM, DIM, 1, 0, 33]))]]})
        cut = rng.randrange(len(text) + 1)
        return text[:cut].encode()
    if kind == 2:
        junk = [None, True, "x", 1e308, -1, [], {}, [[1]], 2 ** 70]
        return json.dumps({rng.choice(["k", "queries", "rows", "start", "values"]):
                           rng.choice(junk) for _ in range(3)}).encode()
    if kind == 3:
        return json.dumps([rng.random() for _ in range(rng.randrange(10))]).encode()
    if kind == 4:
        return numpy.float32(rng.random()).tobytes() * rng.randrange(0, 3 * DIM)
    return ("{" * rng.randrange(1, 2000)).encode()


def test_fuzz(s):
    before = s.worker_pids()
    rng = random.Random(17)
    bad = []
    for i in range(1000):
        path = rng.choice(["/topk", "/topk?k=3", "/update", "/topk?k=x&m=-1"])
        ctype = rng.choice(["application/json", "application/octet-stream", "text/plain"])
        try:
            status, _ = s.request(path, random_body(rng), {"Content-Type": ctype})
        except OSError as e:
            status = str(e)
        if status not in (200, 400, 413):
            bad.append((i, path, status))
    check(not bad, f"1,000 random bodies get 200/400/413 ({bad[:5]})")
    check(s.worker_pids() == before, "every worker alive after the fuzzing (same PIDs)")
    check(s.request("/health")[0] == 200, "the service answers after the fuzzing")


def stop_and_check(s, sig, shm_before):
    pids = s.worker_pids()
    s.proc.send_signal(sig)
    try:
        rc = s.proc.wait(timeout=40)
    except subprocess.TimeoutExpired:
        s.proc.kill()
        rc = "hung"
    time.sleep(0.2)
    alive = [p for p in pids if os.path.exists(f"/proc/{p}")]
    # Only this service's names: other programs (tests run in parallel) come and go meanwhile.
    left = sorted(e for e in set(os.listdir("/dev/shm")) - shm_before if e.startswith(s.name))
    check(rc == 0 and not alive and not left,
          f"{signal.Signals(sig).name}: exit {rc}, workers left {alive}, /dev/shm left {left}")


def test_in_flight(s, sig, shm_before):
    """A long request (4096 queries) in flight when the signal comes is answered in full."""
    queries = numpy.random.default_rng(5).random((4096, DIM), dtype=numpy.float32)
    answer = {}

    def send():
        start = time.time()
        answer["status"], answer["body"] = s.request(
            "/topk?k=10", queries.tobytes(), {"Content-Type": "application/octet-stream"})
        answer["seconds"] = time.time() - start

    t = threading.Thread(target=send)
    t.start()
    time.sleep(0.05)
    stop_and_check(s, sig, shm_before)
    t.join()
    check(answer.get("status") == 200 and len(answer["body"]["indices"]) == 4096,
          f"a request in flight at {signal.Signals(sig).name} is answered "
          f"({answer.get('status')}, {answer.get('seconds', 0):.2f} s)")


def test_file_backed(binary, shm_before):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "matrix.npy")
        s = Service(binary, ["--matrix-file", path])
        try:
            _, h = s.request("/health")
            new = unit_rows(numpy.random.default_rng(3), 1)
            s.request("/update", {"rows": [4321], "values": new.tolist()})
            stop_and_check(s, signal.SIGTERM, shm_before)
            check(os.path.exists(path) and h["matrix_path"] == path,
                  f"--matrix-file: the .npy file is kept after the stop ({h['matrix_path']})")
            s = Service(binary, ["--matrix-file", path])
            _, a = s.request("/topk", {"k": 1, "queries": new.tolist()})
            check(a["indices"] == [[4321]], "--matrix-file: the update survives a restart")
            stop_and_check(s, signal.SIGTERM, shm_before)
            bad = subprocess.run([binary, "--serve", "--port", "0", "--rows", "100", "--dim",
                                  str(DIM), "--matrix-file", path], capture_output=True,
                                 text=True, timeout=60)
            check(bad.returncode != 0 and "does not hold" in bad.stderr,
                  f"--matrix-file of another shape is refused: {bad.stderr.strip()}")
        finally:
            if s.proc.poll() is None:
                s.proc.kill()
                s.proc.wait()


def main(binary):
    shm_before = set(os.listdir("/dev/shm"))
    s = Service(binary)
    try:
        path = test_health(s)
        x = numpy.load(path, mmap_mode="r")
        check(x.shape == (ROWS, DIM) and x.dtype == numpy.float32, f"numpy.load({path})")
        queries, _ = test_topk_json(s, x)
        test_topk_raw(s, queries)
        test_update(s, x)
        test_stats(s)
        test_errors(s)
        test_slow_client(s)
        test_kill_worker(s)
        test_fuzz(s)
        del x
        stop_and_check(s, signal.SIGTERM, shm_before)
        s2 = Service(binary, max_body=1 << 22)
        check(s2.request("/health")[0] == 200, "a second service answers")
        test_in_flight(s2, signal.SIGINT, shm_before)
        test_file_backed(binary, shm_before)
    finally:
        for proc in [s.proc] + ([s2.proc] if "s2" in locals() else []):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if failures:
        sys.exit(f"{len(failures)} check(s) failed:\n  " + "\n  ".join(failures))
    print("all checks passed")


if __name__ == "__main__":
    main(sys.argv[1])
