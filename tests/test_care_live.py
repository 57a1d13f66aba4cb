"""Issue #12 live: the hardest moments, on a real Mosquitto, heard as the speaker plays them.

Each test speaks to the running skill the way Rhasspy would (the real Recognizer makes the
NluIntents; the shared stand-in dialogue manager plays check-in sessions) and reads back
what the bedside speaker played and what the devices were told: what stops, what slows,
what is never offered, and that every offer the voice makes can really be declined.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from support.fakes import PLAYER_TOPIC, SITE, Answer, Bedside, Clip, live_skill
from test_companion_live import (
    EPSILON,
    ROOM,
    SCALE,
    TOPICS,
    commands,
    dialogue_manager,
    is_key,
    line,
    lines,
    one_routine,
    plays,
    say,
    settle,
    silence_before,
    spoken,
)

from skill.hermes.broker import EmbeddedBroker
from skill.hermes.dialogue import CHECKIN_TAG
from skill.routines.runner import SLOW_FACTOR

pytestmark = pytest.mark.timeout(60)

BREATHING_SCALE = 0.05
"""Breathing cues every few hundred milliseconds: room to say a word between them."""
FIXED_NIGHT = datetime(2026, 12, 7, 23, 8, 40, tzinfo=UTC)
"""A moment late at night, for the time said aloud."""


@contextlib.asynccontextmanager
async def live_skill_for(
    broker: EmbeddedBroker,
    tmp_path: Path,
    routines: Mapping[str, Any] | None,
    *,
    scale: float = BREATHING_SCALE,
    **config: Any,
) -> AsyncIterator[Bedside]:
    """The skill with the room of the companion tests (player and lamp) and one speaker."""
    extra: dict[str, Any] = {"routines": routines} if routines else {}
    async with live_skill(
        broker,
        tmp_path,
        scale=scale,
        speakers=[SITE],
        topics=TOPICS,
        devices=ROOM,
        **extra,
        **config,
    ) as bs:
        yield bs


def phase_cues(clips: list[Clip]) -> list[Clip]:
    """The spoken breathing cues among the clips."""
    return [clip for clip in clips if clip.kind == "cue"]


def music_stops(bs: Bedside) -> list[dict[str, Any]]:
    """Every "stop" the player was told."""
    return [body for _, body in commands(bs, PLAYER_TOPIC) if body == {"action": "stop"}]


def volumes(bs: Bedside, after: float = 0.0) -> list[int]:
    """Every volume the player was told, in order."""
    return [body["volume"] for _, body in commands(bs, PLAYER_TOPIC, after) if "volume" in body]


MUSIC_THEN_BREATHING = one_routine(
    {"music": "play"},
    {"breathe": {"pattern": "calm", "minutes": 3}},
    {"close": "routine.close"},
)
"""Music playing under a breathing stretch, as in the middle of a routine."""


@pytest.mark.asyncio
async def test_the_caution_word_pauses_everything_asks_once_and_waits_for_carry_on(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """ "Yellow" mid-breathing: cues stop at once, the music dips, one listening question;
    after the answer nothing goes on by itself; "carry on" brings breath and music back."""
    cooldown = {"playlist": "Cool down", "fade_in": 0}
    async with (
        live_skill_for(mosquitto, tmp_path, MUSIC_THEN_BREATHING, cooldown=cooldown) as bs,
        dialogue_manager(bs, ["i'm okay"]) as dm,
    ):
        await say(bs, "start aftercare")
        await bs.wait_clips(lambda c: c.kind == "cue", 3, timeout=20)
        full = bs.runtime.config.cooldown.volume
        assert volumes(bs)[-1] == full
        paused_at = (await say(bs, "yellow")).t
        await bs.wait_clip(lambda c: is_key(c.text, "caution.waiting"), timeout=10)
        await bs.quiet_for(3 * 4 * BREATHING_SCALE + 0.5)  # three breaths would be due
        held = [c for c in phase_cues(bs.clips()) if c.t > paused_at + 0.05]
        assert held == []  # nothing resumed by itself, the answer included
        assert volumes(bs, paused_at)[0] < full  # the music dipped
        assert volumes(bs)[-1] < full  # and stays low while paused
        assert bs.skill.activity(SITE) == "routine"
        resumed = await say(bs, "carry on")
        await bs.wait_clip(lambda c: is_key(c.text, "caution.resumed"), timeout=10)
        await bs.wait_clips(lambda c: c.kind == "cue" and c.t > paused_at + 0.05, 2, timeout=10)
        assert volumes(bs)[-1] == full  # the music came back
        await say(bs, "stop")
        await bs.idle(timeout=10)
        await settle(bs)
    assert resumed
    heard = spoken(lines(bs.clips(), expect={"caution.ask", "feeling.okay"}))
    after = heard[heard.index("caution.ask") :]
    assert after[:3] == ["caution.ask", "feeling.okay", "caution.waiting"]
    assert len(dm.asked) == 1  # one question
    body = dm.asked[0].body
    assert body["customData"].startswith(CHECKIN_TAG)
    assert "AftercareResume" in body["init"]["intentFilter"]


@pytest.mark.asyncio
async def test_no_music_fades_only_the_music_and_the_routine_goes_on(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """ "No music" while a routine plays music: the music stops, the routine goes on, and
    a later music step in the same routine is left out."""
    routine = one_routine(
        {"music": "play"},
        {"silence": 10},
        {"say": "routine.water"},
        {"music": "play"},
        {"silence": 10},
        {"close": "routine.close"},
    )
    async with live_skill_for(mosquitto, tmp_path, routine, scale=SCALE * 4) as bs:
        await say(bs, "start aftercare")
        await bs.wait_for(lambda m: m.topic == PLAYER_TOPIC, timeout=10)
        await say(bs, "no music")
        await bs.idle(timeout=20)
        await settle(bs)
    said = spoken(lines(bs.clips(), expect={"music.off"}))
    assert said == ["music.off", "routine.water", "routine.close"]
    assert len(plays(bs)) == 1  # the second music step was left out
    stops = music_stops(bs)
    assert len(stops) == 1


@pytest.mark.asyncio
async def test_no_thanks_to_the_breathing_offer_declines_the_breathing(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """The offer says "no thanks is fine": it is. The breathing it offered never starts."""
    routine = one_routine(
        {"say": "routine.breathe_offer"},
        {"breathe": {"pattern": "calm", "minutes": 3}},
        {"say": "routine.water"},
        {"close": "routine.close"},
    )
    async with live_skill_for(mosquitto, tmp_path, routine, scale=BREATHING_SCALE) as bs:
        await say(bs, "start aftercare")
        await bs.wait_clip(lambda c: is_key(c.text, "routine.breathe_offer"), timeout=10)
        await say(bs, "no thanks")
        await bs.idle(timeout=20)
        await settle(bs)
    heard = lines(bs.clips(), expect={"notnow.ack"})
    said = spoken(heard)
    assert said[0] == "routine.breathe_offer"
    assert "notnow.ack" in said
    assert said[-2:] == ["routine.water", "routine.close"]
    # Three minutes of breathing would be dozens of cues; a cue or two may have been due.
    assert len(phase_cues(bs.clips())) <= 2


@pytest.mark.asyncio
async def test_skip_ends_a_breathing_session_of_its_own(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """ "Skip" during breathing on its own ends it gently: a word, then quiet."""
    async with live_skill_for(mosquitto, tmp_path, None, scale=BREATHING_SCALE) as bs:
        await say(bs, "start breathing")
        await bs.wait_clips(lambda c: c.kind == "cue", 2, timeout=20)
        at = (await say(bs, "skip this")).t
        await bs.idle(timeout=10)
        await bs.quiet_for(1.0)
        await settle(bs)
    later = [c for c in bs.clips() if c.t >= at]  # the skill answered "skip" before this
    assert [c.kind for c in later] == ["speech"]
    assert is_key(later[0].text, "notnow.ack")


@pytest.mark.asyncio
async def test_space_goes_quiet_for_the_rest_of_the_routine(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """ "I need space" in a check-in: the reply, and then no more words from the voice."""
    routine = one_routine(
        {"say": "routine.opening"},
        {"checkin": "need"},
        {"silence": 10},
        {"say": "routine.kind_words"},
        {"close": "routine.close"},
    )
    async with (
        live_skill_for(mosquitto, tmp_path, routine) as bs,
        dialogue_manager(bs, ["i need some space"]),
    ):
        await say(bs, "start aftercare")
        await bs.idle(timeout=20)
        await settle(bs)
    said = spoken(lines(bs.clips(), expect={"need.space"}))
    assert said == ["routine.opening", "checkin.need", "need.space"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("number", "words"),
    [(None, "your local emergency number"), ("112", "one one two")],
    ids=["no-number", "configured"],
)
async def test_help_stops_everything_and_says_where_help_is(
    mosquitto: EmbeddedBroker, tmp_path: Path, number: str | None, words: str
) -> None:
    """ "Call an ambulance" mid-routine: everything stops, music too, and the one fixed line
    says plainly that the speaker cannot call anyone, and the number to call."""
    routine = one_routine({"music": "play"}, {"silence": 60}, {"close": "routine.close"})
    async with live_skill_for(
        mosquitto, tmp_path, routine, care={"emergency_number": number}
    ) as bs:
        await say(bs, "start aftercare")
        await bs.wait_for(lambda m: m.topic == PLAYER_TOPIC, timeout=10)
        await say(bs, "call an ambulance")
        await bs.idle(timeout=10)
        await bs.quiet_for(60 * SCALE + 0.3)  # the close would be due
        await settle(bs)
    clips = [c for c in bs.clips() if c.kind == "speech"]
    text = " ".join(c.text for c in clips)
    assert text == f"I can't call anyone. If you need urgent help, please call {words}."
    stops = music_stops(bs)
    assert len(stops) == 1


@pytest.mark.asyncio
async def test_numb_is_grounded_with_the_time_of_day_in_words(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """ "I feel numb": grounding, and the time said as a person says it, never as digits."""
    async with live_skill_for(mosquitto, tmp_path, None, timezone="UTC") as bs:
        bs.skill.sites._now = lambda: FIXED_NIGHT  # the clock of the moment
        await say(bs, "i feel numb")
        await bs.idle(timeout=10)
        await settle(bs)
    text = " ".join(c.text for c in bs.clips() if c.kind == "speech")
    assert "It's about ten past eleven at night." in text
    assert not any(char.isdigit() for char in text)


@pytest.mark.asyncio
async def test_an_answer_not_understood_is_thanked_and_the_routine_goes_on(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """The dialogue manager ends a check-in with intentNotRecognized: one short thank-you
    (never silence, never the same question again), and the routine goes on gently."""
    routine = one_routine(
        {"say": "routine.opening"},
        {"checkin": "feeling"},
        {"silence": 10},
        {"close": "routine.close"},
    )
    async with (
        live_skill_for(mosquitto, tmp_path, routine) as bs,
        dialogue_manager(bs, [Answer(ended="intentNotRecognized")]) as dm,
    ):
        await say(bs, "start aftercare")
        await bs.idle(timeout=20)
        await settle(bs)
    said = spoken(lines(bs.clips(), expect={"checkin.unclear", "routine.close"}))
    assert said == ["routine.opening", "checkin.feeling", "checkin.unclear", "routine.close"]
    assert len(dm.asked) == 1
    assert json.loads(dm.asked[0].message.payload)["init"]["sendIntentNotRecognized"] is False


EVERY_STEP = one_routine(
    {"say": "routine.opening"},
    {"music": "play"},
    {"checkin": "feeling"},
    {"silence": 20},
    {"say": "routine.kind_words"},
    {"silence": 10},
    {"say": "affirm"},
    {"breathe": {"pattern": "together", "minutes": 0.5}},
    {"say": "routine.followup_offer"},
    {"silence": 10},
    {"close": "routine.close"},
)
"""A check-in followed by every kind of step a heavy answer changes."""
AFTER_A_LIGHT_ANSWER = [
    "routine.kind_words",
    "affirm",
    "breathing.intro.together",
    "breathing.step_close",
    "routine.followup_offer",
    "routine.close",
]
NEVER_AFTER_A_HEAVY_ANSWER = {
    "routine.kind_words",
    "affirm",
    "breathing.intro.together",
    "routine.followup_offer",
    "need.cuddle",
}
"""Gratitude, affirmation, breathing for two, a second offer, closeness."""


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("answer", "reply", "then"),
    [
        ("i'm good", ["feeling.good"], AFTER_A_LIGHT_ANSWER),
        ("i'm bleeding", ["feeling.hurt", "help.call"], "stop"),
        ("i didn't want that", ["feeling.unsafe"], "stop"),
        ("i need help", ["help.call"], "stop"),
        ("my bum is a bit sore", ["feeling.sore"], "slow"),
        ("i'm fine but sore", ["feeling.sore"], "slow"),
        ("i feel numb", ["feeling.numb"], "slow"),
        ("i can't stop crying", ["feeling.tearful"], "slow"),
        ("i feel ashamed", ["feeling.ashamed"], "slow"),
        ("i think i'm dropping", ["feeling.drop"], "slow"),
        ("i'm not okay", ["feeling.not_okay"], "slow"),
        ("i feel sad", ["feeling.sad"], "slow"),
        ("i need space", ["need.space"], []),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
async def test_each_hard_moment_answer_inside_a_checkin(
    mosquitto: EmbeddedBroker,
    tmp_path: Path,
    answer: str,
    reply: list[str],
    then: str | list[str],
) -> None:
    """Every hard-moment answer to "how are you feeling?": its reply at once, then what
    stops (everything, music included, nothing more said), what slows (one line naming the
    words for a later check-in after a longer silence, then only what is left) and what is
    never offered after it."""
    async with (
        live_skill_for(mosquitto, tmp_path, EVERY_STEP, scale=SCALE) as bs,
        dialogue_manager(bs, [answer]) as dm,
    ):
        await say(bs, "start aftercare")
        await bs.idle(timeout=20)
        await bs.quiet_for(60 * SCALE)  # anything still due would come now
        await settle(bs)
    heard = lines(bs.clips(), expect={*reply, "routine.close"})
    said = spoken(heard)
    assert said[: 2 + len(reply)] == ["routine.opening", "checkin.feeling", *reply]
    rest = said[2 + len(reply) :]
    stops = music_stops(bs)
    assert len(dm.asked) == 1
    if then == "stop":
        assert rest == []
        assert len(stops) == 1  # the music stopped with everything else
    elif then == "slow":
        assert rest == ["routine.slow_down", "routine.close"]
        assert not NEVER_AFTER_A_HEAVY_ANSWER & set(rest)
        assert stops == []  # the music plays on
        # The slow-down line comes after the silence, half as long again; not on the reply.
        last = line(heard, reply[-1])
        assert silence_before(bs, last, line(heard, "routine.slow_down")) >= (
            20 * SLOW_FACTOR * SCALE - EPSILON
        )
    else:
        assert rest == then


@pytest.mark.asyncio
async def test_a_sentence_recognized_only_in_part_is_never_acted_upon(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """Rhasspy with fuzzy matching on hears "red wine or white wine" as the safeword "red",
    scored below zero: the breathing goes on. Inside a check-in a score below one is read
    again as a whole with the check-in's filter: "i'm good" is the answer it is (a
    sentence the whole of which is no answer stays one not understood: test_second_look)."""
    routine = one_routine(
        {"breathe": {"pattern": "calm", "minutes": 1}},
        {"checkin": "feeling"},
        {"close": "routine.close"},
    )
    async with (
        live_skill_for(mosquitto, tmp_path, routine) as bs,
        dialogue_manager(bs, [Answer("i'm good")]) as dm,
    ):
        dm.recognizer = partial_recognizer(bs)
        await say(bs, "start aftercare")
        await bs.wait_clips(lambda c: c.kind == "cue", 2, timeout=20)
        fuzzy = bs.recognizer.recognize("red", site_id=SITE, session_id="fuzzy-1")
        assert fuzzy is not None
        fuzzy.intent.confidence_score = -3.0  # "red" of "red wine or white wine"
        fuzzy.raw_input = "red wine or white wine"  # what was said: the second look's text
        await bs.publish(fuzzy.topic(intent_name="AftercareStop"), json.dumps(fuzzy.to_dict()))
        await bs.ended("fuzzy-1")
        await bs.wait_clips(lambda c: c.kind == "cue", 4, timeout=20)  # breathing goes on
        assert bs.skill.activity(SITE) == "routine"
        await bs.idle(timeout=30)
        await settle(bs)
    said = spoken(lines(bs.clips(), expect={"feeling.good", "routine.close"}))
    assert "stop.done" not in said
    assert said[-3:] == ["checkin.feeling", "feeling.good", "routine.close"]


class _Partial:
    """A recognizer whose every answer is scored as a fuzzy match that skipped words."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def recognize(self, text: str, **kwargs: Any) -> Any:
        intent = self.inner.recognize(text, **kwargs)
        if intent is not None:
            intent.intent.confidence_score = 0.5
        return intent


