"""Measure the shipped models with the shipped Fashion-MNIST classifier: python -m genlab.evaluate.

For each source of images: Fréchet distance and KID on the classifier's penultimate features against the
10,000 test images, class coverage (share of each predicted class; the smallest is reported), and for
conditional models the share judged as the requested class. Reference rows (training images, training images
with noise) give the numbers a scale. Writes weights/metrics.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from genlab import datasets as data
from genlab.core.weights import REPO_WEIGHTS
from genlab.models import classifier
from genlab.techniques.gan import model as gan
from genlab.techniques.vae import model as vae


def row(name: str, feats: np.ndarray, preds: np.ndarray, test_feats: np.ndarray, *, requested=None, note="") -> dict:
    cov = classifier.coverage(preds)
    out = {
        "model": name,
        "n": len(feats),
        "fid": round(classifier.frechet_distance(feats, test_feats), 3),
        "kid": round(classifier.kernel_distance(feats, test_feats), 5),
        "min_class_share": round(float(cov.min()), 4),
        "class_shares": [round(float(c), 4) for c in cov],
        "judged_as_requested": None if requested is None else round(float((preds == requested).mean()), 4),
        "note": note,
    }
    print(
        f"{name:45s} FID {out['fid']:8.2f}  KID {out['kid']:.4f}  min class {out['min_class_share']:.3f}  "
        f"judged {out['judged_as_requested']}",
        flush=True,
    )
    return out


@torch.no_grad()
def latent_rows(clf, test_feats, n: int, x_train: torch.Tensor, x_test: torch.Tensor) -> list[dict]:
    rows = []
    g, _ = gan.load()
    seeds = list(range(10**6, 10**6 + n))
    y_any = gan.seed_labels(seeds, 10)
    imgs = torch.cat(
        [
            gan.generate(g, gan.latents(seeds[i : i + 1000], g.cfg.z_dim), g.embed(y_any[i : i + 1000]))
            for i in range(0, n, 1000)
        ]
    )
    f, p = classifier.embed(clf, imgs)
    rows.append(
        row(
            "DCGAN, class drawn uniformly",
            f,
            p,
            test_feats,
            requested=y_any.numpy(),
            note="requested = the drawn class",
        )
    )
    m, _ = vae.load("vae")
    imgs = torch.cat([vae.decode(m, vae.prior_latents(seeds[i : i + 1000], m.cfg.latent)) for i in range(0, n, 1000)])
    f, p = classifier.embed(clf, imgs)
    rows.append(row("VAE prior samples (T=1)", f, p, test_feats))
    imgs = torch.cat([vae.decode(m, m.encode(x_test[i : i + 1000])[0]) for i in range(0, len(x_test), 1000)])
    f, p = classifier.embed(clf, imgs)
    rows.append(row("VAE reconstructions of the test set", f, p, test_feats, note="posterior means"))
    return rows


@torch.no_grad()
def baseline_rows(clf, test_feats, n: int, x_train: torch.Tensor) -> list[dict]:
    gen = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(x_train), generator=gen)[:n]
    f, p = classifier.embed(clf, x_train[idx])
    rows = [row("reference: training images", f, p, test_feats, note="the best a model could do")]
    noisy = (x_train[idx] + 0.2 * torch.randn(x_train[idx].shape, generator=gen)).clamp(0, 1)
    f, p = classifier.embed(clf, noisy)
    rows.append(row("baseline: training images + noise (σ=0.2)", f, p, test_feats))
    return rows


@torch.no_grad()
def text2image_rows(
    clf, test_feats, per_prompt_names: int, per_paraphrase: int, steps: int, guidance: float
) -> tuple[list[dict], dict]:
    from genlab.core.control import Control, drain
    from genlab.techniques import text_to_image as t2i
    from genlab.techniques.text_to_image.captions import held_out

    def sample(prompts: list[str], count: int) -> torch.Tensor:
        out = []
        for j, prompt in enumerate(prompts):
            for start in range(0, count, 64):
                s = t2i.Settings(
                    prompt=prompt,
                    steps=steps,
                    guidance=guidance,
                    batch=min(64, count - start),
                    seed=10**6 * (j + 1) + start,
                )
                images = drain(t2i.run(s, ctl=Control(seconds=float("inf"), budget=float("inf")))).images
                out.append(
                    torch.from_numpy(np.stack([np.asarray(im, dtype=np.float32) / 255 for im in images]))[:, None]
                )
        return torch.cat(out)

    names = list(data.FASHION_CLASSES)
    t0 = time.time()
    x = sample(names, per_prompt_names)
    f, p = classifier.embed(clf, x)
    req = np.repeat(np.arange(10), per_prompt_names)
    rows = [row(f"text-to-image, class names ({steps} DPM-Solver++ steps)", f, p, test_feats, requested=req)]
    per_class_names = [float((p[req == k] == k).mean()) for k in range(10)]
    detail: dict = {"per_class_names": dict(zip(names, [round(v, 3) for v in per_class_names]))}
    for fresh, title, key in ((False, "held-out paraphrases", ""), (True, "fresh held-out paraphrases", "fresh_")):
        para = held_out(fresh=fresh)
        x = sample([t for t, _ in para], per_paraphrase)
        f, p = classifier.embed(clf, x)
        req = np.repeat(np.array([k for _, k in para]), per_paraphrase)
        rows.append(row(f"text-to-image, {title}", f, p, test_feats, requested=req, note=f"{len(para)} unseen prompts"))
        per_prompt = {
            t: float((p[i * per_paraphrase : (i + 1) * per_paraphrase] == k).mean()) for i, (t, k) in enumerate(para)
        }
        detail[f"per_class_{key}paraphrases"] = {
            names[k]: round(float((p[req == k] == k).mean()), 3) for k in range(10)
        }
        detail[f"per_{key}paraphrase"] = {t: round(v, 3) for t, v in per_prompt.items()}
    detail["seconds"] = round(time.time() - t0, 1)
    return rows, detail


def markdown(rows: list[dict]) -> str:
    lines = [
        "| images | n | FID (classifier features) ↓ | KID ↓ | smallest class share | judged as requested |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        jr = f"{r['judged_as_requested']:.1%}" if r["judged_as_requested"] is not None else "—"
        lines.append(
            f"| {r['model']} | {r['n']:,} | {r['fid']:.2f} | {r['kid']:.4f} | {r['min_class_share']:.1%} | {jr} |"
        )
    return "\n".join(lines)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(prog="python -m genlab.evaluate", description=__doc__.split("\n")[0])
    p.add_argument("--data", default=None, help="folder with the Fashion-MNIST idx files (default: Debian's)")
    p.add_argument("--n", type=int, default=10_000, help="samples per unconditional model")
    p.add_argument("--t2i-per-class", type=int, default=100, help="text-to-image samples per class-name prompt")
    p.add_argument("--t2i-per-paraphrase", type=int, default=50, help="samples per held-out paraphrase")
    p.add_argument("--t2i-steps", type=int, default=20)
    p.add_argument("--t2i-guidance", type=float, default=None, help="classifier-free guidance (default: the tab's)")
    p.add_argument("--skip", nargs="*", default=[], choices=["latent", "text2image"])
    p.add_argument("--out", default=str(REPO_WEIGHTS / "metrics.json"))
    args = p.parse_args(argv)
    torch.manual_seed(0)
    clf, label = classifier.load()
    x_train, _ = data.fashion_mnist(True, data=args.data)
    x_test, y_test = data.fashion_mnist(False, data=args.data)
    test_feats, test_pred = classifier.embed(clf, x_test)
    print(f"classifier: {label}; test accuracy {(test_pred == y_test.numpy()).mean():.4f}")
    rows = baseline_rows(clf, test_feats, args.n, x_train)
    extra: dict = {"classifier_test_accuracy": round(float((test_pred == y_test.numpy()).mean()), 4)}
    if "latent" not in args.skip:
        rows += latent_rows(clf, test_feats, args.n, x_train, x_test)
    if "text2image" not in args.skip:
        from genlab.techniques.text_to_image import DEFAULT_GUIDANCE

        guidance = DEFAULT_GUIDANCE if args.t2i_guidance is None else args.t2i_guidance
        t2i_rows, extra["text2image"] = text2image_rows(
            clf, test_feats, args.t2i_per_class, args.t2i_per_paraphrase, args.t2i_steps, guidance
        )
        rows += t2i_rows
    result = {"rows": rows, **extra, "command": "python -m genlab.evaluate " + " ".join(argv or [])}
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print(markdown(rows))
    return result


if __name__ == "__main__":
    main()
