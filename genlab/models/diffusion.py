"""genlab's diffusion models, loaded once per id and shared by the tabs that use them (prompt-to-image, Edit).

Offline: genlab's colour latent diffusion model (a miniature Stable Diffusion, genlab.colour.ldm) and its
Fashion-MNIST pixel-space model; online: hub Stable-Diffusion-class ids and local diffusers folders that whoever
runs the app allows. Every request makes its own scheduler with make_scheduler (schedulers keep state).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from genlab.core.devices import device, dtype, precision_on
from genlab.core.weights import LazyMap, file_sha256, hub_offline

if TYPE_CHECKING:
    import torch
    from PIL import Image

COLOUR_MODEL = "genlab colour latent diffusion (offline)"  # a miniature Stable Diffusion trained here, 128 px
FASHION_MODEL = "genlab Fashion-MNIST text-to-image (offline)"  # pixel-space, 28x28 greyscale clothing
OFFLINE_MODEL = COLOUR_MODEL  # the offline default
OFFLINE_MODELS = (COLOUR_MODEL, FASHION_MODEL)
OFFLINE_SIDES = {COLOUR_MODEL: 128, FASHION_MODEL: 28}
OFFLINE_SIDE = OFFLINE_SIDES[FASHION_MODEL]
HUB_MODELS = (
    "stabilityai/sd-turbo",  # 1-4 step distilled SD 2.1: the CPU-friendly hub default
    "stable-diffusion-v1-5/stable-diffusion-v1-5",  # the classic SD 1.5
    "stabilityai/sdxl-turbo",  # 1-4 step distilled SDXL (GPU)
)


def default_model() -> str:
    """$GENLAB_T2I_MODEL, else the offline model (always available)."""
    return os.environ.get("GENLAB_T2I_MODEL") or OFFLINE_MODEL


def allowed_models() -> list[str]:
    """What a visitor may pick: the offline model, the listed hub ids, and ids or local folders the person who
    runs the app names in $GENLAB_T2I_MODEL / $GENLAB_T2I_MODELS (comma-separated). Anything else would let
    a visitor make the server download any hub repository or read any folder."""
    extra = [m.strip() for m in os.environ.get("GENLAB_T2I_MODELS", "").split(",") if m.strip()]
    return list(dict.fromkeys([*OFFLINE_MODELS, *HUB_MODELS, default_model(), *extra]))


def check_offered(model: str) -> None:
    """ValueError unless a visitor may pick this model (see allowed_models)."""
    if model not in allowed_models():
        raise ValueError(
            f"Model {model[:80]!r} is not offered here: pick one of the list. Whoever runs the app can add "
            "hub ids or local diffusers folders with GENLAB_T2I_MODELS=id1,id2."
        )


def availability(model: str, *, probe: bool = True) -> tuple[bool, str]:
    """(can it run now, where it comes from), without loading it. probe: ask whether the hub can be reached
    (at most once per process, 3 s at most); without it, a model that is not cached "needs the hub"."""
    if model in OFFLINE_MODELS:
        return True, "trained here, shipped with genlab: always available"
    if Path(model).is_dir():
        return True, "a local diffusers folder"
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(model, "model_index.json"), str):
        return True, "in the Hugging Face cache"
    from genlab.core.weights import hub_offline

    if not probe:
        return True, "needs the hub"
    if hub_offline():
        return False, "not in the Hugging Face cache, and the hub cannot be reached: not available offline"
    return True, "downloads from the Hugging Face hub on first use (several GB)"


def make_scheduler(name: str, config: dict):
    """A fresh scheduler instance of the named kind, from a pipeline's scheduler config."""
    from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler

    if name == "DPM-Solver++":
        return DPMSolverMultistepScheduler.from_config(config, algorithm_type="dpmsolver++", solver_order=2)
    if name == "DDIM":  # x0 clipping (a DDPM training default) breaks DDIM's deterministic update: off
        return DDIMScheduler.from_config(config, clip_sample=False)
    if name == "Euler ancestral":
        return EulerAncestralDiscreteScheduler.from_config(config)
    if name == "DDPM (ancestral)":
        return DDPMScheduler.from_config(config)
    raise ValueError(f"Unknown scheduler {name!r}.")


