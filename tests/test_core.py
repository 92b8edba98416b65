"""genlab.core: settings that own their bounds, the request control, callback loops run as generators."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from genlab.core import settings as S
from genlab.core.control import MODEL_THREAD, Control, drain, in_thread, model_call
from genlab.core.packages import package_file, require_file


@dataclass(frozen=True)
class Toy(S.Settings):
    steps: int = S.integer(10, 1, 100, label="Steps")
    scale: float = S.number(1.5, 0.0, 3.0, label="Scale")
    mode: str = S.choice("a", ("a", "b"), label="Mode")
    words: str = S.text("hi", max_chars=5, required=True, label="Words")
    flag: bool = S.toggle(False, label="Flag")

    def check(self) -> None:
        if self.mode == "b" and self.steps > 50:
            raise ValueError("steps must be 1-50 in mode b")


def test_parse_coerces_what_callers_send_and_refuses_the_rest():
    t = Toy.parse({"steps": 20.0, "scale": "2.5", "mode": "b"})
    assert (t.steps, t.scale, t.mode) == (20, 2.5, "b") and isinstance(t.steps, int)
    assert Toy.parse(t.params()) == t  # the recipe round trip
    with pytest.raises(ValueError, match=r"steps must be 1-50 in mode b"):
        Toy.parse({"steps": 60, "mode": "b"})
    with pytest.raises(ValueError, match=r"steps must be 1-100 \(got 0\)"):
        Toy(steps=0)  # construction validates too: a wrong value never exists
    with pytest.raises(ValueError, match=r"Type a words: it cannot be empty"):
        Toy.parse({"words": "  "})
    with pytest.raises(ValueError, match=r"flag must be true or false"):
        Toy.parse({"flag": "yes"})
    assert Toy.spec("scale").describe() == "a number from 0 to 3"


def test_the_budget_is_one_for_the_whole_request():
    ctl = Control(budget=100)
    ctl.charge(60, "first", "")
    with pytest.raises(ValueError, match=r"0 M pixel-steps \(second\)"):
        ctl.charge(50, "second", "Use less.")
    ctl.charge(40, "third", "")  # a refused charge spends nothing
    assert ctl.spent == 100


def test_deadline_and_stop_are_sticky():
    ctl = Control(seconds=0.05)
    assert ctl.halted() == ""
    time.sleep(0.1)
    assert ctl.halted() == "deadline"
    ctl.stop.set()
    assert ctl.halted() == "deadline" and "limit per request" in ctl.note()


def test_in_thread_yields_emitted_items_and_returns_the_value():
    def work(emit):
        for i in range(5):
            emit(i)
            time.sleep(0.01)
        return "done"

    got = []

    def consume():
        value = yield from in_thread(work, Control())
        got.append(value)

    items = list(consume())
    assert items and items[-1] == 4 and items == sorted(items) and got == ["done"]


def test_in_thread_passes_errors_on():
    def work(emit):
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        drain(in_thread(work, Control()))


def test_in_thread_abandons_the_work_when_nobody_pulls():
    ctl, seen_halt = Control(), threading.Event()

    def work(emit):
        for i in range(500):
            if ctl.halted():
                seen_halt.set()
                return i
            emit(i)
            time.sleep(0.01)
        return 500

    gen = in_thread(work, ctl, patience=0.3)
    next(gen)  # a consumer that takes one item and never pulls again (a client that left)
    assert seen_halt.wait(3) and ctl.reason == "stop"
    gen2_ctl = Control()
    gen2 = in_thread(lambda emit: [emit(i) or time.sleep(0.01) for i in range(300)], gen2_ctl)
    next(gen2)
    gen2.close()  # closing the generator abandons at once
    assert gen2_ctl.halted() == "stop"


def test_package_files_are_found_without_importing():
    assert package_file("genlab", "core", "settings.py") is not None
    assert package_file("no_such_package_anywhere", "x") is None
    with pytest.raises(ValueError, match="pip install some-dist"):
        require_file("no_such_package_anywhere", "x", pip_name="some-dist", purpose="This")


def test_model_work_runs_on_one_thread_and_returns_its_value():
    names = {model_call(lambda: threading.current_thread().name) for _ in range(3)}
    assert names == {"genlab-model"} and MODEL_THREAD.thread.name == "genlab-model"
    assert model_call(lambda: 41 + 1) == 42


def test_history_keeps_each_sessions_pictures_and_zips_them(tmp_path):
    import zipfile

    from PIL import Image

    from genlab.core import history
    from genlab.core.outputs import save_png
    from genlab.core.recipes import read_recipe

    im = Image.new("RGB", (8, 8), "red")
    with history.session("a"):
        first = save_png(im, {"technique": "gan", "params": {}, "seed": 1})
        second = save_png(im, {"technique": "vae", "params": {}, "seed": 2})
    with history.session("b"):
        save_png(im, {"technique": "gan", "params": {}, "seed": 3})
    save_png(im, {"technique": "gan", "params": {}, "seed": 4})  # outside any request: nobody's
    assert history.pictures("a") == [second, first] and len(history.pictures("b")) == 1
    assert history.pictures(None) == [] and history.pictures("nobody") == []
    out = history.zip_all("a", tmp_path / "a.zip")
    with zipfile.ZipFile(out) as z:
        assert z.namelist() == [f"001-{first.name}", f"002-{second.name}"]
        z.extractall(tmp_path)
    assert read_recipe(tmp_path / f"002-{second.name}")["technique"] == "vae"
    with pytest.raises(ValueError, match="Nothing to download yet"):
        history.zip_all("nobody", tmp_path / "n.zip")


def test_every_module_binding_a_model_map_is_imported_before_a_test_patches_it():
    """conftest imports each module that does `from ... import MODELS` before the tests run (see its comment);
    a new such module must join that list, or a test under monkeypatch could leave it bound to a tiny model."""
    import re

    from conftest import BINDS_A_MODEL_MAP

    root = Path(__file__).resolve().parents[1]
    binding = re.compile(r"^from genlab[\w.]* import [^\n]*\bMODELS\b", re.M)
    found = sorted(
        ".".join(p.relative_to(root).with_suffix("").parts)
        for p in (root / "genlab").rglob("*.py")
        if binding.search(p.read_text())
    )
    assert found == sorted(BINDS_A_MODEL_MAP)
