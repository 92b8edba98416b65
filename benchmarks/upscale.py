"""Super-resolution, measured: quality on held-out photos and speed through the running app.

Quality: centre 256x256 crops of photos from Debian's opencv-doc examples (never used to choose anything),
downscaled x4 with bicubic, then upscaled x4 by bicubic, Lanczos and each network. Reported: PSNR and SSIM
against the original, and a perceptual distance on the ImageNet VGG genlab already ships: the mean over
relu1_2, relu2_2, relu3_3 and relu4_3 of the squared difference of channel-normalised features (LPIPS's
form, without its learned weights; lower is closer).
Speed: /upscale through gradio_client against `python app.py`: 256x256 -> 1024x1024 with each model, and
the app's peak RSS after a 1024x1024 -> 4096x4096 request with the fast model.

    python benchmarks/upscale.py [--grid examples/results/upscale-crops.jpg] [--requests 3]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # genlab
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import rss_mb, start_app

PHOTOS = Path("/usr/share/doc/opencv-doc/examples/data")
NAMES = [
    "baboon.jpg",
    "fruits.jpg",
    "butterfly.jpg",
    "building.jpg",
    "home.jpg",
    "messi5.jpg",
    "orange.jpg",
    "smarties.png",
]
MODELS = ["realesr-animevideov3", "waifu2x-photo", "realesrgan-x4plus"]
LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")


def perceptual(net, a, b) -> float:
    fa, fb = net(a, set(LAYERS)), net(b, set(LAYERS))
    unit = lambda f: f / (f.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)  # noqa: E731
    return float(sum((unit(fa[k]) - unit(fb[k])).pow(2).sum(1).mean() for k in LAYERS) / len(LAYERS))


def quality(grid: str | None, jpeg: int = 0) -> None:
    import torch
    from PIL import Image

    from genlab.colour.train_vae import psnr, ssim
    from genlab.core.images import labelled, strip, to_picture, to_tensor
    from genlab.models.vgg import MODELS as VGG
    from genlab.techniques import upscale as up
    from genlab.techniques.upscale import engine

    vgg, _ = VGG.get("default")
    rows, table = [], {k: [] for k in ["bicubic", "Lanczos", *MODELS]}
    for name in NAMES:
        im = Image.open(PHOTOS / name).convert("RGB")
        left, top = (im.width - 256) // 2, (im.height - 256) // 2
        hr = im.crop((left, top, left + 256, top + 256))
        lr = hr.resize((64, 64), Image.BICUBIC)
        if jpeg:  # a real-world input: the small picture was also saved as a JPEG
            buf = io.BytesIO()
            lr.save(buf, format="JPEG", quality=jpeg)
            lr = Image.open(buf).convert("RGB")
        outs = {"bicubic": lr.resize((256, 256), Image.BICUBIC), "Lanczos": lr.resize((256, 256), Image.LANCZOS)}
        for m in MODELS:
            s = up.Settings(model=m, factor=4)
            x = to_tensor(lr)
            for _ in range(engine.passes(s)):
                net = engine.MODELS.get(engine.model_key(m, None))[0]
                x = engine.forward(net, x)
            outs[m] = to_picture(x)
        truth = to_tensor(hr)
        with torch.no_grad():
            for k, o in outs.items():
                t = to_tensor(o)
                table[k].append((float(psnr(t, truth)), float(ssim(t, truth)), perceptual(vgg, t, truth)))
        if grid and len(rows) < 3:
            box = (80, 80, 176, 176)
            cells = [
                labelled(lr.resize((256, 256), Image.NEAREST).crop(box).resize((192, 192), Image.NEAREST), "input")
            ]
            cells += [labelled(o.crop(box).resize((192, 192), Image.NEAREST), k) for k, o in outs.items()]
            cells.append(labelled(hr.crop(box).resize((192, 192), Image.NEAREST), "original"))
            rows.append(strip(cells))
    what = f", the 64x64 input saved as JPEG quality {jpeg}" if jpeg else ""
    print(f"x4 from 64x64 to 256x256{what}, {len(NAMES)} held-out opencv-doc photos (mean; per photo: VGG distance)")
    print(f"{'method':22s} {'PSNR dB':>8s} {'SSIM':>6s} {'VGG dist':>9s}  per photo")
    for k, v in table.items():
        ps, ss, vs = zip(*v)
        print(
            f"{k:22s} {statistics.mean(ps):8.2f} {statistics.mean(ss):6.3f} {statistics.mean(vs):9.4f}  "
            + " ".join(f"{x:.3f}" for x in vs)
        )
    for m in MODELS:
        wins = sum(a[2] < b[2] for a, b in zip(table[m], table["bicubic"]))
        print(f"{m}: closer than bicubic (VGG distance) on {wins}/{len(NAMES)} photos")
    if grid:
        sheet = Image.new("RGB", (rows[0].width, sum(r.height for r in rows)), "black")
        y = 0
        for r in rows:
            sheet.paste(r, (0, y))
            y += r.height
        sheet.save(grid, quality=90)
        print(f"wrote {grid}")


def speed(requests: int) -> None:
    from gradio_client import Client, handle_file
    from PIL import Image

    proc, url, _ = start_app()
    try:
        client = Client(url, verbose=False)
        bare = Client(url, verbose=False, download_files=False)  # until the answer (a page then loads the pictures)
        d = Path(tempfile.mkdtemp())
        src = Image.open(PHOTOS / "fruits.jpg").convert("RGB")
        small, big = d / "256.png", d / "1024.png"
        src.resize((256, 256), Image.LANCZOS).save(small)
        src.resize((1024, 1024), Image.LANCZOS).save(big)
        for m in MODELS:
            client.predict(handle_file(str(small)), m, 4, -1, 256, api_name="/upscale")  # converts + loads once
            times, answers = [], []
            for _ in range(requests if m != "realesrgan-x4plus" else max(1, requests // 2)):
                t0 = time.perf_counter()
                out = bare.predict(handle_file(str(small)), m, 4, -1, 256, api_name="/upscale")
                answers.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                out = client.predict(handle_file(str(small)), m, 4, -1, 256, api_name="/upscale")
                times.append(time.perf_counter() - t0)
            assert "→ 1024×1024" in out[3]
            print(
                f"{m}: 256x256 -> 1024x1024 through the app: answer median {statistics.median(answers):.2f} s "
                f"(min {min(answers):.2f}, max {max(answers):.2f}); with its 4 files downloaded "
                f"{statistics.median(times):.2f} s (n={len(times)})"
            )
        t0 = time.perf_counter()
        out = client.predict(handle_file(str(big)), "realesr-animevideov3", 4, -1, 256, api_name="/upscale")
        print(
            f"realesr-animevideov3: 1024x1024 -> 4096x4096: {time.perf_counter() - t0:.1f} s; "
            f"app RSS now / peak {rss_mb(proc.pid)[0]:.0f} / {rss_mb(proc.pid)[1]:.0f} MB"
        )
        try:
            client.predict(handle_file(str(big)), "realesrgan-x4plus", 4, -1, 256, api_name="/upscale")
        except Exception as e:  # the budget message
            print(f"realesrgan-x4plus 1024 -> 4096: refused: {str(e)[:160]}")
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--grid", default=None, help="save a crop grid (input, bicubic, Lanczos, networks, original)")
    ap.add_argument("--requests", type=int, default=3)
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-quality", action="store_true")
    args = ap.parse_args()
    if not args.skip_quality:
        quality(args.grid)
        quality(None, jpeg=50)
    if not args.skip_speed:
        speed(args.requests)


if __name__ == "__main__":
    main()
