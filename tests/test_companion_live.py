"""Issue #5 live: routines, check-ins, care, preferences and follow-ups, by voice.

Everything goes the way it would at a bedside. Sentences become NluIntents through the real
Recognizer (loaded with the configured playlists, safewords and names) and are published on
`hermes/intent/<name>`; the real Runtime runs on a real Mosquitto with a compressed clock and
the silent fake voice; a bedside speaker answers every clip with playFinished; and a small
stand-in for Rhasspy's dialogue manager plays the check-in sessions: sessionStarted with the
request's customData, then the answer with that sessionId and customData, or sessionEnded.

What is heard is decoded back into response keys and checked for order, for timing (a silence
is never cut short, and grows after "not okay") and for overlap (no line starts before the
clip ahead of it has finished playing).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import os
import re
import stat
import time
import types
import uuid
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any, cast
from unittest import mock

import pytest
from support.fakes import (
    DM_TIMEOUT,
    END_SESSION,
    PLAYER,
    PLAYER_TOPIC,
    RESPONSES,
    SILENT,
    SITE,
    Answer,
    Asked,
    Bedside,
    Clip,
    FakeDialogueManager,
    live_skill,
)
from support.mqtt_recorder import Received

from skill.app import project_dir, store_path
from skill.care.followup import DAY_STARTS
from skill.care.reminders import STALE
from skill.care.store import FollowUp, Preferences, Store
from skill.hermes.broker import EmbeddedBroker
from skill.hermes.dialogue import Dialogues
from skill.language.nlu import Recognizer
from skill.routines.runner import CHECKIN_ANSWERS, SLOW_FACTOR
from skill.voice.piper import split_sentences

pytestmark = pytest.mark.timeout(60)

GUEST = "guest"
"""A second site, with its own speaker and its own memory."""
SCALE = 0.005
"""Real seconds per plan second for the short and quiet routines (six minutes in two seconds)."""
LONG_SCALE = 0.004
"""The same for the long routine (26 minutes in about six seconds)."""
EPSILON = 0.05
"""Real seconds two clients may disagree on when a message arrived."""
LATE = 1.5
"""Real seconds anything may be late on a busy 2-core machine."""

LAMP_TOPIC = "zigbee2mqtt/bedroom/lamp/set"
LAMP: Mapping[str, Any] = {
    "name": "bedside-lamp",
    "kind": "zigbee2mqtt-light",
    "friendly_name": "bedroom/lamp",
    "sites": [SITE],
    "scene": {"brightness": 30, "color_temp": 454, "transition": 45},
    "restore": {"brightness": 200, "color_temp": 370, "transition": 3},
}
"""A lamp by the bed: the routines dim it and "stop" brings it back."""
ROOM = [dict(PLAYER), dict(LAMP)]
"""The generic music player of the shared fakes and the lamp."""
TOPICS = ("hermes/#", "aftercare/#", "home/#", "zigbee2mqtt/#")
"""What the recording client listens to: Hermes, the skill's own topics and the devices."""


# --- speaking to the skill -------------------------------------------------------------------


@functools.cache
def _recognizer(
    playlists: tuple[str, ...], safewords: tuple[str, ...], names: tuple[str, ...]
) -> Recognizer:
    return Recognizer.load(
        project_dir() / "intents", playlists=playlists, safewords=safewords, names=names
    )


def nlu(bs: Bedside) -> Recognizer:
    """The real Recognizer, loaded as Rhasspy's sentences are: from the running config."""
    config = bs.runtime.config
    playlists = (config.cooldown.playlist, *config.cooldown.playlists)
    return _recognizer(playlists, config.safewords, config.names)


async def say(bs: Bedside, text: str, *, site: str = SITE) -> Received:
    """Publish the NluIntent Rhasspy would for `text`; the skill's endSession for it."""
    session = f"session-{uuid.uuid4().hex[:12]}"
    intent = await asyncio.to_thread(nlu(bs).recognize, text, site_id=site, session_id=session)
    assert intent is not None, f"the intents do not recognize {text!r}"
    topic = intent.topic(intent_name=intent.intent.intent_name)
    await bs.publish(topic, json.dumps(intent.to_dict()))
    return await bs.ended(session)


async def settle(bs: Bedside, site: str = SITE, timeout: float = 10.0) -> None:
    """Wait until the site is idle and every clip sent to it was recorded and played."""
    await bs.idle(site, timeout)
    sent = sum(1 for _, clip in bs.spoken if clip.site_id == site)

    def played(_message: Received) -> bool:
        clips = bs.recorder.messages(f"hermes/audioServer/{site}/playBytes/+")
        ids = {clip.topic.rsplit("/", 1)[-1] for clip in clips}
        return len(clips) >= sent and ids <= set(finished(bs, site))

    await bs.wait_for(played, timeout)


# --- the dialogue manager, for check-ins --------------------------------------------------------


def dialogue_manager(bs: Bedside, answers: Iterable[Answer | str]) -> FakeDialogueManager:
    """The shared stand-in for Rhasspy's dialogue manager, answering with `nlu(bs)`.

    Answers are recognized as this file's sentences are: from the running config, names
    included.
    """
    return FakeDialogueManager(bs, answers, recognizer=nlu(bs))


def ends_of(bs: Bedside, session: str) -> list[Received]:
    """Every endSession the skill sent for a session."""
    return [
        m
        for m in bs.recorder.messages(END_SESSION)
        if json.loads(m.payload).get("sessionId") == session
    ]


