"""Do the default settings paint, and how long does a user wait? /style_transfer through the running app at
512 px with the defaults, on held-out content x style pairs (photos from Debian's opencv-doc examples, Van
Gogh's Starry Night from the same package, and paintings from examples/), judged in this process:

  judge = Gram style loss of the output / the content photo's own, against the painting
          (VGG16 relu1_1...relu5_1, Gram / (C H W), the painting scaled to the output's long side; <= 0.1 = painted)
  content loss = MSE of conv4_2 features, output vs photo (how far the subject moved)

In the same run, a reference timing: one VGG16 forward+backward to relu5_1 at 512x384 in this process, so the
ratio (request seconds / reference) holds on a noisy machine.

    python benchmarks/style_defaults.py [--sheet examples/results/style-defaults.jpg] [--strengths 0,0.5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, rss_mb, start_app

DATA = Path("/usr/share/doc/opencv-doc/examples/data")
PAIRS = [
    (DATA / "fruits.jpg", DATA / "starry_night.jpg"),
    (DATA / "building.jpg", ROOT / "examples/styles/hokusai_great_wave.jpg"),
    (DATA / "messi5.jpg", ROOT / "examples/styles/kandinsky_composition_viii.jpg"),
    (DATA / "home.jpg", ROOT / "examples/styles/munch_the_scream.jpg"),
    (ROOT / "examples/content/chelsea.jpg", DATA / "starry_night.jpg"),
]
LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


class Judge:
    def __init__(self):
        from genlab.models.vgg import MODELS

        self.net, _ = MODELS.get("default")

    def style_loss(self, im, style) -> float:
        import torch

        from genlab.core.images import resize_long_side, to_tensor
        from genlab.techniques.style_transfer.gatys import gram

        s = to_tensor(resize_long_side(style, max(im.size)))
        with torch.no_grad():
            fx, fs = self.net(to_tensor(im), set(LAYERS)), self.net(s, set(LAYERS))
            return float(sum(torch.nn.functional.mse_loss(gram(fx[k]), gram(fs[k])) for k in LAYERS))

    def __call__(self, out, content, style) -> tuple[float, float]:
        import torch

        from genlab.core.images import to_tensor

        c = content.resize(out.size, 1)  # LANCZOS
        with torch.no_grad():
            f = lambda im: self.net(to_tensor(im), {"conv4_2"})["conv4_2"]  # noqa: E731
            content_loss = float(torch.nn.functional.mse_loss(f(out), f(c)))
        return self.style_loss(out, style) / self.style_loss(c, style), content_loss

    def reference_seconds(self) -> float:
        import torch

        x = torch.rand(1, 3, 384, 512, requires_grad=True)
        times = []
        for _ in range(4):
            t0 = time.perf_counter()
            out = self.net(x, {"relu5_1"})["relu5_1"]
            out.pow(2).mean().backward()
            times.append(time.perf_counter() - t0)
        return min(times[1:])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sheet", default=None, help="save photo | painting | result rows (JPEG)")
    ap.add_argument("--strengths", default="0.5", help="stylisation strengths to run (0.5 = the default)")
    args = ap.parse_args()
    from gradio_client import Client, handle_file
    from PIL import Image

    from genlab.techniques import style_transfer as st

    judge = Judge()
    ref = judge.reference_seconds()
    print(f"reference: one VGG16 forward+backward to relu5_1 at 512x384 = {ref:.2f} s")
    proc, url, _ = start_app()
    rows = []
    try:
        client = Client(url, verbose=False)
        c_path, s_path = PAIRS[-1]
        client.predict(
            content=handle_file(str(c_path)),
            style=handle_file(str(s_path)),
            style2=None,
            size=128,
            steps=1,
            coarse_steps=1,
            api_name="/style_transfer",
        )  # loads the VGG
        t0 = time.perf_counter()
        job = client.submit(
            content=handle_file(str(c_path)), style=handle_file(str(s_path)), style2=None, api_name="/style_transfer"
        )
        first = None
        for update in job:
            if first is None and update[0]:
                first = time.perf_counter() - t0
        print(f"first preview of a default 512 px run after {first:.1f} s (whole run {time.perf_counter() - t0:.1f} s)")
        for strength in [float(x) for x in args.strengths.split(",")]:
            beta = st.style_weight_for(strength)
            ratios, times = [], []
            for c_path, s_path in PAIRS:
                t0 = time.perf_counter()
                out, _, _ = client.predict(
                    content=handle_file(str(c_path)),
                    style=handle_file(str(s_path)),
                    style2=None,
                    style_weight=beta,
                    api_name="/style_transfer",
                )  # every other setting: the app's default
                seconds = time.perf_counter() - t0
                im = Image.open(out).convert("RGB")
                content, style = Image.open(c_path).convert("RGB"), Image.open(s_path).convert("RGB")
                ratio, closs = judge(im, content, style)
                ratios.append(ratio)
                times.append(seconds)
                print(
                    f"strength {strength} (beta {beta}): {c_path.stem} x {s_path.stem} {im.width}x{im.height}: "
                    f"{seconds:.1f} s ({seconds / ref:.0f} x reference), judge {ratio:.3f}, content loss {closs:,.0f}"
                )
                if strength == st.DEFAULT_STYLISATION:
                    rows.append((content, style, im))
            print(
                f"strength {strength}: judge median {statistics.median(ratios):.3f} (max {max(ratios):.3f}), "
                f"seconds median {statistics.median(times):.1f} (max {max(times):.1f})"
            )
        print(f"app RSS now / peak: {rss_mb(proc.pid)[0]:.0f} / {rss_mb(proc.pid)[1]:.0f} MB")
    finally:
        proc.terminate()
        proc.wait(10)
    if args.sheet and rows:
        h = 200
        fit = lambda im: im.resize((round(im.width * h / im.height), h), Image.LANCZOS)  # noqa: E731
        lines = []
        for row in rows:
            cells = [fit(im) for im in row]
            line = Image.new("RGB", (sum(c.width for c in cells) + 8, h), "white")
            x = 0
            for c in cells:
                line.paste(c, (x, 0))
                x += c.width + 4
            lines.append(line)
        sheet = Image.new("RGB", (max(line.width for line in lines), (h + 4) * len(lines)), "white")
        for i, line in enumerate(lines):
            sheet.paste(line, (0, i * (h + 4)))
        sheet.save(args.sheet, quality=88)
        print(f"wrote {args.sheet}")


if __name__ == "__main__":
    main()
