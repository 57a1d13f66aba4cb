"""The first seconds after a first start: online at once, useful at once.

The skill goes online before its voice has loaded (issue #15). These tests hold the voice
back on purpose (it loads only when the test lets it, then renders slowly) and check what
people meet meanwhile: "stop" stops at once and says so when it can, a breathing session
starts on time with chimes in place of the cues the voice cannot say yet, and a routine's
first words follow a chime that says the request was heard. Nothing here is timed against
a budget; each test checks what comes, in which order, and that nothing waits on the voice.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
from support.fakes import RESPONSES, Bedside, Clip, FakeVoice, cue_text, is_line, live_skill

from skill.breathing.runner import OPENING_PATIENCE
from skill.hermes.broker import EmbeddedBroker
from skill.voice.piper import split_sentences

pytestmark = pytest.mark.timeout(60)

INHALE = cue_text("inhale")
EXHALE = cue_text("exhale")


class HeldVoice(FakeVoice):
    """A voice that loads only when `release` is set, then takes `seconds` per sentence."""

    def __init__(self, seconds: float = 0.05) -> None:
        super().__init__()
        self.release = threading.Event()
        self.seconds = seconds
        self.loaded = False

    def load(self) -> None:
        """Wait for the test (bounded: a failing test must not hang the voice thread)."""
        self.release.wait(30)
        self.loaded = True

    def synthesize(self, sentence: str) -> bytes:
        """As the fake voice, slowly, and only once loaded (as the real voice)."""
        self.load()
        time.sleep(self.seconds)
        return super().synthesize(sentence)


async def first_clip(bs: Bedside, after: float) -> Clip:
    """The first clip on the bedroom after `after`."""
    return await bs.wait_clip(lambda c: c.t > after, timeout=5)


@pytest.mark.asyncio
async def test_stop_before_the_voice_has_loaded_stops_with_a_chime_then_says_so(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """A session runs on chimes; "stop" ends it at once: no cue after it, a soft chime
    says it was heard, and the stop reply follows as soon as the voice can say it."""
    voice = HeldVoice()
    async with live_skill(mosquitto, tmp_path, fake_voice=voice, wait_voice="no") as bs:
        session = await bs.say("five rounds of calm breathing")
        await bs.ended(session)
        await bs.wait_clips(lambda c: c.kind == "chime" and c.text == "inhale", 2, timeout=15)
        assert not voice.loaded
        stopped = (await bs.ended(await bs.say("stop"))).t
        chime = await first_clip(bs, stopped)
        assert (chime.kind, chime.text) == ("chime", "soft")
        await bs.quiet_for(0.5)
        assert bs.skill.activity("bedroom") == ""  # the session is gone, the voice still away
        assert [c.kind for c in bs.clips(after=stopped)] == ["chime"]
        voice.release.set()
        said = await bs.wait_clip(lambda c: c.t > stopped and c.kind == "speech", timeout=10)
        assert is_line(said.text, "stop.done")
        assert not [c for c in bs.clips(after=stopped) if c.kind == "cue" or c.text == "inhale"]


@pytest.mark.asyncio
async def test_a_breathing_session_starts_on_time_with_chimes_until_the_cues_are_ready(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """Just after online the voice cannot speak: a soft chime at once, the session starts
    without its opening line once OPENING_PATIENCE has passed, phases are marked by their
    chimes, and once the voice is there the same session speaks its cues."""
    voice = HeldVoice()
    async with live_skill(mosquitto, tmp_path, fake_voice=voice, wait_voice="no") as bs:
        asked = (await bs.ended(await bs.say("five rounds of calm breathing"))).t
        heard = await first_clip(bs, asked)
        assert (heard.kind, heard.text) == ("chime", "soft")
        first = await bs.wait_clip(lambda c: c.text == "inhale", timeout=10)
        assert first.t - asked >= OPENING_PATIENCE  # it waited for its line, then started
        await bs.wait_clip(lambda c: c.text == "exhale" and c.kind == "chime", timeout=10)
        voice.release.set()
        await bs.wait_clip(lambda c: c.kind == "cue", timeout=15)
        await bs.idle(timeout=30)
    clips = bs.clips(after=asked)
    kinds = [(c.kind, c.text) for c in clips if c.text in ("inhale", "exhale", INHALE, EXHALE)]
    assert kinds[0] == ("chime", "inhale")
    voiced = next(i for i, (kind, _) in enumerate(kinds) if kind == "cue")
    assert all(kind == "chime" for kind, _ in kinds[:voiced])  # chimes until the voice...
    assert all(kind == "cue" for kind, _ in kinds[voiced:])  # ...then only its cues
    assert len(kinds) == 10  # five rounds: every phase marked once, none lost or doubled
    assert not [c for c in clips if c.kind == "speech" and is_line(c.text, "breathing.intro.calm")]


@pytest.mark.asyncio
async def test_a_routine_answers_with_a_chime_then_its_first_words(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """ "Start aftercare" before the voice has loaded: a soft chime says it was heard; the
    routine's opening line is said as soon as the voice can, and the routine goes on."""
    voice = HeldVoice()
    async with live_skill(mosquitto, tmp_path, fake_voice=voice, wait_voice="no") as bs:
        asked = (await bs.ended(await bs.say("start aftercare"))).t
        heard = await first_clip(bs, asked)
        assert (heard.kind, heard.text) == ("chime", "soft")
        await asyncio.sleep(0.5)
        assert [c.kind for c in bs.clips(after=asked)] == ["chime"]  # nothing else meanwhile
        voice.release.set()
        said = await bs.wait_clip(lambda c: c.t > asked and c.kind == "speech", timeout=10)
        assert is_line(said.text, "routine.opening")
        stopped = (await bs.ended(await bs.say("stop"))).t
        await bs.idle(timeout=5)
        reply = await bs.wait_clip(lambda c: c.t > stopped and c.kind == "speech", timeout=5)
        assert is_line(reply.text, "stop.done")


