"""Check-ins that listen: an action session on the dialogue manager, answered by an intent."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rhasspyhermes.dialogue import DialogueAction, DialogueStartSession
from rhasspyhermes.nlu import NluIntent

from skill.hermes.messages import BadMessage, Outgoing, end_session

log = logging.getLogger(__name__)

SESSION_STARTED = "hermes/dialogueManager/sessionStarted"
SESSION_ENDED = "hermes/dialogueManager/sessionEnded"
CHECKIN_TAG = "aftercare-checkin:"
ANSWER_TIMEOUT = 60.0
"""Seconds to wait for an answer before going on quietly (the DM's own is 30 s), in the
skill's time: a demo compressed x0.05 waits three real seconds."""


@dataclass(frozen=True)
class SessionEvent:
    """sessionStarted or sessionEnded, reduced to what a check-in needs."""

    session_id: str
    """The dialogue manager's session id."""
    site_id: str
    """Site of the session."""
    custom_data: str | None
    """Our token, when the session is one of our check-ins."""
    reason: str | None = None
    """Why it ended (sessionEnded only): nominal, timeout, intentNotRecognized, ..."""


def parse_session_event(payload: bytes) -> SessionEvent:
    """Parse sessionStarted / sessionEnded; raises BadMessage."""
    if len(payload) > 16 * 1024:
        raise BadMessage("too_large", "session event over 16 KB")
    try:
        data = json.loads(payload)
    except ValueError as err:
        raise BadMessage("not_json", "session event") from err
    if not isinstance(data, dict) or not isinstance(data.get("sessionId"), str):
        raise BadMessage("bad_session_event", "sessionId missing")
    custom = data.get("customData")
    termination = data.get("termination")
    reason = termination.get("reason") if isinstance(termination, dict) else None
    return SessionEvent(
        session_id=data["sessionId"],
        site_id=str(data.get("siteId", "default")),
        custom_data=custom if isinstance(custom, str) else None,
        reason=reason if isinstance(reason, str) else None,
    )


@dataclass(frozen=True)
class Unclear:
    """A check-in was answered, but the recognizer did not understand the answer."""

    site_id: str
    """Site of the check-in."""


Answer = NluIntent | Unclear
"""What a check-in can bring back (None: no answer at all)."""


@dataclass
class _Pending:
    site_id: str
    answer: asyncio.Future[Answer | None]
    expected: tuple[str, ...] = ()
    session_id: str | None = None
    looking: bool = False
    """The skill looks again at what the session's recognizer did not understand: the
    session's end ("intentNotRecognized") waits for that look (`look`)."""


class Dialogues:
    """Starts check-in sessions and routes their answers back to whoever asked."""

    def __init__(self, publish: Callable[[Outgoing], None], *, time_scale: float = 1.0) -> None:
        self._publish = publish
        self._scale = time_scale
        self._pending: dict[str, _Pending] = {}

    async def ask(
        self,
        site_id: str,
        expected: Sequence[str],
        *,
        text: str | None = None,
        seconds: float = ANSWER_TIMEOUT,
        listen: Callable[[str], None] | None = None,
    ) -> Answer | None:
        """Open a listening session on the site; the answer intent, Unclear for an answer
        the recognizer did not understand, or None for no answer.

        `text` is spoken by the dialogue manager's own TTS (engine `hermes`); with the
        skill's own voice the question is spoken before, and the session only listens.
        `listen` replaces the Hermes session (a Home Assistant site asks its own way): it
        is given the token its answer must carry as `custom_data`, or `close` with.
        """
        token = f"{CHECKIN_TAG}{uuid.uuid4().hex}"
        answer: asyncio.Future[Answer | None] = asyncio.get_running_loop().create_future()
        self._pending[token] = _Pending(site_id, answer, tuple(expected))
        if listen is not None:
            listen(token)
            return await self._wait(site_id, token, answer, seconds)
        start = DialogueStartSession(
            init=DialogueAction(
                can_be_enqueued=True,
                text=text,
                intent_filter=list(expected),
                send_intent_not_recognized=False,
            ),
            site_id=site_id,
            custom_data=token,
        )
        self._publish(Outgoing(start.topic(), str(start.payload()).encode("utf-8")))
        return await self._wait(site_id, token, answer, seconds)

    async def _wait(
        self, site_id: str, token: str, answer: asyncio.Future[Answer | None], seconds: float
    ) -> Answer | None:
        try:
            # Scaled with the rest of the skill's time (a compressed demo waits as long, in
            # its own time, as a real night does). Never wait_for: it can swallow a "stop".
            async with asyncio.timeout(seconds * self._scale):
                return await asyncio.shield(answer)
        except TimeoutError:
            log.info("No answer to a check-in on site %s; going on quietly", site_id)
            return None
        finally:
            pending = self._pending.pop(token, None)
            unanswered = not answer.done() or answer.cancelled()
            if pending is not None and pending.session_id and unanswered:
                # Stopped or timed out while the session is still open: close it.
                self._publish(end_session(pending.session_id))

    def answer(self, intent: NluIntent) -> bool:
        """Deliver an answer; the caller has already ended the session. False if not ours."""
        pending = self._find(intent.custom_data, intent.session_id)
        if pending is None or pending.answer.done():
            return False
        pending.answer.set_result(intent)
        return True

    def unclear(self, intent: NluIntent) -> bool:
        """An answer to one of our check-ins that was heard but not really understood."""
        pending = self._find(intent.custom_data, intent.session_id)
        if pending is None or pending.answer.done():
            return False
        pending.answer.set_result(Unclear(pending.site_id))
        return True

    def expected(self, token: str) -> tuple[str, ...]:
        """The intents the check-in with this token listens for (empty when none waits)."""
        pending = self._pending.get(token)
        return pending.expected if pending is not None else ()

    def expects(self, token: str) -> bool:
        """True while a check-in asked with `listen` waits for an answer with this token."""
        pending = self._pending.get(token)
        return pending is not None and not pending.answer.done()

    def close(self, token: str, *, heard: bool) -> bool:
        """A check-in asked with `listen` ended without an answer we understood: Unclear
        when something was heard, None when nothing was. False if not ours."""
        pending = self._pending.get(token)
        if pending is None or pending.answer.done():
            return False
        pending.answer.set_result(Unclear(pending.site_id) if heard else None)
        return True

    def look(self, session_id: str | None) -> str | None:
        """The token of our check-in listening in this session, marked as looked at again
        (its answer then comes from `answer` or `close`, not from the session's end);
        None when no check-in of ours listens there."""
        if session_id is None:
            return None
        for token, pending in self._pending.items():
            if pending.session_id == session_id and not pending.answer.done():
                pending.looking = True
                return token
        return None

    def session_started(self, event: SessionEvent) -> None:
        """Remember the session id of our check-in (to match answers and close it on stop)."""
        pending = self._pending.get(event.custom_data or "")
        if pending is not None and pending.site_id == event.site_id:
            pending.session_id = event.session_id

    def session_ended(self, event: SessionEvent) -> None:
        """A check-in ended without an answer (timeout, not recognized, aborted)."""
        pending = self._find(event.custom_data, event.session_id)
        if pending is not None and not pending.answer.done():
            log.info("Check-in on site %s ended: %s", pending.site_id, event.reason)
            pending.session_id = None
            if pending.looking:
                return  # the skill's own look at what was said decides (answer or close)
            # Something was said, but not understood: it still deserves a reply.
            heard = event.reason == "intentNotRecognized"
            pending.answer.set_result(Unclear(pending.site_id) if heard else None)

    def _find(self, token: str | None, session_id: str | None) -> _Pending | None:
        if token and token in self._pending:
            return self._pending[token]
        if session_id:
            for pending in self._pending.values():
                if pending.session_id == session_id:
                    return pending
        return None
