"""What the colour trainers (train_vae, train_ldm, train_control) share: a resumable, time-boxed training run.

A run folder holds `ckpt.pt` (our own checkpoint, tensors only, replaced atomically); during `fit`, SIGTERM/SIGINT
end the loop after the current step with an export and a checkpoint; exports are written beside the destination and
swapped into place, so `weights/…` is never half-written. A subclass provides `train_step()` (-> the loss and a
progress note), `export()` (calls `publish`), and the network/optimiser state to checkpoint.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch


def add_run_args(ap, *, hours: float, threads: int = 2, tqdm_seconds: float = 60.0) -> None:
    """The arguments ResumableRun reads (seed, time box, checkpoints, exports, progress, resume), on one parser."""
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=threads)
    ap.add_argument("--hours", type=float, default=hours)
    ap.add_argument("--max-steps", type=int, default=0)
    ap.add_argument("--ckpt-minutes", type=float, default=10.0)
    ap.add_argument("--export-minutes", type=float, default=20.0)
    ap.add_argument("--tqdm-seconds", type=float, default=tqdm_seconds)
    ap.add_argument("--resume", action="store_true")


class ResumableRun:
    tag = "run"  # log prefix
    seen_key = "samples_seen"  # the state's count of training examples seen

    def __init__(self, a, run_dir: Path, out: Path):
        self.a = a
        self.run = Path(run_dir).expanduser()
        self.out = Path(out).expanduser()
        self.run.mkdir(parents=True, exist_ok=True)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(a.seed)
        self.gen = torch.Generator().manual_seed(a.seed)
        self.state = dict(
            step=0, seconds=0.0, loss_curve=[], started=time.strftime("%Y-%m-%d %H:%M:%S"), **{self.seen_key: 0}
        )
        self.stop = False

    def log(self, msg: str) -> None:
        print(f"[{self.tag}] {msg}", flush=True)

    def _signal(self, *_):
        self.log("signal received: checkpointing and exporting, then stopping")
        self.stop = True

    # ------------------------------------------------------------------ checkpoints
    @property
    def ckpt_path(self) -> Path:
        return self.run / "ckpt.pt"

    def resume(self) -> dict | None:
        """With --resume and a checkpoint: restore the RNGs, the state and cfg (with --set-lr applied); return the
        checkpoint for the subclass's networks. Otherwise None."""
        if not (self.a.resume and self.ckpt_path.exists()):
            return None
        ck = torch.load(self.ckpt_path, map_location="cpu", weights_only=True)  # our own checkpoint; tensors only
        self.cfg = ck["cfg"]
        self.gen.set_state(ck["gen"])
        torch.set_rng_state(ck["torch_rng"])
        self.state = ck["state"]
        if self.a.set_lr:
            self.cfg["lr"] = self.a.set_lr
        self.log(f"resumed {self.ckpt_path} at step {self.state['step']}")
        return ck

    def checkpoint_tensors(self) -> dict:
        """The subclass's networks and optimiser: {"model": ..., "opt": ..., ...}."""
        raise NotImplementedError

    def checkpoint(self) -> None:
        tmp = self.run / "ckpt.pt.tmp"
        ck = dict(
            **self.checkpoint_tensors(),
            gen=self.gen.get_state(),
            torch_rng=torch.get_rng_state(),
            state=self.state,
            cfg=self.cfg,
        )
        torch.save(ck, tmp)
        os.replace(tmp, self.ckpt_path)

    # ------------------------------------------------------------------ exports
    def publish(self, save: Callable[[Path], None]) -> None:
        """save(folder) writes the export into a fresh folder beside self.out, which then replaces self.out."""
        tmp = self.out.with_name(self.out.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        save(tmp)
        old = self.out.with_name(self.out.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if self.out.exists():
            os.replace(self.out, old)
        os.replace(tmp, self.out)
        shutil.rmtree(old, ignore_errors=True)

    def export(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ the loop
    def train_step(self) -> tuple[float, str]:
        """One optimiser step: (loss, a short note for the progress bar)."""
        raise NotImplementedError

    def fit(self, *, export_first: bool = False) -> None:
        """Train until --hours of wall time, --max-steps, or a signal; checkpoint every --ckpt-minutes, export (and
        checkpoint) every --export-minutes and at the end."""
        a = self.a
        # from here on a signal ends the loop with an export and a checkpoint (the caller's handlers come back after)
        before = {sig: signal.signal(sig, self._signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self._loop(a, export_first)
        finally:
            for sig, handler in before.items():
                signal.signal(sig, handler)

    def _loop(self, a, export_first: bool) -> None:
        from tqdm import tqdm

        t_end = time.time() + a.hours * 3600
        last_ck = last_ex = time.time()
        if export_first:
            self.export()
            last_ex = time.time()
        ema = None
        bar = tqdm(
            total=a.max_steps or None,
            initial=self.state["step"],
            mininterval=a.tqdm_seconds,
            file=sys.stdout,
            ncols=110,
        )
        while not self.stop and time.time() < t_end and (not a.max_steps or self.state["step"] < a.max_steps):
            t = time.time()
            loss, note = self.train_step()
            self.state["seconds"] += time.time() - t
            self.state["step"] += 1
            self.state[self.seen_key] += self.cfg["batch"]
            ema = loss if ema is None else 0.98 * ema + 0.02 * loss
            if self.state["step"] % 25 == 0:
                self.state["loss_curve"].append((self.state["step"], ema))
                bar.set_postfix_str(f"loss {ema:.4f} {note}{time.time() - t:.2f}s/it", refresh=False)
            bar.update(1)
            now = time.time()
            if now - last_ck > a.ckpt_minutes * 60:
                self.checkpoint()
                last_ck = now
            if now - last_ex > a.export_minutes * 60:
                self.export()
                self.checkpoint()
                last_ex = last_ck = time.time()
        bar.close()
        self.export()
        self.checkpoint()  # after the export: the state keeps the export's record
        self.log(f"stopped at step {self.state['step']} after {self.state['seconds'] / 3600:.2f} h of training")
