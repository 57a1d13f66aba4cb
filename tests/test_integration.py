"""The whole skill against a real broker: Hermes in, Hermes and device commands out.

Intents are made by the real Recognizer from natural sentences and published on
`hermes/intent/<name>` exactly as Rhasspy's NLU service would; the skill runs in this
process with a silent fake voice and compressed time; a recording client sees everything
the broker delivers. Negative checks ("nothing was published") never sleep and hope: a
valid intent is sent after the bad one, and since the skill handles messages in order and
publishes in order, everything the bad one could have caused would arrive before the
valid one's endSession.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from support.fakes import (
    END_SESSION,
    PLAYER_TOPIC,
    RESPONSES,
    SITE,
    Bedside,
    Clip,
    FakeDialogueManager,
    FakeVoice,
    TcpRelay,
    cue_text,
    ends,
    is_line,
    keys_of,
    labels,
    live_skill,
    make_config,
    make_intent,
    wav_info,
)
from support.mqtt_recorder import MqttRecorder, Received

from skill.app import Runtime
from skill.hermes.broker import EmbeddedBroker
from skill.language import keys
from skill.voice.piper import split_sentences

pytestmark = pytest.mark.timeout(60)

STATUS = "aftercare/status"
INHALE = cue_text("inhale")


def player_commands(bs: Bedside, *, after: float = 0.0) -> list[dict[str, Any]]:
    """The JSON commands the test player received (after a moment)."""
    return [json.loads(m.payload) for m in bs.recorder.messages(PLAYER_TOPIC) if m.t > after]


async def stop_and_wait(bs: Bedside, word: str = "stop", site: str = SITE) -> tuple[float, Clip]:
    """Say a stop word; (arrival of its endSession, the first clip of its confirmation)."""
    ended = await bs.ended(await bs.say(word, site=site))
    done = await bs.wait_clip(lambda c: c.t > ended.t and is_line(c.text, "stop.done"), site=site)
    return ended.t, done


# --- answering at once, and being online -----------------------------------------------


@pytest.mark.asyncio
async def test_every_intent_is_answered_with_end_session_at_once(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """The dialogue manager's session is ended at once, whatever the intent starts."""
    sentences = [
        "start breathing",
        "a bit slower",
        "faster please",
        "pause",
        "resume",
        "one more minute",
        "play cool down",
        "start aftercare",
        "red",
        "stop",
    ]
    async with live_skill(mosquitto, tmp_path, speakers=[SITE]) as bs:
        for sentence in sentences:
            topic, payload, session = bs.intent(sentence)
            sent = time.monotonic()
            await bs.publish(topic, payload)
            reply = await bs.ended(session, timeout=2.0)
            assert reply.t - sent < 0.5, f"{sentence!r}: endSession after {reply.t - sent:.2f} s"
            assert json.loads(reply.payload)["sessionId"] == session
        ends_sent = bs.recorder.messages(END_SESSION)
        assert len(ends_sent) == len(sentences)  # one each, nothing twice


