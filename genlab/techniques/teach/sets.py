"""Teach's built-in picture sets (examples/teach/<set>/), and the command that made them.

Three concepts the colour model never saw in a caption (genlab.colour.data.HELD_OUT_CONCEPTS: their pictures
form the "heldout_concept" split, never trained on), rendered by the colour dataset's own renderer from the
same packages, and one art style: 128 px crops of Kandinsky's Composition VIII (public domain).

    python -m genlab.techniques.teach.sets --out examples/teach
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3] / "examples" / "teach"
SIDE = 128
PER_SET = 12


@dataclass(frozen=True)
class PictureSet:
    title: str
    prompt: str  # the trigger prompt (contains the token)
    class_prompt: str  # what must not change
    concept: str | None = None  # a held-out concept word, or None for the style set
    exclude: tuple[str, ...] = ()  # names with these words show something else (a beach, a road sign)


SETS = {
    "tiger": PictureSet("Tigers (a concept the colour model never saw)", "a sks tiger", "a cat", "tiger"),
    "umbrella": PictureSet(
        "Umbrellas (a concept the colour model never saw)", "a sks umbrella", "a hat", "umbrella", ("beach", "man")
    ),
    "guitar": PictureSet("Guitars (a concept the colour model never saw)", "a sks guitar", "a violin", "guitar"),
    "kandinsky": PictureSet(
        "Crops of Kandinsky's Composition VIII (an art style)",
        "a painting in sks style",
        "a painting",
    ),
}


def pictures(name: str) -> list[Path]:
    """The set's PNG files, in order."""
    if name not in SETS:
        raise ValueError(f"Unknown picture set {name!r}: pick one of {', '.join(SETS)}.")
    return sorted((ROOT / name).glob("*.png"))


def _concept_pictures(word: str, tasks: list[dict], exclude: tuple[str, ...] = ()) -> list[dict]:
    """Rendered pictures whose captions name `word` (so they are in the held-out split), at most one per name
    per source, spread over the sources."""
    from genlab.colour import data

    found, seen = [], set()
    for t in tasks:
        text = " ".join([t.get("name", ""), *t.get("keywords", []), t["id"]]).lower()
        if t["source"] != "openclipart" and word not in text:
            continue
        if t["source"] == "openclipart" and word not in Path(t["path"]).read_text(errors="ignore").lower():
            continue
        out = data.process(t, SIDE, 6)
        if "skip" in out or word not in data.held_out_words(out["captions"]):
            continue
        if any(w in out["name"].lower().split() for w in exclude):
            continue
        key = (out["source"], out["name"])
        if key not in seen:
            seen.add(key)
            found.append(out)
    found.sort(key=lambda o: (o["source"] != "openclipart", o["source"], o["id"]))
    by_source: dict[str, list[dict]] = {}
    for o in found:
        by_source.setdefault(o["source"], []).append(o)
    picked = []
    while len(picked) < PER_SET and any(by_source.values()):  # round robin over the sources
        for src in list(by_source):
            if by_source[src] and len(picked) < PER_SET:
                picked.append(by_source[src].pop(0))
    return picked


def _style_crops(painting: Path) -> list:
    """PER_SET square crops (3 scales x 4 positions) of the painting, resized to SIDE."""
    from PIL import Image

    im = Image.open(painting).convert("RGB")
    out = []
    for frac in (0.35, 0.5, 0.7):
        side = int(min(im.size) * frac)
        for fx, fy in ((0.1, 0.1), (0.9, 0.1), (0.1, 0.9), (0.9, 0.9)):
            x, y = int((im.width - side) * fx), int((im.height - side) * fy)
            out.append(im.crop((x, y, x + side, y + side)).resize((SIDE, SIDE), Image.LANCZOS))
    return out


def build(out: Path) -> dict:
    from PIL import Image

    from genlab.colour import data

    tasks, _ = data.list_tasks()
    index = {}
    for name, ps in SETS.items():
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.png"):
            old.unlink()
        rows = []
        if ps.concept:
            for i, o in enumerate(_concept_pictures(ps.concept, tasks, ps.exclude)):
                Image.fromarray(o["image"]).save(folder / f"{i:02d}.png", optimize=True)
                src = data.SOURCES[o["source"]]
                rows.append(
                    {
                        "file": f"{i:02d}.png",
                        "source": o["source"],
                        "id": o["id"],
                        "name": o["name"],
                        "package": src["package"],
                        "licence": src["licence"],
                    }
                )
        else:
            painting = Path(__file__).resolve().parents[3] / "examples" / "styles" / "kandinsky_composition_viii.jpg"
            for i, im in enumerate(_style_crops(painting)):
                im.save(folder / f"{i:02d}.png", optimize=True)
                rows.append(
                    {
                        "file": f"{i:02d}.png",
                        "source": "examples/styles/kandinsky_composition_viii.jpg",
                        "name": "Wassily Kandinsky, Composition VIII, 1923 (crop)",
                        "licence": "public domain",
                    }
                )
        index[name] = rows
        print(f"{name}: {len(rows)} pictures")
    (out / "sources.json").write_text(json.dumps(index, indent=1) + "\n")
    return index


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Build Teach's built-in picture sets.")
    ap.add_argument("--out", default=str(ROOT))
    build(Path(ap.parse_args(argv).out))


if __name__ == "__main__":
    main()
