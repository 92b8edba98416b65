"""Train live tab: lays out the controls and wires them to genlab.techniques.train_live.run."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from genlab.techniques import train_live as tl
from genlab.ui.components import controls
from genlab.ui.send import send_weights
from genlab.ui.wiring import image_and_info, stop_button, wire

DESCRIPTION = (
    "**Watch a model learn.** A small DCGAN or VAE trains here, in this request, on Fashion-MNIST (batches of 64). "
    "Every few steps you see what it draws from 64 fixed latents, its losses, and how many of the ten classes "
    "genlab's classifier finds among 256 of its samples — so **mode collapse** (a GAN settling on a few kinds of "
    "output) shows as it happens. The presets reproduce the classic failures and their fixes. At the end (or at "
    "Stop) the weights are yours to download, or to load into the GAN or VAE tab for this visit; they are never "
    "added to genlab."
)
CURVES = {"generator": "#1f77b4", "discriminator": "#d62728", "reconstruction": "#2ca02c", "KL": "#9467bd"}


def loss_frame(rows: list[dict]) -> pd.DataFrame:
    """Losses per step, at most ~600 points per curve. Every curve has a row from the start (empty until it has
    data): the page's plot fixes its colour legend from the first data it is sent."""
    losses = pd.DataFrame(rows or [], columns=["step", "loss", "curve"])
    if len(losses) > 1200:
        k = len(losses) // 1200 + 1
        losses = losses[losses["step"] % k == 0]
    missing = [
        {"step": float("nan"), "loss": float("nan"), "curve": c} for c in CURVES if c not in set(losses["curve"])
    ]
    out = pd.concat([losses, pd.DataFrame(missing, columns=["step", "loss", "curve"])], ignore_index=True)
    return out.astype({"step": float, "loss": float})


def _plots(data):
    cov = pd.DataFrame(data.get("coverage") or [], columns=["step", "classes"])
    return loss_frame(data.get("losses")), cov


def _live(u):
    if u.preview is None:
        return gr.update(), gr.update(), gr.update(), gr.update(), f"step **{u.done} / {u.total}** · {u.desc}"
    losses, cov = _plots(u.data)
    return u.preview, losses, cov, gr.update(), f"step **{u.done} / {u.total}** · {u.desc}"


def _done(r):
    png, info = image_and_info("train-live")(r)
    losses, cov = _plots(r.data)
    return png, losses, cov, r.data["weights"], info


def build() -> None:
    S = tl.Settings
    gr.Markdown(DESCRIPTION)
    with gr.Row():
        c = controls(S, ["preset", "steps", "every", "seed"], preset={"widget": "dropdown", "scale": 2})
    watch = gr.Markdown(f"*{tl.PRESETS[S.default('preset')].title}.* {tl.PRESETS[S.default('preset')].watch}")
    c["preset"].change(
        lambda p: (f"*{tl.PRESETS[p].title}.* {tl.PRESETS[p].watch}", gr.update(value=tl.DEFAULT_STEPS[p])),
        c["preset"],
        [watch, c["steps"]],
        api_visibility="private",
    )
    with gr.Row():
        go = gr.Button("Train", variant="primary")
        stop = stop_button()
    status = gr.Markdown()
    with gr.Row():
        grid = gr.Image(
            label="64 fixed latents, decoded",
            type="filepath",
            interactive=False,
            height=420,
            scale=1,
            elem_id="train-live-grid",
        )
        with gr.Column(scale=1):
            losses = gr.LinePlot(
                loss_frame([]), x="step", y="loss", color="curve", color_map=CURVES, title="Losses", height=200
            )
            cov = gr.LinePlot(
                pd.DataFrame({"step": [], "classes": []}),
                x="step",
                y="classes",
                y_lim=[0, 10],
                title="Classes covered (≥ 2 % of 256 samples, judged by genlab's classifier)",
                height=200,
            )
    weights = gr.File(label="The trained weights (safetensors; this visit only)")
    send_weights(weights)
    wire(
        go.click, tl, None, c, [grid, losses, cov, weights, status], _done, live=_live, stop=stop, api_name="train_live"
    )
