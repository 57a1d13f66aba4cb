"""Text as speech recognizers write it: the one normalization every part agrees on."""

from __future__ import annotations

import re
import unicodedata

_NOT_WORD = re.compile(r"[^\w'\s]|_")


def normalize(text: str) -> str:
    """Lowercase, drop punctuation except apostrophes and collapse spaces, as ASR output looks."""
    text = unicodedata.normalize("NFC", text).replace("\u2019", "'").replace("\u2018", "'")
    words = (word.strip("'") for word in _NOT_WORD.sub(" ", text.lower()).split())
    return " ".join(word for word in words if word)
