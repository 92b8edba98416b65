"""Edit's run(): the input picture and mask checked and brought to the model's size, then SDEdit, RePaint
inpainting or outpainting (genlab.techniques.edit.sampler) on genlab's models, or diffusers' image-to-image and
inpainting pipelines (from_pipe: the loaded text-to-image modules, shared) for hub models."""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from genlab.core.control import Control, in_thread
from genlab.core.devices import cpu_generator
from genlab.core.images import editor_parts, labelled, open_image, strip, to_pictures
from genlab.core.recipes import make_recipe, source_recipe
from genlab.core.steps import Result, Update
from genlab.core.weights import file_sha256
from genlab.models import diffusion
from genlab.techniques.edit import NAME, SWEEP, Settings, sampler

MASK_MIN, MASK_MAX = 0.002, 0.995  # share of the picture a mask must cover (at least / at most)


# ---------------------------------------------------------------- inputs
def picture(inputs: dict, *, composite: bool = False) -> tuple[Image.Image, str]:
    """(the picture, its file path) from inputs["image"] or the editor (see _editor_parts)."""
    path = inputs.get("image") or editor_parts(inputs.get("editor"), composite)[0]
    if not path:
        raise ValueError("Upload a picture to edit (PNG, JPEG or WebP), or draw one in the editor.")
    return open_image(path, min_side=16), str(path)


def mask_of(inputs: dict, size: tuple[int, int]) -> Image.Image:
    """The mask ("L", 255 = regenerate) at the picture's size: an uploaded mask file (white, or opaque, = regenerate)
    or the strokes painted in the editor's layers."""
    if inputs.get("mask"):
        im = open_image(inputs["mask"], keep_alpha=True)
        if im.size != size:
            raise ValueError(
                f"The mask is {im.width}×{im.height} but the picture is {size[0]}×{size[1]}: "
                "make the mask from the same picture (same size)."
            )
        if im.mode == "RGBA" and im.getchannel("A").getextrema()[0] < 255:
            m = im.getchannel("A").point(lambda v: 255 if v > 0 else 0)
        else:
            m = im.convert("L").point(lambda v: 255 if v > 127 else 0)
        return m
    _, layers = editor_parts(inputs.get("editor"))
    m = Image.new("L", size, 0)
    for p in layers:
        layer = open_image(p, keep_alpha=True)
        if layer.size != size:
            layer = layer.resize(size, Image.NEAREST)
        a = layer.getchannel("A") if layer.mode == "RGBA" else layer.convert("L")
        m = Image.fromarray(np.maximum(np.asarray(m), np.where(np.asarray(a) > 0, 255, 0).astype(np.uint8)))
    return m


def square(im: Image.Image, side: int, resample=Image.LANCZOS) -> Image.Image:
    """The centred square of im at side x side."""
    s = min(im.size)
    left, top = (im.width - s) // 2, (im.height - s) // 2
    return im.crop((left, top, left + s, top + s)).resize((side, side), resample)


def check_mask(m: np.ndarray) -> None:
    share = float(m.mean())
    if share < MASK_MIN:
        raise ValueError(
            "The mask is empty: paint over the part of the picture to regenerate (the brush in the editor), "
            "or upload a mask whose white part marks it."
        )
    if share > MASK_MAX:
        raise ValueError(
            "The mask covers the whole picture, so nothing of it would be kept: leave part of it unpainted "
            "(or use Prompt-to-image to draw from nothing)."
        )


def to_tensor(im: Image.Image, pixel_space: bool) -> torch.Tensor:
    """[1,C,H,W] in [-1,1]; the Fashion-MNIST model sees one grey channel."""
    a = np.asarray(im.convert("L" if pixel_space else "RGB"), np.float32) / 127.5 - 1
    t = torch.from_numpy(a)
    return t[None, None] if pixel_space else t.permute(2, 0, 1)[None]


def mask_png_b64(m: Image.Image) -> str:
    buf = io.BytesIO()
    m.convert("1").save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode()


def mask_from_b64(text: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(text)), formats=("PNG",)).convert("L")


def overlay(im: Image.Image, m: Image.Image) -> Image.Image:
    """The picture with the mask shown as a translucent magenta layer."""
    rgb = im.convert("RGB")
    tint = Image.new("RGB", rgb.size, (255, 0, 200))
    return Image.composite(Image.blend(rgb, tint, 0.6), rgb, m)


