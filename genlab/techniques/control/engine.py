"""Control's run(): the edge map from the picture, then the prompt with the ControlNet and without it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from genlab.core.control import Control, in_thread
from genlab.core.devices import cpu_generator
from genlab.core.images import editor_parts, open_image, to_pictures
from genlab.core.recipes import make_recipe
from genlab.core.steps import Result, Update
from genlab.core.weights import LazyMap, file_sha256
from genlab.models import diffusion
from genlab.techniques.control import COLOUR_KINDS, HED_SOURCES, NAME, SIDE, Settings
from genlab.techniques.control import HUB_CONTROLNETS as HUB_IDS

LINE_LEVEL = 96  # a pixel is a stroke when some channel is this far below white (any colour on white)
MIN_LINES, MAX_LINES = 0.002, 0.35  # share of edge pixels an edge map may have (at least / at most)


def _controlnet(kind: str):
    from genlab.colour import control

    return control.load_controlnet(kind=kind)


CONTROLNETS = LazyMap(_controlnet)  # "canny" / "hed" -> (ControlNetModel, label): loaded on first use, once


def colour_kind(source: str) -> str:
    """The colour model's ControlNet for a source (COLOUR_KINDS): "canny" or "hed"."""
    return COLOUR_KINDS[source]


HUB_SIDE = 512  # SD 1.5's picture side (what a hub request is charged for before the model is loaded)


def hub_controlnet_id(source: str) -> str:
    """The ControlNet for a hub model: $GENLAB_HUB_CONTROLNET (an id or a local folder) if set, else the public
    SD 1.5 ControlNet trained on this kind of map."""
    return os.environ.get("GENLAB_HUB_CONTROLNET") or HUB_IDS[source]


def _hub_controlnet(name: str):
    from diffusers import ControlNetModel

    from genlab.core.devices import device, dtype

    net, source = diffusion.load_hub(ControlNetModel, name, dtype=dtype(device()), use_safetensors=True)
    shown = Path(name).name if Path(name).is_dir() else name
    return net.eval().requires_grad_(False), f"{shown} — {source}"


HUB_CONTROLNETS = LazyMap(_hub_controlnet)  # ControlNet id -> (ControlNetModel, label)


def _picture(m: np.ndarray) -> Image.Image:
    """An RGB picture of a map [H,W]: uint8 lines (255 = line) or soft edges in [0,1]."""
    return Image.fromarray(m if m.dtype == np.uint8 else (m * 255).round().astype(np.uint8)).convert("RGB")


def square(im: Image.Image, side: int = SIDE) -> Image.Image:
    """The centred square of the picture at side x side px."""
    s = min(im.size)
    left, top = (im.width - s) // 2, (im.height - s) // 2
    return im.crop((left, top, left + s, top + s)).resize((side, side), Image.LANCZOS)


def edge_map(s: Settings, inputs: dict, side: int = SIDE) -> tuple[np.ndarray, str, np.ndarray | None]:
    """(uint8 edge map [side,side], 255 = line; the picture's path; for soft edges HED's soft edges [side,side] in
    [0,1] the lines were thinned from, else None) from inputs["sketch"]: a gr.ImageEditor value (what the person
    sees, strokes included) or a picture path."""
    import cv2

    from genlab.colour import control

    path = editor_parts(inputs.get("sketch"), composite=True)[0]
    if not path:
        raise ValueError(
            "Draw lines on the canvas, or upload a picture (PNG, JPEG or WebP) and choose edges, contours or soft edges."
        )
    im = open_image(path, min_side=16)
    a = np.asarray(im)
    if a.min() == a.max() and a.min() > 255 - LINE_LEVEL:  # one light colour: an empty canvas
        raise ValueError(
            "The canvas is blank: draw dark lines on it, or upload a picture. After picking an example, wait until "
            "it shows on the canvas, then generate."
        )
    soft = None
    if s.source == "edges":
        edges = control.canny(np.asarray(square(im, side)))
    elif s.source in HED_SOURCES:
        from genlab.colour import hed

        # one HED pass: at SOFT_SIDE from the 128-px square, as the HED ControlNet's training maps; at a hub
        # model's own side for the public ControlNets. Contours are its thinned lines, soft edges the map as is
        soft, edges = hed.contours(np.asarray(square(im, side)), side, max(side, hed.SOFT_SIDE))
        soft = soft if s.source == "soft edges" else None
    else:  # strokes at full size, then their share of each 128-px cell (area average)
        c = min(a.shape[:2])
        top, left = (a.shape[0] - c) // 2, (a.shape[1] - c) // 2
        stroke = (255 - a[top : top + c, left : left + c].min(-1) > LINE_LEVEL).astype(np.float32)
        edges = ((cv2.resize(stroke, (side, side), interpolation=cv2.INTER_AREA) > 0.2) * 255).astype(np.uint8)
    share = float((edges > 0).mean())
    if share < MIN_LINES:
        what = s.source
        raise ValueError(
            f"The picture gives almost no {what} ({share:.1%} of the pixels): "
            + (
                "draw dark lines on the white canvas, or choose edges or contours for a photo."
                if s.source == "lines"
                else "use a picture with clear shapes, or draw lines and choose lines."
            )
        )
    if share > MAX_LINES:
        raise ValueError(
            f"{share:.0%} of the picture counts as lines (at most {MAX_LINES:.0%}): "
            + (
                "for a photo or a filled drawing, choose edges or contours."
                if s.source == "lines"
                else "this picture is too busy; crop it or use a simpler one."
            )
        )
    return edges, path, soft


