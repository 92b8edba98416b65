"""VAE: prior samples, reconstruction of uploads and drawings, latent interpolation, a 2-D latent map."""

from __future__ import annotations

from dataclasses import dataclass

from genlab.core import settings as S

NAME = "vae"
TITLE = "VAE"
GPU_SECONDS = 30  # ZeroGPU hold per request (genlab.ui.wiring): one encoder/decoder pass
MAP_RANGE = 3.0  # the 2-D map covers [-MAP_RANGE, MAP_RANGE]^2 of the latent plane
MAP_CELLS, MAP_CELL = 16, 28  # decoded pictures per side of the map, px per picture
MAP_PX = MAP_CELLS * MAP_CELL  # the map picture's side


@dataclass(frozen=True)
class Settings(S.Settings):
    action: str = S.choice("sample", ("sample", "reconstruct", "interpolate"), label="Action")
    seed: int = S.seed("Seed (image i uses seed + i)")
    count: int = S.integer(16, 1, S.MAX_BATCH, label="Count")
    temperature: float = S.number(1.0, 0.0, 3.0, step=0.05, label="Temperature (std of z)")
    frames: int = S.integer(10, 2, S.MAX_BATCH, label="Frames")
    source: str = S.choice(
        "auto",
        ("auto", "upload", "drawing"),
        label="Reconstruct",
        info="auto: the upload if there is one, else the drawing",
    )


def run(settings: Settings, inputs: dict | None = None, ctl=None):
    """sample: decode z ~ N(0, T² I) (image i from seed + i); reconstruct: inputs["image"] or inputs["sketch"];
    interpolate: walk between the encodings of inputs["image_a"] and inputs["image_b"]. With inputs["weights"] (a
    VAE trained in the Train live tab) that VAE does the work instead of genlab's."""
    from genlab.core.control import Control
    from genlab.techniques.vae.engine import run as _run

    return _run(settings, inputs or {}, ctl or Control())


def latent_map():
    """(picture of the 2-D latent plane with test images' encodings, legend Markdown)."""
    from genlab.techniques.vae.engine import latent_map as _map

    return _map()


def decode_point(zx: float, zy: float):
    """The 2-D VAE's decoding of one latent point, enlarged."""
    from genlab.techniques.vae.engine import decode_point as _decode

    return _decode(zx, zy)
