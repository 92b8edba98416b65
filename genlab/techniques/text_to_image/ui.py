"""Prompt-to-image tab: lays out the controls and wires them to genlab.techniques.text_to_image.run."""

from __future__ import annotations

from dataclasses import replace

import gradio as gr

from genlab.core.cards import colour_metrics_md, metrics_md
from genlab.core.outputs import save_gif
from genlab.techniques import text_to_image as t2i
from genlab.techniques.text_to_image.views import (
    GIF_CELL,
    frames_strip,
    gif_frames,
    latent_grid,
    schedule_frame,
    shown,
)
from genlab.ui.components import Dropdown, controls, model_choices, picture_input
from genlab.ui.send import adapter_input, send_buttons
from genlab.ui.wiring import gallery, gallery_and_info, image_and_info, recipe_drop, stop_button, wire

DESCRIPTION = (
    "**Diffusion**: start from pure noise x_T and remove a little of it at each step with a network that predicts "
    "the noise, steered by your prompt (classifier-free guidance mixes a prompted and an unprompted prediction). "
    f"Offline, **{t2i.COLOUR_MODEL}** is a miniature Stable Diffusion genlab trained on this kind of CPU: "
    "a text encoder (MiniLM) reads your words, a UNet denoises a 16×16×4 **latent**, and a VAE decoder paints it "
    "as a 128×128 colour picture in the style of emoji and clip art. "
    f"**{t2i.FASHION_MODEL}** draws 28×28 greyscale clothes in pixel space. Online, pick a Stable Diffusion model."
)
FIELDS = ["prompt", "negative_prompt", "model", "steps", "guidance", "scheduler", "seed", "size", "batch"]


def _live(u):
    """A new x_t frame and the schedule's "now" line when the step recorded one; else nothing to send."""
    traj = u.data.get("trajectory")
    if traj is None or not traj.steps or traj.steps[-1] != u.done - 1:
        return None
    strip, plot = frames_strip(traj.xt, traj.offline), schedule_frame(traj, traj.timesteps[-1])
    status = f"step **{u.done} / {u.total}** · {u.desc}"
    return gr.update(), strip, gr.update(), gr.update(), plot, gr.update(), status, *SCRUB_IDLE


def _done(r):
    traj = r.data["trajectory"]
    gif = save_gif(gif_frames(traj, r.images[0], traj.offline), r.recipes[0], ms=250, stem="t2i-run")
    now = traj.timesteps[-1] if traj.timesteps else None
    big = [shown(im, True, GIF_CELL) for im in r.images] if traj.offline else r.images
    scrub = scrub_state(traj)
    n = len(scrub["xt"])
    return (
        gallery(replace(r, images=big), "t2i"),
        frames_strip(traj.xt, traj.offline),
        frames_strip(traj.x0, traj.offline),
        gif,
        schedule_frame(traj, now),
        gr.update(value=latent_grid(traj, r.images[0]), visible=bool(traj.channels)),
        r.info,
        scrub,
        gr.update(minimum=1, maximum=max(2, n), value=max(1, n), interactive=n > 1),
        *scrub_at(scrub, n),
    )


SCRUB_IDLE = (gr.update(), gr.update(), gr.update(), gr.update())  # scrub state, slider, x_t, x0: unchanged


def scrub_state(traj) -> dict:
    """What the scrubber shows at each step (first image): x_t and x̂0 pictures; for the colour model the VAE's
    decodes, the recorded frames' already made and the others' latents decoded when the step is shown."""
    common = {"t": traj.every_t, "offline": traj.offline}
    if not traj.vae_views:
        return {**common, "xt": traj.every_xt, "x0": traj.every_x0}
    n = len(traj.every_latents)
    xt, x0 = [None] * n, [None] * n
    for k, i in enumerate(traj.steps):
        xt[i], x0[i] = traj.xt[k][0], traj.x0[k][0] if k < len(traj.x0) else None
    return {**common, "xt": xt, "x0": x0, "latents": traj.every_latents, "model": traj.model}


def scrub_at(scrub: dict | None, step) -> tuple:
    """(x_t, x0_hat) of the first image after `step` denoising steps (1-based), enlarged; labels say the timestep."""
    if not scrub or not scrub["xt"]:
        return None, None
    k = min(max(int(step or 1), 1), len(scrub["xt"])) - 1
    pictures, note = (scrub["xt"][k], scrub["x0"][k] if k < len(scrub["x0"]) else None), ""
    if pictures[0] is None:  # the colour model: the VAE decodes this step's latents now (one batch)
        pictures, exact = t2i.decode_latents(scrub["model"], list(scrub["latents"][k]))
        if exact:
            scrub["xt"][k], scrub["x0"][k] = pictures
        else:
            note = " · linear preview while the model is busy"
    xt = shown(pictures[0], scrub["offline"], GIF_CELL)
    x0 = shown(pictures[1], scrub["offline"], GIF_CELL) if pictures[1] is not None else None
    return gr.update(value=xt, label=f"x_t after step {k + 1} (t = {scrub['t'][k]}){note}"), gr.update(
        value=x0, label=f"x̂0 predicted at step {k + 1}{note}"
    )


def adapt_to_model(model: str, steps, batch):
    """The controls a model can use: size only for hub models (the offline one draws 28×28), its own step and
    batch limits (values above them lowered, and said so), and whether it can run now."""
    ok, where = t2i.availability(model)
    most_steps, most_images = t2i.model_limits(model)
    steps_now, batch_now = min(int(steps or 1), most_steps), min(int(batch or 1), most_images)
    note = f"**{model}**: {where}." if ok else f"⚠ **{model}**: {where}; pick the offline model."
    if batch_now != batch or steps_now != steps:
        note += f" Up to {most_images} images and {most_steps} steps for this model."
    return (
        gr.update(visible=model not in t2i.OFFLINE_MODELS),
        gr.update(maximum=most_steps, value=steps_now),
        gr.update(maximum=most_images, value=batch_now),
        note,
    )


