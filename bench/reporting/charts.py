"""The PNG charts of the report (matplotlib): fill speed against workers, dispatch rate
against chunk size, lock throughput against Python's.
"""

import sys
from reporting.common import *  # noqa: F401,F403  (the report's shared names)


def pyplot():
    try:
        import matplotlib
    except ImportError:
        sys.exit("report.py: matplotlib is missing: apt-get install python3-matplotlib "
                 "(scripts/install-deps.sh installs it)")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({"figure.dpi": 110, "font.size": 9, "axes.grid": True,
                         "grid.alpha": 0.3, "savefig.bbox": "tight"})
    return plt


def err(f):
    """Error bar half-lengths (median - min, max - median) of a figure."""
    if f["value"] is None:
        return [[0], [0]]
    return [[f["value"] - f["min"]], [f["max"] - f["value"]]]


def subtitle(results):
    m = results["machine"]
    rounds = "quick run" if results["quick"] else "median of the rounds"
    return (f"{m['summary']}\n{results['date'][:10]}; {rounds}, bars from min to max; "
            "ratios: times better than the baseline")


def chart_fill(results, path):
    plt = pyplot()
    figs = results["benchmarks"]["fill_sweep"]["figures"]
    styles = [  # series, label, colour, line style, marker
        ("shmpool warm", "shmpool for_each, warm, static_", "tab:blue", "-", "o"),
        ("shmpool warm, dynamic", "shmpool for_each, warm, dynamic (default)", "tab:blue",
         ":", "s"),
        ("OpenMP", "OpenMP parallel for, warm (threads)", "tab:orange", "-", "D"),
        ("shmpool first touch", "shmpool first call + touch_rows (fresh array)", "tab:green",
         "-", "^"),
        ("fork and write", "fork N children, write, _exit (fresh array)", "tab:red", "-", "v"),
    ]
    fig, ax = plt.subplots(figsize=(8, 5.5), layout="constrained")
    workers = sorted({f["workers"] for f in figs if f.get("workers")})
    for k, (series, label, colour, ls, marker) in enumerate(styles):
        pts = sorted((f for f in figs if f.get("series") == series and f["value"] is not None),
                     key=lambda f: f["workers"])
        if not pts:
            continue
        shift = 1 + 0.025 * (k - len(styles) / 2)  # keeps the error bars apart
        xs = [f["workers"] * shift for f in pts]
        ax.errorbar(xs, [f["value"] for f in pts],
                    yerr=[[f["value"] - f["min"] for f in pts],
                          [f["max"] - f["value"] for f in pts]],
                    label=label, color=colour, linestyle=ls, marker=marker, capsize=3)
    ceiling = [f for f in figs if f.get("series") == "memset, 1 thread" and f["value"]]
    if ceiling:
        c = ceiling[0]
        ax.axhline(c["value"], color="gray", linestyle="--",
                   label="memset, 1 thread, warm (the ceiling)")
        ax.axhspan(c["min"], c["max"], color="gray", alpha=0.12)
    ax.set_xscale("log", base=2)
    ax.set_xticks(workers)
    ax.set_xticklabels([str(w) for w in workers])
    ax.set_ylim(bottom=0)
    ax.set_xlabel("workers (processes for shmpool and fork, threads for OpenMP)")
    ax.set_ylabel("fill speed, GB/s (higher is better)")
    cfg = results["benchmarks"]["fill_sweep"].get("config", {})
    ax.set_title(f"Filling a {cfg.get('gib', 0):.3g} GiB shared array, float64\n"
                 + subtitle(results), fontsize=8)
    ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    fig.savefig(path)
    plt.close(fig)


