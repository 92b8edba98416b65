"""The contract every registered technique keeps: settings own their bounds and survive a recipe round trip,
bad values are refused naming the field and its range, Stop ends a run within one step, and the same seed
gives the same pixels. Each technique runs here on tiny seeded models."""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pytest
from support import (
    EXAMPLES,
    fixed_models,
    photo_file,
    pixels,
    tiny_colour_pipeline,
    tiny_gan,
    tiny_upscalers,
    tiny_vae,
    tiny_vgg,
)

from genlab.core.control import Control, drain
from genlab.core.outputs import save_png
from genlab.core.recipes import read_recipe
from genlab.core.steps import Result, Update
from genlab.techniques import REGISTRY


def _style(monkeypatch, tmp_path):
    from genlab.models import vgg

    monkeypatch.setattr(vgg, "MODELS", fixed_models(default=tiny_vgg()))
    monkeypatch.setattr("genlab.techniques.style_transfer.engine.MODELS", vgg.MODELS)
    inputs = {"content": photo_file(tmp_path, "c.png", w=96, h=64), "style": photo_file(tmp_path, "s.png", seed=1)}
    return {"size": 128, "steps": 4, "coarse_steps": 2, "init": "noise", "seed": 3}, inputs


def _dream(monkeypatch, tmp_path):
    monkeypatch.setattr("genlab.techniques.deep_dream.engine.MODELS", fixed_models(default=tiny_vgg()))
    inputs = {"image": photo_file(tmp_path, "p.png", w=96, h=64)}
    return {"size": 96, "octaves": 2, "iterations": 3, "layer": "relu3_1", "seed": 3}, inputs


def _upscale(monkeypatch, tmp_path):
    monkeypatch.setattr("genlab.techniques.upscale.engine.MODELS", tiny_upscalers())
    return {"factor": 2, "tile": 64}, {"image": photo_file(tmp_path, "p.png", w=150, h=70)}


def _gan(monkeypatch, tmp_path):
    monkeypatch.setattr("genlab.techniques.gan.engine.MODELS", fixed_models(default=tiny_gan()))
    return {"count": 3, "seed": 5}, {}


def _vae(monkeypatch, tmp_path):
    monkeypatch.setattr("genlab.techniques.vae.engine.MODELS", fixed_models(vae=tiny_vae()))
    return {"count": 3, "seed": 5}, {"image": str(EXAMPLES / "fashion/sneaker.png")}


def _t2i(monkeypatch, tmp_path):
    from genlab.techniques.text_to_image import OFFLINE_MODEL

    monkeypatch.setattr(
        "genlab.techniques.text_to_image.pipelines.MODELS", fixed_models(**{OFFLINE_MODEL: tiny_colour_pipeline()})
    )
    return {"steps": 6, "batch": 2, "seed": 5, "prompt": "a coat"}, {}


def _edit(monkeypatch, tmp_path):
    from genlab.models.diffusion import COLOUR_MODEL

    monkeypatch.setattr("genlab.models.diffusion.MODELS", fixed_models(**{COLOUR_MODEL: tiny_colour_pipeline()}))
    return {"steps": 4, "batch": 2, "seed": 5, "strength": 0.6}, {"image": photo_file(tmp_path, "p.png", w=96, h=64)}


def _compare(monkeypatch, tmp_path):
    return {"count": 3, "frames": 3, "steps": 3, "seed": 5}, {}  # the shipped 28 px models are small


def _train_live(monkeypatch, tmp_path):
    return {"preset": "vae-beta-1", "steps": 20, "every": 10, "seed": 3}, {}


def _teach(monkeypatch, tmp_path):
    from genlab.models.diffusion import COLOUR_MODEL

    monkeypatch.setattr("genlab.models.diffusion.MODELS", fixed_models(**{COLOUR_MODEL: tiny_colour_pipeline()}))
    return {"steps": 10, "every": 5, "rank": 2, "seed": 5}, {}


def _control(monkeypatch, tmp_path):
    from types import SimpleNamespace

    from support import tiny_controlnet

    from genlab.models.diffusion import COLOUR_MODEL

    pipe = tiny_colour_pipeline()
    monkeypatch.setattr("genlab.models.diffusion.MODELS", fixed_models(**{COLOUR_MODEL: pipe}))
    net = tiny_controlnet(pipe)
    monkeypatch.setattr("genlab.techniques.control.engine.CONTROLNETS", SimpleNamespace(get=lambda kind: (net, "tiny")))
    return {"steps": 4, "batch": 2, "seed": 5}, {"sketch": str(EXAMPLES / "control" / "apple-lines.png")}


CASES = {
    "control": _control,
    "teach": _teach,
    "edit": _edit,
    "compare": _compare,
    "train_live": _train_live,
    "style_transfer": _style,
    "deep_dream": _dream,
    "gan": _gan,
    "vae": _vae,
    "text_to_image": _t2i,
    "upscale": _upscale,
}
IDS = [t.NAME for t in REGISTRY]