def assert_checkin_request(asked: Asked, site: str = SITE) -> None:
    """A check-in is an action session that queues, listens for the answers, carries a token."""
    body = asked.body
    assert body["siteId"] == site
    assert body["init"]["type"] == "action"
    assert body["init"]["canBeEnqueued"] is True  # never aborts a dialogue people started
    assert body["init"]["intentFilter"] == list(CHECKIN_ANSWERS)
    assert "AftercareStop" in body["init"]["intentFilter"]  # stop and the safeword always work
    assert isinstance(body["customData"], str)
    assert body["customData"]


# --- what was heard ------------------------------------------------------------------------


def _sentence_table() -> tuple[dict[str, set[str]], list[tuple[re.Pattern[str], str]]]:
    """Sentences of every line -> keys, and patterns for sentences with placeholders."""
    literal: dict[str, set[str]] = {}
    filled: list[tuple[re.Pattern[str], str]] = []
    for key in sorted(RESPONSES.keys()):
        for variant in RESPONSES.variants(key):
            for sentence in split_sentences(variant):
                if "{" in sentence:
                    filled.append((_pattern(sentence), key))
                else:
                    literal.setdefault(sentence, set()).add(key)
    return literal, filled


def _pattern(text: str) -> re.Pattern[str]:
    """A line as a regular expression: each {placeholder} stands for any text."""
    return re.compile(re.sub(r"\\\{\w+\\\}", "(.+)", re.escape(text)))


_LITERAL, _FILLED = _sentence_table()
_VARIANTS = {
    key: [_pattern(" ".join(split_sentences(v))) for v in RESPONSES.variants(key)]
    for key in sorted(RESPONSES.keys())
}
"""Every whole line of every key, as said sentence by sentence."""


def keys_of(sentence: str) -> set[str]:
    """Response keys a spoken sentence belongs to (lines without placeholders win)."""
    found = _LITERAL.get(sentence)
    if found:
        return set(found)
    return {key for pattern, key in _FILLED if pattern.fullmatch(sentence)}


def is_key(sentence: str, key: str) -> bool:
    """True when the sentence is part of one of the key's lines."""
    return key in keys_of(sentence)


@dataclass(frozen=True)
class Line:
    """One thing heard: a whole line (its sentences folded together), a cue or a chime."""

    kind: str
    """speech, cue or chime."""
    label: str
    """The response key of a line; the text of a cue; the name of a chime."""
    clips: tuple[Clip, ...]
    """Its clips, in order."""

    @property
    def first(self) -> Clip:
        """The clip it starts with."""
        return self.clips[0]

    @property
    def last(self) -> Clip:
        """The clip it ends with."""
        return self.clips[-1]

    @property
    def text(self) -> str:
        """Everything it said."""
        return " ".join(clip.text for clip in self.clips)


def lines(clips: Iterable[Clip], expect: Collection[str] = ()) -> list[Line]:
    """Clips as lines: consecutive sentences of one key are one line.

    A line whose sentences several keys share is labelled with the key it is a whole line
    of; if still in doubt, with the one in `expect`.
    """
    groups: list[tuple[list[Clip], set[str] | None]] = []
    for clip in clips:
        if clip.kind != "speech":
            groups.append(([clip], None))
            continue
        keys = keys_of(clip.text)
        assert keys, f"a spoken sentence that is no line of responses/en.yaml: {clip.text!r}"
        previous = groups[-1][1] if groups else None
        if previous is not None and previous & keys:
            groups[-1] = (groups[-1][0] + [clip], previous & keys)
            continue
        groups.append(([clip], keys))
    out: list[Line] = []
    for group, shared in groups:
        if shared is None:
            out.append(Line(group[0].kind, group[0].text, tuple(group)))
            continue
        text = " ".join(clip.text for clip in group)
        whole = {k for k in shared if any(p.fullmatch(text) for p in _VARIANTS[k])}
        candidates = whole or shared
        wanted = sorted(candidates & set(expect))
        out.append(Line("speech", wanted[0] if wanted else min(candidates), tuple(group)))
    return out


def spoken(heard: Iterable[Line]) -> list[str]:
    """The response keys of the lines spoken, in order."""
    return [line.label for line in heard if line.kind == "speech"]


def line(heard: list[Line], key: str, after: Line | None = None) -> Line:
    """The first line of `key` (after the line `after`, when given)."""
    start = heard.index(after) + 1 if after is not None else 0
    found = [item for item in heard[start:] if item.kind == "speech" and item.label == key]
    assert found, f"{key} was never said; heard {spoken(heard)}"
    return found[0]


def finished(bs: Bedside, site: str = SITE) -> dict[str, float]:
    """requestId -> arrival of its playFinished."""
    topic = f"hermes/audioServer/{site}/playFinished"
    return {json.loads(m.payload)["id"]: m.t for m in bs.recorder.messages(topic)}


def silence_before(bs: Bedside, before: Line, after: Line, site: str = SITE) -> float:
    """Real seconds from the end of one line (its playFinished) to the start of the next."""
    done = finished(bs, site)
    assert before.last.request_id in done, f"no playFinished for {before.label}"
    return after.first.t - done[before.last.request_id]