@pytest.mark.asyncio
async def test_the_loaded_skill_is_kept_out_of_garbage_collections_while_it_runs(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """Recognizer, responses and assets are frozen while running, handed back on close.

    A full collection over them holds the event loop for tens of milliseconds, long
    enough to make a breathing cue late; frozen, later collections skip them.
    """
    assert gc.get_freeze_count() == 0
    async with live_skill(mosquitto, tmp_path, speakers=[SITE]) as bs:
        # The recognizer alone is tens of thousands of objects.
        assert gc.get_freeze_count() > 10_000
        topic, payload, session = bs.intent("start breathing")
        await bs.publish(topic, payload)
        await bs.ended(session, timeout=2.0)
        assert gc.get_freeze_count() > 10_000  # still frozen while it serves
    assert gc.get_freeze_count() == 0  # a closed Runtime leaves nothing frozen


@pytest.mark.asyncio
async def test_the_urgent_replies_render_first_after_online_and_stay_in_memory(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """A first start renders its prompts in the background, after `online`. "Stop" comes
    first of all; the caution word, a call for help (with the configured number) and the
    replies to someone hurt or unsafe right after the cues and first lines; all of them
    stay pinned in memory, so none ever waits for the disk or the voice again."""
    voice = FakeVoice()
    config = make_config(
        mosquitto.host, mosquitto.port, tmp_path / "data", care={"emergency_number": "112"}
    )

    def sentences(*keys_: str) -> list[str]:
        return [
            sentence
            for key in keys_
            for variant in RESPONSES.variants(key)
            for sentence in split_sentences(variant, config.voice.max_sentence_chars)
        ]

    stop = sentences(keys.STOP_DONE)
    help_ = sentences(
        keys.CAUTION_ASK, keys.CAUTION_RESUMED, keys.FEELING_HURT, keys.FEELING_UNSAFE
    )
    help_ += split_sentences(RESPONSES.pick(keys.HELP_CALL, where="one one two"), 300)
    async with Runtime(config, time_scale=0.05, synthesizer=voice, cache=False) as runtime:
        assert voice.rendered == []  # nothing before online
        await runtime.voice_ready()
        assert runtime.clips is not None
        assert all(runtime.clips.cached(s) is not None for s in stop + help_)
    assert voice.rendered[: len(set(stop))] == list(dict.fromkeys(stop))
    first_help = min(voice.rendered.index(s) for s in help_)
    assert first_help < len(voice.rendered) // 4


@pytest.mark.asyncio
async def test_status_is_online_while_running_and_offline_after(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """Retained `online` on aftercare/status once ready; retained `offline` after a clean exit."""
    async with live_skill(mosquitto, tmp_path):
        with MqttRecorder(mosquitto.host, mosquitto.port, [STATUS]) as late:
            online = await asyncio.to_thread(late.wait_for, STATUS)
    assert online.payload == b"online"
    assert online.retain  # a dashboard that connects later still learns it
    with MqttRecorder(mosquitto.host, mosquitto.port, [STATUS]) as after:
        offline = await asyncio.to_thread(after.wait_for, STATUS)
    assert offline.payload == b"offline"
    assert offline.retain


@pytest.mark.asyncio
async def test_last_will_says_offline_when_the_connection_dies(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """A dropped TCP connection (not a clean exit): the broker publishes the will, `offline`.

    The skill reaches the broker through a relay that the test cuts, as a network glitch
    would. The skill then reconnects by itself, says `online` again and serves intents.
    """
    topics = [STATUS, END_SESSION, f"hermes/audioServer/{SITE}/playBytes/+"]
    async with TcpRelay(mosquitto.host, mosquitto.port) as relay, live_skill(relay, tmp_path):
        # This client talks to the broker directly: the relay's cut does not touch it.
        with MqttRecorder(mosquitto.host, mosquitto.port, topics) as watcher:
            await asyncio.to_thread(watcher.wait_for, lambda m: m.payload == b"online")
            watcher.clear()
            relay.cut()
            will = await asyncio.to_thread(watcher.wait_for, STATUS)
            assert will.payload == b"offline"
            back = await asyncio.to_thread(watcher.wait_for, lambda m: m.payload == b"online")
            assert back.t > will.t
            topic, payload, session = make_intent("start breathing")
            await asyncio.to_thread(watcher.publish, topic, payload)
            await asyncio.to_thread(watcher.wait_for, lambda m: ends(m, session))
            await asyncio.to_thread(watcher.wait_for, lambda m: "playBytes" in m.topic)


# --- the short routine --------------------------------------------------------------------


ROUTINE_KEYS = frozenset(
    {
        "routine.opening",
        "routine.water",
        "routine.warmth",
        "routine.breathe_offer",
        "routine.kind_words",
        "routine.close",
        "checkin.feeling",
        "checkin.need",
        "feeling.okay",
        "breathing.step_close",
        "notnow.ack",
    }
)
"""Keys the routine's lines are told apart by (a few sentences belong to several keys)."""


@pytest.mark.asyncio
async def test_start_aftercare_speaks_the_short_routine_in_order(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """Opening, water, warmth, breathing, check-ins, kind words, music, close; never overlapping."""
    async with live_skill(mosquitto, tmp_path, scale=0.01, speakers=[SITE]) as bs:
        async with FakeDialogueManager(bs, ["i'm okay", "no thanks"]) as dm:
            await bs.ended(await bs.say("start aftercare"))
            await bs.idle(timeout=30)
        clips = bs.clips()
        finished = bs.recorder.messages(f"hermes/audioServer/{SITE}/playFinished")
    assert len(dm.asked) == 2
    for message in bs.recorder.messages(f"hermes/audioServer/{SITE}/playBytes/+"):
        assert wav_info(message.payload)[:2] == (1, 2)  # a valid mono 16-bit WAV
    heard = labels(clips, expect=ROUTINE_KEYS)
    speech = [label for kind, label in heard if kind == "speech"]
    assert speech == [
        "routine.opening",
        "routine.water",
        "routine.warmth",
        "routine.breathe_offer",
        "breathing.intro.calm",
        "breathing.step_close",  # inside a routine the breathing ends without a goodbye
        "checkin.feeling",
        "feeling.okay",
        "routine.kind_words",
        "checkin.need",
        "notnow.ack",  # "no thanks": a word or two
        "routine.close",
    ]
    # Between the breathing intro and its close: only cues, breathe in and out in turn.
    first = heard.index(("speech", "breathing.intro.calm"))
    last = heard.index(("speech", "breathing.step_close"))
    breaths = heard[first + 1 : last]
    assert breaths == [("cue", INHALE), ("cue", cue_text("exhale"))] * (len(breaths) // 2)
    assert len(breaths) >= 16  # a minute and a half of 10-second breaths
    # The cool-down music starts before the last line.
    played = [m for m in bs.recorder.messages(PLAYER_TOPIC) if b'"play"' in m.payload]
    assert len(played) == 1
    assert played[0].t < clips[-1].t
    assert json.loads(played[0].payload) == {"action": "play", "playlist": "Cool down"}
    assert_no_overlap(clips, finished)
    # The transcript listener was told of every clip, in the order they went out.
    told = [(spoken.kind, spoken.text) for _, spoken in bs.spoken if spoken.site_id == SITE]
    assert told == [(clip.kind, clip.text) for clip in clips]


def assert_no_overlap(clips: list[Clip], finished: list[Received]) -> None:
    """No spoken line starts before the clip ahead of it has finished playing.

    The speaker answers each clip with playFinished when it has played it; every sentence
    the skill waits on must come after that answer. Sentences of a breathing note and the
    cues are sent on a schedule instead (checked against the plan in test_breathing_live).
    """
    done = {json.loads(m.payload)["id"]: m.t for m in finished}
    for before, after in itertools.pairwise(clips):
        if after.kind != "speech" or _timed_note(before, after):
            continue
        assert before.request_id in done, f"no playFinished for {before.text!r}"
        assert done[before.request_id] <= after.t, f"{after.text!r} over {before.text!r}"


def _timed_note(before: Clip, after: Clip) -> bool:
    """True for the second and later sentences of a breathing note (sent on a schedule)."""
    shared = keys_of(before.text) & keys_of(after.text)
    return any(key.startswith("breathing.") for key in shared)


# --- cool-down music --------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("sentence", "playlist"),
    [
        ("play cool down", "Cool down"),
        ("play the rain sounds playlist", "Rain sounds"),
        ("play the rain songs 2 playlist", 'Rain "Songs" \\ 2'),
    ],
)
async def test_cooldown_commands_the_configured_player(
    mosquitto: EmbeddedBroker, tmp_path: Path, sentence: str, playlist: str
) -> None:
    """The player's own topic and payload from config, JSON-safe; "stop" stops it."""
    cooldown = {"playlists": ["Rain sounds", 'Rain "Songs" \\ 2'], "fade_out": 2}
    async with live_skill(
        mosquitto, tmp_path, speakers=[SITE], cooldown=cooldown, scale=0.05
    ) as bs:
        started = await bs.ended(await bs.say(sentence))
        await bs.wait_clip(lambda c: is_line(c.text, "cooldown.start"))
        plays = [m for m in bs.recorder.messages(PLAYER_TOPIC) if b'"play"' in m.payload]
        assert len(plays) == 1
        expected = '{"action": "play", "playlist": ' + json.dumps(playlist) + "}"
        assert plays[0].payload.decode("utf-8") == expected  # the template, filled JSON-safely
        assert json.loads(plays[0].payload)["playlist"] == playlist
        first = player_commands(bs, after=started.t)[0]
        assert first == {"action": "volume", "volume": 1}  # it starts quietly and fades in
        stopped_at, _ = await stop_and_wait(bs)
        stop = await bs.wait_for(lambda m: m.topic == PLAYER_TOPIC and b'"stop"' in m.payload)
        assert json.loads(stop.payload) == {"action": "stop"}
        fade = [c["volume"] for c in player_commands(bs, after=stopped_at) if "volume" in c]
        assert fade == sorted(fade, reverse=True)  # faded out first
        await bs.idle()


@pytest.mark.asyncio
async def test_cooldown_without_a_player_says_so(mosquitto: EmbeddedBroker, tmp_path: Path) -> None:
    """No player configured: a kind line that the config can add one, and no device command."""
    async with live_skill(mosquitto, tmp_path, speakers=[SITE], devices=[]) as bs:
        await bs.ended(await bs.say("play cool down"))
        await bs.wait_clip(lambda c: is_line(c.text, "cooldown.no_player"))
        await bs.idle()
        assert bs.recorder.messages("home/#") == []


# --- stop and the safeword ---------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("start", "scale", "quiet"),
    [
        # Stopped in the middle of the opening line (the speaker plays ten times slower
        # than the skill's clock, so the line is still playing: see the next test for a
        # stop that comes just as a line ends); the next line would follow at once.
        ("start aftercare", 0.02, 1.0),
        ("calm breathing for five minutes", 0.05, 0.6),  # 12 plan seconds: two cues or more
    ],
)
async def test_stop_and_the_safeword_silence_their_site_at_once(
    mosquitto: EmbeddedBroker, tmp_path: Path, start: str, scale: float, quiet: float
) -> None:
    """After "stop" (one site) or the safeword (another): a short confirmation, then nothing."""
    words = {SITE: "stop", "guest": "red"}
    async with live_skill(
        mosquitto, tmp_path, scale=scale, speakers=list(words), speaker_scale=0.2
    ) as bs:
        for site in words:
            await bs.ended(await bs.say(start, site=site))
        for site in words:
            await bs.wait_clip(
                lambda c: c.kind == "cue" or is_line(c.text, "routine.opening"), site=site
            )
            assert bs.skill.activity(site) in ("routine", "breathing")
        sessions = {site: await bs.say(word, site=site) for site, word in words.items()}
        for site, session in sessions.items():
            await bs.ended(session)
            await bs.wait_clip(lambda c: is_line(c.text, "stop.done"), site=site)
            assert bs.skill.activity(site) == ""
        await bs.quiet_for(quiet)
        for site in words:
            done = next(c for c in bs.clips(site) if is_line(c.text, "stop.done"))
            later = [c for c in bs.clips(site) if c.t > done.t]
            assert all(is_line(c.text, "stop.done") for c in later), [c.text for c in later]
            await bs.idle(site, timeout=15)
            assert bs.skill.activity(site) == ""


def _publish_all(recorder: MqttRecorder, messages: list[tuple[str, bytes | str]]) -> None:
    for topic, payload in messages:
        recorder.publish(topic, payload)


def _hold_the_loop(sender: threading.Thread) -> None:
    """Keep the event loop busy until the sender is done and its messages are queued.

    A busy machine does this by itself now and then; here it makes the two messages be
    handled in one turn of the loop, every time.
    """
    sender.join(5.0)
    time.sleep(0.2)


@pytest.mark.asyncio
async def test_stop_wins_even_when_a_clip_finishes_at_that_moment(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """ "Stop" handled together with the playFinished of the line being spoken still stops it."""
    async with live_skill(mosquitto, tmp_path, scale=0.05) as bs:  # the test is the speaker
        await bs.ended(await bs.say("start aftercare"))
        first = await bs.wait_clip(lambda c: is_line(c.text, "routine.opening"))
        finished = json.dumps({"id": first.request_id, "siteId": SITE, "sessionId": None})
        topic, payload, session = bs.intent("red")
        both = [(f"hermes/audioServer/{SITE}/playFinished", finished), (topic, payload)]
        sender = threading.Thread(target=_publish_all, args=(bs.recorder, both))
        sender.start()
        _hold_the_loop(sender)
        stopped = await bs.ended(session)
        await bs.wait_clip(lambda c: c.t > stopped.t and is_line(c.text, "stop.done"))
        await bs.quiet_for(0.5)  # the opening's next sentence would come at once
        later = [c.text for c in bs.clips() if c.t > stopped.t]
        assert all(is_line(text, "stop.done") for text in later), later


# --- sites and bad input ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_site_outside_the_allowlist_is_ignored(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """An intent from a site not in `sites` gets nothing: no endSession, no speech, no state."""
    async with live_skill(mosquitto, tmp_path, sites=[SITE, "guest"]) as bs:
        ignored = await bs.say("start breathing", site="kitchen")
        served = await bs.ended(await bs.say("stop"))  # handled after the ignored one
        assert [m for m in bs.recorder.messages(END_SESSION) if ends(m, ignored)] == []
        assert [m for m in bs.recorder.messages("#") if "kitchen" in m.topic] == []
        assert "kitchen" not in bs.skill.states()
        assert served.payload


UNSAFE_SITES = ["bed/room", "bed+room", "bed#room", "x" * 65]


@pytest.mark.asyncio
async def test_unsafe_site_ids_build_no_topic(mosquitto: EmbeddedBroker, tmp_path: Path) -> None:
    """siteIds with / + # or over 64 characters: dropped, counted, no topic built from them."""
    async with live_skill(mosquitto, tmp_path, speakers=[SITE]) as bs:  # every site allowed
        sessions = [await bs.say("start breathing", site=site) for site in UNSAFE_SITES]
        served = await bs.say("start breathing")
        await bs.ended(served)
        await bs.wait_clip(lambda c: c.text == INHALE)  # the next valid intent is served
        for session in sessions:
            assert [m for m in bs.recorder.messages(END_SESSION) if ends(m, session)] == []
        for message in bs.recorder.messages("#"):
            assert not any(site in message.topic for site in UNSAFE_SITES), message.topic
        assert bs.skill.problems.count("bad_site_id") == len(UNSAFE_SITES)
        assert set(bs.skill.states()) == {SITE}


MALFORMED: list[tuple[str, bytes, str]] = [
    ("AftercareBreathe", b"not json at all {", "not_json"),
    ("AftercareBreathe", b"\xff\xfe binary", "not_json"),
    ("AftercareBreathe", b'["a", "list"]', "not_object"),
    ("AftercareBreathe", b'{"siteId": "bedroom"}', "no_intent_name"),
    (
        "AftercareBreathe",
        b'{"intent": {"intentName": "AftercareStop"}, "siteId": "bedroom"}',
        "topic_mismatch",
    ),
    (
        "AftercareBreathe",
        b'{"intent": {"intentName": "AftercareBreathe"}, "siteId": 7}',
        "bad_site_id",
    ),
    (
        "AftercareBreathe",
        b'{"intent": {"intentName": "AftercareBreathe", "confidenceScore": "high"}}',
        "bad_confidence",
    ),
    (
        "AftercareBreathe",
        b'{"intent": {"intentName": "AftercareBreathe"}, "slots": "minutes=5"}',
        "bad_slots",
    ),
    (
        "AftercareBreathe",
        b'{"intent": {"intentName": "AftercareBreathe"}, "slots": [{"slotName": "minutes"}]}',
        "bad_slot",
    ),
    (
        "AftercareBreathe",
        b'{"intent": {"intentName": "AftercareBreathe"}, "sessionId": 12}',
        "bad_sessionId",
    ),
    ("AftercareBreathe", b'{"padding": "' + b"x" * 100_000 + b'"}', "too_large"),
]


@pytest.mark.asyncio
async def test_malformed_intents_are_dropped_and_counted_once(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """Garbage on hermes/intent/...: nothing happens, each is counted once, service goes on."""
    async with live_skill(mosquitto, tmp_path, speakers=[SITE]) as bs:
        for name, payload, _kind in MALFORMED:
            await bs.publish(f"hermes/intent/{name}", payload)
        await bs.publish("hermes/intent/AftercareBreathe", b"x" * (2 * 1024 * 1024))  # 2 MB
        served = await bs.say("start breathing")
        await bs.ended(served)
        await bs.wait_clip(lambda c: c.text == INHALE)
        assert len(bs.recorder.messages(END_SESSION)) == 1
        kinds: dict[str, int] = {}
        for _name, _payload, kind in MALFORMED:
            kinds[kind] = kinds.get(kind, 0) + 1
        for kind, count in kinds.items():
            assert bs.skill.problems.count(kind) == count, kind


@pytest.mark.asyncio
async def test_a_retained_intent_is_never_acted_on(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """An intent left retained on the broker (replayed on subscribe) starts nothing."""
    topic, payload, stale = make_intent("start breathing")
    with MqttRecorder(mosquitto.host, mosquitto.port, []) as publisher:
        await asyncio.to_thread(publisher.publish, topic, payload, retain=True)
        try:
            async with live_skill(mosquitto, tmp_path, speakers=[SITE]) as bs:
                await bs.ended(await bs.say("stop"))
                assert bs.skill.problems.count("retained_intent") == 1
                assert [m for m in bs.recorder.messages(END_SESSION) if ends(m, stale)] == []
                assert [c for c in bs.clips() if c.kind == "cue"] == []
                assert bs.skill.activity(SITE) == ""
        finally:
            await asyncio.to_thread(publisher.publish, topic, b"", retain=True)


# --- Rhasspy's own text-to-speech ------------------------------------------------------------


@pytest.mark.asyncio
async def test_hermes_tts_engine_waits_for_say_finished(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """`voice.engine: hermes`: text on hermes/tts/say; the next sentence waits for sayFinished."""
    async with live_skill(mosquitto, tmp_path, voice={"engine": "hermes"}) as bs:
        await bs.ended(await bs.say("start aftercare"))
        first = await bs.wait_for("hermes/tts/say")
        say = json.loads(first.payload)
        assert say["siteId"] == SITE
        assert is_line(say["text"], "routine.opening")
        await bs.quiet_for(0.5)  # the skill waits (its own time-out is 5 s and more)
        assert len(bs.recorder.messages("hermes/tts/say")) == 1
        finished = {"id": say["id"], "siteId": SITE}
        await bs.publish("hermes/tts/sayFinished", json.dumps(finished))
        sent = time.monotonic()
        second = await bs.wait_for(lambda m: m.topic == "hermes/tts/say" and m.t > first.t)
        assert second.t - sent < 1.0
        assert is_line(json.loads(second.payload)["text"], "routine.opening")
        assert bs.recorder.messages("hermes/audioServer/#") == []  # no WAVs with this engine


# --- other brokers --------------------------------------------------------------------------


@pytest_asyncio.fixture(params=["amqtt", "embedded"])
async def other_broker(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[EmbeddedBroker | None]:
    """The in-process amqtt broker, or None for `mqtt.host: embedded` (the skill's own)."""
    if request.param == "embedded":
        yield None
        return
    async with EmbeddedBroker(prefer="amqtt") as broker:
        yield broker


@pytest.mark.asyncio
async def test_breathing_and_stop_on_other_brokers(
    other_broker: EmbeddedBroker | None, tmp_path: Path
) -> None:
    """The same flow works on amqtt and with the skill starting its own broker."""
    async with live_skill(other_broker, tmp_path, speakers=[SITE]) as bs:
        session = await bs.say("two rounds of calm breathing")
        await bs.ended(session)
        await bs.wait_clip(lambda c: c.text == INHALE)
        _, done = await stop_and_wait(bs)
        await bs.quiet_for(0.5)
        assert all(is_line(c.text, "stop.done") for c in bs.clips() if c.t > done.t)
        await bs.idle()
