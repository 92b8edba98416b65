"""Captions for the text-to-image model: many phrasings per Fashion-MNIST class, and held-aside paraphrases.

Training captions are built from per-class nouns and phrasing templates, plus whole descriptions;
HELD_OUT are whole sentences whose nouns and phrasing appear nowhere in training, used only by
`python -m genlab.evaluate` to test that a person's own words work.
"""

from __future__ import annotations

NOUNS: dict[int, tuple[str, ...]] = {
    0: (
        "t-shirt",
        "tee",
        "tee shirt",
        "top",
        "tank top",
        "short sleeve top",
        "cotton t-shirt",
        "plain tee",
        "tshirt",
        "t-shirt/top",
        "t-shirt or top",
    ),
    1: (
        "trousers",
        "pants",
        "jeans",
        "slacks",
        "leggings",
        "sweatpants",
        "a pair of trousers",
        "denim jeans",
        "chinos",
        "trouser",
        "pair of trousers",
    ),
    2: (
        "pullover",
        "sweater",
        "jumper",
        "sweatshirt",
        "knit sweater",
        "long sleeve sweater",
        "wool pullover",
        "knitwear",
    ),
    3: ("dress", "gown", "sundress", "summer dress", "evening dress", "frock", "maxi dress", "cocktail dress"),
    4: ("coat", "jacket", "overcoat", "winter coat", "parka", "raincoat", "trench coat", "puffer jacket"),
    5: (
        "sandals",
        "sandal",
        "flip-flops",
        "strappy sandals",
        "summer sandals",
        "open-toe shoes",
        "slides",
        "beach sandals",
    ),
    6: (
        "shirt",
        "button-up shirt",
        "dress shirt",
        "blouse",
        "collared shirt",
        "flannel shirt",
        "long sleeve shirt",
        "button-down",
    ),
    7: (
        "sneakers",
        "sneaker",
        "trainers",
        "running shoes",
        "tennis shoes",
        "athletic shoes",
        "a pair of sneakers",
        "sports shoes",
    ),
    8: ("bag", "handbag", "purse", "tote bag", "shoulder bag", "satchel", "clutch", "leather bag"),
    9: (
        "ankle boots",
        "ankle boot",
        "boots",
        "booties",
        "chelsea boots",
        "heeled boots",
        "leather boots",
        "short boots",
    ),
}

