"""The skill: routes MQTT messages to pure handlers and runs one activity per site."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from rhasspyhermes.nlu import NluIntent

from skill.base.tasks import Tasks
from skill.base.vocabulary import Intent
from skill.config.settings import Config
from skill.hermes.dialogue import (
    SESSION_ENDED,
    SESSION_STARTED,
    Dialogues,
    parse_session_event,
)
from skill.hermes.messages import (
    NOT_RECOGNIZED_TOPIC,
    PLAY_FINISHED_ALL_SITES,
    SAY_FINISHED_TOPIC,
    BadMessage,
    Outgoing,
    end_session,
    intent_topic,
    parse_intent,
    parse_not_recognized,
    parse_play_finished,
    parse_say_finished,
)
from skill.hermes.mqtt import Incoming
from skill.room.homeassistant import parse_command
from skill.room.room import Room
from skill.room.status import StatusBoard
from skill.routines.runner import CHECKIN_ANSWERS
from skill.site import handlers
from skill.site.sites import Sites
from skill.site.state import Site
from skill.voice.output import Output

if TYPE_CHECKING:
    from skill.language.second_look import SecondLook
    from skill.voice.satellites import Heard, Satellites

log = logging.getLogger(__name__)

OPEN_SITES_MAX = 32
"""With no `sites` list, the most site ids served: a home has a few satellites, and without
a bound any client on the broker could grow the skill's memory one made-up site at a time."""


class ProblemLog:
    """Logs each kind of bad input once, then at most once a minute with a count."""

    def __init__(self, interval: float = 60.0) -> None:
        self._interval = interval
        self._last: dict[str, float] = {}
        self._counts: dict[str, int] = {}

    def report(self, kind: str, where: str) -> None:
        """Note one dropped message of this kind."""
        self._counts[kind] = self._counts.get(kind, 0) + 1
        now = time.monotonic()
        last = self._last.get(kind)
        if last is None or now - last >= self._interval:
            self._last[kind] = now
            log.warning(
                "Dropped a malformed message on %s (%s); %d so far",
                where,
                kind,
                self._counts[kind],
            )

    def count(self, kind: str) -> int:
        """How many messages of this kind were dropped."""
        return self._counts.get(kind, 0)


