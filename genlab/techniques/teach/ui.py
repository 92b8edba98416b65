"""Teach tab: lays out the controls and wires them to genlab.techniques.teach.run."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from genlab.models.diffusion import COLOUR_MODEL, HUB_MODELS
from genlab.techniques import teach
from genlab.techniques.teach.sets import SETS, pictures
from genlab.ui.components import Dropdown, controls, model_choices
from genlab.ui.send import send_adapter
from genlab.ui.wiring import image_and_info, stop_button, wire

DESCRIPTION = (
    "**Teach the model your pictures.** Give 3–20 pictures of one subject or style and a trigger prompt with a "
    "new word in it (the *token*, e.g. “a **sks** tiger”). **LoRA** (Hu et al. 2021) trains small low-rank "
    "matrices added to the UNet's attention (rank r: a few hundred KB) — DreamBooth's recipe (Ruiz et al. 2023) "
    "with *prior preservation*: the model first draws its own pictures of the class prompt, and on those the "
    "adapter is taught to predict what the model without it predicts, so the class does not drift. "
    "**Textual inversion** (Gal et al. 2022) trains only one new word "
    "embedding (1.5 KB): the networks stay as they were. Every few steps you see the trigger prompt (top row: "
    "should become your subject) and the class prompt (bottom row: should not change) at fixed seeds. The adapter "
    "is yours to download or to use in Prompt-to-image and Edit for this visit; it is never added to genlab."
)
CURVES = {"your pictures": "#d62728", "class pictures (prior)": "#1f77b4"}


def loss_frame(rows: list[dict]) -> pd.DataFrame:
    """Losses per step (a 10-step running mean: single steps are very noisy), every curve present from the start
    (the page's plot fixes its colours from the first data it is sent)."""
    df = pd.DataFrame(rows or [], columns=["step", "loss", "curve"])
    parts = []
    for c in CURVES:
        part = df[df["curve"] == c].copy()
        if len(part):
            part["loss"] = part["loss"].rolling(10, min_periods=1).mean()
        else:
            part = pd.DataFrame([{"step": float("nan"), "loss": float("nan"), "curve": c}])
        parts.append(part)
    return pd.concat(parts, ignore_index=True).astype({"step": float, "loss": float})


def set_gallery(name: str):
    """The built-in set's pictures (none for your upload)."""
    return [str(p) for p in pictures(name)] if name in SETS else []


def uploaded(files) -> dict:
    """The gallery of your uploaded pictures."""
    files = list(files or [])
    label = f"Your pictures: {len(files)} uploaded" if files else "Your pictures: upload them on the right"
    return gr.update(value=files, label=label)


def on_set(name: str, files):
    """Choosing a set: its pictures, and its trigger and class prompts; your upload's pictures for your own."""
    if name not in SETS:
        return uploaded(files), gr.update(), gr.update()
    ps = SETS[name]
    files = set_gallery(name)
    return gr.update(value=files, label=f"{ps.title}: {len(files)} pictures"), ps.prompt, ps.class_prompt


def on_method(method: str):
    return gr.update(value=teach.DEFAULT_LR[method]), gr.update(interactive=method == "lora")


def _live(u):
    status = f"step **{u.done} / {u.total}** · {u.desc}"
    losses = loss_frame(u.data.get("losses")) if u.data else gr.update()
    if u.preview is None:
        return gr.update(), losses, gr.update(), status
    return u.preview, losses, gr.update(), status


def _done(r):
    png, info = image_and_info("teach")(r)
    return png, loss_frame(r.data["losses"]), r.data["adapter"], info


def build() -> None:
    S = teach.Settings
    gr.Markdown(DESCRIPTION)
    with gr.Row():
        c = controls(S, ["pictures", "method"], pictures={"widget": "dropdown", "scale": 2})
        models = [COLOUR_MODEL, *HUB_MODELS]
        choices = model_choices(models)
        c["model"] = Dropdown(choices, value=COLOUR_MODEL, label=S.spec("model").label, scale=2)
    first = S.default("pictures")
    with gr.Row():
        shown = gr.Gallery(
            set_gallery(first),
            label=f"{SETS[first].title}: {len(set_gallery(first))} pictures",
            columns=8,
            height=160,
            object_fit="contain",
            scale=3,
        )
        upload = gr.File(
            label=f"Or upload {teach.MIN_PICTURES}-{teach.MAX_PICTURES} of your own pictures (PNG, JPEG, WebP)",
            file_count="multiple",
            file_types=["image"],
            value=[],  # API callers of a built-in set may leave it out
            type="filepath",
            height=160,
            scale=2,
            elem_id="teach-upload",
        )
    with gr.Row():
        c.update(controls(S, ["prompt", "token", "class_prompt"], prompt={"scale": 2}, class_prompt={"scale": 2}))
    with gr.Accordion("Settings", open=False):
        with gr.Row():
            c.update(controls(S, ["rank", "steps", "lr", "every", "seed"]))
        with gr.Row():
            c.update(controls(S, ["prior", "flip"]))
    c["pictures"].change(
        on_set, [c["pictures"], upload], [shown, c["prompt"], c["class_prompt"]], api_visibility="private"
    )
    upload.change(
        lambda files: (teach.UPLOAD if files else gr.update(), uploaded(files)),
        upload,
        [c["pictures"], shown],
        api_visibility="private",
    )
    c["method"].change(on_method, c["method"], [c["lr"], c["rank"]], api_visibility="private")
    with gr.Row():
        go = gr.Button("Teach", variant="primary")
        stop = stop_button()
    status = gr.Markdown()
    with gr.Row():
        grid = gr.Image(
            label="Fixed seeds: the trigger prompt (top) and the class prompt (bottom)",
            type="filepath",
            interactive=False,
            height=340,
            scale=3,
            elem_id="teach-grid",
        )
        losses = gr.LinePlot(
            loss_frame([]), x="step", y="loss", color="curve", color_map=CURVES, title="Loss", height=300, scale=2
        )
    adapter = gr.File(label="Your adapter (safetensors; this visit only)", elem_id="teach-adapter")
    with gr.Row():
        send_adapter(adapter, "text_to_image", "Use in Prompt-to-image")
        send_adapter(adapter, "edit", "Use in Edit")
    names = ["pictures", "method", "prompt", "token", "class_prompt", "rank", "steps", "lr", "prior", "flip"]
    inputs = {**{k: c[k] for k in [*names, "every", "model", "seed"]}, "images": upload}
    wire(go.click, teach, None, inputs, [grid, losses, adapter, status], _done, live=_live, stop=stop, api_name="teach")