# Whole descriptions, as people describe a thing they cannot name (each with its own article).
DESCRIPTIONS: dict[int, tuple[str, ...]] = {
    0: (
        "a short sleeved cotton top",
        "a top without buttons or a collar",
        "a tee with a round neck",
        "a v-neck t-shirt",
        "a sleeveless vest top",
        "a band t-shirt",
        "a loose top to wear in warm weather",
        "a printed t-shirt",
        "a polo top",
        "a t-shirt to wear to bed",
        "a short sleeved shirt without buttons",
        "a light cotton top for the weekend",
        "a fitted top with short sleeves",
        "a jersey top",
        "a top with thin shoulder straps",
    ),
    1: (
        "clothing that covers both legs",
        "long pants with a belt",
        "a pair of denim pants",
        "skinny jeans",
        "joggers",
        "formal suit trousers",
        "a pair of pants for work",
        "wide leg trousers",
        "a pair of trousers with pockets",
        "pants for running",
        "a pair of work trousers",
        "pyjama bottoms",
        "a pair of flared jeans",
        "a pair of linen trousers",
    ),
    2: (
        "a knitted sweater with long sleeves",
        "a warm top for cold days",
        "a hoodie",
        "a cardigan",
        "a fleece",
        "a cable knit jumper",
        "a sweater to wear in autumn",
        "a cashmere sweater",
        "a wool jumper with a round neck",
        "a thick jumper for the mountains",
        "a jumper with a pattern",
        "a warm sweater to wear at home",
        "a sweater with a v-neck",
        "a knitted top for winter",
    ),
    3: (
        "a one piece dress with a skirt",
        "a dress to wear to a dance",
        "a little black dress",
        "a sleeveless summer dress",
        "a long dress",
        "a gown for a formal evening",
        "a floral dress",
        "a short dress with thin straps",
        "a dress with short sleeves",
        "a wrap dress",
        "a shirt dress",
        "a slip dress",
        "a dress that reaches the knee",
        "a dress for a dinner",
    ),
    4: (
        "a warm jacket with a zip",
        "a long coat for winter",
        "a padded jacket",
        "a denim jacket",
        "a leather jacket",
        "an anorak",
        "a blazer",
        "a jacket to wear outside when it is freezing",
        "a hooded coat",
        "a waterproof jacket",
        "a coat with buttons down the front",
        "a quilted jacket",
        "a warm coat for the rain",
        "a bomber jacket",
        "a wool coat with a belt",
        "a jacket for walking in the mountains",
    ),
    5: (
        "flip flops for the pool",
        "summer shoes made of straps",
        "sandals with a heel",
        "shoes with open toes",
        "footwear for the beach",
        "a pair of slippers",
        "strappy high heels",
        "espadrilles",
        "a pair of open sandals",
        "sandals with thin straps",
        "shoes with no back",
        "a pair of wedge sandals",
        "sandals for walking in the city",
        "a pair of pool slides",
    ),
    6: (
        "a shirt with buttons",
        "a shirt with a collar and long sleeves",
        "a work shirt",
        "a plaid shirt",
        "a denim shirt",
        "a silk blouse",
        "a smart shirt for a meeting",
        "an oxford shirt",
        "a linen shirt",
        "a short sleeved shirt with buttons",
        "a button-down shirt with a collar",
        "a tunic blouse",
        "a cotton shirt with long sleeves",
        "a striped shirt with a collar",
        "a shirt to wear with a tie",
    ),
    7: (
        "sport shoes with laces",
        "shoes for running",
        "gym shoes",
        "a pair of high tops",
        "low top canvas sneakers",
        "skate shoes",
        "walking shoes",
        "a pair of trainers for the gym",
        "a pair of running trainers",
        "shoes for playing tennis",
        "a pair of high-top sneakers",
        "lightweight shoes for sport",
        "shoes with a rubber sole and laces",
        "a pair of slip-on sneakers",
    ),
    8: (
        "a bag with handles",
        "a rucksack",
        "a messenger bag",
        "a wallet",
        "a suitcase",
        "a shopping bag",
        "a travel bag",
        "a crossbody bag",
        "a bag for groceries",
        "a bag for school",
        "a large bag with two handles",
        "a small bag with a chain strap",
        "a bag for a laptop",
        "a bag for the weekend",
        "a bag you carry on one shoulder",
    ),
    9: (
        "boots with a heel",
        "short boots that reach the ankle",
        "winter boots",
        "hiking boots",
        "rain boots",
        "boots with laces",
        "work boots",
        "suede ankle boots",
        "boots with a low heel",
        "a pair of lace-up boots",
        "boots for walking in the snow",
        "a pair of short boots",
        "combat boots",
        "boots with a pointed toe",
    ),
}

# Colour and pattern words people put before a noun ("a black coat"): each with every plain noun of NOUNS.
COLOURS = ("white", "black", "grey", "blue", "red", "brown", "dark", "light", "striped", "patterned")

DESCRIPTION_TEMPLATES = (
    "{}",
    "a photo of {}",
    "a picture of {}",
    "an image of {}",
    "a product photo of {}",
    "{} on a black background",
    "a drawing of {}",
    "a black and white photo of {}",
)

TEMPLATES = (
    "{}",
    "a {}",
    "a photo of a {}",
    "a picture of a {}",
    "an image of a {}",
    "a black and white photo of a {}",
    "a grayscale picture of a {}",
    "a product photo of a {}",
    "a simple {}",
    "a small {}",
    "{} on a black background",
    "a drawing of a {}",
    "fashion item: {}",
    "a {} for sale",
    "a low resolution image of a {}",
    "my new {}",
    "a picture of some {}",
    "show me a {}",
    "a nice {}",
    "an old {}",
)

