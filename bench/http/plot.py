"""bench/http: plots a run of run.py (its log, on stdin or as a file): queries/s against the batch
size, for each number of workers, C++ service and Flask + gunicorn (the Spark article's lesson:
one scan of the matrix serves a whole batch).

    /usr/bin/python3 bench/http/plot.py docs/bench/runs/http.log docs/bench/runs/http_batching.png
"""
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LINE = re.compile(r"result\s+(\w+)\s+workers=(\d+) batch=\s*(\d+) rps=\s*([\d.]+) qps=\s*([\d.]+)")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: plot.py RUN.log OUT.png")
    qps = {}  # (service, workers) -> {batch: queries/s}
    with open(sys.argv[1]) as f:
        for line in f:
            m = LINE.match(line)
            if m:
                service, workers, batch, _, q = m.groups()
                qps.setdefault((service, int(workers)), {})[int(batch)] = float(q)
    if not qps:
        sys.exit(f"plot.py: no result lines in {sys.argv[1]}")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (service, workers), by_batch in sorted(qps.items()):
        batches = sorted(by_batch)
        style = "-o" if service == "shmpool" else "--s"
        label = f"{'C++ (shmpool)' if service == 'shmpool' else 'Flask + gunicorn'}, {workers} workers"
        ax.plot(batches, [by_batch[b] for b in batches], style, label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("queries per request (batch)")
    ax.set_ylabel("queries answered per second")
    ax.set_title("top-10 over a 2,000,000 x 128 float32 matrix, wrk, 2 vCPUs")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=100)
    print(f"plot.py: {sys.argv[2]}")


if __name__ == "__main__":
    main()
