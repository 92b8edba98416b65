"""What users wait for, through the running app: time until `python app.py` serves, and end-to-end time of
offline /text_to_image requests through gradio_client (4 images, 20 DPM-Solver++ steps, the default guidance):
until the answer arrives (what a page waits for before it loads the pictures, in parallel), and until
gradio_client has also downloaded the 7 output files, one after another (its default).

    python benchmarks/app_latency.py [--starts 5] [--requests 10] [--compare OLD_CHECKOUT]

--compare times another checkout of genlab (e.g. `git worktree add /tmp/old <commit>`) in the same run,
alternating the two, so the before/after ratio holds on a noisy machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import OFFLINE, ROOT, rss_mb, start_app


def one_round(root: Path, requests: int) -> dict:
    from gradio_client import Client

    proc, url, served = start_app(root)
    try:
        client = Client(url, verbose=False)
        bare = Client(url, verbose=False, download_files=False)
        args = ("a pair of sneakers", "", OFFLINE, 20, 5.0, "DPM-Solver++", 0, 512, 4)
        t0 = time.perf_counter()
        client.predict(*args, api_name="/text_to_image")
        first = time.perf_counter() - t0
        times, answers = [], []
        for i in range(requests):
            t0 = time.perf_counter()
            out = client.predict(*args[:6], i, 512, 4, api_name="/text_to_image")
            times.append(time.perf_counter() - t0)
            assert len(out[0]) == 4
            t0 = time.perf_counter()
            bare.predict(*args[:6], i, 512, 4, api_name="/text_to_image")
            answers.append(time.perf_counter() - t0)
        return {"served": served, "first": first, "times": times, "answers": answers, "rss": rss_mb(proc.pid)[0]}
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--starts", type=int, default=5, help="app starts per checkout")
    p.add_argument("--requests", type=int, default=10, help="timed requests per start")
    p.add_argument("--compare", default=None, help="another genlab checkout to time alternately")
    args = p.parse_args()
    roots = {"this checkout": ROOT}
    if args.compare:
        roots["compared"] = Path(args.compare).resolve()
    runs: dict[str, list[dict]] = {k: [] for k in roots}
    for i in range(args.starts):
        for name, root in roots.items():
            r = one_round(root, args.requests)
            runs[name].append(r)
            print(
                f"[{i + 1}/{args.starts}] {name}: served in {r['served']:.2f} s, first request {r['first']:.2f} s, "
                f"then median {statistics.median(r['times']):.2f} s",
                flush=True,
            )
    print(
        "\n| checkout | app serves (median of starts) | first /text_to_image (loads the model) "
        "| /text_to_image, 4 images: answer (files not fetched) | same, gradio_client fetching the 7 files | RSS after |"
    )
    print("|---|---|---|---|---|---|")
    for name, rs in runs.items():
        times, answers = [t for r in rs for t in r["times"]], [t for r in rs for t in r["answers"]]
        print(
            f"| {name} | {statistics.median(r['served'] for r in rs):.2f} s | {statistics.median(r['first'] for r in rs):.2f} s "
            f"| {statistics.median(answers):.2f} s | {statistics.median(times):.2f} s (n={len(times)}) "
            f"| {statistics.median(r['rss'] for r in rs):,.0f} MB |"
        )


if __name__ == "__main__":
    main()
