"""Weight resolution: where a model's weights come from, loaded lazily, once, safely.

A model is looked up in order: an explicit path, an environment variable, the Hugging Face cache,
a hub download (skipped when HF_HUB_OFFLINE=1), and last a package- or repo-shipped offline default.
Only safetensors (and ONNX, read by onnx/onnxruntime) are accepted: nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    import torch

REPO_WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
T = TypeVar("T")


def cache_dir() -> Path:
    """genlab's own cache (converted weights, extracted data): $GENLAB_CACHE or ~/.cache/genlab."""
    root = Path(os.environ.get("GENLAB_CACHE", Path.home() / ".cache" / "genlab"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def hub_offline() -> bool:
    """True when HF_HUB_OFFLINE is set, or the hub's host cannot be reached (checked once, 3 s at most)."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes", "on"}:
        return True
    return not _HUB_REACHABLE.get()


def _probe_hub() -> bool:
    import socket
    from urllib.parse import urlparse

    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=3).close()
        return True
    except OSError:
        return False


@dataclass(frozen=True)
class WeightSpec:
    """Where one model's weight file may be found, in the order they are tried."""

    name: str  # human-readable model name shown in errors and the UI
    env_var: str  # environment variable that may hold an explicit local path (GENLAB_<NAME>_WEIGHTS)
    hub_repo: str | None = None  # Hugging Face repo id holding the file, or None if not on the hub
    hub_filename: str = "model.safetensors"  # file inside hub_repo
    offline: Callable[[], Path | None] | None = None  # shipped default; returns None if unavailable
    offline_label: str = "offline default"  # where the offline default comes from, said without a path
    legacy_env_var: str | None = None  # an older name of env_var, still honoured


@dataclass(frozen=True)
class Resolved:
    """A weight file that exists, and how it was found."""

    path: Path  # the local file (never shown to users: labels name the source, not the server's paths)
    source: str  # which source answered, e.g. "repo-shipped weights/dcgan.safetensors"
    sha256: str = field(default="")  # first 12 hex digits of the file's SHA-256

    def label(self) -> str:
        return f"{self.source} (sha256 {self.sha256})"


def file_sha256(path: Path, n: int = 12) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:n]


def resolve(spec: WeightSpec, *, path: str | os.PathLike | None = None) -> Resolved:
    """Find spec's weight file from the first source that has it; ValueError naming every source tried."""
    tried: list[str] = []

    def found(p: Path, source: str) -> Resolved:
        return Resolved(path=p, source=source, sha256=file_sha256(p))

    if path is not None:
        p = Path(path).expanduser()
        if p.is_file():
            return found(p, f"given file {p.name}")
        tried.append(f"given file {p.name} (no such file)")
    env_var = next((v for v in (spec.env_var, spec.legacy_env_var) if v and os.environ.get(v)), spec.env_var)
    env = os.environ.get(env_var)
    if env:
        p = Path(env).expanduser()
        if p.is_file():
            return found(p, f"${env_var} ({p.name})")
        tried.append(f"${env_var} ({p.name}: no such file)")
    else:
        tried.append(f"${spec.env_var} (not set)")
    if spec.hub_repo:
        from huggingface_hub import hf_hub_download

        try:
            p = Path(hf_hub_download(spec.hub_repo, spec.hub_filename, local_files_only=True))
            return found(p, f"Hugging Face cache {spec.hub_repo}")
        except Exception:
            tried.append(f"Hugging Face cache {spec.hub_repo}/{spec.hub_filename} (not cached)")
        if hub_offline():
            tried.append(f"hub download {spec.hub_repo} (skipped: offline)")
        else:
            try:
                p = Path(hf_hub_download(spec.hub_repo, spec.hub_filename))
                return found(p, f"Hugging Face hub {spec.hub_repo}")
            except Exception as e:  # offline, gated, missing: all mean "try the next source"
                tried.append(f"hub download {spec.hub_repo} ({type(e).__name__})")
    if spec.offline is not None:
        try:
            p = spec.offline()
        except Exception as e:
            p, why = None, f"{type(e).__name__}: {e}"
        else:
            why = "not available"
        if p is not None and Path(p).is_file():
            p = Path(p)
            shipped = p.resolve().is_relative_to(REPO_WEIGHTS)
            return found(p, f"repo-shipped weights/{p.name}" if shipped else spec.offline_label)
        tried.append(f"offline default ({why})")
    raise ValueError(f"No weights found for {spec.name}. Tried: " + "; ".join(tried) + ".")


def repo_weights(filename: str) -> Callable[[], Path | None]:
    """An offline source: a file shipped in the repository's weights/ folder."""

    def find() -> Path | None:
        p = REPO_WEIGHTS / filename
        return p if p.is_file() else None

    return find


def check_safetensors(path: Path) -> None:
    """Refuse anything that is not a well-formed safetensors file, before any parser sees it.

    Layout (safetensors spec): 8-byte little-endian header length N, then N bytes of JSON, then data.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(9)
        n = struct.unpack("<Q", head[:8])[0] if len(head) >= 8 else 0
        header_fits = len(head) == 9 and head[8:9] == b"{" and 8 + n <= size  # a JSON header of a fitting length
        if not header_fits and (head[:2] == b"PK" or head[:1] == b"\x80"):
            raise ValueError(
                f"{path.name} is a pickle (torch.save/zip) file, not safetensors. "
                "genlab never unpickles weights: convert it with safetensors.torch.save_file."
            )
        if len(head) < 9:
            raise ValueError(f"{path.name} is truncated ({size} bytes): not a safetensors file.")
        if n > size - 8 or n > 100_000_000:
            raise ValueError(f"{path.name} is not a valid safetensors file (bad header length).")
        f.seek(8)
        header = f.read(n)
    try:
        meta = json.loads(header)
    except ValueError:
        raise ValueError(f"{path.name} is not a valid safetensors file (header is not JSON).") from None
    end = max((t["data_offsets"][1] for k, t in meta.items() if k != "__metadata__"), default=0)
    if 8 + n + end > size:
        raise ValueError(f"{path.name} is truncated: header promises {8 + n + end} bytes, file has {size}.")


def load_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(state_dict on CPU, metadata) from a checked safetensors file."""
    from safetensors import safe_open

    check_safetensors(path)
    with safe_open(str(path), framework="pt", device="cpu") as f:
        meta = f.metadata() or {}
        return {k: f.get_tensor(k) for k in f.keys()}, meta  # noqa: SIM118 (safe_open has no __iter__)


def load_state(model: torch.nn.Module, state: dict[str, torch.Tensor], *, name: str) -> None:
    """load_state_dict with a teaching error for wrong-shape or missing tensors."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or wrong:
        detail = f"missing {missing[:3]}" if missing else f"wrong shape for {wrong[:3]}"
        raise ValueError(f"Weights for {name} do not fit its architecture ({detail}).")
    model.load_state_dict({k: state[k] for k in own})


def load_module(
    spec: WeightSpec, build: Callable[[dict], torch.nn.Module], *, path=None
) -> tuple[torch.nn.Module, str]:
    """Resolve spec, build the module from the file's JSON "config" metadata, load it: (module in eval mode, label)."""
    r = resolve(spec, path=path)
    state, meta = load_safetensors(r.path)
    model = build(json.loads(meta.get("config", "{}")))
    load_state(model, state, name=spec.name)
    return model.eval(), r.label()


class Lazy(Generic[T]):
    """A value built on first use, exactly once, even when several threads ask at the same time."""

    def __init__(self, build: Callable[[], T]):
        self._build = build
        self._lock = threading.Lock()
        self._value: T | None = None
        self._done = False

    def get(self) -> T:
        if not self._done:
            with self._lock:
                if not self._done:
                    self._value = self._build()
                    self._done = True
        return self._value  # type: ignore[return-value]


_HUB_REACHABLE = Lazy(_probe_hub)


class LazyMap(Generic[T]):
    """Lazy values keyed by name (e.g. hub model ids): each key builds once, behind its own lock."""

    def __init__(self, build: Callable[[str], T]):
        self._build = build
        self._lock = threading.Lock()
        self._items: dict[str, Lazy[T]] = {}

    def get(self, key: str) -> T:
        with self._lock:
            lazy = self._items.setdefault(key, Lazy(lambda: self._build(key)))
        return lazy.get()
