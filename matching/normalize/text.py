"""Shared text cleaning for every normalizer.

Source systems send anything: numbers where strings belong, 10 kB pastes, emoji,
control characters, Cyrillic.  Every normalizer starts here so that the rules for
"what is a usable string" live in one place and never raise.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from unidecode import unidecode

MAX_INPUT_CHARS = 1000
"""Longer inputs are truncated (and flagged) before any expensive parsing."""

_WS = re.compile(r"\s+")
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
#: ASCII control characters (Unicode category Cc: 0–31 and 127) → space, for ``str.translate``
_ASCII_CONTROLS_TO_SPACE = {code: " " for code in (*range(32), 127)}

PLACEHOLDERS = frozenset(
    {
        "", "na", "n a", "n/a", "none", "null", "nil", "unknown", "unk", "tbd", "tba", "test",
        "xxx", "xx", "x", "-", "--", "?", "...", ".", "0", "00", "000", "not available",
        "not applicable", "no name", "noname", "dummy", "sample", "undefined", "nan",
    }
)


class Cleaned(tuple):
    """(text, flag) — text is None when unusable; flag says why (or None)."""

    __slots__ = ()

    def __new__(cls, text: str | None, flag: str | None = None) -> Cleaned:
        return super().__new__(cls, (text, flag))

    @property
    def text(self) -> str | None:
        return self[0]

    @property
    def flag(self) -> str | None:
        return self[1]


def to_text(value: Any, max_chars: int = MAX_INPUT_CHARS) -> Cleaned:
    """Turn any JSON value into a raw (not yet folded) string, or explain why not.

    Numbers are accepted (ERP exports often type postcodes and phones as numbers);
    booleans, lists and objects are not text and are flagged.
    """
    if value is None:
        return Cleaned(None)
    if isinstance(value, bool):
        return Cleaned(None, "not a text value (boolean)")
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return Cleaned(None, "not a finite number")
        text = str(int(value)) if value.is_integer() else repr(value)
    elif isinstance(value, str):
        text = value
    else:
        return Cleaned(None, f"not a text value ({type(value).__name__})")
    flag = None
    if len(text) > max_chars:
        text = text[:max_chars]
        flag = f"value longer than {max_chars} characters (truncated for matching)"
    if text.isascii():
        # NFKC leaves ASCII as it is, and ASCII's only "C" characters are its controls
        text = text.translate(_ASCII_CONTROLS_TO_SPACE)
    else:
        # Drop control and format characters (zero-width joiners, BOM, bidi marks).
        text = "".join(
            ch if unicodedata.category(ch)[0] != "C" else " " for ch in unicodedata.normalize("NFKC", text)
        )
    text = _WS.sub(" ", text).strip()
    if not text:
        return Cleaned(None, flag or ("blank value" if value != "" else None))
    return Cleaned(text, flag)


def fold(text: str) -> str:
    """Lower-case ASCII transliteration (accents, Cyrillic, CJK → Latin), collapsed spaces.

    Emoji and symbols without a transliteration disappear.
    """
    return _WS.sub(" ", unidecode(text, errors="ignore").lower()).strip()


def alnum(text: str) -> str:
    """Only [0-9a-z] after folding — the form codes and identifiers compare on."""
    return _NON_ALNUM.sub("", fold(text))


def tokens(text: str) -> list[str]:
    """Alphanumeric tokens of the folded text."""
    return [t for t in _NON_ALNUM.split(fold(text)) if t]


def is_placeholder(folded: str) -> bool:
    """True for values people type when they have no value ("n/a", "unknown", "000")."""
    stripped = folded.strip(" .-_/")
    return stripped in PLACEHOLDERS or (len(set(stripped)) == 1 and not stripped[0].isalpha() if stripped else True)
