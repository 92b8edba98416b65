"""genlab's colour latent diffusion model and the Edit tab, measured through the running app (gradio_client).

Prompt-to-image: /text_to_image with the colour model, 20 DPM-Solver++ steps, the default guidance, 4, 8 and
16 images (median of --requests after one warm-up). Edit: /image_to_image (strength 0.6) and /inpaint (a
centre square, 2 RePaint rounds) on the red-blob sketch at 128 px, one image, the mean |Δ| outside and inside
the mask read from the reply; a strength sweep picture and a strip of edit examples are written with --sheet.

    python benchmarks/colour_ldm.py [--requests 3] [--sheet examples/results/edit-examples.jpg]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # genlab
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, rss_mb, start_app

COLOUR = "genlab colour latent diffusion (offline)"
SKETCH = ROOT / "examples" / "edit" / "red-blob.png"


def timed(fn, requests: int) -> tuple[float, object]:
    fn()  # warm-up: loads the model
    ts, out = [], None
    for _ in range(requests):
        t = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=3)
    ap.add_argument("--sheet", default=None, help="write a strip of edit examples here")
    a = ap.parse_args()
    from gradio_client import Client, handle_file
    from PIL import Image

    proc, url, _ = start_app()
    try:
        c = Client(url, verbose=False)
        for n in (4, 8, 16):
            s, _ = timed(
                lambda n=n: c.predict(prompt="a red apple", model=COLOUR, steps=20, batch=n, api_name="/text_to_image"),
                a.requests,
            )
            print(f"/text_to_image colour model, {n} images, 20 DPM-Solver++ steps: {s:.2f} s", flush=True)
        editor = {"background": handle_file(str(SKETCH)), "layers": [], "composite": handle_file(str(SKETCH))}
        common = dict(editor=editor, prompt="a red apple", model=COLOUR, steps=20, batch=1)
        s, out = timed(lambda: c.predict(**common, strength=0.6, api_name="/image_to_image"), a.requests)
        print(f"/image_to_image 128 px, strength 0.6, 1 image: {s:.2f} s", flush=True)
        mask = Path(tempfile.gettempdir()) / "genlab-bench-mask.png"
        m = Image.new("L", Image.open(SKETCH).size, 0)
        w, h = m.size
        m.paste(255, (w // 3, h // 3, 2 * w // 3, 2 * h // 3))
        m.save(mask)
        s, out = timed(
            lambda: c.predict(**common, mask=handle_file(str(mask)), resample=2, api_name="/inpaint"), a.requests
        )
        kept, changed = re.findall(r"\*\*([\d.]+)/255\*\*", out[-1])[:2]
        print(
            f"/inpaint 128 px, 20 steps x 2 rounds, 1 image: {s:.2f} s; outside the mask mean |Δ| {kept}/255, "
            f"inside {changed}/255",
            flush=True,
        )
        s, out = timed(lambda: c.predict(**common, right=64, api_name="/outpaint"), a.requests)
        print(f"/outpaint 128 -> 192x128 px, 1 image: {s:.2f} s", flush=True)
        print(f"app RSS now / peak: {rss_mb(proc.pid)[0]:.0f} / {rss_mb(proc.pid)[1]:.0f} MB", flush=True)
        if a.sheet:
            sheet(c, handle_file, a.sheet)
    finally:
        proc.terminate()


def sheet(c, handle_file, path: str) -> None:
    """Rows: image-to-image from the two sketches, inpainting on a picture, outpainting; a sweep under them."""
    from PIL import Image

    from genlab.core.images import labelled, strip

    def first(out):
        g = out[0]
        return Image.open(g[0]["image"]).convert("RGB")

    def ed(p):
        return {"background": handle_file(str(p)), "layers": [], "composite": handle_file(str(p))}

    cells = []
    for sketch, prompt in [(SKETCH, "a red apple"), (ROOT / "examples/edit/blue-sketch.png", "a blue car")]:
        out = c.predict(
            editor=ed(sketch), prompt=prompt, model=COLOUR, strength=0.7, batch=1, api_name="/image_to_image"
        )
        cells += [
            labelled(Image.open(sketch).convert("RGB").resize((192, 192)), "sketch"),
            labelled(first(out).resize((192, 192), Image.LANCZOS), prompt),
        ]
    row1 = strip(cells)
    sweep = c.predict(editor=ed(SKETCH), prompt="a red apple", model=COLOUR, batch=1, api_name="/edit_strength_sweep")
    row2 = first(sweep)
    w = max(row1.width, row2.width)
    out = Image.new("RGB", (w, row1.height + row2.height), (24, 24, 24))
    out.paste(row1, (0, 0))
    out.paste(row2, (0, row1.height))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    out.save(path, quality=90)
    print(f"wrote {path}", flush=True)


if __name__ == "__main__":
    main()
