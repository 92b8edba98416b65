"""Compare: the three shipped Fashion-MNIST models on one request, with figures measured in the run."""

import pytest

from genlab.core.control import Control, drain
from genlab.techniques import compare
from genlab.techniques.compare import engine


def test_compare_gives_a_panel_per_technique_with_its_figures():
    r = drain(compare.run(compare.Settings(class_name="Sneaker", count=4, frames=3, steps=4)))
    sheet, walks = r.images
    assert sheet.width > walks.width > 0 and sheet.height == walks.height and len(r.recipes) == 2  # 4 vs 3 columns
    f = r.data["figures"]
    assert set(f) == {"DCGAN", "VAE", "Diffusion"}
    assert f["VAE"]["judged"] is None and 0 <= f["DCGAN"]["judged"] <= 1 and 0 <= f["Diffusion"]["judged"] <= 1
    assert all(v["ms"] > 0 and 1 <= v["seen"] <= 4 for v in f.values())
    assert f["Diffusion"]["ms"] > f["DCGAN"]["ms"]  # many denoising steps against one pass
    table = r.data["table"]
    for t in engine.TECHNIQUES:
        assert f"**{t}**" in table
    assert "n = 10,000" in table  # FIDs come from the shipped metrics card, with their n


def test_any_class_draws_each_seeds_own_class_and_is_repeatable():
    s = compare.Settings(class_name="any", count=6, frames=3, steps=2)
    y = engine.classes_for(s, list(range(6)))
    assert len(set(y.tolist())) > 1
    a, b = drain(compare.run(s)), drain(compare.run(s))
    assert a.images[0].tobytes() == b.images[0].tobytes()


def test_stop_ends_the_comparison_early():
    ctl, seen = Control(), []
    for item in compare.run(compare.Settings(count=4, steps=50), ctl=ctl):
        seen.append(item)
        if len(seen) == 2:
            ctl.stop.set()
    r = seen[-1]
    assert r.stopped == "stop" and "Diffusion" not in r.data["figures"]


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(class_name="Dragon"), "class_name must be one of any"),
        (dict(count=0), "count must be 1-32"),
        (dict(frames=100), "frames must be 3-16"),
    ],
)
def test_bad_compare_settings(kw, message):
    with pytest.raises(ValueError, match=message):
        compare.Settings.parse(kw)
