"""Shared by the report's parts: where things are, the figure records and their text,
the machine's description, and the Runner that starts the benchmark programs.
"""

import json
import math
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parent.parent.parent  # bench/reporting/ -> the repository
REPORT_SCRIPT = SOURCE_DIR / "bench" / "report.py"
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