def telea(im: Image.Image, m: Image.Image) -> Image.Image:
    """OpenCV's classical inpainting (Telea 2004, fast marching), no learning: the comparison."""
    import cv2

    a = np.asarray(im.convert("RGB"))
    out = cv2.inpaint(np.ascontiguousarray(a), np.asarray(m, np.uint8), 3, cv2.INPAINT_TELEA)
    return Image.fromarray(out)


def outpaint_canvas(im: Image.Image, s: Settings) -> tuple[Image.Image, Image.Image, tuple[int, int, int, int]]:
    """(canvas, mask, extents in model pixels): the picture on a larger canvas; the new area is the mask.
    New area: white for the colour model (its pictures are on white), black for Fashion-MNIST, the edge
    pixels stretched outwards for hub models."""
    scale = s.side / 128 if s.pixel_space else 1.0  # the Fashion model's 28 px: extents shrink with it
    ext = [round(e * scale / 4) * 4 if s.pixel_space else e for e in (s.left, s.right, s.up, s.down)]
    left, right, up, down = ext
    w, h = im.width + left + right, im.height + up + down
    if s.offline:
        fill = (0, 0, 0) if s.pixel_space else (255, 255, 255)
        canvas = Image.new("RGB", (w, h), fill)
    else:
        a = np.pad(np.asarray(im.convert("RGB")), ((up, down), (left, right), (0, 0)), mode="edge")
        canvas = Image.fromarray(a)
    canvas.paste(im.convert("RGB"), (left, up))
    m = Image.new("L", (w, h), 255)
    ImageDraw.Draw(m).rectangle((left, up, left + im.width - 1, up + im.height - 1), fill=0)
    return canvas, m, (left, right, up, down)


# ---------------------------------------------------------------- models
def _request(s: Settings, kind: str, adapter: str | None = None):
    """(this request's pipeline object sharing the loaded modules, its fresh scheduler, weights label), with the
    Teach tab's adapter file (if any) at s.lora_scale."""
    base, label = diffusion.MODELS.get(s.model)
    name = "DDIM" if kind == "inpaint" else s.scheduler
    if s.offline:
        pipe, scheduler = diffusion.request_copy(base, name)
    else:
        from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting

        scheduler = diffusion.make_scheduler(name, base.scheduler.config)
        auto = AutoPipelineForInpainting if kind == "inpaint" else AutoPipelineForImage2Image
        try:
            pipe = auto.from_pipe(base, scheduler=scheduler)
        except Exception as e:
            raise ValueError(f"{s.model} has no {kind.replace('_', '-')} pipeline in diffusers ({e}).") from None
    pipe.set_progress_bar_config(disable=True)
    label += diffusion.use_adapter(base, pipe, adapter, s.lora_scale)
    return pipe, scheduler, label


def _space(s: Settings, pipe) -> sampler.Space:
    return sampler.fashion_space(pipe) if s.pixel_space else sampler.colour_space(pipe)


