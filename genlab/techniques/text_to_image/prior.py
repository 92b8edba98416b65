"""The caption prior: a prompt's MiniLM embedding replaced by a softmax blend of the training captions nearest
to it, so a person's own words reach the UNet through captions it was trained on."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from genlab.models.text_encoder import EMBED_DIM, encode_texts

PRIOR_FILE = "caption_prior.safetensors"
TEMPERATURES = (0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1)  # the grid fit_temperature searches


class CaptionPrior:
    """Maps any prompt's embedding onto the captions the model was trained on (a retrieval prior; cf. the
    text-to-image-embedding prior of DALL-E 2, Ramesh et al. 2022, here non-parametric):

        w = softmax(e . C^T / tau)  [B,N],   e' = normalise(w C)  [B,384]

    with C [N,384] the training captions' embeddings. Unfamiliar words then condition the UNet through the
    familiar captions nearest in meaning, and `matches` shows which ones. tau is fitted on the training
    captions alone (fit_temperature), never on the held-out paraphrases.
    """

    def __init__(self, emb: torch.Tensor, labels: torch.Tensor, texts: list[str], temperature: float):
        if emb.ndim != 2 or emb.shape[1] != EMBED_DIM or len(labels) != len(emb) or len(texts) != len(emb):
            raise ValueError(f"A caption prior needs [N,{EMBED_DIM}] embeddings with one label and text each.")
        self.emb, self.labels, self.texts, self.temperature = (
            emb.float(),
            labels.long(),
            list(texts),
            float(temperature),
        )

    def weights(self, e: torch.Tensor) -> torch.Tensor:
        """[B,384] -> [B,N] softmax weights over the training captions."""
        return torch.softmax(e.float() @ self.emb.T / self.temperature, dim=-1)

    def project(self, e: torch.Tensor) -> torch.Tensor:
        """[B,384] -> [B,384] on the captions' manifold."""
        return F.normalize(self.weights(e) @ self.emb, dim=-1).to(e.dtype)

    def matches(self, e: torch.Tensor, k: int = 3) -> list[tuple[str, float]]:
        """The k captions carrying most weight for one embedding [384]: [(caption, weight)]."""
        w = self.weights(e[None])[0]
        top = w.topk(k)
        return [(self.texts[i], round(float(v), 3)) for v, i in zip(top.values, top.indices)]

    def save(self, path: Path) -> None:
        import json

        from safetensors.torch import save_file

        save_file(
            {"emb": self.emb.half().contiguous(), "labels": self.labels.int().contiguous()},
            str(path),
            metadata={"texts": json.dumps(self.texts), "temperature": repr(self.temperature)},
        )

    @classmethod
    def load(cls, path: Path) -> CaptionPrior:
        import json

        from safetensors import safe_open

        from genlab.core.weights import check_safetensors

        check_safetensors(Path(path))  # refuses pickles and truncated files before any parser sees them
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
            if "texts" not in meta or "temperature" not in meta:
                raise ValueError(f"{Path(path).name} is not a genlab caption prior (no texts/temperature metadata).")
            return cls(
                f.get_tensor("emb"), f.get_tensor("labels"), json.loads(meta["texts"]), float(meta["temperature"])
            )


def fit_temperature(emb: torch.Tensor, labels: torch.Tensor, sources: list[str]) -> tuple[float, dict[float, float]]:
    """The largest tau (the smoothest blend) whose own-class weight is within 1% of the best, that weight being
    what the prior puts on a caption's own class when every caption from the same source (noun or description)
    is left out: (tau, {tau: mean own-class weight})."""
    src = {s: i for i, s in enumerate(dict.fromkeys(sources))}
    sid = torch.tensor([src[s] for s in sources])
    sim = emb @ emb.T  # [N,N]
    sim = sim.masked_fill(sid[:, None] == sid[None, :], float("-inf"))
    same = (labels[:, None] == labels[None, :]).float()
    score = {t: round(float((torch.softmax(sim / t, dim=-1) * same).sum(1).mean()), 4) for t in TEMPERATURES}
    return max(t for t in TEMPERATURES if score[t] >= 0.99 * max(score.values())), score


@torch.no_grad()
def build_prior(
    encoder: torch.nn.Module, *, emb: torch.Tensor | None = None
) -> tuple[CaptionPrior, dict[float, float]]:
    """The prior over genlab.techniques.text_to_image.captions' training captions (emb: their embeddings [N,384] in caption_sources()
    order when already computed), its temperature fitted leave-one-source-out."""
    from genlab.techniques.text_to_image.captions import caption_sources

    rows = caption_sources()
    texts = [t for t, _, _ in rows]
    emb = encode_texts(encoder, texts) if emb is None else emb
    labels = torch.tensor([k for _, k, _ in rows])
    tau, score = fit_temperature(emb, labels, [s for _, _, s in rows])
    return CaptionPrior(emb, labels, texts, tau), score
