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


SITE_ID_MAX = 64
"""Longest site id the skill accepts."""
_SITE_ID_RE = re.compile(r"^[^/+#\s\x00-\x1f\x7f]{1,64}$")


def valid_site_id(site_id: object) -> bool:
    """True when a site id is safe to put into a topic: no / + #, whitespace, 1-64 chars."""
    return isinstance(site_id, str) and _SITE_ID_RE.fullmatch(site_id) is not None