def _unet_sha(folder: Path) -> str:
    """sha256 of the UNet's weights: of its one file, or of its shards' hashes in order (a shard index alone
    is the same for every export of one architecture)."""
    import hashlib

    files = sorted((folder / "unet").glob("diffusion_pytorch_model*.safetensors"))
    if not files:
        return "?"
    if len(files) == 1:
        return file_sha256(files[0])
    return hashlib.sha256("".join(file_sha256(f, 64) for f in files).encode()).hexdigest()[:12]


_BASE_SHA: dict[int, str] = {}


def unet_sha(pipe) -> str:
    """The sha256 (12 hex) naming a loaded pipeline's UNet, for adapters taught on it: of its weight files when
    it came from a folder (as the weights label shows), else of its parameters' bytes. Cached per UNet."""
    key = id(pipe.unet)
    if key not in _BASE_SHA:
        folder = Path(str(getattr(pipe.unet.config, "_name_or_path", "") or ""))
        sha = _unet_sha(folder.parent) if folder.name == "unet" and folder.is_dir() else "?"
        if sha == "?":
            import hashlib

            import torch

            h = hashlib.sha256()
            with torch.no_grad():
                for name, p in pipe.unet.state_dict().items():
                    if "lora_" not in name:
                        h.update(name.encode())
                        h.update(p.detach().float().cpu().numpy().tobytes())
            sha = h.hexdigest()[:12]
        _BASE_SHA[key] = sha
    return _BASE_SHA[key]


def _load_offline(model: str):
    if model == COLOUR_MODEL:
        from genlab.colour import ldm

        pipe = ldm.load_pipeline()
        shipped = ldm.shipped_dir()
        what = "genlab's miniature Stable Diffusion (VAE + UNet + MiniLM), 128 px colour"
    else:
        from genlab.techniques.text_to_image import fashion

        pipe = fashion.load_pipeline()
        shipped = fashion.SHIPPED
        what = "genlab's own Fashion-MNIST model, 28 px greyscale"
    folder = Path(pipe.config._name_or_path)
    where = f"repo-shipped weights/{shipped.name}" if folder.resolve() == shipped.resolve() else f"folder {folder.name}"
    prior = ""
    if getattr(pipe, "prior", None) is not None:
        prior = (
            f"; prompts read through its caption prior ({len(pipe.prior.texts):,} training captions)"
            if model == FASHION_MODEL
            else f"; your words are shown beside the nearest of its {len(pipe.prior.texts):,} training names"
        )
    sha = _unet_sha(folder)
    dev = pipe.unet.device
    how = f", {precision_on(dev)}" if model == COLOUR_MODEL else ""  # GENLAB_PRECISION=fp32: off
    return pipe, f"{what}, {where} (UNet sha256 {sha}{how}); text: MiniLM-L6 from {pipe.text_encoder.source}{prior}"


def _load(model: str):
    """(pipeline, weights label) for one of genlab's offline models, a local diffusers folder or a hub id."""
    if model in OFFLINE_MODELS:
        return _load_offline(model)
    from diffusers import AutoPipelineForText2Image

    dev = device()
    kw = {"dtype": dtype(dev), "use_safetensors": True}
    pipe, source = load_hub(AutoPipelineForText2Image, model, **kw)
    pipe = pipe.to(dev)
    pipe.set_progress_bar_config(disable=True)
    shown = Path(model).name if Path(model).is_dir() else model
    return pipe, f"{shown} — {source}, {str(kw['dtype']).replace('torch.', '')} on {dev.type}"


