"""Prompt-to-image tab: diffusers pipelines (hub or genlab's offline model), with the denoising made visible."""

from __future__ import annotations

import os
import queue
import threading
from dataclasses import asdict

import gradio as gr
from PIL import Image, ImageDraw

from genlab import diffusion as dif
from genlab.recipes import make_recipe
from genlab.ui.gan_tab import metrics_md
from genlab.ui.common import HEAVY, Number, Slider, Pulled, StopFlag, as_float, as_int, figure_image, recipe_drop, restore, save_gif, save_outputs, stop_button, strip, ui_errors

TECHNIQUE = "text_to_image"
FIELDS = ["prompt", "negative_prompt", "model", "steps", "guidance", "scheduler", "seed", "size", "batch"]

try:  # ZeroGPU Spaces: the GPU is attached only inside functions marked spaces.GPU
    import spaces

    gpu = spaces.GPU(duration=120)
except Exception:  # not on Spaces (or no `spaces` package): run as is

    def gpu(fn):
        return fn


def allowed_models() -> list[str]:
    """What a visitor may pick: the offline model, the listed hub ids, and ids or local folders the person who
    runs the app names in $GENLAB_T2I_MODEL / $GENLAB_T2I_MODELS (comma-separated). Anything else would let
    a visitor make the server download any hub repository or read any folder."""
    extra = [m.strip() for m in os.environ.get("GENLAB_T2I_MODELS", "").split(",") if m.strip()]
    return list(dict.fromkeys([dif.OFFLINE_MODEL, *dif.HUB_MODELS, dif.default_model(), *extra]))


def settings(prompt, negative, model, steps, guidance, scheduler, seed, size, batch) -> dif.T2ISettings:
    if not isinstance(prompt, str) or not isinstance(negative or "", str):
        raise ValueError("prompt and negative prompt must be text.")
    if (model or dif.OFFLINE_MODEL) not in allowed_models():
        raise ValueError(
            f"Model {str(model)[:80]!r} is not offered here: pick one of the list. Whoever runs the app can add "
            "hub ids or local diffusers folders with GENLAB_T2I_MODELS=id1,id2."
        )
    return dif.T2ISettings(
        prompt=prompt, negative_prompt=negative or "", model=str(model or dif.OFFLINE_MODEL),
        steps=as_int(steps, "steps", 1, 1000), guidance=as_float(guidance, "guidance", 0, 30), scheduler=str(scheduler),
        seed=as_int(seed, "seed", 0, 2**63 - 65), size=as_int(size, "size", 256, 1024), batch=as_int(batch, "batch", 1, 64),
    ).validate()  # fmt: skip


def _show(im: Image.Image, offline: bool) -> Image.Image:
    return im.resize((224, 224), Image.NEAREST) if offline else im