# One line per class: "class: sentence; sentence; ...".
_HELD_OUT_TEXT = """
0: a casual crew neck shirt with short sleeves; something light to wear on a hot summer day, like a tee; a basic white undershirt; graphic tee
1: a pair of blue denims; something to wear on your legs; cargo trousers for hiking; khaki pants
2: a warm woolly jumper for winter; a cosy knitted top with long sleeves; a crewneck sweatshirt; a turtleneck sweater
3: a long flowing dress for a wedding; a party dress; an elegant ball gown; a pretty dress for a girl
4: a heavy jacket to keep warm in the snow; a windbreaker; a long wool coat; outerwear for cold weather
5: shoes you wear at the beach; thongs for summer; open footwear with straps; a pair of gladiator sandals
6: a formal shirt with buttons and a collar; an office shirt; a checked flannel button up; a blouse with long sleeves
7: shoes for jogging; a pair of kicks; basketball shoes; canvas shoes with laces
8: a leather purse; a backpack; something to carry your things in; a designer handbag
9: winter boots that cover the ankle; a pair of booties with a heel; cowboy boots; leather boots with a zip
"""
HELD_OUT: dict[int, tuple[str, ...]] = {
    int(k): tuple(v.split("; ")) for k, v in (line.split(": ", 1) for line in _HELD_OUT_TEXT.strip().splitlines())
}


# A second held-aside list, written on 2026-11-23 before the caption-mixing retrain and never used to choose
# captions: a check that gains on HELD_OUT are not the developers' choices fitting that one list.
HELD_OUT_FRESH: dict[int, tuple[str, ...]] = {
    0: (
        "the shirt you wear under a hoodie",
        "a simple short-sleeve top for a picnic",
        "a plain shirt without a collar or buttons",
        "a souvenir tee from a concert",
    ),
    1: (
        "a pair of corduroy pants",
        "bottoms for a yoga class",
        "light trousers for the office",
        "straight leg blue jeans",
    ),
    2: (
        "a thick wool sweater for skiing",
        "a chunky knit with long sleeves",
        "a fisherman's sweater",
        "a soft top to wear by the fire",
    ),
    3: (
        "a sleeveless dress for a summer party",
        "a bridesmaid dress",
        "a midi dress",
        "something a woman wears to a gala",
    ),
    4: ("a duffle coat", "a peacoat", "something warm to wear over a suit", "a rain jacket with a hood"),
    5: (
        "a pair of beach slippers",
        "open shoes for a hot day",
        "flat sandals with a buckle",
        "strappy footwear for the summer",
    ),
    6: (
        "a button-up for the office",
        "a crisp white shirt for a wedding",
        "a denim button up shirt",
        "a shirt with a pocket and long sleeves",
    ),
    7: ("trainers for the track", "shoes to wear to the gym", "a pair of white sneakers", "lace-up sport shoes"),
    8: (
        "a small bag for an evening out",
        "a beach tote",
        "a bag to carry to the office",
        "a leather handbag with a strap",
    ),
    9: (
        "short leather boots with a heel",
        "boots for autumn",
        "a pair of western boots",
        "ankle-high boots for the rain",
    ),
}


def caption_sources() -> list[tuple[str, int, str]]:
    """Every (caption, class, source) used in training, sorted; source is the noun or description it was made
    from (captions from one source are near-duplicates, so leave-one-out fitting leaves out a whole source)."""
    out: dict[tuple[str, int], str] = {}
    for label, nouns in NOUNS.items():
        for noun in nouns:
            for t in TEMPLATES:
                text = t.format(noun)
                if noun.startswith("a pair") and t.startswith(("a {}", "a photo of a", "a picture of a")):
                    text = t.replace("a {}", "{}").format(noun)
                out.setdefault((text, label), noun)
        plain = [n for n in nouns if not n.startswith(("a ", "pair")) and "/" not in n and " or " not in n]
        for n in plain:
            for colour in COLOURS:
                out.setdefault(
                    (f"{colour} {n}" if n.endswith("s") and not n.endswith("ss") else f"a {colour} {n}", label), n
                )
    for label, texts in DESCRIPTIONS.items():
        for text in texts:
            for t in DESCRIPTION_TEMPLATES:
                out.setdefault((t.format(text), label), text)
    return [(text, label, source) for (text, label), source in sorted(out.items())]


def train_captions() -> list[tuple[str, int]]:
    """Every (caption, class) pair used in training: each noun in each template and with each colour, and
    each description in each description template."""
    return [(text, label) for text, label, _ in caption_sources()]


def held_out(*, fresh: bool = False) -> list[tuple[str, int]]:
    """(sentence, class) pairs of HELD_OUT, or of HELD_OUT_FRESH when fresh=True."""
    lists = HELD_OUT_FRESH if fresh else HELD_OUT
    return [(text, label) for label, texts in lists.items() for text in texts]