def assert_silence(
    bs: Bedside,
    heard: list[Line],
    pair: tuple[str, str],
    plan_seconds: float,
    scale: float,
    *,
    after_line: Line | None = None,
) -> None:
    """The quiet between two lines lasts its plan time (never shorter; late only by load).

    The first line of `pair[0]` (after `after_line`, when given) and the next of `pair[1]`.
    """
    before = line(heard, pair[0], after_line)
    after = line(heard, pair[1], before)
    quiet = silence_before(bs, before, after)
    due = plan_seconds * scale
    assert quiet >= due - EPSILON, f"{pair}: {quiet:.3f} s of quiet, {due:.3f} s due"
    assert quiet <= due + LATE, f"{pair}: {quiet:.3f} s of quiet, {due:.3f} s due"


def assert_no_overlap(bs: Bedside, site: str = SITE, *, until: float | None = None) -> None:
    """No line starts over the clip ahead of it (among the clips sent before `until`).

    Lines wait for the playFinished of the clip ahead. Breathing notes (intro, close, fade)
    go out on the session's schedule instead, as cues and chimes do: each must be sent only
    once the clip ahead has had its full length (at the speaker's pace) to play.
    """
    done = finished(bs, site)
    pace = bs.speakers[site].time_scale
    for before, after in itertools.pairwise(bs.clips(site)):
        if after.kind != "speech" or (until is not None and after.t > until):
            continue
        if any(key.startswith("breathing.") for key in keys_of(after.text)):
            played = before.t + before.seconds * pace
            assert after.t >= played - EPSILON, f"{after.text!r} over {before.text!r}"
            continue
        assert before.request_id in done, f"no playFinished for {before.text!r}"
        assert done[before.request_id] <= after.t, f"{after.text!r} over {before.text!r}"


def commands(bs: Bedside, topic: str, after: float = 0.0) -> list[tuple[float, dict[str, Any]]]:
    """(arrival, JSON payload) of the device commands on a topic."""
    return [(m.t, json.loads(m.payload)) for m in bs.recorder.messages(topic) if m.t > after]


def plays(bs: Bedside) -> list[float]:
    """When the player was told to play."""
    return [t for t, body in commands(bs, PLAYER_TOPIC) if body.get("action") == "play"]


def lamp_scenes(bs: Bedside) -> list[float]:
    """When the lamp was dimmed to the cool-down scene."""
    return [t for t, body in commands(bs, LAMP_TOPIC) if body.get("brightness") == 30]


def one_routine(*steps: Mapping[str, Any]) -> dict[str, Any]:
    """config.yaml `routines:` replacing the short routine (the one "start aftercare" runs)."""
    return {"short": {"description": "A routine for one test.", "steps": list(steps)}}


# --- 1. the routines, by voice ---------------------------------------------------------------

SHORT_SPOKEN = [
    "routine.opening",
    "routine.water",
    "routine.warmth",
    "routine.breathe_offer",
    "breathing.intro.calm",
    "breathing.step_close",  # inside a routine: not a goodbye (the routine has one)
    "checkin.feeling",
]
"""The short routine up to its first check-in."""


