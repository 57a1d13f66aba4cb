"""Check-ins: one question in the skill's voice, then listening for the answer."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

from skill.hermes.dialogue import Answer, Dialogues
from skill.language.responses import ResponseBook
from skill.routines.runner import CHECKIN_ANSWERS
from skill.voice.chimes import ChimeKind
from skill.voice.output import Output
from skill.voice.piper import Clip


class CheckIns:
    """Asks a check-in question on a site and listens; also the soft chime before one."""

    def __init__(
        self,
        *,
        responses: ResponseBook,
        output: Output,
        dialogues: Dialogues,
        chimes: Mapping[str, Clip],
    ) -> None:
        self._responses = responses
        self._output = output
        self._dialogues = dialogues
        self._chimes = chimes

    async def ask(
        self,
        site_id: str,
        key: str,
        *,
        expected: Sequence[str] = CHECKIN_ANSWERS,
        seconds: float | None = None,
        values: Mapping[str, object] | None = None,
    ) -> Answer | None:
        """Ask a question (`key`, with its `values`) and listen for `expected` answers;
        the answer, or None when none came within `seconds` (default: the dialogue's own
        ANSWER_TIMEOUT)."""
        text = self._responses.pick(key, **dict(values or {}))
        listen_for = self._dialogues.ask
        if seconds is not None:
            listen_for = functools.partial(self._dialogues.ask, seconds=seconds)
        satellite = self._output.satellite(site_id)
        if satellite is not None:
            # Home Assistant asks (ask_question) and hears; the answer comes back on the
            # site's answer topic and is recognized like a Hermes check-in's answer.
            wav = await self._output.wav(text)
            return await listen_for(
                site_id,
                expected,
                listen=lambda token: satellite.ask(site_id, token, wav),
            )
        if not self._output.speaks_text:
            await self._output.say(site_id, text)  # our own voice, then the session only listens
            return await listen_for(site_id, expected)
        return await listen_for(site_id, expected, text=text)

    async def chime(self, site_id: str, kind: ChimeKind) -> None:
        """Play one chime and wait until it has played."""
        clip = self._chimes[kind]
        await self._output.play(site_id, clip, kind="chime", text=kind, wait=True)
