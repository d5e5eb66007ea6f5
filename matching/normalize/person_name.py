"""Person names: case, accents, titles and suffixes, full-name parsing, nicknames.

Names are compared on their folded form; the nickname table only feeds a
separate comparison level ("bob" and "robert" are close, not equal), because a
nickname is weaker evidence than the same spelling.
"""

from __future__ import annotations

import re
from typing import Any

from nameparser import HumanName

from .text import Cleaned, fold, is_placeholder, to_text

TITLES = frozenset(
    ["mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "lord", "lady", "rev", "fr", "sr", "sra", "srta", "herr", "frau", "mme", "mlle", "monsieur", "madame"]
)
SUFFIXES = frozenset(["jr", "jnr", "sr", "snr", "ii", "iii", "iv", "v", "phd", "md", "esq", "dds", "cpa", "mba", "jd"])

_NON_NAME = re.compile(r"[^a-z' -]+")

# Common English nicknames → canonical given name.  Small on purpose: only
# pairs that are unambiguous enough to count as "close".
_NICKNAMES: dict[str, tuple[str, ...]] = {
    "robert": ("bob", "bobby", "rob", "robbie", "bert"),
    "william": ("bill", "billy", "will", "willy", "liam"),
    "richard": ("rick", "ricky", "dick", "rich", "richie"),
    "james": ("jim", "jimmy", "jamie"),
    "john": ("jack", "johnny", "jon"),
    "joseph": ("joe", "joey", "jo"),
    "michael": ("mike", "mikey", "mick", "mickey"),
    "thomas": ("tom", "tommy"),
    "charles": ("charlie", "chuck", "chas"),
    "christopher": ("chris", "kit"),
    "daniel": ("dan", "danny"),
    "matthew": ("matt", "matty"),
    "anthony": ("tony",),
    "andrew": ("andy", "drew"),
    "edward": ("ed", "eddie", "ted", "ned"),
    "steven": ("steve", "stevie", "stephen"),
    "david": ("dave", "davy"),
    "benjamin": ("ben", "benny"),
    "samuel": ("sam", "sammy"),
    "alexander": ("alex", "sandy", "xander"),
    "nicholas": ("nick", "nicky"),
    "jonathan": ("jon", "johnny"),
    "timothy": ("tim", "timmy"),
    "patrick": ("pat", "paddy"),
    "peter": ("pete",),
    "gregory": ("greg",),
    "kenneth": ("ken", "kenny"),
    "ronald": ("ron", "ronnie"),
    "donald": ("don", "donnie"),
    "lawrence": ("larry",),
    "gerald": ("gerry", "jerry"),
    "raymond": ("ray",),
    "frederick": ("fred", "freddie"),
    "henry": ("harry", "hank"),
    "elizabeth": ("liz", "lizzie", "beth", "betty", "eliza", "libby", "betsy"),
    "margaret": ("maggie", "meg", "peggy", "marge", "greta"),
    "katherine": ("kate", "katie", "kathy", "kath", "kat", "catherine", "kathryn"),
    "jennifer": ("jen", "jenny"),
    "patricia": ("pat", "patty", "trish", "tricia"),
    "susan": ("sue", "susie"),
    "deborah": ("deb", "debbie"),
    "rebecca": ("becky", "becca"),
    "victoria": ("vicky", "tori"),
    "christine": ("chris", "chrissy", "tina"),
    "jessica": ("jess", "jessie"),
    "alexandra": ("alex", "sandra", "lexi"),
    "samantha": ("sam", "sammy"),
    "abigail": ("abby", "gail"),
    "barbara": ("barb", "babs"),
    "dorothy": ("dot", "dottie"),
    "jacqueline": ("jackie",),
    "pamela": ("pam",),
    "cynthia": ("cindy",),
    "kimberly": ("kim",),
    "nicole": ("nikki",),
    "theresa": ("terry", "tess", "tessa"),
    "josephine": ("jo", "josie"),
    "judith": ("judy",),
    "caroline": ("carrie", "carol"),
    "stephanie": ("steph",),
    "amanda": ("mandy",),
}
NICKNAME_TO_CANONICAL: dict[str, str] = {}
for _canonical, _nicks in _NICKNAMES.items():
    NICKNAME_TO_CANONICAL.setdefault(_canonical, _canonical)
    for _nick in _nicks:
        NICKNAME_TO_CANONICAL.setdefault(_nick, _canonical)


def canonical_given_name(name: str) -> str:
    """The canonical form of a (normalized) given name: "bob" → "robert"."""
    first = name.split(" ", 1)[0] if name else name
    return NICKNAME_TO_CANONICAL.get(first, first)


def _fold_name(text: str) -> str:
    folded = _NON_NAME.sub(" ", fold(text).replace(".", " "))
    words = [w.strip("'-") for w in folded.split()]
    return " ".join(w for w in words if w)


def normalize_name_part(value: Any) -> Cleaned:
    """A given name or surname: folded, titles and generational suffixes removed.

    >>> normalize_name_part("  Dr. José-Luis ")
    ('jose-luis', None)
    """
    raw = to_text(value, max_chars=200)
    if raw.text is None:
        return raw
    words = _fold_name(raw.text).split()
    while words and words[0] in TITLES and len(words) > 1:
        words.pop(0)
    while words and words[-1] in SUFFIXES and len(words) > 1:
        words.pop()
    name = " ".join(words)
    if not name or is_placeholder(name):
        return Cleaned(None, raw.flag or "no letters in name" if not name else "placeholder name")
    return Cleaned(name, raw.flag)


def split_full_name(value: Any) -> tuple[str | None, str | None, str | None]:
    """Split a full person name into (first, last, flag) with nameparser.

    Handles "Last, First", titles and suffixes ("Dr. John A. Smith Jr.").
    """
    raw = to_text(value, max_chars=300)
    if raw.text is None:
        return None, None, raw.flag
    parsed = HumanName(unidecode_safe(raw.text))
    first = normalize_name_part(parsed.first).text
    last = normalize_name_part(parsed.last).text
    if first is None and last is None:
        return None, None, raw.flag or "could not parse person name"
    return first, last, raw.flag


def unidecode_safe(text: str) -> str:
    """Transliterate but keep case and punctuation, for nameparser."""
    from unidecode import unidecode

    return unidecode(text, errors="ignore")
