"""Deep Dream through the running app: the default 512 px, 3-octave dream of example photos via gradio_client
(end-to-end seconds, the rise of the layer's mean activation as the app reports it), plus the channel gallery.

    python benchmarks/deep_dream.py [--requests 3] [--strip examples/results/deep-dream.jpg]

Run it on an idle machine: the figures are what a user waits for on this CPU.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, rss_mb, start_app

PHOTOS = ["chelsea.jpg", "astronaut.jpg", "coffee.jpg"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=3, help="timed dreams per photo")
    ap.add_argument("--strip", default=None, help="save photo | dream pairs side by side here (JPEG)")
    args = ap.parse_args()
    from gradio_client import Client, handle_file
    from PIL import Image

    proc, url, _ = start_app()
    try:
        client = Client(url, verbose=False)
        t0 = time.perf_counter()
        client.predict(handle_file(str(ROOT / "examples/content" / PHOTOS[0])), api_name="/deep_dream")
        print(f"first request (loads VGG): {time.perf_counter() - t0:.1f} s")
        pairs = []
        for name in PHOTOS:
            times, rises = [], []
            for i in range(args.requests):
                t0 = time.perf_counter()
                out, _, info = client.predict(
                    handle_file(str(ROOT / "examples/content" / name)), seed=i, api_name="/deep_dream"
                )
                times.append(time.perf_counter() - t0)
                rises.append(float(re.search(r"\(([\d.]+)×\)", info).group(1)))
            pairs.append((ROOT / "examples/content" / name, out))
            print(
                f"{name}: 512 px, 3 octaves x 10 iterations: median {statistics.median(times):.1f} s "
                f"(min {min(times):.1f}, max {max(times):.1f}); mean activation of relu4_2 x{statistics.median(rises):.1f}"
            )
        t0 = time.perf_counter()
        client.predict(api_name="/deep_dream_channels")
        print(f"channel gallery (8 channels, 128 px): {time.perf_counter() - t0:.1f} s")
        print(f"app RSS now / peak: {rss_mb(proc.pid)[0]:.0f} / {rss_mb(proc.pid)[1]:.0f} MB")
        if args.strip:
            ims = []
            for src, dream in pairs:
                d = Image.open(dream).convert("RGB")
                ims += [Image.open(src).convert("RGB").resize(d.size, Image.LANCZOS), d]
            h = 256
            ims = [im.resize((round(im.width * h / im.height), h), Image.LANCZOS) for im in ims]
            sheet = Image.new("RGB", (sum(im.width for im in ims) + 4 * (len(ims) - 1), h), "white")
            x = 0
            for im in ims:
                sheet.paste(im, (x, 0))
                x += im.width + 4
            sheet.save(args.strip, quality=88)
            print(f"wrote {args.strip}")
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
