"""A repository a Hugging Face Space accepts, and the app as a Space runs it: binaries through Git LFS, the front
matter against the Hub's spec, every model-running function under ZeroGPU's `spaces.GPU`, and `python app.py` with
SPACE_ID set, on 0.0.0.0, with no Fashion-MNIST but genlab's own copy and empty caches."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, free_port

FAKE_SPACES = ROOT / "tests" / "fake_spaces"


def tracked_files() -> list[str]:
    return (
        subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")[:-1]
    )


def is_binary(path: Path) -> bool:
    head = path.read_bytes()[:8192]
    if b"\0" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:  # a multi-byte character cut at the 8 KB mark is still text
        return e.start < len(head) - 4
    return False


def test_every_tracked_binary_goes_through_git_lfs():
    files = [f for f in tracked_files() if (ROOT / f).is_file()]
    binaries = [f for f in files if is_binary(ROOT / f)]
    assert len(binaries) > 50 and any(f.endswith(".safetensors") for f in binaries)  # the check sees them
    out = subprocess.run(
        ["git", "check-attr", "filter", "--stdin"], cwd=ROOT, input="\n".join(binaries), capture_output=True, text=True
    ).stdout
    not_lfs = [line.split(": filter:")[0] for line in out.splitlines() if not line.endswith(": filter: lfs")]
    assert not not_lfs, f"binary files outside .gitattributes' LFS patterns: {not_lfs[:10]}"
    text = [f for f in files if not is_binary(ROOT / f)]
    assert "README.md" in text and "app.py" in text  # and text stays text


def front_matter() -> dict:
    text = (ROOT / "README.md").read_text()
    m = re.match(r"^---\n(.*?)\n---\n", text, re.S)
    assert m, "README.md must start with the Space's YAML front matter"
    return yaml.safe_load(m.group(1))


def test_the_front_matter_follows_the_hub_spec():
    import gradio
    from huggingface_hub import SpaceHardware
    from packaging.requirements import Requirement

    from genlab.models import vgg
    from genlab.models.diffusion import HUB_MODELS

    meta = front_matter()
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py" and (ROOT / meta["app_file"]).is_file()
    # the Space installs exactly sdk_version: the one these tests run on, allowed by requirements.txt
    assert meta["sdk_version"] == gradio.__version__
    wanted = next(
        Requirement(line.split("#")[0])
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.startswith("gradio")
    )
    assert wanted.specifier.contains(meta["sdk_version"])
    assert meta["python_version"] == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert meta["suggested_hardware"] in {h.value for h in SpaceHardware}
    assert re.fullmatch(r"\d+[mh]", meta["startup_duration_timeout"])
    from genlab.techniques.control import HUB_CONTROLNETS

    every = {*HUB_MODELS, vgg.SPEC.hub_repo, *HUB_CONTROLNETS.values()}
    assert set(meta["models"]) >= every  # every hub model it may download
    assert isinstance(meta["short_description"], str) and len(meta["short_description"]) <= 60
    assert meta["license"] == "mit" and re.fullmatch(r"[a-z]+", meta["colorFrom"] + meta["colorTo"])


@pytest.fixture
def fake_spaces(monkeypatch):
    """The stand-in `spaces` package importable, as on a Space; removed afterwards."""
    monkeypatch.syspath_prepend(str(FAKE_SPACES))
    sys.modules.pop("spaces", None)
    yield
    sys.modules.pop("spaces", None)


def test_every_model_running_event_is_wrapped_for_zerogpu(fake_spaces):
    import app
    from genlab.techniques import REGISTRY
    from genlab.ui.wiring import HEAVY

    demo = app.build_app()
    heavy = [f for f in demo.fns.values() if f.concurrency_id == HEAVY]
    assert len(heavy) >= 18  # every tab's buttons
    unwrapped = [f.name for f in heavy if not hasattr(f.fn, "zerogpu_duration")]
    assert not unwrapped, unwrapped
    durations = {f.api_name: f.fn.zerogpu_duration for f in heavy if f.api_name}
    by_technique = {t.NAME: t.GPU_SECONDS for t in REGISTRY}
    assert durations["style_transfer"] == by_technique["style_transfer"] and durations["gan_sample"] == 30
    assert durations["train_live"] == by_technique["train_live"] and durations["upscale"] == 120
    assert all(10 <= d <= 300 for d in durations.values()), durations
    # light UI events (Stop, recipe drops, Send to …) do not take a GPU
    light = [f for f in demo.fns.values() if f.concurrency_id != HEAVY and hasattr(f.fn, "zerogpu_duration")]
    assert all(f.name == "decode_point" for f in light), [f.name for f in light]


def test_on_zerogpu_a_run_ends_before_its_gpu_hold(fake_spaces):
    """The run's deadline is the hold less a margin, so it stops with its picture instead of being cut off."""
    import gradio as gr

    from genlab.techniques import train_live
    from genlab.ui import wiring

    ep = wiring.Endpoint(train_live, None, ["preset"], 1, render=lambda r: (r,), live=None, stop=None)
    assert ep.seconds == train_live.GPU_SECONDS - wiring.GPU_MARGIN
    assert hasattr(ep.function("x", "doc"), "zerogpu_duration")
    os.environ["GENLAB_ZEROGPU"] = "0"
    try:
        off = wiring.Endpoint(train_live, None, ["preset"], 1, render=lambda r: (r,), live=None, stop=None)
        assert off.seconds is None and not hasattr(off.function("x", "doc"), "zerogpu_duration")
    finally:
        del os.environ["GENLAB_ZEROGPU"]
    assert gr  # Gradio imported first, as in the app


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    """`python app.py` as a Space runs it: SPACE_ID, GRADIO_SERVER_NAME=0.0.0.0, `spaces` importable, empty caches,
    GENLAB_FASHION_MNIST an empty folder and Debian's folder absent (genlab's own copy is all there is)."""
    tmp = tmp_path_factory.mktemp("space")
    for d in ("empty", "home", "tmp"):
        (tmp / d).mkdir()
    port = free_port()
    log = tmp / "app.log"
    env = {
        **os.environ,
        "SPACE_ID": "genlab-tests/genlab",
        "SYSTEM": "spaces",
        "GRADIO_SERVER_NAME": "0.0.0.0",
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        "HOME": str(tmp / "home"),  # ~/.cache/genlab, ~/.cache/huggingface, matplotlib's cache
        "TMPDIR": str(tmp / "tmp"),  # outputs and Gradio's uploads
        "GENLAB_FASHION_MNIST": str(tmp / "empty"),
        "GENLAB_SYSTEM_FASHION_MNIST": str(tmp / "no-debian-package"),
        "FAKE_SPACES_LOG": str(tmp / "gpu-calls.jsonl"),
        "PYTHONPATH": os.pathsep.join([str(FAKE_SPACES), os.environ.get("PYTHONPATH", "")]),
    }
    with open(log, "w") as f:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            raise RuntimeError(f"the Space did not serve: {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    yield url, tmp
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_as_a_space_every_tabs_main_action_works(space):
    from gradio_client import Client, handle_file

    from genlab.core.recipes import read_recipe
    from genlab.techniques import REGISTRY

    url, tmp = space
    c = Client(url, verbose=False)
    photo = handle_file(str(ROOT / "examples" / "content" / "chelsea.jpg"))
    painting = handle_file(str(ROOT / "examples" / "styles" / "hokusai_great_wave.jpg"))
    colour = "genlab colour latent diffusion (offline)"
    made = {}
    made["style_transfer_fast"] = c.predict(
        content=photo, style=painting, strength=1.0, size=256, api_name="/style_transfer_fast"
    )[0]
    made["deep_dream"] = c.predict(
        image=photo, start="upload", layer="relu4_2", channel=-1, octaves=1, octave_scale=1.4, iterations=2,
        step_size=0.006, jitter=32, smoothing=0.5, size=128, seed=0, api_name="/deep_dream",
    )[0]  # fmt: skip
    made["gan_sample"] = c.predict(seed=0, count=4, class_name="Sneaker", truncation=0, api_name="/gan_sample")[0][0][
        "image"
    ]
    made["vae_sample"] = c.predict(seed=0, count=4, temperature=1.0, api_name="/vae_sample")[0][0]["image"]
    t2i = c.predict(
        prompt="a red apple", negative_prompt="", model=colour, steps=4, guidance=5.0, scheduler="DPM-Solver++",
        seed=0, size=512, batch=1, api_name="/text_to_image",
    )  # fmt: skip
    made["text_to_image"] = t2i[0][0]["image"]
    sketch = handle_file(str(ROOT / "examples" / "edit" / "red-blob.png"))
    edit = c.predict(
        editor={"background": sketch, "layers": [], "composite": sketch}, prompt="a red apple", negative_prompt="",
        model=colour, strength=0.6, steps=4, guidance=5.0, scheduler="DPM-Solver++", resample=1, left=0, right=0,
        up=0, down=0, seed=0, batch=1, api_name="/image_to_image",
    )  # fmt: skip
    made["image_to_image"] = edit[0][0]["image"]
    lines = handle_file(str(ROOT / "examples" / "control" / "apple-lines.png"))
    ctl = c.predict(
        sketch={"background": lines, "layers": [], "composite": lines}, prompt="a red apple", steps=4, batch=1,
        api_name="/control",
    )  # fmt: skip
    made["control"] = ctl[1][0]["image"]
    made["upscale"] = c.predict(
        image=handle_file(made["gan_sample"]), model="realesr-animevideov3", factor=2, denoise=-1, tile=256,
        api_name="/upscale",
    )[0]  # fmt: skip
    made["compare"] = c.predict(class_name="any", count=4, seed=0, frames=4, steps=4, api_name="/compare")[0][0][
        "image"
    ]
    grid, _, _, weights, status = c.predict(preset="gan-stable", steps=20, every=10, seed=0, api_name="/train_live")
    made["train_live"] = grid
    assert Path(weights).is_file() and "20" in status
    grid, _, adapter, status = c.predict(pictures="tiger", steps=10, every=10, seed=0, api_name="/teach")
    made["teach"] = grid
    assert Path(adapter).is_file() and "10/10 steps" in status
    techniques = {api: read_recipe(path)["technique"] for api, path in made.items()}
    assert set(techniques.values()) == {t.NAME for t in REGISTRY}, techniques  # every tab made its picture
    calls = [json.loads(line) for line in (tmp / "gpu-calls.jsonl").read_text().splitlines()]
    called = {c["fn"] for c in calls}
    assert set(made) <= called, set(made) - called  # each ran under spaces.GPU
    # what it wrote outside the repository is what docs/limits.md lists, and nothing came from the hub
    home = sorted(str(p.relative_to(tmp / "home")) for p in (tmp / "home").glob("*/*"))
    # (.cache/Microsoft/DeveloperTools/deviceid: onnxruntime writes an install id there when it loads)
    allowed = {".cache/genlab", ".cache/huggingface", ".cache/matplotlib", ".config/matplotlib", ".cache/Microsoft"}
    assert set(home) <= allowed, home
    assert ".cache/genlab" in home and not (tmp / "home" / ".cache" / "huggingface" / "hub").exists()
    # (.ses: onnxruntime's session folder; torchinductor_<user>: made by torch when a library imports its compiler)
    made_tmp = {"torchinductor_" if p.name.startswith("torchinductor_") else p.name for p in (tmp / "tmp").iterdir()}
    assert made_tmp <= {"genlab-outputs", "gradio", ".ses", "torchinductor_"}, made_tmp


def test_without_any_fashion_mnist_the_message_says_what_to_install(tmp_path, monkeypatch):
    from genlab import datasets

    monkeypatch.setattr(datasets, "FASHION_DIR", tmp_path / "none")
    monkeypatch.setattr(datasets, "SHIPPED_FASHION_DIR", tmp_path / "none")
    monkeypatch.setenv("GENLAB_FASHION_MNIST", str(tmp_path))
    with pytest.raises(ValueError, match=r"training file train-images-idx3-ubyte was not found .*apt-get install "):
        datasets.fashion_mnist(True)
