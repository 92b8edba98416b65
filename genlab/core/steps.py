"""What a technique's run() yields: Updates while it works, then one Result.

    for item in technique.run(settings, inputs, ctl):
        if isinstance(item, Result): ...   # always the last item
        else: ...                          # an Update: progress, maybe a preview

Techniques return pictures and recipes, never files: the UI (or a script) decides what to save.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PIL import Image


@dataclass
class Update:
    """One live step of a run."""

    done: int  # steps done so far
    total: int  # steps planned
    desc: str = ""  # what is happening, e.g. "level 1/2" or "denoising"
    preview: Image.Image | None = None  # the current picture, when there is a new one
    data: dict[str, Any] = field(default_factory=dict)  # technique-specific live data (curves, frames)


@dataclass
class Result:
    """The end of a run."""

    images: list[Image.Image]  # the pictures made (saved as PNGs with their recipes)
    recipes: list[dict]  # one recipe per image
    info: str  # a status line: weights used, steps done, why it stopped early
    captions: list[str] = field(default_factory=list)  # one short caption per image
    data: dict[str, Any] = field(default_factory=dict)  # technique-specific extras (strips, frames, curves)
    stopped: str = ""  # "", "stop" or "deadline"