@pytest.mark.asyncio
async def test_online_comes_before_the_voice_and_the_voice_renders_urgent_lines_first(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """`online` is published while the voice is still held; once it loads, the stop reply
    renders first, then the breathing cues, then the first lines, then everything else."""
    voice = HeldVoice(seconds=0.0)
    async with live_skill(mosquitto, tmp_path, fake_voice=voice, wait_voice="no") as bs:
        online = await bs.wait_for(lambda m: m.topic == "aftercare/status", 5)
        assert online.payload == b"online"
        assert not voice.loaded
        assert voice.rendered == []
        voice.release.set()
        await bs.runtime.voice_ready()
    rendered = voice.rendered
    stop = sentences("stop.done")
    cue = [cue_text(phase) for phase in ("inhale", "top-up", "hold", "exhale", "rest")]
    opening = sentences("routine.opening")
    assert rendered[: len(stop)] == stop
    assert rendered[len(stop) : len(stop) + len(cue)] == cue
    assert max(rendered.index(s) for s in opening) < len(rendered) // 2  # long before the rest


def sentences(*keys: str) -> list[str]:
    """Every sentence of these keys' lines, in order, each once."""
    found = [s for key in keys for v in RESPONSES.variants(key) for s in split_sentences(v)]
    return list(dict.fromkeys(found))


class LongInhale(FakeVoice):
    """A voice whose "breathe in" cue runs far longer than any inhale phase."""

    def synthesize(self, sentence: str) -> bytes:
        """The inhale cue as forty words of sound; everything else as the fake voice."""
        if sentence == INHALE:
            return super().synthesize(" ".join(["in"] * 40))
        return super().synthesize(sentence)


@pytest.mark.asyncio
async def test_a_cue_longer_than_its_phase_is_logged_at_its_first_render_and_chimed(
    mosquitto: EmbeddedBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The check that a cue fits its phase needs the rendered audio, so it runs when the
    cue first renders (after online): one error names the file and key, and that phase
    is marked by its chime while the other cues are spoken."""
    async with live_skill(mosquitto, tmp_path, fake_voice=LongInhale(), speakers=["bedroom"]) as bs:
        errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
        assert len(errors) == 1
        assert "en.yaml: cue.inhale: the spoken cue lasts" in errors[0]
        assert "marked with a chime instead" in errors[0]
        asked = (await bs.ended(await bs.say("three rounds of calm breathing"))).t
        await bs.idle(timeout=30)
    heard = [(c.kind, c.text) for c in bs.clips(after=asked)]
    assert heard.count(("chime", "inhale")) == 3
    assert heard.count(("cue", EXHALE)) == 3
    assert ("cue", INHALE) not in heard
