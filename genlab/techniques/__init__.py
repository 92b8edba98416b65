"""Every technique genlab shows, in tab order. Adding a technique = one package here + one line below.

A technique package exports: NAME (tab id, api_name prefix, recipe technique, GENLAB_<NAME>_WEIGHTS), TITLE,
a frozen Settings dataclass (genlab.core.settings) owning its bounds, and run(settings, inputs, ctl): a
generator of Updates ending with a Result. Its ui.py lays out the tab and wires it (genlab.ui.wiring).
Importing a technique package is cheap: models and torch load inside run().
"""

from __future__ import annotations

from genlab.techniques import (
    compare,
    control,
    deep_dream,
    edit,
    gan,
    style_transfer,
    teach,
    text_to_image,
    train_live,
    upscale,
    vae,
)

REGISTRY = (style_transfer, deep_dream, gan, vae, text_to_image, edit, control, upscale, compare, train_live, teach)
