"""The report's text: a table per benchmark, report.md, the README's machine line, and the
check that a report is complete.
"""

import json
import math
import re
from pathlib import Path
from reporting.common import *  # noqa: F401,F403  (the report's shared names)
from reporting.charts import *  # noqa: F401,F403  (the report's shared names)


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
