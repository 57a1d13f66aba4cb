"""The built-in recognizer's second look at what the voice stack's NLU did not understand.

Rhasspy publishes a sentence it matched only in part (fuzzy matching, confidence below
`nlu.min_confidence`) or did not match at all (`hermes/nlu/intentNotRecognized`). Its
templates are the skill's own, so a sentence that failed there as a whole fails here too;
what the built-in recognizer adds is the request said in clauses (skill.language.clauses):
"that was a lot, can you start the aftercare". What it finds is acted on like any intent;
what it does not find stays ignored, as before.

The recognizer loads on first use (about half a second, in a worker thread) and every
look runs in a worker thread too: the event loop keeps the cues' time meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # hassil loads with the recognizer, in its thread, not at start
    from rhasspyhermes.nlu import NluIntent

    from skill.language.nlu import Recognizer


class SecondLook:
    """Recognize a sentence again with the built-in recognizer, off the event loop."""

    def __init__(self, load: Callable[[], Recognizer]) -> None:
        self._load = load
        self._recognizer: Recognizer | None = None
        self._loading = asyncio.Lock()

    async def load(self) -> None:
        """Load the recognizer now (a site that listens through Home Assistant needs it
        for its first answer; idle otherwise)."""
        async with self._loading:
            if self._recognizer is None:
                self._recognizer = await asyncio.to_thread(self._load)

    async def recognize(
        self, text: str, site_id: str, intent_filter: Collection[str] | None = None
    ) -> NluIntent | None:
        """The intent in text (one of `intent_filter`, if given), or None; loads the
        recognizer the first time."""
        await self.load()
        recognizer = self._recognizer
        assert recognizer is not None
        return await asyncio.to_thread(
            lambda: recognizer.recognize(text, site_id=site_id, intent_filter=intent_filter)
        )
