"""What the Teach tab teaches a diffusion model, and the safetensors file that carries it to the Prompt-to-image
and Edit tabs for one visit.

Two methods:
* LoRA (Hu et al. 2021) on the UNet's attention projections (to_q, to_k, to_v, to_out.0): W x + (alpha/r) B A x,
  A [r,in], B [out,r], through peft and diffusers' PeftAdapterMixin (add_adapter / load_lora_adapter /
  set_adapters). Keys as diffusers saves them: "unet.<module>.lora_A.weight", "unet.<module>.lora_B.weight".
* Textual inversion (Gal et al. 2022): one new token embedding [384] in MiniLM's input embedding space, standing
  for the token word of the trigger prompt; the networks are unchanged. Key: "embedding".

The file's metadata (all strings): format, method, base (the UNet sha256 it was trained on), base_model, token,
prompt, class_prompt, rank, alpha, steps, seed, and for LoRA diffusers' "lora_adapter_metadata" (its LoraConfig).
Files from elsewhere are read only when they are genlab adapters for the model in use: nothing is unpickled.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from genlab.core.weights import check_safetensors, file_sha256

if TYPE_CHECKING:
    import torch

FORMAT = "genlab-adapter/1"
METHODS = ("lora", "textual inversion")
TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
MAX_BYTES = 200 * 2**20  # a rank-64 LoRA on SD 1.5's attention is ~100 MB; the colour model's is < 5 MB
PREFIX = "unet."
_LORA_KEY = re.compile(r"^unet\.(?P<module>.+\.(?:to_q|to_k|to_v|to_out\.0))\.lora_(?P<ab>[AB])\.weight$")


@dataclass(frozen=True)
class Adapter:
    """A checked adapter file: its tensors, metadata and short hash."""

    path: Path
    method: str
    sha: str  # first 12 hex digits of the file's sha256
    meta: dict[str, str]
    state: dict  # LoRA: "unet.…lora_A/B.weight" tensors; textual inversion: {"embedding": [384]}

    @property
    def name(self) -> str:
        """The adapter's name inside a UNet (one per file)."""
        return f"teach-{self.sha}"

    @property
    def token(self) -> str:
        return self.meta.get("token", "")

    def label(self) -> str:
        what = f"LoRA rank {self.meta.get('rank')}" if self.method == "lora" else "textual inversion"
        return (
            f"{what} taught in Teach ({self.meta.get('steps')} steps, seed {self.meta.get('seed')}; trigger "
            f"{self.meta.get('prompt', '')!r}; adapter sha256 {self.sha})"
        )


def embed_dim(text_encoder) -> int | None:
    """The input-embedding size of genlab's MiniLM SentenceEncoder (what a textual-inversion vector must have),
    None for any other text encoder (textual inversion is built for MiniLM only)."""
    if not hasattr(text_encoder, "word_pieces"):
        return None
    return int(text_encoder.model.get_input_embeddings().weight.shape[1])


def lora_config(rank: int, alpha: float | None = None) -> dict:
    """peft LoraConfig kwargs for the UNet's attention projections; alpha = rank (scale 1) unless given."""
    return {"r": int(rank), "lora_alpha": float(alpha or rank), "target_modules": list(TARGETS)}


def _meta(method: str, base: str, info: dict) -> dict[str, str]:
    return {"format": FORMAT, "method": method, "base": base, **{k: str(v) for k, v in info.items()}}


def save_lora(path: Path, unet, adapter_name: str, base: str, rank: int, info: dict) -> Path:
    """The adapter `adapter_name` of `unet` (peft's get_peft_model_state_dict) as a genlab adapter file."""
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    state = get_peft_model_state_dict(unet, adapter_name=adapter_name)
    state = {PREFIX + k: v.detach().float().contiguous() for k, v in state.items()}
    meta = _meta("lora", base, {**info, "rank": rank, "alpha": rank})
    meta["lora_adapter_metadata"] = json.dumps(lora_config(rank))
    save_file(state, str(path), metadata=meta)
    return path


def save_embedding(path: Path, vector: torch.Tensor, base: str, info: dict) -> Path:
    """A learned token embedding [D] as a genlab adapter file."""
    from safetensors.torch import save_file

    save_file(
        {"embedding": vector.detach().float().reshape(-1).contiguous()},
        str(path),
        metadata=_meta("textual inversion", base, info),
    )
    return path