def schedule_plot(traj: dif.Trajectory, current: int | None):
    """sqrt(alpha_bar_t) (signal) and sqrt(1 - alpha_bar_t) (noise) against t; recorded steps marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    a = np.asarray(traj.alphas_cumprod)
    fig, ax = plt.subplots(figsize=(4.6, 2.4))
    if len(a):
        t = np.arange(len(a))
        ax.plot(t, np.sqrt(a), label="signal √ᾱ_t", color="tab:blue")
        ax.plot(t, np.sqrt(1 - a), label="noise √(1-ᾱ_t)", color="tab:red")
        for ts in traj.timesteps:
            ax.axvline(ts, color="grey", lw=0.6, alpha=0.6)
        if current is not None:
            ax.axvline(current, color="black", lw=2, label=f"now: t={current}")
    ax.set_xlabel("timestep t (sampling runs right to left)")
    ax.legend(fontsize=7, loc="center right")
    ax.set_title("noise schedule")
    return figure_image(fig)


@gpu
def _generate(s: dif.T2ISettings, should_stop, on_step, traj: dif.Trajectory):
    return dif.generate(s, should_stop=should_stop, on_step=on_step, trajectory=traj)


@ui_errors
def run(prompt, negative, model, steps, guidance, scheduler, seed, size, batch, flag: StopFlag | None = None,
        progress=gr.Progress()):  # fmt: skip
    """Prompt -> images. Yields live step counts; the end gives PNGs with recipes, the x_t and x0_hat strips,
    a GIF of the run and the noise schedule plot."""
    s = settings(prompt, negative, model, steps, guidance, scheduler, seed, size, batch)
    flag = flag or StopFlag()
    flag.clear()
    offline = s.model == dif.OFFLINE_MODEL
    progress(0, desc=f"loading {s.model} (first use only)")
    events: queue.Queue = queue.Queue()
    result: dict = {}
    live = dif.Trajectory()
    pulled, abandoned = Pulled(), threading.Event()  # the client left: stop the worker within one step

    def work():
        try:
            stop = lambda: flag.is_set() or abandoned.is_set() or pulled.gone()  # noqa: E731
            result["out"] = _generate(s, stop, lambda i, n: events.put((i, n)), live)
        except Exception as e:  # handed to the request thread below
            result["error"] = e
        events.put(None)

    threading.Thread(target=work, daemon=True).start()
    shown = 0
    try:
        while (ev := events.get()) is not None:
            progress(ev, desc="denoising")
            frames = len(live.xt)
            xt_live = strip([_show(f[0], offline).resize((112, 112)) for f in live.xt[:frames]]) if frames > shown else gr.update()
            plot_live = schedule_plot(live, live.timesteps[frames - 1]) if frames > shown else gr.update()
            shown = frames
            pulled.yielding()
            yield gr.update(), xt_live, gr.update(), gr.update(), plot_live, f"step **{ev[0]} / {ev[1]}**"
            pulled.resumed()
    finally:  # also on GeneratorExit, when Gradio closes the event
        if "out" not in result and "error" not in result:
            abandoned.set()
    if "error" in result:
        raise result["error"]  # ui_errors turns it into a short message
    images, traj, label = result["out"]
    params = asdict(s)
    recipes = [make_recipe(TECHNIQUE, {**params, "seed": s.seed + i, "batch": 1}, weights=label, seed=s.seed + i) for i in range(len(images))]
    paths = save_outputs([_show(im, offline) for im in images], recipes, stem="t2i")
    xt = strip([_show(f[0], offline).resize((112, 112)) for f in traj.xt]) if traj.xt else None
    x0 = strip([_show(f[0], offline).resize((112, 112)) for f in traj.x0]) if traj.x0 else None
    frames = [_labelled(_show(a[0], offline).resize((224, 224)), f"x_t  step {i + 1}") for a, i in zip(traj.xt, traj.steps)]
    if traj.x0:
        frames = [strip([f, _labelled(_show(b[0], offline).resize((224, 224)), "predicted x0")]) for f, b in zip(frames, traj.x0)]
    gif = save_gif(frames + [strip([_show(images[0], offline).resize((224, 224))] * (2 if traj.x0 else 1))], recipes[0], ms=250)
    stopped = {"stop": " (stopped early)", "deadline": " (stopped at the time limit per request)"}.get(traj.stopped, "")
    info = f"**Weights:** {label} · {s.scheduler}, {len(traj.steps) and traj.steps[-1] + 1}/{s.steps} steps{stopped}"
    if traj.read_as:
        info += "  \n**Read as** (the training captions nearest your words, by weight): " + ", ".join(
            f"“{text}” {w:.0%}" for text, w in traj.read_as
        )
    yield list(zip(paths, [f"seed {s.seed + i}" for i in range(len(paths))])), xt, x0, gif, schedule_plot(traj, traj.timesteps[-1] if traj.timesteps else None), info


def _labelled(im: Image.Image, text: str) -> Image.Image:
    im = im.convert("RGB")
    ImageDraw.Draw(im).text((4, 4), text, fill=(255, 220, 0))
    return im


@ui_errors
def guidance_grid(prompt, negative, model, steps, scheduler, seed, size):
    """Rows: 4 seeds; columns: guidance 1, 2, 3, 5, 8. Shows how classifier-free guidance trades variety for fidelity."""
    scales = (1.0, 2.0, 3.0, 5.0, 8.0)
    cols = []
    for w in scales:
        s = settings(prompt, negative, model, steps, w, scheduler, seed, size, 4)
        images, _, label = dif.generate(s)
        cols.append(images)
    offline = model == dif.OFFLINE_MODEL
    cell = 112 if offline else 192
    grid = Image.new("RGB", (40 + cell * len(scales), 20 + cell * 4), (24, 24, 24))
    d = ImageDraw.Draw(grid)
    for j, (w, ims) in enumerate(zip(scales, cols)):
        d.text((40 + j * cell + 4, 4), f"w = {w:g}", fill=(255, 255, 255))
        for i, im in enumerate(ims):
            grid.paste(im.convert("RGB").resize((cell, cell), Image.NEAREST if offline else Image.LANCZOS), (40 + j * cell, 20 + i * cell))
            if j == 0:
                d.text((2, 20 + i * cell + 4), f"{int(seed) + i}", fill=(255, 255, 255))
    recipe = make_recipe("text_to_image_grid", {"prompt": prompt, "model": model, "steps": steps, "scheduler": scheduler}, weights=label, seed=int(seed))
    return save_outputs([grid], [recipe], stem="t2i-grid")[0]


def build() -> None:
    flag = gr.State(StopFlag())
    gr.Markdown(
        "**Diffusion**: start from pure noise x_T and remove a little of it at each step with a network that predicts "
        "the noise, steered by your prompt (classifier-free guidance mixes a prompted and an unprompted prediction). "
        f"Offline, **{dif.OFFLINE_MODEL}** is a small model genlab trained on this kind of CPU: it draws 28×28 "
        "greyscale clothes, shoes and bags (Fashion-MNIST) from your own words. Online, pick a Stable Diffusion model."
    )
    with gr.Row():
        prompt = gr.Textbox(label="Prompt", value="a pair of sneakers", max_lines=3, scale=3)
        negative = gr.Textbox(label="Negative prompt", value="", max_lines=2, scale=2)
    with gr.Row():
        model = gr.Dropdown(allowed_models(), value=dif.default_model(), label="Model (more: GENLAB_T2I_MODELS)", scale=3)
        scheduler = gr.Dropdown(list(dif.SCHEDULERS), value="DPM-Solver++", label="Scheduler")
        steps = Slider(1, 100, value=20, step=1, label="Steps")
        guidance = Slider(0, 15, value=dif.T2ISettings.__dataclass_fields__["guidance"].default, step=0.5, label="Guidance w")
    with gr.Row():
        seed = Number(value=0, precision=0, label="Seed (image i uses seed + i)")
        size = Slider(256, 1024, value=512, step=64, label="Size (hub models; offline is 28×28)")
        batch = Slider(1, 16, value=8, step=1, label="Images")
    with gr.Row():
        go = gr.Button("Generate", variant="primary")
        stop_button(flag)
        grid_btn = gr.Button("Seed × guidance grid")
    status = gr.Markdown()
    gallery = gr.Gallery(label="Images", columns=8, height=280, object_fit="contain")
    with gr.Row():
        xt = gr.Image(label="Trajectory x_t (first image, chosen steps)", type="pil", interactive=False, height=150)
        x0 = gr.Image(label="Predicted clean image x̂0 at the same steps", type="pil", interactive=False, height=150)
    with gr.Row():
        gif = gr.Image(label="The whole run (GIF)", type="filepath", format="gif", interactive=False, height=260)
        plot = gr.Image(label="Noise schedule", type="pil", interactive=False, height=260)
    grid_out = gr.Image(label="Seed × guidance", type="filepath", interactive=False)
    inputs = [prompt, negative, model, steps, guidance, scheduler, seed, size, batch]
    go.click(run, [*inputs, flag], [gallery, xt, x0, gif, plot, status], api_name="text_to_image", concurrency_id=HEAVY)
    prompt.submit(run, [*inputs, flag], [gallery, xt, x0, gif, plot, status], api_visibility="private", concurrency_id=HEAVY)
    grid_btn.click(guidance_grid, [prompt, negative, model, steps, scheduler, seed, size], grid_out,
                   api_name="text_to_image_grid", concurrency_id=HEAVY)  # fmt: skip
    drop = recipe_drop()
    drop.upload(lambda p: restore(TECHNIQUE, FIELDS, p), drop, inputs, api_visibility="private")
    with gr.Accordion("How good is the offline model?", open=False):
        gr.Markdown(metrics_md("text-to-image") + "\n\nJudged by genlab's Fashion-MNIST classifier; the paraphrases "
                    "are prompts never seen in training (genlab/captions.py).")