def run(s: Settings, inputs: dict, ctl: Control):
    import torch

    from genlab.colour import control

    side = SIDE if s.offline else HUB_SIDE
    edges, path, soft = edge_map(s, inputs, side)  # refused here, before anything loads, if it is no edge map
    passes = 2 if s.compare else 1
    ctl.charge(
        side * side * s.steps * s.batch * passes * 1.5,  # the ControlNet adds about half a UNet per step
        f"{side}x{side} px x {s.steps} steps x {s.batch} images x {passes} (with and without control)",
        "Use fewer steps or fewer images.",
    )
    total = s.steps * passes
    yield Update(0, total, "loading the model and its ControlNet (first use only)")
    base, label = diffusion.MODELS.get(s.model)
    dev = base.unet.device
    if s.offline:
        net, net_label = CONTROLNETS.get(colour_kind(s.source))
        net.to(dev)
        if soft is not None:  # soft edges: the HED ControlNet reads them [1,1,128,128] in [0,1]
            image = torch.from_numpy(soft)[None, None].to(dev)
        else:
            image = control.to_control(edges[None]).to(dev)  # [1,1,128,128] in {0,1}
    else:
        net, net_label = HUB_CONTROLNETS.get(hub_controlnet_id(s.source))
        if net.config.cross_attention_dim != base.unet.config.cross_attention_dim:
            raise ValueError(
                f"{net_label.split(' —')[0]} reads text features of width {net.config.cross_attention_dim}, "
                f"{s.model} gives {base.unet.config.cross_attention_dim}: the public ControlNets fit SD 1.5 models."
            )
        net.to(dev, dtype=base.unet.dtype)
        side = base.unet.config.sample_size * base.vae_scale_factor  # the model's own picture side
        if side != len(edges):  # (HED runs again only for a model of another side than SD 1.5's)
            edges, _, soft = edge_map(s, inputs, side)
    seen = _picture(edges if soft is None else soft)  # the map the ControlNet reads, as a picture
    if not s.offline:  # RGB [side,side], as the public ControlNets read it: white lines on black or soft edges
        image = seen

    def draw(with_control: bool, offset: int):
        pipe, _ = diffusion.request_copy(base, "DPM-Solver++")
        desc = "with control" if with_control else "without control"

        def work(emit):
            def callback(p, i, t, kw):
                emit(Update(offset + i + 1, total, desc))
                if ctl.halted():
                    p.interrupt()
                return kw

            extra = {}
            if with_control:
                extra = dict(
                    controlnet=net,
                    image=image,
                    controlnet_conditioning_scale=s.strength,
                    control_guidance_start=s.start,
                    control_guidance_end=s.end,
                )
            if with_control and not s.offline:  # diffusers' SD ControlNet pipeline around the same modules
                from diffusers import StableDiffusionControlNetPipeline

                call = StableDiffusionControlNetPipeline.from_pipe(pipe, controlnet=net)
                call.set_progress_bar_config(disable=True)
            else:
                call = pipe
            return call(
                s.prompt,
                negative_prompt=s.negative_prompt,
                num_inference_steps=s.steps,
                guidance_scale=s.guidance,
                num_images_per_prompt=s.batch,
                generator=[cpu_generator(s.seed + i) for i in range(s.batch)],
                output_type="pt",
                callback_on_step_end=callback,
                **extra,
            ).images

        with torch.inference_mode():
            out = yield from in_thread(work, ctl)
        if not torch.isfinite(out).all():
            raise ValueError("The model produced NaN values (a numerical failure): try fewer steps or strength 1.")
        return to_pictures(out)

    controlled = yield from draw(True, 0)
    plain = (yield from draw(False, s.steps)) if s.compare and not ctl.halted() else []
    f1 = [control.edge_f1(control.canny(np.asarray(im)), edges) for im in controlled]
    f1_plain = [control.edge_f1(control.canny(np.asarray(im)), edges) for im in plain]
    weights = f"{label}; control: {net_label}"
    if s.source in HED_SOURCES:
        from genlab.colour import hed

        weights += f"; edges: {hed.load()[1]}"
    images, recipes, captions = [], [], []
    for group, on in [(controlled, True), (plain, False)]:
        for i, im in enumerate(group):
            params = {**s.params(), "seed": s.seed + i, "batch": 1, **({} if on else {"strength": 0.0})}
            recipe = make_recipe(NAME, params, weights=weights if on else label, seed=s.seed + i)
            recipes.append({**recipe, "input_sha256": file_sha256(Path(path))})
            images.append(im)
            score = (f1 if on else f1_plain)[i]
            captions.append(f"seed {s.seed + i} · {'with' if on else 'without'} control · edge F1 {score:.2f}")
    against = "HED's thinned contours" if s.source in HED_SOURCES else "your map"
    info = f"**Weights:** {weights} · {s.steps} steps{ctl.note()}  \n**Edge alignment** (F1 of each picture's "
    info += f"Canny edges against {against}, 2 px tolerance): with control **{np.mean(f1):.2f}**"
    if f1_plain:
        info += f", without **{np.mean(f1_plain):.2f}**"
    data = {"edges": seen, "lines": _picture(edges), "f1": f1, "f1_without": f1_plain, "with": len(controlled)}
    yield Result(images, recipes, info, captions, data=data, stopped=ctl.reason)