def chart_dispatch(results, path):
    plt = pyplot()
    figs = [f for f in results["benchmarks"]["dispatch"]["figures"] if f.get("chunk")]
    labels = [chunk_label(c) for c in CHUNKS]
    fig, ax = plt.subplots(figsize=(8, 5), layout="constrained")
    for side, label, colour, marker in (
            ("shmpool", "shmpool process_pool(2).for_each (Google Benchmark)", "tab:blue", "o"),
            ("python", "Python multiprocessing.Pool(2).map", "tab:orange", "s")):
        pts = {f["chunk"]: f for f in figs if f.get("side") == side}
        xs = [i for i, c in enumerate(labels) if c in pts and pts[c]["value"] is not None]
        ys = [pts[labels[i]]["value"] for i in xs]
        ax.errorbar(xs, ys, yerr=[[pts[labels[i]]["value"] - pts[labels[i]]["min"] for i in xs],
                                  [pts[labels[i]]["max"] - pts[labels[i]]["value"] for i in xs]],
                    label=label, color=colour, marker=marker, capsize=3)
        if side == "shmpool":
            for i in xs:
                r = pts[labels[i]]["ratio"]
                if r:
                    ax.annotate(ratio_text(r), (i, pts[labels[i]]["max"]),
                                textcoords="offset points", xytext=(0, 6), ha="center",
                                fontsize=7.5, color="tab:blue")
    ax.set_yscale("log")
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels)
    ax.set_xlabel("chunk size (tasks handed to a worker at once; auto: each library's default)")
    ax.set_ylabel("empty tasks per second, millions (log scale, higher is better)")
    ax.set_title("Dispatch rate against chunk size, 2 workers\n" + subtitle(results),
                 fontsize=8)
    ax.legend(fontsize=8, loc="lower right")
    fig.savefig(path)
    plt.close(fig)


def lock_pairs(results):
    """[(condition, [(lock, shmpool figure, baseline figure or None)])] from bench/locks."""
    figs = results["benchmarks"]["locks"]["figures"]
    by_name = {f["name"]: f for f in figs}
    rates = [f for f in figs if f.get("unit") == "pairs/s"
             and not f["name"].startswith("Python")]
    conditions = []
    for f in rates:
        lock, _, cond = f["name"].rpartition(", ")
        if not lock:
            lock, cond = f["name"], ""
        base = by_name.get(f["baseline_name"]) if f.get("baseline_name") else None
        for c, rows in conditions:
            if c == cond:
                rows.append((lock, f, base))
                break
        else:
            conditions.append((cond, [(lock, f, base)]))
    return conditions


def chart_locks(results, path):
    plt = pyplot()
    conditions = lock_pairs(results)
    if not conditions:
        raise Failed("bench/locks reported no lock rates (no figure in pairs/s)")
    locks = []
    for _, rows in conditions:
        for lock, _, base in rows:
            py = ""
            if base:
                py = (base["name"].rpartition(", ")[0] or base["name"]).replace("Python ", "")
            label = lock.replace(" acquire/release", "") + (f"\nvs {py}" if py else "")
            if label not in locks:
                locks.append(label)
    fig, axes = plt.subplots(1, len(conditions), figsize=(5 * len(conditions), 1.2 + 0.75 *
                             len(locks)), sharex=True, sharey=True, squeeze=False,
                             layout="constrained")
    height = 0.38
    top = max(max(f["max"] or 0, (b or {}).get("max") or 0)
              for _, rows in conditions for _, f, b in rows)
    for ax, (cond, rows) in zip(axes[0], conditions):
        for lock, f, base in rows:
            py = ""
            if base:
                py = (base["name"].rpartition(", ")[0] or base["name"]).replace("Python ", "")
            y = locks.index(lock.replace(" acquire/release", "") + (f"\nvs {py}" if py else ""))
            ax.barh(y - height / 2, f["value"], height, xerr=err(f), capsize=3,
                    color="tab:blue", label="shmpool" if y == 0 else None)
            if base and base["value"]:
                ax.barh(y + height / 2, base["value"], height, xerr=err(base), capsize=3,
                        color="tab:orange", label="Python equivalent" if y == 0 else None)
                ax.annotate(ratio_text(f["ratio"]), (max(f["max"], base["max"]), y),
                            textcoords="offset points", xytext=(6, 0), va="center",
                            fontsize=8)
        ax.set_xscale("log")
        ax.set_xlim(right=top * 8)
        ax.set_title(cond or "lock+unlock", fontsize=9)
        ax.set_xlabel("lock+unlock pairs per second (log scale, higher is better)")
    axes[0][0].set_yticks(range(len(locks)))
    axes[0][0].set_yticklabels(locks, fontsize=8)
    axes[0][0].invert_yaxis()
    axes[0][-1].legend(*axes[0][0].get_legend_handles_labels(), loc="lower right", fontsize=8)
    fig.suptitle("Lock throughput: shmpool's locks against Python's\n" + subtitle(results),
                 fontsize=8)
    fig.savefig(path)
    plt.close(fig)


CHART_MAKERS = {
    "fill_vs_workers.png": chart_fill,
    "dispatch_vs_chunk.png": chart_dispatch,
    "lock_throughput.png": chart_locks,
}


# -------------------------------------------------------------------------------------------
# The page
