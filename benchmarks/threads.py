"""Why genlab runs all model work on one thread: the same torch work timed on the first thread that used
torch's OpenMP team and on a later thread (as a web server's request threads would be).

    python benchmarks/threads.py [--repeat 3]

Each run starts a fresh process, so "first" really is the first thread to use OpenMP there. Run it on an
idle machine, and again with another process busy on one core: GOMP_SPINCOUNT (set by genlab.core.devices.
tune_threads) decides how the first thread's team behaves then.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

CODE = r"""
import sys, threading, time, torch
x, conv, a = torch.randn(8, 64, 28, 28), torch.nn.Conv2d(64, 64, 3, padding=1), torch.randn(256, 256)
def bench():
    with torch.no_grad():
        for _ in range(30): conv(x); a @ a
        t = time.perf_counter()
        for _ in range(300): conv(x)
        c = time.perf_counter() - t
        t = time.perf_counter()
        for _ in range(3000): a @ a
        return c, time.perf_counter() - t
def in_thread():
    out = []
    th = threading.Thread(target=lambda: out.append(bench())); th.start(); th.join()
    return out[0]
bench()  # warm-up (first-use costs: allocations, kernel selection) on the first thread
first = bench()
later = in_thread()
print(*first, *later)
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    rows = []
    for _ in range(args.repeat):
        out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
        rows.append([float(v) for v in out.stdout.split()])
    med = [statistics.median(r[i] for r in rows) for i in range(4)]
    print("| thread | 300 convs 8x64x28x28 | 3000 matmuls 256² |")
    print("|---|---|---|")
    print(f"| first to use torch (the app's model thread) | {med[0]:.3f} s | {med[1]:.3f} s |")
    print(f"| a later thread (a request thread) | {med[2]:.3f} s | {med[3]:.3f} s |")


if __name__ == "__main__":
    main()