def build() -> None:
    S = t2i.Settings
    gr.Markdown(DESCRIPTION)
    with gr.Row():
        c = controls(
            S,
            ["prompt", "negative_prompt"],
            prompt={"max_lines": 3, "scale": 3},
            negative_prompt={"max_lines": 2, "scale": 2},
        )
    with gr.Row():
        choices = model_choices(t2i.allowed_models())
        c["model"] = Dropdown(choices, value=t2i.default_model(), label=S.spec("model").label, scale=3)
        c.update(controls(S, ["scheduler", "steps", "guidance"], scheduler={"widget": "dropdown"}))
    model_info = gr.Markdown(
        f"**{t2i.default_model()}**: {t2i.availability(t2i.default_model())[1]}."
        if t2i.default_model() in t2i.OFFLINE_MODELS
        else ""
    )
    with gr.Row():
        offline = t2i.default_model() in t2i.OFFLINE_MODELS
        c.update(controls(S, ["seed", "size", "batch"], size={"visible": not offline}))
    with gr.Row():
        go = gr.Button("Generate", variant="primary")
        stop = stop_button()
        grid_btn = gr.Button("Seed × guidance grid")
    with gr.Row():
        adapter = adapter_input(t2i.NAME)
        c.update(controls(S, ["lora_scale"]))
    status = gr.Markdown()
    images = gr.Gallery(label="Images", columns=8, height=210, object_fit="contain")  # one row of 8
    send_buttons(images, t2i.NAME)
    with gr.Row():
        xt = gr.Image(label="Trajectory x_t (first image, chosen steps)", type="pil", interactive=False, height=150)
        x0 = gr.Image(label="Predicted clean image x̂0 at the same steps", type="pil", interactive=False, height=150)
    with gr.Row():
        gif = gr.Image(label="The whole run (GIF)", type="filepath", format="gif", interactive=False, height=260)
        plot = gr.LinePlot(
            x="timestep t",
            y="value",
            color="curve",
            color_map={"signal √ᾱ_t": "#1f77b4", "noise √(1-ᾱ_t)": "#d62728", "now": "#111111"},
            y_lim=[0, 1],
            title="Noise schedule (sampling runs right to left)",
            label="Noise schedule",
            show_label=False,
        )
    latent = gr.Image(
        label="In latent space (first image): z_t's 4 channels per step (blue < 0 < red) and the VAE's picture of x̂0",
        type="pil",
        interactive=False,
        visible=t2i.default_model() not in (t2i.FASHION_MODEL,),
        elem_id="t2i-latent",
    )
    with gr.Accordion("Scrub through the run (first image): x_t and x̂0 at any step", open=True), gr.Row():
        scrub_step = gr.Slider(1, 2, value=1, step=1, label="Step", interactive=False, scale=2)  # set by each run
        scrub_xt = gr.Image(label="x_t", type="pil", interactive=False, height=200)
        scrub_x0 = gr.Image(label="x̂0", type="pil", interactive=False, height=200)
    scrub_state = gr.State(None)
    scrub_step.change(scrub_at, [scrub_state, scrub_step], [scrub_xt, scrub_x0], queue=False, api_visibility="private")
    grid_out = gr.Image(label="Seed × guidance", type="filepath", interactive=False)
    taught = {"lora_scale": c["lora_scale"], "adapter": adapter}  # trailing, optional in the API
    inputs = {**{k: c[k] for k in FIELDS}, **taught}
    outputs = [images, xt, x0, gif, plot, latent, status, scrub_state, scrub_step, scrub_xt, scrub_x0]
    wire(go.click, t2i, "generate", inputs, outputs, _done, live=_live, stop=stop, api_name="text_to_image")
    wire(c["prompt"].submit, t2i, "generate", inputs, outputs, _done, live=_live, stop=stop)
    grid_inputs = {
        **{k: c[k] for k in ["prompt", "negative_prompt", "model", "steps", "scheduler", "seed", "size"]},
        **taught,
    }
    grid_png = image_and_info("t2i-grid")
    wire(
        grid_btn.click,
        t2i,
        "grid",
        grid_inputs,
        [grid_out],
        lambda r: grid_png(r)[0],
        stop=stop,
        api_name="text_to_image_grid",
    )
    recipe_drop(t2i, {k: c[k] for k in [*FIELDS, "lora_scale"]}, actions=("generate",))
    c["model"].change(
        adapt_to_model,
        [c["model"], c["steps"], c["batch"]],
        [c["size"], c["steps"], c["batch"], model_info],
        api_visibility="private",
    )
    with gr.Accordion("Latent space: what the colour model's VAE keeps of a picture", open=False):
        with gr.Row():
            enc_in = picture_input("Picture to encode (centre square, 128 px)", height=220)
            enc_btn = gr.Button("Encode and decode", scale=0)
        enc_out = gr.Gallery(label="input · latents · reconstruction", columns=3, height=220, object_fit="contain")
        enc_info = gr.Markdown()
        wire(
            enc_btn.click,
            t2i,
            "encode",
            {"image": enc_in},
            [enc_out, enc_info],
            gallery_and_info("t2i-latents"),
            api_name="latent_space",
        )
    with gr.Accordion("How good are the offline models?", open=False):
        gr.Markdown(colour_metrics_md())
        gr.Markdown(
            metrics_md("text-to-image") + "\n\nJudged by genlab's Fashion-MNIST classifier; the paraphrases "
            "are prompts never seen in training (genlab/techniques/text_to_image/captions.py)."
        )
