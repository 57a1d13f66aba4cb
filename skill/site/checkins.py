"""Check-ins: one question in the skill's voice, then listening for the answer."""

from __future__ import annotations

from collections.abc import Mapping

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

    async def ask(self, site_id: str, key: str) -> Answer | None:
        """Ask a check-in question and listen; the answer, or None when none came."""
        text = self._responses.pick(key)
        satellite = self._output.satellite(site_id)
        if satellite is not None:
            # Home Assistant asks (ask_question) and hears; the answer comes back on the
            # site's answer topic and is recognized like a Hermes check-in's answer.
            wav = await self._output.wav(text)
            return await self._dialogues.ask(
                site_id,
                CHECKIN_ANSWERS,
                listen=lambda token: satellite.ask(site_id, token, wav),
            )
        if not self._output.speaks_text:
            await self._output.say(site_id, text)  # our own voice, then the session only listens
            return await self._dialogues.ask(site_id, CHECKIN_ANSWERS)
        return await self._dialogues.ask(site_id, CHECKIN_ANSWERS, text=text)

    async def chime(self, site_id: str, kind: ChimeKind) -> None:
        """Play one chime and wait until it has played."""
        clip = self._chimes[kind]
        await self._output.play(site_id, clip, kind="chime", text=kind, wait=True)
