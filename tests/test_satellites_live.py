"""Issue #16 live: a site that speaks and listens through Home Assistant.

The real skill runs on a real Mosquitto with `homeassistant.speakers: {guest: ...}` and its
audio endpoint on loopback; a stand-in for Home Assistant and its satellite
(tests/support/satellite.py) does what the generated package makes Home Assistant do:
fetches every URL the skill publishes, plays clips for their length, reads the breathing
stream to its end, and answers check-ins on the answer topic. Nothing for that site may go
out as Hermes audio, and the breathing cues must sit at their planned sample offsets in
the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from array import array
from collections.abc import Iterable
from pathlib import Path

import pytest
from support.fakes import (
    PAD_SECONDS,
    RATE,
    RESPONSES,
    SITE,
    Bedside,
    Clip,
    FakeDialogueManager,
    cue_text,
    is_line,
    labels,
    live_skill,
)
from support.satellite import (
    ERROR,
    NOTHING,
    Fetched,
    StandInSatellite,
    clip_samples,
    find,
    stream_samples,
    wav_seconds,
)

from skill.breathing.runner import BreathingControl
from skill.hermes.broker import EmbeddedBroker
from skill.language import keys
from skill.voice.chimes import chime_wav
from skill.voice.piper import split_sentences
from skill.voice.stream import BLOCK, samples_of

pytestmark = pytest.mark.timeout(90)

GUEST = "guest"
SATELLITE = "assist_satellite.guest_room"
HA = {"speakers": {GUEST: SATELLITE}}
HTTP = {"port": 0}


def hermes_audio(bs: Bedside, site: str) -> list[str]:
    """Topics of every Hermes audio or TTS message for a site."""
    return [
        m.topic
        for m in bs.recorder.messages("hermes/#")
        if m.topic.startswith((f"hermes/audioServer/{site}/", "hermes/tts/say"))
        and (m.topic.startswith("hermes/audioServer") or json.loads(m.payload)["siteId"] == site)
    ]


def spoken(bs: Bedside, wav: bytes) -> str:
    """The words a clip served by the endpoint carries: one sentence the fake voice made,
    or several of them joined with the sentence gap (a check-in question)."""
    assert bs.voice is not None
    with contextlib.suppress(AssertionError):
        return bs.voice.heard(wav).text
    samples = clip_samples(wav)
    known = [
        (heard.text, clip_samples(made))
        for made, heard in bs.voice.made().items()
        if heard.kind == "speech"
    ]
    words: list[str] = []
    position = 0
    while True:  # each sentence: its padding of silence, then its first sample of sound
        sound = next((i for i in range(position, len(samples)) if samples[i]), None)
        if sound is None:
            break
        start = sound - round(PAD_SECONDS * RATE)
        found = next((t, c) for t, c in known if samples[start : start + len(c)] == c)
        words.append(found[0])
        position = start + len(found[1])
    return " ".join(words)


@pytest.mark.asyncio
async def test_breathing_is_one_stream_with_every_cue_at_its_sample_offset(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """One round of box breathing in real time: one `play`, one stream, each phase cue
    found sample for sample where the plan puts it (within one block), then the stream
    ends by itself; nothing for the site on Hermes audio."""
    async with (
        live_skill(
            mosquitto,
            tmp_path,
            scale=1.0,
            homeassistant=HA,
            http=HTTP,
            breathing={"style": "voice"},
        ) as bs,
        StandInSatellite(bs, GUEST) as ha,
    ):
        await bs.ended(await bs.say("one round of box breathing", site=GUEST))
        control = await bs.breathing(GUEST)
        await bs.idle(GUEST, timeout=60)
        await ha.streams_done()
        plays = ha.of("play")
        assert len(plays) == 1
        assert plays[0].body["entity_id"] == SATELLITE
        assert plays[0].status == 200
        rate, samples = stream_samples(plays[0].wav)
        clips = bs.runtime.clips
        assert clips is not None
        assert rate == bs.voice.sample_rate if bs.voice else False
        checked = 0
        for cue in control.plan.cues:
            expected = round(cue.offset * bs.scale * rate)
            if cue.chime is not None:
                chime = samples_of(chime_wav(cue.chime, 22050), rate)
                assert find(samples, chime[:2000], expected, BLOCK) is not None, cue
                checked += 1
            if cue.kind == "phase" and cue.phase is not None and cue.voice_key:
                clip = clips.cached(cue_text(cue.phase), trim=True)
                assert clip is not None
                at = find(samples, clip_samples(clip.wav), expected, BLOCK)
                assert at is not None, f"{cue.phase} at {cue.offset} s is not in the stream there"
                checked += 1
        assert checked >= 4  # the four sides of the box at least
        # It ended by itself after the close line, not cut short.
        assert len(samples) / rate >= control.plan.cues[-1].offset
        assert hermes_audio(bs, GUEST) == []


TINY = {
    "tiny": {
        "description": "A short routine for this test.",
        "steps": [
            {"say": "routine.opening"},
            {"breathe": {"pattern": "calm", "minutes": 0.25, "style": "voice"}},
            {"checkin": "feeling"},
            {"breathe": {"pattern": "box", "minutes": 2, "style": "voice"}},
            {"close": "routine.close"},
        ],
    }
}
"""Lines, a breathing stretch, a check-in, a second stretch to stop in: in real time."""


def check_cues(bs: Bedside, samples: array[int], rate: int, control: BreathingControl) -> int:
    """Every phase cue of a plan sample for sample at its offset (within one block); how many."""
    clips = bs.runtime.clips
    assert clips is not None
    checked = 0
    for cue in control.plan.cues:
        if cue.kind == "phase" and cue.phase is not None and cue.voice_key:
            expected = round(cue.offset * bs.scale * rate)
            if expected >= len(samples):
                break  # stopped before it
            clip = clips.cached(cue_text(cue.phase), trim=True)
            assert clip is not None
            at = find(samples, clip_samples(clip.wav), expected, BLOCK)
            assert at is not None, f"{cue.phase} at {cue.offset} s is not in the stream there"
            checked += 1
    return checked


@pytest.mark.asyncio
async def test_a_whole_routine_on_home_assistant_in_real_time(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """A whole routine on a Home Assistant site, in real time: its lines announced in
    order, each after the one before has played; a breathing stretch as one stream with
    every cue at its sample offset; the check-in asked on the ask topic and answered on
    the answer topic (and replied to); then "stop" in the second stretch ends its stream
    at once and says so."""
    async with (
        live_skill(
            mosquitto, tmp_path, scale=1.0, homeassistant=HA, http=HTTP, routines=TINY
        ) as bs,
        StandInSatellite(bs, GUEST, answers=["i'm okay"]) as ha,
    ):
        await bs.ended(await bs.say("start the tiny aftercare", site=GUEST))
        first = await bs.breathing(GUEST, timeout=30)
        # The check-in, then the second stretch's stream.
        await asyncio.to_thread(bs.recorder.wait_count, f"aftercare/{GUEST}/play", 2, 60.0)
        second = await bs.breathing(GUEST)
        assert second is not first
        # Stop two seconds into the second stretch's first breath.
        breath = next(c.offset for c in second.plan.cues if c.kind == "phase")
        await asyncio.sleep(max(0.0, second.start + breath + 2.0 - time.monotonic()))
        said_stop = time.monotonic()
        await bs.ended(await bs.say("stop", site=GUEST))
        await ha.streams_done(timeout=5)
        await bs.idle(GUEST)
        await asyncio.sleep(0.5)

    assert hermes_audio(bs, GUEST) == []
    calm, box = ha.of("play")
    # The first stretch ended by itself, every cue in place; the second was cut by the stop.
    rate, samples = stream_samples(calm.wav)
    assert check_cues(bs, samples, rate, first) >= 2
    assert box.ended is not None
    assert box.ended - said_stop < 1.0
    rate, samples = stream_samples(box.wav)
    assert check_cues(bs, samples, rate, second) >= 1
    assert len(samples) / rate < said_stop - second.start + 1.0  # cut at the stop
    # The question asked and answered through Home Assistant, and the answer replied to.
    [ask] = ha.of("ask")
    assert is_line(split_sentences(spoken(bs, ask.wav), 1000)[0], keys.checkin("feeling"))
    heard = heard_lines(bs, ha.fetched)
    assert heard[0] == keys.ROUTINE_OPENING
    assert heard[heard.index(keys.checkin("feeling")) + 1] == keys.feeling("okay")
    assert heard[-1] == keys.STOP_DONE
    speaks = ha.of("speak")
    for before, after in itertools.pairwise(speaks):
        assert after.t >= before.t + wav_seconds(before.wav) - 0.05
    for speak in speaks:  # a line of several sentences is one announcement, without gaps
        sentences = split_sentences(spoken(bs, speak.wav), 1000)
        assert len(labels((Clip(0, GUEST, "", "speech", s, 0.0) for s in sentences), MEANT)) == 1
    assert any(len(split_sentences(spoken(bs, speak.wav), 1000)) > 1 for speak in speaks)


@pytest.mark.asyncio
async def test_a_short_routine_runs_on_home_assistant_as_it_does_on_hermes(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """The short routine on a Hermes site and on a Home Assistant site, with the same
    answers: the same lines in the same order, each announced only after the one before
    has played; the check-ins asked on the ask topic and answered on the answer topic; the
    breathing stretch one stream."""
    answers = ["i'm not okay", "some water please"]
    async with (
        live_skill(
            mosquitto, tmp_path, scale=0.01, speakers=[SITE], homeassistant=HA, http=HTTP
        ) as bs,
        StandInSatellite(bs, GUEST, answers=list(answers)) as ha,
        FakeDialogueManager(bs, list(answers)),
    ):
        await bs.ended(await bs.say("start the short aftercare", site=GUEST))
        await bs.ended(await bs.say("start the short aftercare", site=SITE))
        await asyncio.gather(bs.idle(GUEST, timeout=60), bs.idle(SITE, timeout=60))
        await ha.streams_done()

    assert hermes_audio(bs, GUEST) == []
    asks = ha.of("ask")
    assert len(asks) == 2
    for ask in asks:
        assert ask.body["answers"] == [{"id": "heard", "sentences": ["{heard}"]}]
        first = split_sentences(spoken(bs, ask.wav), 1000)[0]
        assert is_line(first, keys.checkin("feeling")) or is_line(first, keys.checkin("need"))
    plays = ha.of("play")
    assert len(plays) == 1
    _, samples = stream_samples(plays[0].wav)
    assert any(samples)

    # Lines on Home Assistant: each announce waits until the one before has played; the
    # words themselves never go over MQTT at INFO.
    speaks = ha.of("speak")
    assert speaks
    assert all(set(f.body) == {"id", "url", "entity_id"} for f in speaks)
    for before, after in itertools.pairwise(speaks):
        assert after.t >= before.t + wav_seconds(before.wav) * bs.scale - 0.05

    # The same lines in the same order on both sites (the breathing stretch's own notes
    # are inside the stream on Home Assistant, so they are left out on both).
    hermes_clips = [c for c in bs.clips(SITE) if c.kind == "speech"]
    assert heard_lines(bs, ha.fetched) == outside_breathing(labels(hermes_clips, MEANT))


MEANT = tuple(
    key
    for key in sorted(RESPONSES.keys())
    if key.startswith(("routine.", "checkin.", "feeling.", "need.", "stop.", "offer."))
)
"""What a routine and its replies say: where a sentence belongs to several lines ("Quiet
now." is the stop's and the quiet mode's), the label is the one of these."""


def heard_lines(bs: Bedside, fetched: Iterable[Fetched]) -> list[str]:
    """The lines announced and asked on a Home Assistant site, by response key, without
    a breathing session's own notes."""
    clips = [
        Clip(f.t, GUEST, f.body["id"], "speech", sentence, 0.0)
        for f in fetched
        if f.kind in ("speak", "ask")
        for sentence in split_sentences(spoken(bs, f.wav), 1000)
    ]
    return outside_breathing(labels(clips, MEANT))


def outside_breathing(heard: list[tuple[str, str]]) -> list[str]:
    """The keys of the lines heard, without a breathing session's own notes."""
    return [key for _, key in heard if not key.startswith("breathing.")]


@pytest.mark.asyncio
async def test_stop_ends_the_stream_at_once_and_says_so(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    async with (
        live_skill(mosquitto, tmp_path, scale=1.0, homeassistant=HA, http=HTTP) as bs,
        StandInSatellite(bs, GUEST) as ha,
    ):
        await bs.ended(await bs.say("start breathing", site=GUEST))
        control = await bs.breathing(GUEST)
        await asyncio.sleep(1.5)
        assert len(ha.of("play")) == 1
        said_stop = time.monotonic()
        await bs.ended(await bs.say("stop", site=GUEST))
        await ha.streams_done(timeout=5)
        ended = ha.of("play")[0].ended
        assert ended is not None
        assert ended - said_stop < 1.0
        stop = await bs.wait_for(f"aftercare/{GUEST}/stop")
        assert json.loads(stop.payload) == {"entity_id": SATELLITE}
        await bs.idle(GUEST)
        await asyncio.sleep(0.3)
    _, samples = stream_samples(ha.of("play")[0].wav)
    assert len(samples) / 16000 < said_stop - control.start + 1.0  # cut at the stop
    last = split_sentences(spoken(bs, ha.of("speak")[-1].wav), 1000)
    assert all(is_line(sentence, keys.STOP_DONE) for sentence in last)
    assert hermes_audio(bs, GUEST) == []


@pytest.mark.asyncio
async def test_no_answer_or_a_failed_question_is_no_answer(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """A question Home Assistant could not ask (error) and one nobody answered: the
    routine goes on quietly, as after a Hermes check-in that timed out."""
    async with (
        live_skill(mosquitto, tmp_path, scale=0.01, homeassistant=HA, http=HTTP) as bs,
        StandInSatellite(bs, GUEST, answers=[ERROR]) as ha,
    ):
        await bs.ended(await bs.say("start the short aftercare", site=GUEST))
        await bs.idle(GUEST, timeout=60)
    assert len(ha.of("ask")) == 2
    heard = heard_lines(bs, ha.fetched)
    # No reply to an answer nobody gave; the routine went on to its end.
    assert not [key for key in heard if key.startswith(("feeling.", "need.", "unclear"))]
    assert heard.index(keys.checkin("feeling")) < heard.index(keys.checkin("need"))
    assert heard[-1] == keys.ROUTINE_CLOSE


@pytest.mark.asyncio
async def test_malformed_replies_from_home_assistant_are_dropped_and_counted(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    async with live_skill(mosquitto, tmp_path, homeassistant=HA, http=HTTP) as bs:
        for topic, payload in [
            (f"aftercare/{GUEST}/finished", b"not json"),
            (f"aftercare/{GUEST}/finished", b'{"id": 5}'),
            (f"aftercare/{GUEST}/answer", b"[1, 2]"),
            (f"aftercare/{GUEST}/answer", b'{"id": "x", "sentence": 7}'),
            (f"aftercare/{GUEST}/answer", b'{"id": "x", "error": "yes"}'),
            (f"aftercare/{GUEST}/answer", b"x" * 10000),
        ]:
            await bs.publish(topic, payload)
        await bs.ended(await bs.say("stop", site=GUEST))  # still serving
        problems = bs.skill.problems
        assert problems.count("bad_finished") == 2
        assert problems.count("bad_answer") == 4


@pytest.mark.asyncio
async def test_planning_aftercare_on_home_assistant(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """Issue #17 on a Home Assistant site: each planning question goes out on the ask topic
    and its answer comes back as text, recognized by the skill's own recognizer with the
    planning filter (a bare "water and some tissues", "tomorrow morning"); one question
    gets no answer; then "what's our plan" reads back the plan that was kept."""
    answers = [
        "a few words",
        "water and some tissues",
        "i'd like quiet but they'd like music",
        NOTHING,
        "tomorrow morning",
        "no questions",
    ]
    async with (
        live_skill(mosquitto, tmp_path, scale=0.05, homeassistant=HA, http=HTTP) as bs,
        StandInSatellite(bs, GUEST, answers=list(answers)) as ha,
    ):
        await bs.ended(await bs.say("let's plan our aftercare", site=GUEST))
        await bs.idle(GUEST, timeout=60)
        asked = len(ha.of("ask"))
        await bs.ended(await bs.say("what's our plan", site=GUEST))
        await bs.idle(GUEST, timeout=30)

    assert hermes_audio(bs, GUEST) == []
    asks = ha.of("ask")
    assert asked == len(asks) == len(answers)  # no lights here: that question is not asked
    questions = ["words", "nearby", "music", "breathing", "later", "leave_out"]
    for ask, question in zip(asks, questions, strict=True):
        first = split_sentences(spoken(bs, ask.wav), 1000)[0]
        variants = RESPONSES.variants(keys.plan_ask(question))
        filled = [v.format(playlists="Cool down or Rain sounds") for v in variants]
        assert any(first == split_sentences(v, 1000)[0] for v in filled), (question, first)
    said = [
        sentence for f in ha.of("speak") for sentence in split_sentences(spoken(bs, f.wav), 1000)
    ]
    # After each answer a word; after the silence, "that's fine"; the read-back at the end
    # of the talk, and again when asked.
    announced = [spoken(bs, f.wav) for f in ha.of("speak")]  # a line is one announcement
    assert sum(a in RESPONSES.variants(keys.PLAN_SKIPPED) for a in announced) == 1, announced
    readbacks = [
        s
        for s in said
        if any(s.startswith(v.split("{")[0]) for v in RESPONSES.variants(keys.PLAN_READBACK))
    ]
    assert len(readbacks) == 2
    parts = {
        keys.plan_part("words"): {},
        keys.plan_part("soft_music"): {"playlist": "Cool down"},
        keys.plan_part("morning"): {},
        keys.plan_part("no_questions"): {},
    }
    for readback in readbacks:
        for key, values in parts.items():
            assert RESPONSES.variants(key)[0].format(**values) in readback, (key, readback)
    items = RESPONSES.pick(keys.plan_item("water")), RESPONSES.pick(keys.plan_item("tissues"))
    assert sum(all(item in s for item in items) for s in said) == 2  # get them ready now
    assert sum(is_line(s, keys.PLAN_BOTH) for s in said) == 2  # two wishes (one sentence)
