"""Guided breathing end to end: real intents in, real Mosquitto, the real runner, WAVs out.

Every session starts from a natural sentence through the real Recognizer and is checked on
the wire: the clips on the site's playBytes topic must be exactly the plan's (chimes, cues,
notes, in order) and each must arrive at `start + offset x time_scale` within a generous
bound. Time is compressed (1 plan second = 0.01-0.05 real seconds), so a minute-long
session takes a few seconds.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import threading
from pathlib import Path

import pytest
from support.fakes import (
    RESPONSES,
    Bedside,
    Clip,
    FakeVoice,
    assert_follows,
    cue_text,
    is_line,
    keys_of,
    labels,
    live_skill,
)

from skill.breathing.runner import BreathingControl
from skill.hermes.broker import EmbeddedBroker
from skill.voice.piper import split_sentences

INHALE = cue_text("inhale")
EXHALE = cue_text("exhale")
TOP_UP = cue_text("top-up")
HOLD = cue_text("hold")
REPLIES = frozenset(
    {
        "breathing.slower",
        "breathing.slowest",
        "breathing.faster",
        "breathing.fastest",
        "breathing.paused",
        "breathing.resumed",
        "breathing.more_one",
        "breathing.more",
        "breathing.not_running",
        "breathing.not_paused",
    }
)

pytestmark = pytest.mark.timeout(60)


def session_clips(clips: list[Clip]) -> list[Clip]:
    """The clips of the session itself, without spoken replies to controls."""
    return [c for c in clips if c.kind != "speech" or not keys_of(c.text) & REPLIES]


def cues(clips: list[Clip], text: str | None = None) -> list[Clip]:
    """The spoken phase cues (of one text, if given)."""
    return [c for c in clips if c.kind == "cue" and (text is None or c.text == text)]


async def reply(bs: Bedside, key: str, *, after: float, site: str = "bedroom") -> Clip:
    """The first clip of a reply line spoken after `after`."""
    return await bs.wait_clip(lambda c: c.t > after and is_line(c.text, key), site=site)


async def start(bs: Bedside, sentence: str, site: str = "bedroom") -> BreathingControl:
    """Say a sentence that starts a session; its BreathingControl."""
    session = await bs.say(sentence, site=site)
    await bs.ended(session)
    return await bs.breathing(site)


async def check_session(bs: Bedside, site: str, control: BreathingControl) -> None:
    """The session on `site` followed its plan, closed with its close line, and ended."""
    await bs.idle(site, timeout=20)
    plan = control.plan
    clips = session_clips(bs.clips(site))
    assert_follows(clips, control.start, plan, bs.scale)
    assert labels(clips)[-1] == ("speech", plan.pattern.close)


REQUESTS: dict[str, tuple[str, int | None, int | None]] = {
    # sentence: (pattern, minutes or None, breaths or None)
    "start breathing": ("settle", 2, None),  # the configured default: settle, 2 minutes
    "breathe with us for two minutes": ("settle", 2, None),
    "three rounds of box breathing": ("box", None, 3),
    "coherent breathing": ("coherent", 2, None),
    # Every shipped pattern by name.
    "settle breathing for one minute": ("settle", 1, None),
    "calm breathing for one minute": ("calm", 1, None),
    "coherent breathing for one minute": ("coherent", 1, None),
    "cyclic sighing for one minute": ("sigh", 1, None),
    "breathe together for two minutes": ("together", 2, None),
    "box breathing": ("box", None, 4),  # capped: two minutes would fit seven
    "four seven eight breathing": ("478", None, 4),  # capped: two minutes would fit six
    "five rounds of box breathing": ("box", None, 5),  # rounds asked: no cap
    "just rest for one minute": ("rest", 1, None),
}


@pytest.mark.asyncio
async def test_every_request_and_pattern_follows_its_plan(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """Thirteen requests on thirteen sites at once: each plan fits the words and is followed.

    Every clip on each site's playBytes topic is the plan's next chime, cue or note, on
    time; the close line comes last and each session ends by itself.
    """
    sites = {sentence: f"site-{i}" for i, sentence in enumerate(REQUESTS)}
    async with live_skill(mosquitto, tmp_path, scale=0.03, breathing={"minutes": 2}) as bs:
        # Recognized first, published in a row: nothing holds up the sessions already running.
        requests = {sentence: bs.intent(sentence, site=site) for sentence, site in sites.items()}
        for topic, payload, _session in requests.values():
            await bs.publish(topic, payload)
        controls = {}
        for sentence, (_topic, _payload, session) in requests.items():
            await bs.ended(session)
            controls[sentence] = await bs.breathing(sites[sentence])
        for sentence, (pattern, minutes, breaths) in REQUESTS.items():
            plan = controls[sentence].plan
            assert plan.pattern.name == pattern, sentence
            if breaths is not None:
                assert [c.cycle for c in plan.cues if c.kind == "close"] == [breaths], sentence
            else:
                assert minutes is not None
                # The whole breaths that fit: at most the minutes, less one breath at worst.
                fit = plan.active_seconds
                assert minutes * 60 - 12 < fit <= minutes * 60, sentence
        await asyncio.gather(*(bs.idle(site, timeout=20) for site in sites.values()))
        # Checked once all have ended: the checks would otherwise hold up running sessions.
        for sentence, site in sites.items():
            await check_session(bs, site, controls[sentence])
        heard = {
            sentence: labels(session_clips(bs.clips(site))) for sentence, site in sites.items()
        }
    # Each pattern's character shows on the wire, not only in its plan.
    for sentence, (_pattern, _minutes, breaths) in REQUESTS.items():
        if breaths is not None:
            assert heard[sentence].count(("cue", INHALE)) == breaths, sentence
    assert ("cue", TOP_UP) in heard["cyclic sighing for one minute"]
    assert ("cue", HOLD) in heard["four seven eight breathing"]
    together = heard["breathe together for two minutes"]
    fade = together.index(("speech", "breathing.together_fade"))
    assert ("chime", "inhale") in together[fade:]  # chimes alone after the first minute
    assert all(kind != "cue" for kind, _ in together[fade:])
    assert together[-2:] == [("chime", "end"), ("speech", "breathing.close")]
    # Rest is not paced: its opening line, a quiet minute, its own close.
    assert heard["just rest for one minute"] == [
        ("speech", "breathing.intro.rest"),
        ("speech", "breathing.rest_close"),
    ]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("word", "changed", "bound", "step", "ratio"),
    [
        ("slower", "breathing.slower", "breathing.slowest", -2, 1.16),
        ("a bit faster", "breathing.faster", "breathing.fastest", 2, 0.85),
    ],
)
async def test_pace_changes_the_following_phases(
    mosquitto: EmbeddedBroker,
    tmp_path: Path,
    word: str,
    changed: str,
    bound: str,
    step: int,
    ratio: float,
) -> None:
    """Two steps change the pace; the third gets the "slowest/fastest" line; gaps follow."""
    async with live_skill(mosquitto, tmp_path, scale=0.05, speakers=["bedroom"]) as bs:
        control = await start(bs, "five rounds of calm breathing")
        second_inhale = (await bs.wait_clips(lambda c: c.text == INHALE, 2))[1]
        for key in (changed, changed, bound):
            session = await bs.say(word)
            ended = await bs.ended(session)
            await reply(bs, key, after=ended.t)
        assert second_inhale.t < ended.t
        await check_session(bs, "bedroom", control)
        assert control.plan.pace_step == step
        # The plan: 4 s in and 6 s out at first, the factor times that at the end.
        phases = [c for c in control.plan.cues if c.kind == "phase"]
        assert (phases[0].seconds, phases[1].seconds) == (4, 6)
        assert phases[-2].seconds == pytest.approx(4 * ratio, abs=0.01)
        assert phases[-1].seconds == pytest.approx(6 * ratio, abs=0.01)
        # On the wire: gaps between consecutive cues once the new pace holds (from the third
        # breath; the exhale of the second may be one step short of it, within the bound).
        # Medians of three: one stall of a busy machine may stretch one gap.
        heard = cues(bs.clips())
        assert [c.text for c in heard] == [INHALE, EXHALE] * 5
        gaps = [(b.t - a.t) / bs.scale for a, b in itertools.pairwise(heard)]
        inhales, exhales = gaps[4::2], gaps[3::2]
        assert statistics.median(inhales) == pytest.approx(4 * ratio, abs=0.5)
        assert statistics.median(exhales) == pytest.approx(6 * ratio, abs=0.5)


class HeldReplies(FakeVoice):
    """A voice that cannot render some sentences until the test lets it: a slow Piper."""

    def __init__(self, held: frozenset[str]) -> None:
        super().__init__()
        self.held = held
        self.release = threading.Event()

    def synthesize(self, sentence: str) -> bytes:
        if sentence in self.held:
            self.release.wait(timeout=20.0)
        return super().synthesize(sentence)


@pytest.mark.asyncio
async def test_a_reply_that_is_not_rendered_yet_never_delays_a_cue(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """The reply to "slower" cannot be synthesized for a while: the breaths go on on time,
    and the reply is said after a later cue once it is ready, not in place of one."""
    held = frozenset(
        sentence
        for variant in RESPONSES.variants("breathing.slower")
        for sentence in split_sentences(variant)
    )
    voice = HeldReplies(held)
    async with live_skill(
        mosquitto, tmp_path, scale=0.05, speakers=["bedroom"], fake_voice=voice, wait_voice="first"
    ) as bs:
        control = await start(bs, "five rounds of calm breathing")
        await bs.wait_clips(lambda c: c.text == INHALE, 2)
        session = await bs.say("slower")
        asked = (await bs.ended(session)).t
        # Three more cues while the reply cannot be rendered: nothing waits for it.
        await bs.wait_clips(lambda c: c.kind == "cue" and c.t > asked, 3)
        assert not [c for c in bs.clips(after=asked) if is_line(c.text, "breathing.slower")]
        voice.release.set()
        said = await reply(bs, "breathing.slower", after=asked)
        await check_session(bs, "bedroom", control)  # every cue at its planned moment
        assert control.plan.pace_step == -1
        before = [c for c in cues(bs.clips()) if c.t < said.t]
        assert before[-1].t > asked  # said after a cue that came after the request


@pytest.mark.asyncio
async def test_pause_holds_every_cue_until_resume(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """After "pause" no cue comes, however long; "resume" brings them back, then the close.

    "Resume" before any pause changes nothing and says that nothing is paused.
    """
    async with live_skill(mosquitto, tmp_path, scale=0.05, speakers=["bedroom"]) as bs:
        control = await start(bs, "three rounds of calm breathing")
        not_paused = await bs.ended(await bs.say("resume"))  # nothing to resume yet
        await reply(bs, "breathing.not_paused", after=not_paused.t)
        await bs.wait_clip(lambda c: c.text == EXHALE)
        paused = await bs.ended(await bs.say("pause"))
        await reply(bs, "breathing.paused", after=paused.t)
        assert control.plan.paused
        await bs.quiet_for(0.8)  # 16 plan seconds: more than a whole breath
        resumed = await bs.ended(await bs.say("let's continue"))
        await reply(bs, "breathing.resumed", after=resumed.t)
        await check_session(bs, "bedroom", control)
        heard = cues(bs.clips())
        assert [c for c in heard if paused.t < c.t < resumed.t] == []
        after = [c for c in heard if c.t > resumed.t]
        assert after, "no cues after resume"
        assert after[0].text == INHALE  # a fresh breath
        assert after[0].t - resumed.t >= 1.0 * bs.scale  # after the lead-in


@pytest.mark.asyncio
async def test_one_more_minute_extends_the_session(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """ "One more minute" adds a minute of breaths; the close comes that much later."""
    async with live_skill(mosquitto, tmp_path, scale=0.03, speakers=["bedroom"]) as bs:
        control = await start(bs, "one round of calm breathing")
        planned_end = control.plan.end_offset
        assert planned_end is not None
        await bs.wait_clip(lambda c: c.text == INHALE)
        more = await bs.ended(await bs.say("one more minute"))
        await reply(bs, "breathing.more_one", after=more.t)
        await check_session(bs, "bedroom", control)
        assert control.plan.end_offset == pytest.approx(planned_end + 60, abs=0.01)
        assert len(cues(bs.clips(), INHALE)) == 7  # one round and six more of 10 s each
        close = next(c for c in bs.clips() if is_line(c.text, "breathing.close"))
        assert close.t >= control.start + (planned_end + 55) * bs.scale


@pytest.mark.asyncio
async def test_controls_with_nothing_running_say_so(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """Slower, faster, pause, resume and more on an idle site: the not-running line."""
    async with live_skill(mosquitto, tmp_path, scale=0.05, speakers=["bedroom"]) as bs:
        for sentence in ("slower", "faster", "pause", "resume", "one more minute"):
            ended = await bs.ended(await bs.say(sentence))
            await reply(bs, "breathing.not_running", after=ended.t)
            await bs.idle()
        assert bs.skill.states() == {"bedroom": ""}


@pytest.mark.asyncio
async def test_a_new_session_replaces_the_old_one(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """A second "start breathing" stops the first at once: only the new plan is heard."""
    async with live_skill(mosquitto, tmp_path, scale=0.05, speakers=["bedroom"]) as bs:
        old = await start(bs, "cyclic sighing for five minutes")
        await bs.wait_clip(lambda c: c.text == TOP_UP)
        switched = await bs.ended(await bs.say("two rounds of coherent breathing"))
        new = await bs.breathing()
        assert new is not old
        assert new.plan.pattern.name == "coherent"
        await bs.idle(timeout=20)
        after = [c for c in bs.clips() if c.t > switched.t]
        assert TOP_UP not in [c.text for c in after]  # nothing of the sigh session
        assert_follows(after, new.start, new.plan, bs.scale)
        before = [c for c in bs.clips() if c.t < switched.t]
        assert_follows(before, old.start, old.plan, bs.scale, until=switched.t)


@pytest.mark.asyncio
async def test_two_sites_breathe_independently(mosquitto: EmbeddedBroker, tmp_path: Path) -> None:
    """Two sites, two patterns at once; "stop" on one leaves the other's session untouched."""
    async with live_skill(
        mosquitto, tmp_path, scale=0.04, sites=["bedroom", "guest"], speakers=["bedroom", "guest"]
    ) as bs:
        guest = await start(bs, "two rounds of box breathing", site="guest")
        bedroom = await start(bs, "cyclic sighing for five minutes", site="bedroom")
        await bs.wait_clip(lambda c: c.text == TOP_UP, site="bedroom")
        stopped = await bs.ended(await bs.say("stop", site="bedroom"))
        await reply(bs, "stop.done", after=stopped.t)
        await bs.idle("bedroom")
        await check_session(bs, "guest", guest)
        assert TOP_UP not in [c.text for c in bs.clips("guest")]
        assert HOLD not in [c.text for c in bs.clips("bedroom")]
        bedroom_clips = [c for c in bs.clips("bedroom") if c.t < stopped.t]
        assert_follows(bedroom_clips, bedroom.start, bedroom.plan, bs.scale, until=stopped.t)
        assert bs.skill.states() == {"bedroom": "", "guest": ""}


@pytest.mark.asyncio
async def test_controls_work_during_the_routines_breathing(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """ "Slower" while the short routine guides its breaths slows those breaths."""
    async with live_skill(mosquitto, tmp_path, scale=0.01, speakers=["bedroom"]) as bs:
        await bs.ended(await bs.say("start aftercare"))
        await bs.wait_clip(lambda c: c.text == INHALE, timeout=10)
        assert bs.skill.activity("bedroom") == "routine"
        ended = await bs.ended(await bs.say("slower"))
        heard = await bs.wait_clip(lambda c: c.t > ended.t and c.kind == "speech")
        assert is_line(heard.text, "breathing.slower"), heard.text
        control = bs.skill.site("bedroom").breathing
        assert control is not None
        assert control.plan.pace_step == -1