@pytest.fixture(params=REGISTRY, ids=IDS)
def case(request, monkeypatch, tmp_path):
    technique = request.param
    assert technique.NAME in CASES, f"add a contract case for {technique.NAME}"
    values, inputs = CASES[technique.NAME](monkeypatch, tmp_path)
    return technique, technique.Settings.parse(values), inputs


def test_every_technique_has_the_surface():
    names = [t.NAME for t in REGISTRY]
    assert len(set(names)) == len(names)
    for t in REGISTRY:
        assert t.NAME.isidentifier() and t.TITLE and callable(t.run)
        assert dataclasses.is_dataclass(t.Settings) and t.Settings.__dataclass_params__.frozen
        t.Settings()  # the defaults are valid


def test_settings_survive_a_png_recipe_round_trip_and_remake_the_same_pixels(case, tmp_path):
    technique, s, inputs = case
    first = drain(technique.run(s, inputs))
    assert isinstance(first, Result) and first.images and len(first.recipes) == len(first.images)
    recipe = read_recipe(save_png(first.images[0], first.recipes[0]))
    assert recipe["technique"] == technique.NAME
    again = technique.Settings.parse(recipe["params"])
    remade = drain(technique.run(again, inputs))
    # image 0 of a batch remade alone: a batch of 1 may round a float differently from a batch of 2 (oneDNN
    # picks kernels by shape), which can move a rare pixel by one level, never more
    diff = np.abs(pixels(remade.images[:1]) - pixels(first.images[:1]))
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3, (diff.max(), (diff > 0).mean())


def test_the_same_seed_gives_the_same_pixels_and_another_seed_others(case):
    technique, s, inputs = case
    a, b = drain(technique.run(s, inputs)), drain(technique.run(s, inputs))
    assert np.array_equal(pixels(a.images), pixels(b.images))
    if "seed" in technique.Settings.specs() and not inputs.get("image"):
        c = drain(technique.run(s.replace(seed=s.seed + 100), inputs))
        assert not np.array_equal(pixels(a.images[:1]), pixels(c.images[:1]))


def test_stop_ends_a_run_within_one_step(case):
    """Stop pressed after the first step: at most one more step, then a Result saying it stopped (multi-step
    runs keep their latest picture) or, for one-step runs stopped before they drew, a message."""
    technique, s, inputs = case
    ctl, updates, last = Control(), [], None
    try:
        for item in technique.run(s, inputs, ctl):
            if isinstance(item, Update):
                updates.append(item)
                ctl.stop.set()
            last = item
    except ValueError as e:
        assert "Stopped before" in str(e) and len(updates) == 1
        return
    assert isinstance(last, Result) and len(updates) <= 2 and last.images, updates


def test_an_unknown_field_is_refused():
    for t in REGISTRY:
        with pytest.raises(ValueError, match=r"Unknown setting 'colour_of_the_sky'"):
            t.Settings.parse({"colour_of_the_sky": "blue"})


def _bad_values(spec):
    if spec.kind == "int":
        return [spec.lo - 1, spec.hi + 1, 2.5, "many", math.nan, None, True]
    if spec.kind == "float":
        return [spec.lo - 1, spec.hi + 1, math.nan, math.inf, -math.inf, "x", None]
    if spec.kind == "choice":
        return ["no such option", None, 3]
    if spec.kind == "text":
        return [None, 5, "x" * (spec.max_chars + 1)]
    return ["yes", 1, None]


def _expected(name: str, spec) -> str:
    """The message a bad value of this field must give: its name, and its range or choices."""
    n = re.escape(name)
    if spec.kind in ("int", "float"):
        return rf"{n} must be .*{re.escape(f'{spec.lo:g}')}.*{re.escape(f'{spec.hi:g}')}"
    if spec.kind == "choice":
        return rf"{n} must be one of {re.escape(', '.join(spec.options))}"
    if spec.kind == "text":
        return (
            rf"{n} must be text|The {re.escape(name.replace('_', ' '))} is .* characters; the limit is {spec.max_chars}"
        )
    return rf"{n} must be true or false"


@pytest.mark.parametrize("technique", REGISTRY, ids=IDS)
def test_bad_values_are_refused_naming_the_field_and_its_range(technique):
    for name, spec in technique.Settings.specs().items():
        for bad in _bad_values(spec):
            with pytest.raises(ValueError, match=_expected(name, spec)):
                technique.Settings.parse({name: bad})


def test_one_budget_for_the_whole_request():
    """The grid runs five generations: they share the request's budget (charged once, before any runs)."""
    from genlab.techniques import text_to_image as t2i

    s = t2i.Settings(action="grid", steps=10)
    one = s.side**2 * s.steps * t2i.GRID_SEEDS
    with pytest.raises(ValueError, match="pixel-steps"):
        drain(t2i.run(s, ctl=Control(budget=one * 4.5)))