def read(path, *, base: str, unet=None, embed_dim: int | None = None) -> Adapter:
    """A genlab adapter for the model whose UNet sha256 is `base`, checked before use; ValueError saying why not.

    unet: the model's UNet, to check that every LoRA key names one of its attention projections with the right
    shapes; embed_dim: the text encoder's embedding size, for textual inversion."""
    from genlab.core.weights import load_safetensors

    path = Path(path)
    name = path.name
    if not path.is_file():
        raise ValueError(f"The adapter file {name} is not there any more: teach again or upload it again.")
    if path.suffix.lower() != ".safetensors":
        raise ValueError(f"{name} is not a .safetensors file: adapters come from the Teach tab as .safetensors.")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ValueError(f"{name} is {size / 2**20:,.0f} MB; an adapter may be at most {MAX_BYTES // 2**20} MB.")
    check_safetensors(path)  # pickles and malformed files are refused here, before any parser
    try:
        state, meta = load_safetensors(path)
    except ValueError:
        raise
    except Exception as e:  # a header that passed the layout check but not the parser
        raise ValueError(f"{name} is not a readable safetensors file ({type(e).__name__}).") from None
    if meta.get("format") != FORMAT or meta.get("method") not in METHODS:
        raise ValueError(
            f"{name} is a safetensors file but not a genlab adapter (its metadata does not say so): "
            "make one in the Teach tab."
        )
    if meta.get("base") != base:
        raise ValueError(
            f"{name} was taught on another model (UNet sha256 {meta.get('base', '?')[:12]}); the model in use is "
            f"{base[:12]}. Teach it again on this model."
        )
    method = meta["method"]
    bad = [k for k, v in state.items() if not v.is_floating_point() or not bool(v.isfinite().all())]
    if bad:
        raise ValueError(f"{name} holds non-finite or non-float values ({bad[0]}): it cannot be used.")
    if method == "textual inversion":
        v = state.get("embedding")
        if set(state) != {"embedding"} or v is None or v.ndim != 1 or (embed_dim and len(v) != embed_dim):
            raise ValueError(f"{name}: a textual-inversion adapter holds one 'embedding' of {embed_dim} numbers.")
        if not re.fullmatch(r"[a-z0-9]{2,20}", meta.get("token", "")):
            raise ValueError(f"{name}: its token {meta.get('token', '')!r} is not a plain lower-case word.")
    else:
        _check_lora(name, state, meta, unet)
    return Adapter(path, method, file_sha256(path), meta, state)


def _check_lora(name: str, state: dict, meta: dict, unet) -> None:
    try:
        rank = int(meta.get("rank", ""))
    except ValueError:
        raise ValueError(f"{name}: its metadata has no LoRA rank.") from None
    modules = dict(unet.named_modules()) if unet is not None else {}
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for k, v in state.items():
        m = _LORA_KEY.match(k)
        if m is None:
            raise ValueError(f"{name}: {k[:80]!r} is not a LoRA weight of a UNet attention projection.")
        pairs.setdefault(m["module"], {})[m["ab"]] = v
    if not pairs:
        raise ValueError(f"{name} holds no LoRA weights.")
    for module, ab in pairs.items():
        if set(ab) != {"A", "B"}:
            raise ValueError(f"{name}: {module} has lora_A or lora_B but not both.")
        a, b = ab["A"], ab["B"]
        if a.ndim != 2 or b.ndim != 2 or a.shape[0] != rank or b.shape[1] != rank:
            raise ValueError(
                f"{name}: {module}'s LoRA matrices are {tuple(a.shape)} and {tuple(b.shape)}, not rank {rank}."
            )
        if unet is not None:
            layer = modules.get(module)
            base_layer = getattr(layer, "base_layer", layer)
            if base_layer is None or not hasattr(base_layer, "in_features"):
                raise ValueError(f"{name}: this model has no attention projection {module}.")
            if a.shape[1] != base_layer.in_features or b.shape[0] != base_layer.out_features:
                raise ValueError(
                    f"{name}: {module} is {base_layer.in_features}→{base_layer.out_features} in this model, "
                    f"the adapter's is {a.shape[1]}→{b.shape[0]}."
                )


def apply(unet, adapter: Adapter | None, scale: float) -> None:
    """Make `unet` run with this LoRA at `scale` (0 = the base model), or as it was loaded (no adapter).

    The UNet is shared by every request; all model work runs on one thread (genlab.core.control), so each
    request sets the state it needs before it runs. Only one adapter is ever in the UNet: any other is unloaded
    (diffusers' unload_lora puts the original layers back), so requests without one run the unchanged model."""
    if not math.isfinite(scale):
        raise ValueError(f"The LoRA scale must be a number (got {scale!r}).")
    want = adapter.name if adapter is not None and adapter.method == "lora" else None
    loaded = list(getattr(unet, "peft_config", {}) or {})
    if loaded and loaded != [want]:
        unet.unload_lora()
        loaded = []
    if want is None:
        return
    if not loaded:
        state = {k.removeprefix(PREFIX): v for k, v in adapter.state.items()}
        rank = int(adapter.meta["rank"])
        unet.load_lora_adapter(
            state, prefix=None, adapter_name=want, metadata=lora_config(rank, float(adapter.meta["alpha"]))
        )
    unet.set_adapters([want], [float(scale)])