@pytest.mark.asyncio
async def test_short_aftercare_speaks_in_order_with_its_silences(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """ "Short aftercare": every line in order, silences as planned, two check-ins answered.

    "I'm okay" to the feeling check-in gets feeling.okay and the routine goes on; "no thanks"
    to the need check-in gets a word or two and the routine goes on to the music, lamp and
    close.
    """
    async with (
        live_skill(
            mosquitto, tmp_path, scale=SCALE, speakers=[SITE], topics=TOPICS, devices=ROOM
        ) as bs,
        dialogue_manager(bs, ["i'm okay", "no thanks"]) as dm,
    ):
        await say(bs, "short aftercare")
        await bs.idle(timeout=30)
        await settle(bs)
    heard = lines(bs.clips(), expect={"feeling.okay", "checkin.need", "routine.close"})
    assert spoken(heard) == [
        *SHORT_SPOKEN,
        "feeling.okay",
        "routine.kind_words",
        "checkin.need",
        "notnow.ack",  # "no thanks": a word or two, and the routine goes on
        "routine.close",
    ]
    intro = line(heard, "breathing.intro.calm")
    close = line(heard, "breathing.step_close")
    breaths = [
        (item.kind, item.label) for item in heard[heard.index(intro) + 1 : heard.index(close)]
    ]
    assert breaths[:2] == [("cue", "Breathe in."), ("cue", "Breathe out.")]
    assert set(breaths) == {("cue", "Breathe in."), ("cue", "Breathe out.")}
    # Two check-ins, each asked once, right after its question has finished playing.
    assert [a.session for a in dm.asked] == ["dm-1", "dm-2"]
    done = finished(bs)
    for asked, key in zip(dm.asked, ["checkin.feeling", "checkin.need"], strict=True):
        assert_checkin_request(asked)
        assert asked.message.t >= done[line(heard, key).last.request_id] - EPSILON
        assert len(ends_of(bs, asked.session)) == 1  # the answer's session, ended at once
    okay = line(heard, "feeling.okay")
    assert okay.first.t > dm.asked[0].message.t
    # The silences of routines.yaml, compressed: never cut short.
    for pair, seconds in [
        (("routine.opening", "routine.water"), 20),
        (("routine.water", "routine.warmth"), 30),
        (("routine.warmth", "routine.breathe_offer"), 30),
        (("routine.kind_words", "checkin.need"), 40),
        (("notnow.ack", "routine.close"), 80),
    ]:
        assert_silence(bs, heard, pair, seconds, SCALE)
    # Music and the lamp come after the last check-in, before the close.
    need, last = line(heard, "checkin.need"), line(heard, "routine.close")
    assert len(plays(bs)) == 1
    assert need.last.t < plays(bs)[0] < last.first.t
    assert len(lamp_scenes(bs)) == 1
    assert need.last.t < lamp_scenes(bs)[0] < last.first.t
    assert_no_overlap(bs)


LONG_SPOKEN = [
    "routine.opening",
    "routine.settle_in",
    "routine.water",
    "routine.warmth",
    "routine.breathe_offer",
    "breathing.intro.settle",
    "breathing.step_close",
    "checkin.feeling",
]
"""The long routine up to its first check-in."""


@pytest.mark.asyncio
async def test_long_aftercare_has_journaling_kind_words_offers_and_a_followup_offer(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """ "Long aftercare", compressed: every line in order, nothing over anything else.

    The need check-in's answer carries only the sessionId (no customData): it still counts.
    """
    async with live_skill(
        mosquitto, tmp_path, scale=LONG_SCALE, speakers=[SITE], topics=TOPICS, devices=ROOM
    ) as bs:
        answers = [Answer("i'm okay"), Answer("no thanks", token=False)]
        async with dialogue_manager(bs, answers) as dm:
            await say(bs, "long aftercare")
            await bs.idle(timeout=40)
            await settle(bs)
    expect = {"feeling.okay", "checkin.need", "routine.close", "affirm", "breathing.step_close"}
    heard = lines(bs.clips(), expect)
    said = spoken(heard)
    coherent = said.index("breathing.intro.coherent")
    assert said[: coherent + 1] == [
        *LONG_SPOKEN,
        "feeling.okay",
        "routine.music_offer",
        "routine.kind_words",
        "affirm",
        "routine.snack",
        "routine.clean_up",
        "routine.journal_intro",
        "journal.prompt",
        "checkin.need",
        "notnow.ack",
        "breathing.intro.coherent",  # a pattern for one person as well as two
    ]
    # Its end (not a goodbye), the offer of a check-in, and the one goodbye.
    assert said[coherent + 1 :] == [
        "breathing.step_close",
        "routine.followup_offer",
        "routine.close",
    ]
    assert len(dm.asked) == 2
    for asked in dm.asked:
        assert_checkin_request(asked)
        assert len(ends_of(bs, asked.session)) == 1
    for pair, seconds in [
        (("routine.opening", "routine.settle_in"), 30),
        (("routine.kind_words", "affirm"), 90),
        (("affirm", "routine.snack"), 90),
        (("routine.snack", "routine.clean_up"), 90),
        (("routine.clean_up", "routine.journal_intro"), 120),
        (("journal.prompt", "checkin.need"), 180),  # the journal's own quiet, then 60 s
        (("routine.followup_offer", "routine.close"), 60),
    ]:
        assert_silence(bs, heard, pair, seconds, LONG_SCALE)
    offer, kind = line(heard, "routine.music_offer"), line(heard, "routine.kind_words")
    assert len(plays(bs)) == 1
    assert offer.last.t < plays(bs)[0] < kind.first.t  # the music starts right after its offer
    assert len(lamp_scenes(bs)) == 1
    assert_no_overlap(bs)


@pytest.mark.asyncio
async def test_aftercare_without_talking_is_chimes_music_and_two_soft_lines(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """The quiet routine: its soft opening, chimes (never spoken cues) to breathe by, the
    lamp and the music before the first chime, five quiet minutes, the soft close.

    No check-in is asked. (Its breathing stretch also speaks an intro and a close: see
    test_the_quiet_routine_breathes_without_words.)
    """
    async with (
        live_skill(
            mosquitto, tmp_path, scale=SCALE, speakers=[SITE], topics=TOPICS, devices=ROOM
        ) as bs,
        dialogue_manager(bs, []) as dm,
    ):
        asked = await say(bs, "aftercare without talking")
        await bs.idle(timeout=30)
        await settle(bs)
    heard = lines(bs.clips(), expect={"routine.quiet_close"})
    said = spoken(heard)
    assert said[0] == "routine.quiet_opening"
    assert said[-1] == "routine.quiet_close"
    assert heard[-1].label == "routine.quiet_close"
    breaths = [item for item in heard if item.kind != "speech"]
    assert {item.kind for item in breaths} == {"chime"}  # no spoken cues
    assert len(breaths) >= 20  # three minutes of breaths, each marked
    assert dm.asked == []
    opening = heard[0]
    assert len(lamp_scenes(bs)) == 1
    assert len(plays(bs)) == 1
    assert opening.last.t < lamp_scenes(bs)[0] < breaths[0].first.t
    assert opening.last.t < plays(bs)[0] < breaths[0].first.t
    assert asked.t < opening.first.t
    # Five minutes of quiet after the last breath, before the close.
    assert heard[-1].first.t - breaths[-1].first.t >= 300 * SCALE - EPSILON
    assert_no_overlap(bs)


@pytest.mark.asyncio
async def test_the_quiet_routine_breathes_without_words(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """Between its soft opening and the first chime, the quiet routine says nothing else."""
    async with live_skill(mosquitto, tmp_path, scale=SCALE, speakers=[SITE]) as bs:
        await say(bs, "aftercare without talking")
        chime = await bs.wait_clip(lambda c: c.kind == "chime", timeout=10)
        await say(bs, "stop")
        await settle(bs)
    before = lines([c for c in bs.clips() if c.t <= chime.t])
    assert spoken(before) == ["routine.quiet_opening"]


# --- 2. check-ins ------------------------------------------------------------------------------

OWN_TIMEOUT = 1.0
"""The skill's own wait for an answer, in real seconds (60 in the shipped code)."""


@contextlib.contextmanager
def own_timeout(seconds: float) -> Iterator[None]:
    """Shorten how long the skill listens for a check-in answer before going on."""
    ask = cast(types.FunctionType, Dialogues.ask)
    assert ask.__kwdefaults__ is not None
    with mock.patch.dict(ask.__kwdefaults__, {"seconds": seconds}):
        yield


ASK_TWICE = one_routine(
    {"say": "routine.opening"},
    {"checkin": "feeling"},
    {"silence": 20},
    {"say": "routine.kind_words"},
    {"checkin": "feeling"},
    {"silence": 20},
    {"checkin": "need"},
    {"silence": 20},
    {"checkin": "need"},
    {"silence": 20},
    {"close": "routine.close"},
)
"""A routine that lists each check-in twice: a question is still asked only once."""


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "decline",
    [
        pytest.param(Answer("not now"), id="not-now"),
        pytest.param(DM_TIMEOUT, id="dialogue-manager-timeout"),
        pytest.param(SILENT, id="no-answer-at-all"),
    ],
)
async def test_an_unanswered_checkin_goes_on_quietly_and_is_never_asked_again(
    mosquitto: EmbeddedBroker, tmp_path: Path, decline: Answer
) -> None:
    """ "Not now" (a word or two back), the dialogue manager's time-out, or silence (nothing
    said about it): the routine goes on, and the question is not asked again (though listed
    twice).

    With no answer at all the skill stops listening after its own time-out and ends the
    session itself; a session the dialogue manager ended is not ended again.
    """
    with own_timeout(OWN_TIMEOUT / SCALE):  # the skill's time: scaled like the rest
        async with (
            live_skill(mosquitto, tmp_path, scale=SCALE, speakers=[SITE], routines=ASK_TWICE) as bs,
            dialogue_manager(bs, [decline, decline]) as dm,
        ):
            await say(bs, "start aftercare")
            await bs.idle(timeout=20)
            await settle(bs)
    heard = lines(bs.clips(), expect={"routine.close"})
    ack = ["notnow.ack"] if decline.text else []
    assert spoken(heard) == [
        "routine.opening",
        "checkin.feeling",
        *ack,
        "routine.kind_words",
        "checkin.need",
        *ack,
        "routine.close",
    ]
    assert len(dm.asked) == 2
    for asked in dm.asked:
        assert_checkin_request(asked)
        ends = ends_of(bs, asked.session)
        if decline is DM_TIMEOUT:
            assert ends == []  # the dialogue manager ended it already
        elif decline is SILENT:
            assert len(ends) == 1
            waited = ends[0].t - asked.message.t
            assert OWN_TIMEOUT - EPSILON <= waited <= OWN_TIMEOUT + LATE
        else:
            assert len(ends) == 1
    # Each question was followed by the next step, not by a reply (or by the one word).
    feeling, need = line(heard, "checkin.feeling"), line(heard, "checkin.need")
    assert heard[heard.index(feeling) + 1 + len(ack)].label == "routine.kind_words"
    assert heard[heard.index(need) + 1 + len(ack)].label == "routine.close"
    assert_no_overlap(bs)


@pytest.mark.asyncio
async def test_not_okay_slows_everything_down_and_leaves_out_the_journal(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """ "I'm not okay" in the long routine: feeling.not_okay at once; after the next silence,
    one line says it has slowed and names the words for a later check-in; every silence is
    half as long again; kind words, affirmation, the journal and the second offer of a
    check-in are left out; one goodbye."""
    async with (
        live_skill(
            mosquitto, tmp_path, scale=LONG_SCALE, speakers=[SITE], topics=TOPICS, devices=ROOM
        ) as bs,
        dialogue_manager(bs, ["i'm not okay", "no thanks"]) as dm,
    ):
        await say(bs, "long aftercare")
        await bs.idle(timeout=40)
        await settle(bs)
    expect = {"feeling.not_okay", "checkin.need", "routine.close", "breathing.step_close"}
    heard = lines(bs.clips(), expect)
    said = spoken(heard)
    assert said[: len(LONG_SPOKEN) + 1] == [*LONG_SPOKEN, "feeling.not_okay"]
    rest = said[len(LONG_SPOKEN) + 1 :]
    assert rest == [
        "routine.slow_down",
        "routine.music_offer",
        "routine.snack",
        "routine.clean_up",
        "checkin.need",
        "notnow.ack",
        "breathing.intro.coherent",
        "breathing.step_close",
        "routine.close",
    ]
    assert len(dm.asked) == 2
    question, reply = line(heard, "checkin.feeling"), line(heard, "feeling.not_okay")
    assert heard.index(reply) == heard.index(question) + 1
    assert reply.first.t > dm.asked[0].message.t
    assert_silence(bs, heard, ("routine.opening", "routine.settle_in"), 30, LONG_SCALE)
    for pair, seconds in [
        (("feeling.not_okay", "routine.slow_down"), 60),  # never right after the reply
        (("routine.music_offer", "routine.snack"), 30 + 90 + 90),  # no kind words, no affirm
        (("routine.snack", "routine.clean_up"), 90),
        (("routine.clean_up", "checkin.need"), 120 + 60),  # no journal, no journal quiet
    ]:
        assert_silence(bs, heard, pair, seconds * SLOW_FACTOR, LONG_SCALE)
    last_breathing = line(heard, "breathing.intro.coherent")
    pair = ("breathing.step_close", "routine.close")  # no second offer of a check-in
    assert_silence(bs, heard, pair, 150 * SLOW_FACTOR, LONG_SCALE, after_line=last_breathing)
    assert_no_overlap(bs)


STOPPABLE = one_routine(
    {"say": "routine.opening"},
    {"lights": "scene"},
    {"music": "play"},
    {"silence": 10},
    {"checkin": "feeling"},
    {"silence": 30},
    {"say": "routine.kind_words"},
    {"silence": 30},
    {"close": "routine.close"},
)
"""A routine with music playing and the lamp dimmed by the time it asks how people feel."""
STOPPABLE_AFTER_CHECKIN = 70
"""Plan seconds the routine would still run after its check-in."""


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("answer", "said_keys"),
    [
        ("i'm bleeding", ["feeling.hurt", "help.call"]),
        ("i don't feel safe", ["feeling.unsafe"]),
        ("call an ambulance", ["help.call"]),
        ("red", ["stop.done"]),
    ],
    ids=["hurt", "unsafe", "help", "safeword"],
)
async def test_hurt_unsafe_help_or_the_safeword_in_a_checkin_stops_everything(
    mosquitto: EmbeddedBroker, tmp_path: Path, answer: str, said_keys: list[str]
) -> None:
    """Real injury, feeling unsafe, a call for help or the safeword as the answer: everything
    stops (routine, music, lamp), the plain lines are said, and nothing after them."""
    key = said_keys[-1]
    async with (
        live_skill(
            mosquitto,
            tmp_path,
            scale=SCALE,
            speakers=[SITE],
            topics=TOPICS,
            devices=ROOM,
            routines=STOPPABLE,
        ) as bs,
        dialogue_manager(bs, [answer]) as dm,
    ):
        await say(bs, "start aftercare")
        said = await bs.wait_clip(lambda c: is_key(c.text, key), timeout=10)
        assert bs.skill.activity(SITE) == ""
        await bs.quiet_for(STOPPABLE_AFTER_CHECKIN * SCALE + 0.5)  # the rest would be due
        await settle(bs)
    heard = lines(bs.clips(), expect=set(said_keys))
    assert spoken(heard) == ["routine.opening", "checkin.feeling", *said_keys]
    assert heard[-1].label == key  # nothing at all after it: never closeness, never more
    assert len(dm.asked) == 1
    assert ends_of(bs, dm.asked[0].session)  # the check-in session was ended
    answered = dm.asked[0].message.t
    stops = [t for t, body in commands(bs, PLAYER_TOPIC, answered) if body == {"action": "stop"}]
    assert len(stops) == 1  # the music faded out and stopped
    restored = [t for t, body in commands(bs, LAMP_TOPIC, answered) if body["brightness"] == 200]
    assert len(restored) == 1  # the lamp came back
    assert said.t > answered
    assert_no_overlap(bs)


@pytest.mark.asyncio
async def test_the_safeword_in_a_checkin_ends_its_session_once(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """Every session gets one endSession, the one answering the safeword included."""
    async with (
        live_skill(mosquitto, tmp_path, scale=SCALE, speakers=[SITE], routines=STOPPABLE) as bs,
        dialogue_manager(bs, ["red"]) as dm,
    ):
        await say(bs, "start aftercare")
        await bs.wait_clip(lambda c: is_key(c.text, "stop.done"), timeout=10)
        await settle(bs)
    assert len(ends_of(bs, dm.asked[0].session)) == 1


@pytest.mark.asyncio
async def test_no_talking_in_a_checkin_goes_on_without_words(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """ "No talking" as the answer: quiet.ack, then the routine goes on without its words
    (no kind words, no second check-in) while the music and the lamp still happen."""
    async with (
        live_skill(
            mosquitto, tmp_path, scale=SCALE, speakers=[SITE], topics=TOPICS, devices=ROOM
        ) as bs,
        dialogue_manager(bs, ["no talking"]) as dm,
    ):
        await say(bs, "short aftercare")
        await bs.idle(timeout=30)
        await settle(bs)
    heard = lines(bs.clips(), expect={"quiet.ack"})
    said = spoken(heard)
    assert said[: len(SHORT_SPOKEN) + 1] == [*SHORT_SPOKEN, "quiet.ack"]
    words = said[len(SHORT_SPOKEN) + 1 :]
    for key in ("routine.kind_words", "checkin.need", "routine.close"):
        assert key not in words
    assert len(dm.asked) == 1  # the need check-in is a question: left out
    ack = line(heard, "quiet.ack")
    ack_done = finished(bs)[ack.last.request_id]
    assert len(plays(bs)) == 1
    assert len(lamp_scenes(bs)) == 1
    # 30 + 40 + 20 s of the routine's silences still pass before the music.
    assert plays(bs)[0] - ack_done >= 90 * SCALE - EPSILON
    assert lamp_scenes(bs)[0] > plays(bs)[0]
    assert_no_overlap(bs)


@pytest.mark.asyncio
async def test_no_talking_means_no_more_words_at_all(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """After "no talking" in a check-in, nothing more is spoken: not even a soft close."""
    routine = one_routine(
        {"say": "routine.opening"},
        {"checkin": "feeling"},
        {"silence": 10},
        {"music": "play"},
        {"silence": 10},
        {"close": "routine.close"},
    )
    async with (
        live_skill(
            mosquitto, tmp_path, scale=SCALE, speakers=[SITE], topics=TOPICS, routines=routine
        ) as bs,
        dialogue_manager(bs, ["no talking"]),
    ):
        await say(bs, "start aftercare")
        await bs.idle(timeout=20)
        await settle(bs)
    heard = lines(bs.clips(), expect={"quiet.ack"})
    assert len(plays(bs)) == 1  # the routine went on to its end
    said = spoken(heard)
    assert said[said.index("quiet.ack") + 1 :] == []


# --- 3. care outside check-ins ---------------------------------------------------------------

HEATER_TOPIC = "home/bedroom/heater/set"
NEEDS = {"blanket": {"topic": HEATER_TOPIC, "payload": '{"state": "ON", "level": "low"}'}}
"""config.yaml `needs:`: asking for a blanket also turns the heater on low."""


@pytest.mark.asyncio
async def test_needs_and_kind_words_are_answered_between_lines(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """Outside a check-in: "say something kind" gets affirm, "i need a blanket" need.blanket
    and the configured device action. During a routine the reply waits for the line being
    spoken to finish and is said in the silence after it, before the next line."""
    scale = 0.03  # the routine's silences: 0.6 s and 0.9 s
    async with live_skill(
        mosquitto,
        tmp_path,
        scale=scale,
        speakers=[SITE],
        speaker_scale=0.3,  # each line plays for most of a second
        topics=TOPICS,
        needs=NEEDS,
    ) as bs:
        await say(bs, "say something kind")
        await settle(bs)
        asked = await say(bs, "i need a blanket")
        await settle(bs)
        assert spoken(lines(bs.clips())) == ["affirm", "need.blanket"]
        [(when, heater)] = commands(bs, HEATER_TOPIC)
        assert heater == {"state": "ON", "level": "low"}
        assert when > asked.t - EPSILON
        # The same while a routine speaks.
        started = await say(bs, "start aftercare")
        await bs.wait_clip(lambda c: c.t > started.t and is_key(c.text, "routine.opening"))
        await say(bs, "i need water")  # while the opening plays
        await bs.wait_clip(lambda c: is_key(c.text, "routine.water"), timeout=10)
        await say(bs, "say something kind")  # while the water offer plays
        await bs.wait_clip(lambda c: is_key(c.text, "routine.warmth"), timeout=10)
        stopped = await say(bs, "stop")
        await settle(bs)
    heard = lines([c for c in bs.clips() if c.t > started.t], expect={"need.water", "stop.done"})
    assert spoken(heard) == [
        "routine.opening",
        "need.water",
        "routine.water",
        "affirm",
        "routine.warmth",
        "stop.done",
    ]
    opening, water = line(heard, "routine.opening"), line(heard, "routine.water")
    assert silence_before(bs, opening, line(heard, "need.water")) >= 0  # not over the opening
    assert silence_before(bs, line(heard, "need.water"), water) >= 0  # nor under the next line
    assert silence_before(bs, water, line(heard, "affirm")) >= 0
    # The reply took a share of the silence; the silence itself kept its length.
    assert silence_before(bs, opening, water) >= 20 * scale - EPSILON
    assert len(commands(bs, HEATER_TOPIC)) == 1  # water has no device action
    # "Stop" is said at once, after the clip it cut short (the audio server cannot stop one).
    assert_no_overlap(bs, until=stopped.t)


# --- 4. preferences, per site --------------------------------------------------------------


def preferences(path: Path, site: str) -> Preferences:
    """What the store holds for a site (read on a connection of its own)."""
    with Store.open(path) as store:
        return store.preferences(site)


@pytest.mark.asyncio
async def test_preferences_are_used_read_back_and_forgotten_per_site(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """Saved by voice, used by "start aftercare" and "start breathing", read back with how to
    erase them, and erased by "forget our settings" on that site only. The file is 0600."""
    async with live_skill(
        mosquitto,
        tmp_path,
        scale=0.02,
        speakers=[SITE, GUEST],
        topics=TOPICS,
        names=["Sam", "Alex"],
    ) as bs:

        async def reply(text: str, site: str = SITE) -> list[Line]:
            asked = await say(bs, text, site=site)
            await settle(bs, site)
            return lines([c for c in bs.clips(site) if c.t > asked.t], expect={"stop.done"})

        assert spoken(await reply("we prefer the long aftercare")) == ["prefer.saved"]
        started = await say(bs, "start aftercare")
        await bs.wait_clip(lambda c: is_key(c.text, "routine.settle_in"), timeout=10)
        assert spoken(await reply("stop")) == ["stop.done"]
        heard = lines([c for c in bs.clips() if c.t > started.t], expect={"stop.done"})
        assert spoken(heard) == ["routine.opening", "routine.settle_in", "stop.done"]  # long

        assert spoken(await reply("we like box breathing")) == ["prefer.saved"]
        started = await say(bs, "start breathing")
        await bs.wait_clip(lambda c: is_key(c.text, "breathing.intro.box"), timeout=10)
        await reply("stop")
        heard = lines([c for c in bs.clips() if c.t > started.t], expect={"stop.done"})
        assert spoken(heard)[0] == "breathing.intro.box"

        [named] = await reply("call us sam and alex")
        assert named.label == "prefer.name_saved"
        assert "Sam and Alex" in named.text
        assert spoken(await reply("we prefer the quiet aftercare", GUEST)) == ["prefer.saved"]

        recalled = await reply("what do you remember about us")
        assert spoken(recalled) == [
            "recall.intro",
            "recall.routine",
            "recall.pattern",
            "recall.names",
            "recall.outro",
        ]
        values = {item.label: item.text for item in recalled}
        assert re.search(r"\blong\b", values["recall.routine"])
        assert re.search(r"\bbox\b", values["recall.pattern"])
        assert "Sam and Alex" in values["recall.names"]
        assert "forget our settings" in values["recall.outro"]  # how to erase, last

        assert spoken(await reply("forget our settings")) == ["forget.done"]
        assert spoken(await reply("what do you remember about us")) == ["recall.none"]
        guest = await reply("what do you remember about us", GUEST)
        assert spoken(guest) == ["recall.intro", "recall.routine", "recall.outro"]
        assert re.search(r"\bquiet\b", guest[1].text)

        path = store_path(bs.runtime.config)
        assert await asyncio.to_thread(preferences, path, SITE) == Preferences()
        assert await asyncio.to_thread(preferences, path, GUEST) == Preferences(routine="quiet")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


# --- 5. follow-ups ---------------------------------------------------------------------------


def pending(path: Path) -> list[FollowUp]:
    """The follow-ups the store holds (read on a connection of its own)."""
    with Store.open(path) as store:
        return store.pending()


def schedule(path: Path, site: str, due: datetime, now: datetime) -> None:
    """Put a morning follow-up straight into the store, as if asked for at `now`."""
    with Store.open(path) as store:
        store.add_follow_up(site, "morning", due, now=now)


def morning_after(moment: datetime) -> datetime:
    """9:00 UTC of the next morning: the same day before the day starts (05:00), else tomorrow."""
    day = moment.date() if moment.time() < DAY_STARTS else moment.date() + timedelta(days=1)
    return datetime.combine(day, clock_time(9, 0), tzinfo=UTC)


@pytest.mark.asyncio
async def test_a_followup_is_scheduled_cancelled_and_then_there_is_none(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """ "Check on us tomorrow morning": followup.morning and one pending row due at 9:00 the
    next morning (time zone UTC); "cancel the check-in": followup.cancelled, then none."""
    async with live_skill(mosquitto, tmp_path, speakers=[SITE], timezone="UTC") as bs:
        path = store_path(bs.runtime.config)

        async def reply(text: str) -> list[str]:
            asked = await say(bs, text)
            await settle(bs)
            return spoken(lines([c for c in bs.clips() if c.t > asked.t]))

        before = datetime.now(UTC)
        assert await reply("check on us tomorrow morning") == ["followup.morning"]
        after = datetime.now(UTC)
        [row] = await asyncio.to_thread(pending, path)
        assert (row.site_id, row.kind) == (SITE, "morning")
        assert before <= row.created <= after
        assert row.due == morning_after(row.created)
        assert await reply("cancel the check-in") == ["followup.cancelled"]
        assert await asyncio.to_thread(pending, path) == []
        assert await reply("cancel the check-in") == ["followup.none"]


AHEAD = 4.0
"""Real seconds ahead the follow-up that survives a restart is due."""


@pytest.mark.asyncio
async def test_a_followup_survives_a_restart_and_a_stale_one_is_dropped(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """Scheduled in the store, the Runtime stopped and a new one started on the same data_dir:
    at the due time a soft chime, then checkin.morning, then a listening session; "i'm good"
    gets feeling.good. A follow-up missed by more than two hours is dropped, never said."""
    async with live_skill(mosquitto, tmp_path, speakers=[SITE], timezone="UTC") as first:
        path = store_path(first.runtime.config)
        now, clock = datetime.now(UTC), time.monotonic()
        due = now + timedelta(seconds=AHEAD)
        await asyncio.to_thread(schedule, path, SITE, due, now)
        missed = now - STALE - timedelta(minutes=30)
        await asyncio.to_thread(schedule, path, GUEST, missed, missed - timedelta(hours=10))
    assert first.clips() == []  # the first Runtime delivered nothing
    assert len(await asyncio.to_thread(pending, path)) == 2
    due_at = clock + AHEAD  # the due time on the monotonic clock
    async with live_skill(mosquitto, tmp_path, speakers=[SITE, GUEST], timezone="UTC") as bs:
        assert time.monotonic() < due_at - 0.5, "the second Runtime started after the due time"
        async with dialogue_manager(bs, ["i'm good"]) as dm:
            chime = await bs.wait_clip(lambda c: c.kind == "chime", timeout=AHEAD + LATE + 5)
            await bs.wait_clip(lambda c: is_key(c.text, "feeling.good"), timeout=10)
            await settle(bs)
            await settle(bs, GUEST)
        assert await asyncio.to_thread(pending, path) == []
    assert due_at - EPSILON <= chime.t <= due_at + LATE
    heard = lines(bs.clips(), expect={"feeling.good"})
    assert [(item.kind, item.label) for item in heard] == [
        ("chime", "soft"),
        ("speech", "checkin.morning"),
        ("speech", "feeling.good"),
    ]
    [asked] = dm.asked
    assert_checkin_request(asked)
    question = line(heard, "checkin.morning")
    assert asked.message.t >= finished(bs)[question.last.request_id] - EPSILON
    assert bs.clips(GUEST) == []  # the stale one: dropped, not delivered late
    assert_no_overlap(bs)