class Skill:
    """Routes every MQTT message: intents and buttons to actions, the rest to its owner."""

    def __init__(
        self,
        config: Config,
        *,
        sites: Sites,
        output: Output,
        room: Room,
        status: StatusBoard,
        dialogues: Dialogues,
        publish: Callable[[Outgoing], None],
        second_look: SecondLook | None = None,
        satellites: Satellites | None = None,
    ) -> None:
        self.config = config
        self._second_look = second_look
        self._satellites = satellites
        self._looks = Tasks("second looks")
        self._heard: dict[str, int] = {}
        """Intents heard per admitted site: a second look acts only if none came since."""
        self.sites = sites
        """Every site's state and what runs there."""
        self.output = output
        """Speaking on every site."""
        self._status = status
        self.room = room
        """Music and lights."""
        self.status = status
        """Published per-site state."""
        self._dialogues = dialogues
        self._publish = publish
        self._crowded = False
        self.problems = ProblemLog()
        """Rate-limited log of dropped messages."""

    def subscriptions(self) -> list[str]:
        """Topics the skill listens on."""
        topics = [intent_topic(name) for name in handlers.INTENTS]
        return [
            *topics,
            PLAY_FINISHED_ALL_SITES,
            SAY_FINISHED_TOPIC,
            SESSION_STARTED,
            SESSION_ENDED,
            *self._status.subscriptions(),
            *([NOT_RECOGNIZED_TOPIC] if self._second_look is not None else []),
            *(self._satellites.subscriptions() if self._satellites is not None else []),
        ]

    def site(self, site_id: str) -> Site:
        """The state of one site."""
        return self.sites.site(site_id)

    def activity(self, site_id: str) -> str:
        """Kind of the activity running on a site ("" when idle)."""
        return self.sites.activity(site_id)

    async def idle(self, site_id: str) -> None:
        """Wait until nothing runs on a site (its activity and replies have ended)."""
        await self.sites.idle(site_id)

    def states(self) -> Mapping[str, str]:
        """Activity per known site (for tests and the demo)."""
        return self.sites.states()

    def prepare(self) -> None:
        """After `online`, with a site that speaks through Home Assistant: serve its audio,
        and load the recognizer its answers need, in the background (a Hermes-only skill
        does neither)."""
        if self._satellites is not None:
            self._looks.spawn(self._satellites.serve(), name="audio endpoint")
            if self._second_look is not None:
                self._looks.spawn(self._second_look.load(), name="recognizer")

    async def looked(self) -> None:
        """Wait until every second look under way has ended (and acted, if it found one)."""
        await self._looks.settle()

    async def close(self) -> None:
        """Stop every site (without speaking) and wait until everything has ended."""
        self._looks.cancel()
        await self._looks.settle()
        await self.sites.close()

    # Incoming messages (called on the event loop).

    def on_message(self, message: Incoming) -> None:
        """Route one MQTT message; bad ones are dropped and logged once."""
        try:
            if message.topic.startswith("hermes/intent/"):
                if message.retain:
                    self.problems.report("retained_intent", "hermes/intent")
                    return
                self._on_intent(parse_intent(message.topic, message.payload))
            elif self._satellites is not None and self._satellites.owns(message.topic):
                self._on_satellite(self._satellites, message)
            elif message.topic == NOT_RECOGNIZED_TOPIC:
                self._on_not_recognized(message.payload)
            elif message.topic == SAY_FINISHED_TOPIC:
                self.output.finished(parse_say_finished(message.payload))
            elif message.topic in (SESSION_STARTED, SESSION_ENDED):
                self._on_session(message)
            elif message.topic.endswith("/playFinished"):
                self.output.finished(parse_play_finished(message.payload))
            elif self._status.is_birth(message.topic):
                if message.payload == b"online":
                    self._status.announce()  # Home Assistant restarted: discovery again
            elif not message.retain:
                self._on_command(message)
        except BadMessage as err:
            self.problems.report(err.kind, message.topic.split("/", 2)[1] or "?")
        except Exception:  # the boundary: the service keeps serving whatever happens
            log.exception("Unexpected error while handling a message; it was dropped")

    def _on_session(self, message: Incoming) -> None:
        """A dialogue session of one of our check-ins started or ended."""
        event = parse_session_event(message.payload)
        if message.topic == SESSION_STARTED:
            self._dialogues.session_started(event)
        else:
            self._dialogues.session_ended(event)

    def _on_satellite(self, satellites: Satellites, message: Incoming) -> None:
        """Home Assistant played something (finished) or heard an answer to a check-in."""
        if message.topic.endswith("/finished"):
            self.output.finished(satellites.finished(message.payload))
            return
        heard = satellites.heard(message.topic, message.payload)
        if not self._dialogues.expects(heard.request_id):
            log.debug("An answer from Home Assistant nobody waits for; dropped")
        elif heard.failed or heard.sentence is None:
            log.info("No answer to a check-in on site %s (Home Assistant)", heard.site_id)
            self._dialogues.close(heard.request_id, heard=False)
        else:
            self._looks.spawn(self._understand(heard), name="answer")

    async def _understand(self, heard: Heard) -> None:
        """Recognize what Home Assistant heard, as the answer of a Hermes check-in is."""
        await self._answer_with(heard.sentence or "", heard.site_id, heard.request_id)

    async def _answer_with(self, sentence: str, site_id: str, token: str) -> None:
        """What was said to a check-in, read by the skill's own recognizer with the
        check-in's filter: its answer, or an unclear one."""
        found = None
        if self._second_look is not None and sentence.strip():
            expected = self._dialogues.expected(token) or CHECKIN_ANSWERS
            found = await self._second_look.recognize(sentence, site_id, intent_filter=expected)
        if found is None or not self._dialogues.expects(token):
            self._dialogues.close(token, heard=True)
            return
        self._on_intent(dataclasses.replace(found, custom_data=token))

    def _on_not_recognized(self, payload: bytes) -> None:
        """hermes/nlu/intentNotRecognized: looked at again; inside one of our check-ins with
        the check-in's own filter ("rain sounds" to the music question, an answer in
        clauses), outside them as a request."""
        text, site_id, session_id = parse_not_recognized(payload)
        if self._admitted(site_id) and not self._answer_again(text, site_id, session_id):
            self._look_again(text, site_id)

    def _answer_again(self, text: str, site_id: str, session_id: str | None) -> bool:
        """What was said in one of our check-ins' sessions, read again with its filter
        (`_answer_with`); False when no check-in of ours listens in that session."""
        token = self._dialogues.look(session_id)
        if token is None:
            return False
        self._looks.spawn(self._answer_with(text, site_id, token), name="answer")
        return True

    def _look_again(self, text: str, site_id: str) -> None:
        if self._second_look is None or not text.strip():
            return
        heard = self._heard.get(site_id, 0)
        look = self._second(self._second_look, text, site_id, heard)
        self._looks.spawn(look, name="second-look")

    async def _second(self, look: SecondLook, text: str, site_id: str, heard: int) -> None:
        found = await look.recognize(text, site_id)
        if found is None:
            log.info("Nothing for us on site %s, on a second look", site_id)
            return
        if self._heard.get(site_id, 0) != heard:
            # Someone spoke again meanwhile ("stop"): what they said last wins.
            log.info("A second look on site %s came after a newer request; dropped", site_id)
            return
        log.info("A second look found %s on site %s", found.intent.intent_name, site_id)
        self._on_intent(found)

    def _admitted(self, site_id: str) -> bool:
        """True for a site in `sites`; with no list, for the first OPEN_SITES_MAX heard."""
        if self.config.sites:
            return self.config.site_allowed(site_id)
        if site_id in self.sites or len(self.sites) < OPEN_SITES_MAX:
            return True
        if not self._crowded:
            self._crowded = True
            log.warning(
                "Heard from more than %d sites and config.yaml has no `sites` list: "
                "new sites are ignored; list the site ids of your satellites in `sites`",
                OPEN_SITES_MAX,
            )
        return False

    def _on_command(self, message: Incoming) -> None:
        """A Home Assistant button (or any client) on <prefix>/<site>/command."""
        parsed = parse_command(
            message.topic, message.payload, topic_prefix=self.config.mqtt.topic_prefix
        )
        if parsed is None:
            self.problems.report("bad_command", "command")
            return
        site_id, command = parsed
        if not self._admitted(site_id):
            return
        log.info("Button %s on site %s", command, site_id)
        intent = handlers.button_intent(command, site_id)
        if intent is None:
            return
        for action in self.sites.decide(intent):
            self.sites.apply(site_id, action)

    def _on_intent(self, intent: NluIntent) -> None:
        site_id = intent.site_id
        if not self._admitted(site_id):
            log.debug("Ignoring an intent from a site outside `sites`")
            return
        name = intent.intent.intent_name
        self._heard[site_id] = self._heard.get(site_id, 0) + 1
        log.info("Intent %s on site %s", name, site_id)
        log.debug("Slots: %s", [(s.slot_name, s.value) for s in intent.slots or []])
        if intent.session_id:
            # Answer at once: the dialogue manager's 30 s time-out must never be hit.
            self._publish(end_session(intent.session_id))
        if intent.intent.confidence_score < self.config.min_confidence:
            # Rhasspy's fuzzy matching skipped words it did not know ("red wine or white
            # wine" as "red"): not meant for us as it stands. The built-in recognizer looks
            # again at all that was said (rawInput; `input` holds only the words that
            # matched, "red"): inside a check-in with its filter, for its answer.
            log.info("%s on site %s was recognized only in part", name, site_id)
            raw = intent.raw_input
            if raw and self._answer_again(raw, site_id, intent.session_id):
                return
            if not self._dialogues.unclear(intent) and raw:
                self._look_again(raw, site_id)
            return
        if self._dialogues.answer(intent) and name != Intent.STOP:
            return  # the routine that asked takes it from here (a stop still stops it)
        for action in self.sites.decide(intent, self.sites.context(site_id)):
            self.sites.apply(site_id, action)

    async def deliver_followup(self, site_id: str, kind: str) -> None:
        """A check-in people asked for earlier: a soft chime, one question, listening."""
        if not self._admitted(site_id):
            return
        await self.sites.deliver_followup(site_id, kind)