def load_hub(cls, model: str, **kw):
    """(cls.from_pretrained of a local folder, the Hugging Face cache or a hub download, where it came from);
    a ValueError that says what to do when none can give it."""
    if Path(model).is_dir():
        return cls.from_pretrained(model, **kw), f"local folder {Path(model).name}"
    try:
        return cls.from_pretrained(model, local_files_only=True, **kw), "Hugging Face cache"
    except Exception:
        if hub_offline():
            raise ValueError(
                f"{model} is not in the Hugging Face cache and the hub cannot be reached. "
                f"Use '{COLOUR_MODEL}' or '{FASHION_MODEL}' offline, or a local diffusers folder."
            ) from None
        try:
            return cls.from_pretrained(model, **kw), "Hugging Face hub download"
        except Exception as e:
            raise ValueError(f"Could not load {model!r} from the hub ({type(e).__name__}): is the id right?") from None


MODELS = LazyMap(_load)  # model id -> (pipeline, label)


def request_copy(base, scheduler_name: str):
    """(a pipeline object of one request's own, sharing base's loaded modules, and its fresh scheduler):
    schedulers keep state, so requests never share one. genlab's read-only extras (caption prior, latent
    preview map) are shared."""
    scheduler = make_scheduler(scheduler_name, base.scheduler.config)
    pipe = type(base)(**{**base.components, "scheduler": scheduler})
    pipe.set_progress_bar_config(disable=True)
    for shared in ("prior", "latent_rgb"):
        if getattr(base, shared, None) is not None:
            setattr(pipe, shared, getattr(base, shared))
    return pipe, scheduler


def use_adapter(base, pipe, path: str | None, scale: float) -> str:
    """Set up one request's adapter from the Teach tab (genlab.models.adapters): a LoRA at `scale` on the shared
    UNet, or a textual-inversion token on this request's pipeline; no file = the base model. Returns what to add
    to the weights label ("" without an adapter); ValueError for a file that does not fit this model."""
    from genlab.models import adapters

    if not path or scale == 0:
        adapters.apply(base.unet, None, 1.0)
        return " + the adapter at scale 0 (the base model)" if path else ""
    dim = adapters.embed_dim(getattr(base, "text_encoder", None))
    a = adapters.read(path, base=unet_sha(base), unet=base.unet, embed_dim=dim)
    if a.method == "lora":
        adapters.apply(base.unet, a, scale)
        return f" + {a.label()} at LoRA scale {scale:g}"
    adapters.apply(base.unet, None, 1.0)
    if not hasattr(pipe, "embedding") or dim is None:
        raise ValueError("A textual-inversion adapter works with genlab's colour model only (its MiniLM encoder).")
    pipe.embedding = (a.token, a.state["embedding"])
    return f" + {a.label()} (the word {a.token!r})"


# Linear map from SD 1.x/2.x latents [4] to RGB [3]: a cheap preview, no VAE decode.
SD_LATENT_RGB = [[0.298, 0.207, 0.208], [0.187, 0.286, 0.173], [-0.158, 0.189, 0.264], [-0.184, -0.271, -0.473]]


def previews(latents: torch.Tensor, *, pixel_space: bool, latent_rgb: torch.Tensor | None = None) -> list[Image.Image]:
    """[B,C,h,w] -> preview pictures. Pixel-space models: x in [-1,1]; latent models: a linear projection
    (latent_rgb [5,3] affine map when the pipeline has one, else Stable Diffusion's SD_LATENT_RGB)."""
    import torch

    from genlab.core.images import to_pictures

    x = latents.detach().float().cpu()
    if pixel_space:
        return to_pictures(x, value_range=(-1.0, 1.0))
    if latent_rgb is not None and x.shape[1] == 4:
        rgb = torch.einsum("bchw,cr->brhw", x, latent_rgb[:4]) + latent_rgb[4].view(1, 3, 1, 1)
    elif x.shape[1] == 4:
        rgb = torch.einsum("bchw,cr->brhw", x, torch.tensor(SD_LATENT_RGB))
    else:
        rgb = x[:, :3]
    return to_pictures(rgb, value_range=(-1.0, 1.0))
