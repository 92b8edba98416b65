"""Load: start the app, drive it with N parallel gradio_client clients, watch the server's memory.

    python benchmarks/load.py [--clients 12] [--flood 40] [--repeat 30]

1. Sequential reference: each client's request (GAN samples or offline text-to-image, seed = client id)
   run one after another.
2. The same requests from N clients at once: every one must be served with the same pixels as its
   sequential twin (seeded results do not depend on load).
3. A flood of F submissions at once, beyond the queue's max_size: each is either served or told the
   queue is full; none hangs or crashes the server.
4. --repeat R: R consecutive runs at the largest allowed sizes (Gatys and fast style transfer at 1024 px,
   64 offline text-to-image samples), printing the server's RSS after each: memory must level off.
Printed: latencies, outcomes, and the server's current and peak RSS (from /proc).
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import OFFLINE, ROOT, rss_mb, start_app


def digest(paths: list[str]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(np.asarray(Image.open(p).convert("RGB")).tobytes())
    return h.hexdigest()[:16]


def request(client, i: int) -> str:
    """Client i's request: even ids sample the GAN, odd ids the offline text-to-image model (seed = i)."""
    if i % 2 == 0:
        gallery, _ = client.predict(i, 8, "any", 0, api_name="/gan_sample")
    else:
        gallery = client.predict(
            "a warm winter coat", "", OFFLINE, 20, 3.0, "DPM-Solver++", i, 512, 8, api_name="/text_to_image"
        )[0]
    return digest([g["image"] for g in gallery])


def main():
    from gradio_client import Client

    p = argparse.ArgumentParser()
    p.add_argument("--clients", type=int, default=12)
    p.add_argument(
        "--flood", type=int, default=40, help="submissions at once for the queue-full check (queue max_size is 32)"
    )
    p.add_argument("--repeat", type=int, default=30)
    args = p.parse_args()
    proc, url, _ = start_app()
    peak = [0.0]
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_mb(proc.pid)[0])
            time.sleep(0.1)

    threading.Thread(target=watch, daemon=True).start()
    try:
        print(f"app at {url}, pid {proc.pid}; RSS at start {rss_mb(proc.pid)[0]:.0f} MB")
        c = Client(url, verbose=False)
        request(c, 0), request(c, 1)  # load the models once
        print(f"RSS with the GAN and the text-to-image model loaded: {rss_mb(proc.pid)[0]:.0f} MB")
        t0 = time.time()
        sequential = {i: request(c, i) for i in range(args.clients)}
        t_seq = time.time() - t0
        print(f"1. sequential: {args.clients} requests in {t_seq:.1f} s")

        lat, results = {}, {}

        def one(i):
            cl = Client(url, verbose=False)
            t = time.time()
            results[i] = request(cl, i)
            lat[i] = time.time() - t

        t0 = time.time()
        with ThreadPoolExecutor(args.clients) as ex:
            list(ex.map(one, range(args.clients)))
        t_par = time.time() - t0
        same = sum(results[i] == sequential[i] for i in range(args.clients))
        print(
            f"2. parallel: {args.clients} clients served in {t_par:.1f} s; latency median {statistics.median(lat.values()):.1f} s, "
            f"max {max(lat.values()):.1f} s; same pixels as sequential: {same}/{args.clients}"
        )

        outcomes = {"served": 0, "queue full": 0, "other error": 0}
        errors = []
        cl = Client(url, verbose=False)
        jobs = [
            cl.submit("a leather handbag", "", OFFLINE, 20, 3.0, "DDIM", i, 512, 16, api_name="/text_to_image")
            for i in range(args.flood)
        ]
        for j in jobs:
            try:
                j.result(timeout=600)
                outcomes["served"] += 1
            except Exception as e:
                kind = "queue full" if "queue is full" in str(e).lower() else "other error"
                outcomes[kind] += 1
                errors.append(str(e)[:120]) if kind == "other error" else None
        print(
            f"3. flood of {args.flood} submissions at once: {outcomes}" + (f"; errors: {errors[:3]}" if errors else "")
        )
        request(c, 3)
        print(f"   server healthy afterwards; RSS {rss_mb(proc.pid)[0]:.0f} MB, peak so far {peak[0]:.0f} MB")

        if args.repeat:
            from gradio_client import handle_file

            photo, painting = (
                handle_file(str(ROOT / "examples/content/china.jpg")),
                handle_file(str(ROOT / "examples/styles/hokusai_great_wave.jpg")),
            )
            print(f"4. {args.repeat} consecutive runs at the largest sizes (RSS MB after each):")
            series = []
            for r in range(args.repeat):
                c.predict(
                    photo,
                    painting,
                    None,
                    1024,
                    1,
                    1.0,
                    0.5,
                    1e-3,
                    "lbfgs",
                    "content",
                    False,
                    1.0,
                    1.0,
                    1,
                    0,
                    0,
                    1,
                    1,
                    1,
                    1,
                    1,
                    api_name="/style_transfer",
                )
                c.predict(photo, painting, 1.0, 1024, api_name="/style_transfer_fast")
                c.predict(
                    "a pair of sneakers", "", OFFLINE, 25, 3.0, "DPM-Solver++", r, 512, 64, api_name="/text_to_image"
                )
                series.append(rss_mb(proc.pid)[0])
                print(f"   run {r + 1}: {series[-1]:.0f}", flush=True)
            half = len(series) // 2
            print(
                f"   growth over the second half: {series[-1] - series[half]:+.0f} MB; first half: {series[half] - series[0]:+.0f} MB"
            )
        print(f"peak RSS of the server over the whole benchmark: {max(peak[0], rss_mb(proc.pid)[1]):.0f} MB")
    finally:
        stop.set()
        proc.terminate()


if __name__ == "__main__":
    main()
