"""Captions for the text-to-image model: many phrasings per Fashion-MNIST class, and held-aside paraphrases.

Training captions are built from per-class nouns and phrasing templates, plus whole descriptions;
HELD_OUT are whole sentences whose nouns and phrasing appear nowhere in training, used only by
`python -m genlab.evaluate` to test that a person's own words work.
"""

from __future__ import annotations

NOUNS: dict[int, tuple[str, ...]] = {
    0: ("t-shirt", "tee", "tee shirt", "top", "tank top", "short sleeve top", "cotton t-shirt", "plain tee", "tshirt",
        "t-shirt/top", "t-shirt or top"),
    1: ("trousers", "pants", "jeans", "slacks", "leggings", "sweatpants", "a pair of trousers", "denim jeans", "chinos", "trouser",
        "pair of trousers"),
    2: ("pullover", "sweater", "jumper", "sweatshirt", "knit sweater", "long sleeve sweater", "wool pullover", "knitwear"),
    3: ("dress", "gown", "sundress", "summer dress", "evening dress", "frock", "maxi dress", "cocktail dress"),
    4: ("coat", "jacket", "overcoat", "winter coat", "parka", "raincoat", "trench coat", "puffer jacket"),
    5: ("sandals", "sandal", "flip-flops", "strappy sandals", "summer sandals", "open-toe shoes", "slides", "beach sandals"),
    6: ("shirt", "button-up shirt", "dress shirt", "blouse", "collared shirt", "flannel shirt", "long sleeve shirt", "button-down"),
    7: ("sneakers", "sneaker", "trainers", "running shoes", "tennis shoes", "athletic shoes", "a pair of sneakers", "sports shoes"),
    8: ("bag", "handbag", "purse", "tote bag", "shoulder bag", "satchel", "clutch", "leather bag"),
    9: ("ankle boots", "ankle boot", "boots", "booties", "chelsea boots", "heeled boots", "leather boots", "short boots"),
}

# Whole descriptions, as people describe a thing they cannot name (each with its own article).
DESCRIPTIONS: dict[int, tuple[str, ...]] = {
    0: ("a short sleeved cotton top", "a top without buttons or a collar", "a tee with a round neck",
        "a v-neck t-shirt", "a sleeveless vest top", "a band t-shirt", "a loose top to wear in warm weather",
        "a printed t-shirt", "a polo top"),
    1: ("clothing that covers both legs", "long pants with a belt", "a pair of denim pants", "skinny jeans",
        "joggers", "formal suit trousers", "a pair of pants for work", "wide leg trousers"),
    2: ("a knitted sweater with long sleeves", "a warm top for cold days", "a hoodie", "a cardigan", "a fleece",
        "a cable knit jumper", "a sweater to wear in autumn", "a cashmere sweater"),
    3: ("a one piece dress with a skirt", "a dress to wear to a dance", "a little black dress",
        "a sleeveless summer dress", "a long dress", "a gown for a formal evening", "a floral dress",
        "a short dress with thin straps"),
    4: ("a warm jacket with a zip", "a long coat for winter", "a padded jacket", "a denim jacket",
        "a leather jacket", "an anorak", "a blazer", "a jacket to wear outside when it is freezing", "a hooded coat"),
    5: ("flip flops for the pool", "summer shoes made of straps", "sandals with a heel", "shoes with open toes",
        "footwear for the beach", "a pair of slippers", "strappy high heels", "espadrilles"),
    6: ("a shirt with buttons", "a shirt with a collar and long sleeves", "a work shirt", "a plaid shirt",
        "a denim shirt", "a silk blouse", "a smart shirt for a meeting", "an oxford shirt", "a linen shirt"),
    7: ("sport shoes with laces", "shoes for running", "gym shoes", "a pair of high tops", "low top canvas sneakers",
        "skate shoes", "walking shoes", "a pair of trainers for the gym"),
    8: ("a bag with handles", "a rucksack", "a messenger bag", "a wallet", "a suitcase", "a shopping bag",
        "a travel bag", "a crossbody bag", "a bag for groceries"),
    9: ("boots with a heel", "short boots that reach the ankle", "winter boots", "hiking boots", "rain boots",
        "boots with laces", "work boots", "suede ankle boots"),
}  # fmt: skip

DESCRIPTION_TEMPLATES = ("{}", "a photo of {}", "a picture of {}", "an image of {}", "a product photo of {}",
                         "{} on a black background", "a drawing of {}", "a black and white photo of {}")

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
    for label, texts in DESCRIPTIONS.items():
        out += [(t.format(text), label) for text in texts for t in DESCRIPTION_TEMPLATES]
    return sorted(set(out))


def held_out() -> list[tuple[str, int]]:
    return [(text, label) for label, texts in HELD_OUT.items() for text in texts]
