"""The arrays demo with --keep leaves its array for numpy, as it says, and `shmpool rm` removes it.

Usage: arrays_keep.py ARRAYS_DEMO SHMPOOL_CLI
Runs the demo small, finds the name in its last line, opens the array with numpy.load as the line
says (mmap_mode='r+'), checks its shape and that every value is a worker's PID (no 42 left),
then removes it with the CLI. Exit 0 when all of that held.
"""
import os
import re
import subprocess
import sys

import numpy


def main(demo, cli):
    run = subprocess.run([demo, "--rows", "64", "--cols", "32", "--workers", "2", "--keep"],
                         capture_output=True, text=True, timeout=60)
    if run.returncode != 0:
        sys.exit(f"the demo failed ({run.returncode}):\n{run.stdout}{run.stderr}")
    last = run.stdout.strip().splitlines()[-1]
    found = re.search(r"numpy\.load\('([^']+)', mmap_mode='r\+'\)", last)
    if not found:
        sys.exit(f"no numpy.load command in the demo's last line: {last!r}")
    path = found.group(1)
    try:
        grid = numpy.load(path, mmap_mode="r+")
        if grid.shape != (64, 32) or grid.dtype != numpy.float64:
            sys.exit(f"{path}: shape {grid.shape} dtype {grid.dtype}, expected (64, 32) float64")
        if (grid == 42).any() or len(numpy.unique(grid)) != 2:
            sys.exit(f"{path}: values {numpy.unique(grid)}: expected the 2 workers' PIDs")
        del grid
    finally:
        rm = subprocess.run([cli, "rm", os.path.basename(path)], capture_output=True, text=True,
                            timeout=30)
    if rm.returncode != 0 or os.path.exists(path):
        sys.exit(f"shmpool rm did not remove {path}: {rm.stderr}")
    print(f"numpy read {path} as the demo said; shmpool rm removed it")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
