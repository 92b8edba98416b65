"""Captions for the text-to-image model: many phrasings per Fashion-MNIST class, and held-aside paraphrases.

TRAIN_CAPTIONS are built from per-class nouns and phrasing templates and used for training;
HELD_OUT are whole sentences whose nouns and phrasing appear nowhere in training, used only by
`python -m genlab.evaluate` to test that a person's own words work.
"""

from __future__ import annotations

NOUNS: dict[int, tuple[str, ...]] = {
    0: ("t-shirt", "tee", "tee shirt", "top", "tank top", "short sleeve top", "cotton t-shirt", "plain tee", "tshirt"),
    1: ("trousers", "pants", "jeans", "slacks", "leggings", "sweatpants", "a pair of trousers", "denim jeans", "chinos"),
    2: ("pullover", "sweater", "jumper", "sweatshirt", "knit sweater", "long sleeve sweater", "wool pullover", "knitwear"),
    3: ("dress", "gown", "sundress", "summer dress", "evening dress", "frock", "maxi dress", "cocktail dress"),
    4: ("coat", "jacket", "overcoat", "winter coat", "parka", "raincoat", "trench coat", "puffer jacket"),
    5: ("sandals", "sandal", "flip-flops", "strappy sandals", "summer sandals", "open-toe shoes", "slides", "beach sandals"),
    6: ("shirt", "button-up shirt", "dress shirt", "blouse", "collared shirt", "flannel shirt", "long sleeve shirt", "button-down"),
    7: ("sneakers", "sneaker", "trainers", "running shoes", "tennis shoes", "athletic shoes", "a pair of sneakers", "sports shoes"),
    8: ("bag", "handbag", "purse", "tote bag", "shoulder bag", "satchel", "clutch", "leather bag"),
    9: ("ankle boots", "ankle boot", "boots", "booties", "chelsea boots", "heeled boots", "leather boots", "short boots"),
}

TEMPLATES = (
    "{}", "a {}", "a photo of a {}", "a picture of a {}", "an image of a {}", "a black and white photo of a {}",
    "a grayscale picture of a {}", "a product photo of a {}", "a simple {}", "a small {}", "{} on a black background",
    "a drawing of a {}", "fashion item: {}", "a {} for sale", "a low resolution image of a {}", "my new {}",
    "a picture of some {}", "show me a {}", "a nice {}", "an old {}",
)  # fmt: skip

HELD_OUT: dict[int, tuple[str, ...]] = {
    0: ("a casual crew neck shirt with short sleeves", "something light to wear on a hot summer day, like a tee",
        "a basic white undershirt", "graphic tee"),
    1: ("a pair of blue denims", "something to wear on your legs", "cargo trousers for hiking", "khaki pants"),
    2: ("a warm woolly jumper for winter", "a cosy knitted top with long sleeves", "a crewneck sweatshirt",
        "a turtleneck sweater"),
    3: ("a long flowing dress for a wedding", "a party dress", "an elegant ball gown", "a pretty dress for a girl"),
    4: ("a heavy jacket to keep warm in the snow", "a windbreaker", "a long wool coat", "outerwear for cold weather"),
    5: ("shoes you wear at the beach", "thongs for summer", "open footwear with straps", "a pair of gladiator sandals"),
    6: ("a formal shirt with buttons and a collar", "an office shirt", "a checked flannel button up",
        "a blouse with long sleeves"),
    7: ("shoes for jogging", "a pair of kicks", "basketball shoes", "canvas shoes with laces"),
    8: ("a leather purse", "a backpack", "something to carry your things in", "a designer handbag"),
    9: ("winter boots that cover the ankle", "a pair of booties with a heel", "cowboy boots", "leather boots with a zip"),
}  # fmt: skip


def train_captions() -> list[tuple[str, int]]:
    """Every (caption, class) pair used in training: each noun in each template."""
    out = []
    for label, nouns in NOUNS.items():
        for noun in nouns:
            for t in TEMPLATES:
                text = t.format(noun)
                if noun.startswith("a pair") and t.startswith(("a {}", "a photo of a", "a picture of a")):
                    text = t.replace("a {}", "{}").format(noun)
                out.append((text, label))
    return sorted(set(out))


def held_out() -> list[tuple[str, int]]:
    return [(text, label) for label, texts in HELD_OUT.items() for text in texts]