def _preview(pipe, z: torch.Tensor, pixel_space: bool) -> Image.Image:
    """A cheap picture of z's first image (diffusion.previews), at least 128 px wide."""
    im = diffusion.previews(z[:1], pixel_space=pixel_space, latent_rgb=getattr(pipe, "latent_rgb", None))[0]
    return im if pixel_space else im.resize((128, 128 * im.height // im.width), Image.NEAREST)


# ---------------------------------------------------------------- runs
def _diffuse(
    s: Settings,
    kind: str,
    image: Image.Image,
    m: Image.Image | None,
    ctl: Control,
    *,
    strength=None,
    adapter: str | None = None,
):
    """Generator: Updates, returns (pictures, {"frames", "schedule"}, steps run, weights label).
    kind: "img2img" or "inpaint"."""
    strength = s.strength if strength is None else strength
    pipe, scheduler, label = _request(s, kind, adapter)
    b = s.batch
    total = s.steps if kind == "inpaint" else max(1, round(s.steps * strength))
    frames: list[Image.Image] = []
    every = max(1, total // 6)

    def work(emit):
        generators = [cpu_generator(s.seed + i) for i in range(b)]
        if not s.offline:
            return _hub(s, kind, pipe, image, m, generators, emit, total, strength), total

        def on_step(i, n, z):
            if i % every == 0 or i == n - 1:
                frames.append(_preview(pipe, z, s.pixel_space))
            emit(Update(i + 1, n, "denoising" if kind != "inpaint" else f"denoising, {s.resample} rounds per step"))
            return ctl.halted()

        space = _space(s, pipe)
        x = to_tensor(image, s.pixel_space).repeat(b, 1, 1, 1)
        with torch.inference_mode(), space.region():
            cond = space.conditions([s.prompt] * b, s.negative_prompt, s.guidance)
            if kind == "inpaint":
                mt = torch.from_numpy(np.asarray(m, np.float32) / 255)[None, None].repeat(b, 1, 1, 1)
                out, done = sampler.inpaint(
                    space,
                    scheduler,
                    x,
                    mt,
                    cond,
                    steps=s.steps,
                    guidance=s.guidance,
                    resample=s.resample,
                    generator=generators,
                    on_step=on_step,
                )
            else:
                out, done = sampler.image_to_image(
                    space,
                    scheduler,
                    x,
                    cond,
                    strength=strength,
                    steps=s.steps,
                    guidance=s.guidance,
                    generator=generators,
                    on_step=on_step,
                )
        return to_pictures(out), done

    pictures, done = yield from in_thread(work, ctl)
    schedule = {"alphas_cumprod": [float(a) for a in getattr(scheduler, "alphas_cumprod", [])]}
    if kind == "img2img" and schedule["alphas_cumprod"]:
        probe = diffusion.make_scheduler(s.scheduler, scheduler.config)  # where SDEdit entered the schedule
        probe.set_timesteps(s.steps)
        n = round(s.steps * strength)
        schedule["entry_t"] = int(probe.timesteps[(s.steps - n) * probe.order]) if n else 0
    frames_data = {"frames": frames, "schedule": schedule}
    return pictures, frames_data, done, label


def _hub(s, kind, pipe, image, m, generators, emit, total, strength):
    def callback(p, i, t, kw):
        emit(Update(i + 1, total, "denoising"))
        return kw

    common = dict(
        prompt=s.prompt,
        negative_prompt=s.negative_prompt or None,
        num_inference_steps=s.steps,
        guidance_scale=s.guidance,
        num_images_per_prompt=s.batch,
        generator=generators,
        output_type="pil",
        callback_on_step_end=callback,
    )
    if kind == "inpaint":
        out = pipe(image=image, mask_image=m, height=image.height, width=image.width, strength=1.0, **common).images
        return [Image.composite(o.resize(image.size), image.convert("RGB"), m) for o in out]
    if strength <= 0:
        return [image.convert("RGB")] * s.batch
    return pipe(image=image, strength=strength, **common).images


def _recipes(s: Settings, label: str, src: str, m: Image.Image | None, n: int) -> list[dict]:
    extra = {"input_sha256": file_sha256(Path(src))}
    source = source_recipe(src)
    if source is not None:
        extra["from"] = source  # the chain: what made the picture that was edited
    if m is not None:
        extra["mask_png"] = mask_png_b64(m)
        extra["mask_sha256"] = hashlib.sha256(np.asarray(m).tobytes()).hexdigest()[:12]
    return [
        {**make_recipe(NAME, {**s.params(), "seed": s.seed + i, "batch": 1}, weights=label, seed=s.seed + i), **extra}
        for i in range(n)
    ]


def _chain(src: str) -> str:
    source = source_recipe(src)
    return (
        f"  \nEdits a picture made by the **{source['technique']}** tab (its recipe is kept as `from`)."
        if source
        else ""
    )


def _charge(s: Settings, ctl: Control, canvas: tuple[int, int], rounds: int, runs: int = 1):
    work = canvas[0] * canvas[1] * s.steps * s.batch * rounds * runs
    ctl.charge(
        work,
        f"{canvas[0]}x{canvas[1]} px x {s.steps} steps x {rounds} rounds x {s.batch} images",
        "Use fewer steps, fewer resampling rounds or fewer images.",
    )


def run(s: Settings, inputs: dict, ctl: Control):
    im, src = picture(inputs, composite=s.action in ("image_to_image", "sweep"))
    resample = Image.LANCZOS
    if s.action in ("image_to_image", "sweep"):
        pic = square(im, s.side, resample)
        runs = len(SWEEP) if s.action == "sweep" else 1
        _charge(s, ctl, pic.size, 1, runs)
        yield Update(0, s.steps, f"loading {s.model} (first use only)")
        if s.action == "sweep":
            yield from _sweep(s, pic, src, ctl, inputs.get("adapter"))
            return
        pictures, frames, done, label = yield from _diffuse(s, "img2img", pic, None, ctl, adapter=inputs.get("adapter"))
        info = (
            f"**Weights:** {label} · SDEdit: your picture noised to step {s.steps - max(1, round(s.steps * s.strength)) + 1}"
            f" of {s.steps} (strength {s.strength:g}), then {done} denoising steps{ctl.note()}"
        )
        if s.strength == 0:
            info = (
                f"**Weights:** {label} · strength 0: your picture through the model's encoder and decoder, no denoising"
            )
        info += _chain(src)
        data = {**frames, "input": pic, "strength": s.strength, "steps": s.steps}
        recipes = _recipes(s, label, src, None, len(pictures))
        yield Result(pictures, recipes, info, [f"seed {s.seed + i}" for i in range(len(pictures))], data, ctl.reason)
        return
    if s.action == "inpaint":
        m_full = mask_of(inputs, im.size)
        pic, m = square(im, s.side, resample), square(m_full, s.side, Image.NEAREST)
    else:  # outpaint
        pic = square(im, s.side, resample)
        pic, m, _ = outpaint_canvas(pic, s)
    m = m.point(lambda v: 255 if v > 127 else 0)
    check_mask(np.asarray(m, np.float32) / 255)
    if s.pixel_space:
        pic = pic.convert("L").convert("RGB")
    _charge(s, ctl, pic.size, s.resample)
    yield Update(0, s.steps, f"loading {s.model} (first use only)")
    pictures, frames, done, label = yield from _diffuse(s, "inpaint", pic, m, ctl, adapter=inputs.get("adapter"))
    inside, outside = np.asarray(m) > 0, np.asarray(m) == 0
    a = np.asarray(pic.convert("RGB"), np.float32)
    kept = [float(np.abs(np.asarray(p.convert("RGB"), np.float32) - a)[outside].mean()) for p in pictures]
    changed = [float(np.abs(np.asarray(p.convert("RGB"), np.float32) - a)[inside].mean()) for p in pictures]
    what = "Inpainting" if s.action == "inpaint" else f"Outpainting to {pic.width}×{pic.height}"
    info = (
        f"**Weights:** {label} · {what}: RePaint, {done}/{s.steps} DDIM steps × {s.resample} rounds{ctl.note()}  \n"
        f"Outside the mask: mean |Δ| = **{max(kept):.2f}/255** (kept) · inside: mean |Δ| from the input "
        f"= **{min(changed):.1f}/255** (regenerated)"
    ) + _chain(src)
    data = {
        **frames,
        "input": pic,
        "masked": overlay(pic, m),
        "telea": telea(pic, m),
        "kept": kept,
        "changed": changed,
    }
    recipes = _recipes(s, label, src, m, len(pictures))
    yield Result(pictures, recipes, info, [f"seed {s.seed + i}" for i in range(len(pictures))], data, ctl.reason)


def _sweep(s: Settings, pic: Image.Image, src: str, ctl: Control, adapter: str | None = None):
    """One image-to-image per strength in SWEEP (seed s.seed, first image), side by side."""
    one = s.replace(batch=1)
    cells, label = [], ""
    n = len(SWEEP)
    for k, strength in enumerate(SWEEP):
        if ctl.halted():
            break
        gen = _diffuse(one, "img2img", pic, None, ctl, strength=strength, adapter=adapter)
        try:
            while True:
                u = next(gen)
                yield Update(k * s.steps + u.done, n * s.steps, f"strength {strength:g}")
        except StopIteration as stop:
            pictures, _, _, label = stop.value
        cells.append(labelled(pictures[0].convert("RGB").resize((160, 160), Image.LANCZOS), f"{strength:g}"))
    sheet = strip([labelled(pic.convert("RGB").resize((160, 160), Image.LANCZOS), "input"), *cells])
    info = f"**Weights:** {label} · strength sweep {', '.join(f'{v:g}' for v in SWEEP)}, seed {s.seed}{ctl.note()}"
    yield Result([sheet], _recipes(s, label, src, None, 1), info, ["strength sweep"], {}, ctl.reason)
