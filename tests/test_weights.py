"""The weight resolver: source order, once-only loading, clear errors, no pickles."""

import pickle
import threading
import time

import pytest
import torch
from safetensors.torch import save_file

from genlab.core import weights as W


def _st(path, value=1.0):
    save_file({"w": torch.full((2,), value)}, str(path))
    return path


def test_source_order_explicit_then_env_then_offline(tmp_path, monkeypatch):
    explicit, env, shipped = (
        _st(tmp_path / "a.safetensors", 1),
        _st(tmp_path / "b.safetensors", 2),
        _st(tmp_path / "c.safetensors", 3),
    )
    spec = W.WeightSpec(name="toy", env_var="GENLAB_TOY_WEIGHTS", offline=lambda: shipped)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("GENLAB_TOY_WEIGHTS", str(env))
    assert W.resolve(spec, path=explicit).path == explicit
    r = W.resolve(spec)
    assert r.path == env and "GENLAB_TOY_WEIGHTS" in r.source
    monkeypatch.delenv("GENLAB_TOY_WEIGHTS")
    r = W.resolve(spec)
    assert r.path == shipped and r.source == "offline default" and len(r.sha256) == 12
    assert str(tmp_path) not in r.label()  # labels name sources, never the server's paths


def test_hub_cache_comes_before_offline_default(tmp_path, monkeypatch):
    """A file in the Hugging Face cache wins over the shipped default (and no network is used)."""
    cache = tmp_path / "hub"
    snap = cache / "models--someone--toy" / "snapshots" / ("0" * 40)
    snap.mkdir(parents=True)
    _st(snap / "model.safetensors", 5)
    (cache / "models--someone--toy" / "refs").mkdir()
    (cache / "models--someone--toy" / "refs" / "main").write_text("0" * 40)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(cache))
    shipped = _st(tmp_path / "c.safetensors", 3)
    spec = W.WeightSpec(name="toy", env_var="GENLAB_TOY2", hub_repo="someone/toy", offline=lambda: shipped)
    r = W.resolve(spec)
    assert "cache" in r.source and r.path.name == "model.safetensors"
    state, _ = W.load_safetensors(r.path)
    assert float(state["w"][0]) == 5


def test_clear_error_names_every_source_tried(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("GENLAB_NOPE", raising=False)
    spec = W.WeightSpec(name="Nothing", env_var="GENLAB_NOPE", hub_repo="nobody/nothing", offline=lambda: None)
    with pytest.raises(ValueError) as e:
        W.resolve(spec, path="/nonexistent/x.safetensors")
    msg = str(e.value)
    for part in (
        "Nothing",
        "given file",
        "$GENLAB_NOPE",
        "Hugging Face cache nobody/nothing",
        "skipped: offline",
        "offline default",
    ):
        assert part in msg


def test_lazy_builds_once_under_concurrent_first_calls():
    calls = []

    def build():
        calls.append(1)
        time.sleep(0.2)
        return object()

    lazy = W.Lazy(build)
    results = []
    threads = [threading.Thread(target=lambda: results.append(lazy.get())) for _ in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(calls) == 1 and results[0] is results[1]


def test_lazy_map_builds_each_key_once():
    calls = []
    m = W.LazyMap(lambda k: calls.append(k) or k.upper())
    assert m.get("a") == "A" and m.get("a") == "A" and m.get("b") == "B"
    assert calls == ["a", "b"]


class Boom:
    def __reduce__(self):
        import os

        return (os.system, ("touch /tmp/genlab_pwned_marker",))


@pytest.mark.parametrize("suffix", [".safetensors", ".pt", ".bin"])
def test_pickle_refused_even_renamed(tmp_path, suffix):
    import os

    marker = "/tmp/genlab_pwned_marker"
    if os.path.exists(marker):
        os.remove(marker)
    p = tmp_path / f"evil{suffix}"
    torch.save({"x": Boom()}, p) if suffix != ".bin" else p.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(ValueError, match="pickle"):
        W.load_safetensors(p)
    assert not os.path.exists(marker)


def test_truncated_safetensors_is_a_clear_error(tmp_path):
    p = _st(tmp_path / "t.safetensors")
    data = p.read_bytes()
    p.write_bytes(data[:-4])
    with pytest.raises(ValueError, match="truncated"):
        W.load_safetensors(p)


def test_wrong_shape_is_a_clear_error():
    model = torch.nn.Linear(3, 2)
    with pytest.raises(ValueError, match="do not fit"):
        W.load_state(model, {"weight": torch.zeros(5, 5), "bias": torch.zeros(2)}, name="toy")


def test_a_safetensors_file_whose_header_length_starts_with_0x80_is_not_taken_for_a_pickle(tmp_path):
    """Pickles start with 0x80; so does a safetensors file whose header length is 128 + 256 k bytes."""
    import struct

    import torch
    from safetensors.torch import save_file

    from genlab.core.weights import load_safetensors

    for pad in range(300):
        path = tmp_path / "w.safetensors"
        save_file({"w": torch.ones(2)}, str(path), metadata={"note": "x" * pad})
        if path.read_bytes()[0] == 0x80:
            break
    assert path.read_bytes()[0] == 0x80 and struct.unpack("<Q", path.read_bytes()[:8])[0] % 256 == 0x80
    state, meta = load_safetensors(path)
    assert torch.equal(state["w"], torch.ones(2)) and meta["note"].startswith("x")
