"""Train genlab's own models: python -m genlab.train dcgan|vae|vae2d|classifier|text2image [options].

The colour models have their own trainers, reached from here too: `python -m genlab.train colour-vae …`
(genlab.colour.train_vae), `python -m genlab.train colour-ldm …` (genlab.colour.train_ldm, on accelerate) and
`python -m genlab.train colour-control …` (genlab.colour.train_control: the ControlNet).

Built on accelerate, so `accelerate launch -m genlab.train ...` spreads the same command over GPUs or
machines. Each epoch saves a sample grid and a resumable checkpoint (accelerate's save_state) in --out;
the end writes <model>.safetensors (the weights genlab loads) and <model>.json (the card) to --export.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import asdict, is_dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from genlab.models import classifier


class ClassifierTask:
    name = "classifier"

    def __init__(self, args, test):
        self.cfg = classifier.ClassifierConfig()
        self.model = classifier.Classifier(self.cfg)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=2e-3, weight_decay=1e-4)
        self.test = test

    def parts(self):
        return [self.model, self.opt]

    def step(self, acc, x, y):
        self.model.train()
        x = torch.where(torch.rand(len(x), 1, 1, 1, device=x.device) < 0.5, x, x.flip(3))  # horizontal flips
        loss = F.cross_entropy(self.model(x), y, label_smoothing=0.05)
        self.opt.zero_grad(set_to_none=True)
        acc.backward(loss)
        self.opt.step()
        return {"loss": loss.item()}

    def grid(self):
        return None

    def export(self, acc):
        return acc.unwrap_model(self.model), self.cfg

    @torch.no_grad()
    def metrics(self, acc):
        m = acc.unwrap_model(self.model).eval()
        x, y = self.test
        pred = torch.cat([m(x[i : i + 1000]).argmax(1) for i in range(0, len(x), 1000)])
        return {"test_accuracy": round(float((pred == y).float().mean()), 4)}


def tasks(args, test):
    if args.model == "classifier":
        return ClassifierTask(args, test)
    if args.model == "dcgan":
        from genlab.techniques.gan.train import DCGANTask

        return DCGANTask(args, test)
    if args.model in ("vae", "vae2d"):
        from genlab.techniques.vae.train import VAETask

        return VAETask(args, test, latent=2 if args.model == "vae2d" else args.latent)
    if args.model == "text2image":
        from genlab.techniques.text_to_image.train import Text2ImageTask

        return Text2ImageTask(args, test)
    raise ValueError(f"unknown model {args.model!r}")


def load_data(args):
    from genlab import datasets as data

    if args.dataset == "animal-mnist":
        x, y = data.animal_mnist(data=args.data)
        n = int(len(x) * 0.9)
        train, test = (x[:n], y[:n]), (x[n:], y[n:])
    else:
        train, test = data.fashion_mnist(True, data=args.data), data.fashion_mnist(False, data=args.data)
    if args.limit:
        train = (train[0][: args.limit], train[1][: args.limit])
        test = (test[0][: args.limit], test[1][: args.limit])
    return train, test


def parse(argv=None):
    p = argparse.ArgumentParser(prog="python -m genlab.train", description=__doc__.split("\n")[0])
    p.add_argument("model", choices=["dcgan", "vae", "vae2d", "classifier", "text2image"])
    p.add_argument("--data", default=None, help="folder with the Fashion-MNIST idx files (default: Debian's)")
    p.add_argument("--dataset", default="fashion-mnist", choices=["fashion-mnist", "animal-mnist"])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--latent", type=int, default=16, help="VAE latent size")
    p.add_argument("--limit", type=int, default=0, help="use only the first N images (quick runs, tests)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--out", default=None, help="run folder: checkpoints, sample grids (default runs/<model>)")
    p.add_argument("--export", default="weights", help="folder for <model>.safetensors and its card")
    p.add_argument("--resume", action="store_true", help="continue from --out/checkpoint")
    p.add_argument("--lr", type=float, default=0.0, help="text2image learning rate (0: its default)")
    p.add_argument(
        "--caption-mix",
        type=float,
        default=0.0,
        help="text2image: share of samples conditioned on a random blend of two captions of their class",
    )
    p.add_argument(
        "--init", default=None, help="text2image: start from this saved pipeline folder (e.g. weights/text2image)"
    )
    return p.parse_args(argv)


COLOUR_TRAINERS = {
    "colour-vae": "genlab.colour.train_vae",
    "colour-ldm": "genlab.colour.train_ldm",
    "colour-control": "genlab.colour.train_control",
}


def main(argv=None) -> dict:
    argv_list = list(sys.argv[1:] if argv is None else argv)
    if argv_list and argv_list[0] in COLOUR_TRAINERS:
        import importlib

        importlib.import_module(COLOUR_TRAINERS[argv_list[0]]).main(argv_list[1:])
        return {}
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from safetensors.torch import save_file
    from torchvision.utils import save_image
    from tqdm.auto import tqdm

    args = parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    acc = Accelerator()
    set_seed(args.seed)
    train, test = load_data(args)
    task = tasks(args, test)
    out = Path(args.out or f"runs/{task.name}")
    out.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(args.seed)
    loader = DataLoader(TensorDataset(*train), batch_size=args.batch, shuffle=True, drop_last=True, generator=g)
    prepared = acc.prepare(*task.parts(), loader)
    loader = prepared[-1]
    for name, obj in zip(("g", "d", "opt_g", "opt_d") if task.name == "dcgan" else ("model", "opt"), prepared):
        setattr(task, name, obj)
    if hasattr(task, "register"):
        task.register(acc)
    history, start, wall = [], 0, 0.0
    if args.resume and (out / "checkpoint").is_dir():
        acc.load_state(str(out / "checkpoint"))
        state = json.loads((out / "history.json").read_text())
        history, start, wall = state["history"], state["epoch"], state["wall_seconds"]
    for epoch in range(start, args.epochs):
        t0 = time.time()
        sums: dict[str, float] = {}
        bar = tqdm(loader, desc=f"{task.name} epoch {epoch + 1}/{args.epochs}", disable=not acc.is_local_main_process)
        for x, y in bar:
            for k, v in task.step(acc, x, y).items():
                sums[k] = sums.get(k, 0.0) + v
        wall += time.time() - t0
        history.append({"epoch": epoch + 1, **{k: round(v / len(loader), 5) for k, v in sums.items()}})
        grid = task.grid()
        if grid is not None and acc.is_main_process:
            save_image(
                grid.float().cpu(), out / f"samples_epoch{epoch + 1:03d}.png", nrow=10 if len(grid) % 10 == 0 else 8
            )
        acc.save_state(str(out / "checkpoint"))
        (out / "history.json").write_text(json.dumps({"epoch": epoch + 1, "wall_seconds": wall, "history": history}))
        acc.print(json.dumps(history[-1]))
    model, cfg = task.export(acc)
    metrics = task.metrics(acc)
    card = {
        "model": task.name,
        "data": f"{args.dataset} ({len(train[0])} training images, {len(test[0])} test images)",
        "command": "python -m genlab.train "
        + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])),
        "epochs": args.epochs,
        "steps": args.epochs * len(loader),
        "batch": args.batch,
        "seed": args.seed,
        "wall_seconds": round(wall, 1),
        "config": asdict(cfg) if is_dataclass(cfg) else cfg,
        "parameters": sum(p.numel() for p in model.parameters()),
        "metrics": metrics,
        "loss_curves": history,
        "torch": torch.__version__,
    }
    if acc.is_main_process:
        export = Path(args.export)
        export.mkdir(parents=True, exist_ok=True)
        if hasattr(task, "save"):
            task.save(acc, export, card)
        else:
            state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
            save_file(state, str(export / f"{task.name}.safetensors"), metadata={"config": json.dumps(asdict(cfg))})
            (export / f"{task.name}.json").write_text(json.dumps(card, indent=2) + "\n")
    acc.print(json.dumps(metrics))
    return card


if __name__ == "__main__":
    main()