def partial_recognizer(bs: Bedside) -> Any:
    """The Bedside's recognizer, with every answer scored 0.5."""
    return _Partial(bs.recognizer)


@pytest.mark.asyncio
async def test_okay_keep_going_while_paused_resumes_and_okay_alone_is_left_be(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """ "Okay keep going" after "pause" resumes (it used to add a minute and stay paused);
    "okay" on its own, with no question asked, is not meant for the speaker: no reply."""
    async with live_skill_for(mosquitto, tmp_path, None) as bs:
        await say(bs, "start breathing")
        await bs.wait_clips(lambda c: c.kind == "cue", 2, timeout=20)
        await say(bs, "pause the breathing")
        await bs.wait_clip(lambda c: is_key(c.text, "breathing.paused"), timeout=10)
        await bs.quiet_for(0.6)  # the rest of the reply
        before = len(bs.clips())
        okay = await say(bs, "okay")
        await bs.quiet_for(0.5)
        assert len(bs.clips()) == before  # no reply, nothing resumed
        await say(bs, "okay keep going")
        await bs.wait_clip(lambda c: is_key(c.text, "breathing.resumed"), timeout=10)
        resumed = await bs.wait_clips(lambda c: c.kind == "cue" and c.t > okay.t, 2, timeout=10)
        assert resumed
        control = await bs.breathing()
        assert not control.plan.paused
        await say(bs, "stop")
        await bs.idle(timeout=10)
    said = spoken(lines(bs.clips()))
    assert not any(key.startswith("breathing.more") for key in said)
