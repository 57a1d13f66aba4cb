"""The room end to end: spoken requests in, exact device commands out, on a real Mosquitto.

Each test runs the real Runtime with the silent fake voice and a compressed clock, speaks
through the real Recognizer (`hermes/intent/...`, as Rhasspy's NLU would), and listens on
the device topics with a separate MQTT client, the "fake device", that stamps every
payload with its arrival time. Payloads, their order and their counts are exact; times
are checked loosely:

- a step due at plan second s may never arrive before `t_said + s x scale`, where t_said
  was taken before the request was published (the skill cannot have started earlier), so
  arrival stamps that come late (a busy interpreter) never make a test flaky;
- it must arrive within TOLERANCE real seconds of the same deadline counted from the
  first message of its fade.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support.fakes import Bedside, live_skill
from support.mqtt_recorder import MqttRecorder, Received, RecorderFactory

from skill.base.text import normalize
from skill.hermes.broker import EmbeddedBroker

pytestmark = pytest.mark.timeout(60)

SCALE = 0.05
"""Real seconds per plan second in the music tests (a 6 s fade takes 0.3 s)."""
STEP = 0.5
"""Plan seconds between two volume steps (the documented pace)."""
VOLUME = 25
FADE_IN = 6.0
"""12 steps of exactly +2 from 1 to 25: no rounding to argue about."""
FADE_OUT = 2.5
"""5 steps of exactly -5 from 25 to 0 (sent as 1, the lowest volume a player takes)."""
TOLERANCE = 0.3  # generous: CI shares 2 cores; precise lateness is a benchmark
"""Real seconds a command may arrive after its deadline (typically a few ms here)."""
QUIET = 0.3
"""Real seconds of listening that prove nothing more arrives."""

SITE = "bedroom"
DEVICE_TOPICS = (
    "home/#",
    "living/#",
    "sonos/#",
    "mopidy/#",
    "zigbee2mqtt/#",
    "aftercare/+/cooldown",
    "aftercare/+/lights",
)
"""Everything a device of any preset listens on (the fake device subscribes to all)."""

FADE_UP = [1 + 2 * step for step in range(1, 13)]
"""The volumes of the fade in after the quiet start at 1: 3, 5, ... 25."""
FADE_DOWN = [20, 15, 10, 5, 1]
"""The volumes of the fade out from 25 (0 is sent as 1)."""

HOSTILE = 'Café "Rain"\n\\ {volume} }{ night'
"""A playlist name that would break or extend a hand-built JSON payload."""

ZIGBEE_LAMP = {
    "name": "bedside-lamp",
    "kind": "zigbee2mqtt-light",
    "friendly_name": "bedroom/lamp",
    "sites": [SITE],
    "scene": {"brightness": 30, "color_temp": 454, "transition": 45},
    "restore": {"brightness": 200, "color_temp": 370, "transition": 3},
}
HA_LIGHT = {"name": "ceiling", "kind": "homeassistant-light", "sites": [SITE]}
"""A Home Assistant light with the default scene and no restore level."""
LIVING = [
    {
        "name": "living-player",
        "sites": ["living"],
        "play": {"topic": "living/player", "payload": '{"play": "{playlist}"}'},
        "volume": {"topic": "living/player", "payload": '{"volume": {volume}}'},
        "stop": {"topic": "living/player", "payload": "stop"},
    },
    {
        "name": "living-lamp",
        "kind": "zigbee2mqtt-light",
        "friendly_name": "living/lamp",
        "sites": ["living"],
        "restore": {"brightness": 254},
        "breathing": True,
    },
]
"""Devices of another site, listed first: the bedroom must never touch them."""

ZIGBEE_SCENE = (
    "zigbee2mqtt/bedroom/lamp/set",
    {"state": "ON", "brightness": 30, "transition": 45, "color_temp": 454},
)
ZIGBEE_RESTORE = (
    "zigbee2mqtt/bedroom/lamp/set",
    {"state": "ON", "brightness": 200, "transition": 3, "color_temp": 370},
)
HA_SCENE = (
    "aftercare/bedroom/lights",
    {"action": "scene", "brightness": 40, "transition": 45, "color_temp_kelvin": 2203},
)


Command = tuple[str, Any]
"""(topic, payload): the payload parsed as JSON when it is JSON, else the text."""


def command(message: Received) -> Command:
    """A device message as (topic, payload), JSON parsed."""
    text = message.text()
    try:
        return message.topic, json.loads(text)
    except ValueError:
        return message.topic, text


@dataclass(frozen=True)
class Preset:
    """One player preset and exactly what it should receive."""

    device: dict[str, Any]
    """The device entry in config.yaml."""
    start: list[Command]
    """What "play" sends after the quiet start volume."""
    stop: Command
    """The stop command."""
    volume: Callable[[int], Command]
    """The command that sets a volume."""
    playlists: tuple[str, ...] = ()
    """cooldown.playlists."""
    sentence: str = "play cool down"
    """What is said."""


SONOS_TOPIC = "sonos/RINCON_000E58C3892E01400/control"
SONOS_URI = "x-rincon-cpcontainer:1006206cplaylist%3a37i9dQZF1DWZd79rJ6a7lp"
MOPIDY_URI = "spotify:playlist:37i9dQZF1DWZd79rJ6a7lp"
GENERIC_TOPIC = "home/bedroom/player/set"

PRESETS = {
    "generic": Preset(
        device={
            "name": "bedside-player",
            "kind": "generic",
            "sites": [SITE],
            "play": {
                "topic": GENERIC_TOPIC,
                "payload": '{"action": "play", "playlist": "{playlist}"}',
            },
            "volume": {
                "topic": GENERIC_TOPIC,
                "payload": '{"action": "volume", "volume": {volume}}',
            },
            "stop": {"topic": GENERIC_TOPIC, "payload": '{"action": "stop"}'},
        },
        start=[(GENERIC_TOPIC, {"action": "play", "playlist": HOSTILE})],
        stop=(GENERIC_TOPIC, {"action": "stop"}),
        volume=lambda v: (GENERIC_TOPIC, {"action": "volume", "volume": v}),
        playlists=(HOSTILE,),
        sentence=f"could you play the {normalize(HOSTILE)} playlist please",
    ),
    "sonos2mqtt": Preset(
        device={
            "name": "bedroom-sonos",
            "kind": "sonos2mqtt",
            "uuid": "RINCON_000E58C3892E01400",
            "sites": [SITE],
            "playlists": {"Cool down": SONOS_URI},
        },
        start=[
            (SONOS_TOPIC, {"command": "setavtransporturi", "input": SONOS_URI}),
            (SONOS_TOPIC, {"command": "play"}),
        ],
        stop=(SONOS_TOPIC, {"command": "stop"}),
        volume=lambda v: (SONOS_TOPIC, {"command": "volume", "input": v}),
    ),
    "mopidy": Preset(
        device={
            "name": "mopidy",
            "kind": "mopidy",
            "sites": [SITE],
            "playlists": {"Cool down": MOPIDY_URI},
        },
        start=[("mopidy/c/clr", ""), ("mopidy/c/loa", MOPIDY_URI), ("mopidy/c/plb", "play")],
        stop=("mopidy/c/plb", "stop"),
        volume=lambda v: ("mopidy/c/vol", f"={v}"),
    ),
    "homeassistant": Preset(
        device={"name": "ha-player", "kind": "homeassistant", "sites": [SITE]},
        # The play event's volume is checked apart: see
        # test_homeassistant_play_event_carries_the_start_volume.
        start=[("aftercare/bedroom/cooldown", {"action": "play", "playlist": "Cool down"})],
        stop=("aftercare/bedroom/cooldown", {"action": "stop"}),
        volume=lambda v: ("aftercare/bedroom/cooldown", {"action": "volume", "volume": v}),
    ),
}


def music_config(preset: Preset, **cooldown: Any) -> dict[str, Any]:
    """Config overrides: the other site's devices first, then the player and two lights."""
    return {
        "devices": [*LIVING, preset.device, ZIGBEE_LAMP, HA_LIGHT],
        "cooldown": {
            "playlist": "Cool down",
            "playlists": list(preset.playlists),
            "volume": VOLUME,
            "fade_in": FADE_IN,
            "fade_out": FADE_OUT,
            "duck": 100,  # no dip: the fade is exact (ducking has tests of its own)
        }
        | cooldown,
    }


def without_volume_of_play(cmd: Command) -> Command:
    """The Home Assistant play event without its volume (checked in its own test)."""
    topic, payload = cmd
    if isinstance(payload, dict) and payload.get("action") == "play":
        return topic, {k: v for k, v in payload.items() if k != "volume"}
    return cmd


async def wait_command(device: MqttRecorder, wanted: Command, *, timeout: float = 5.0) -> Received:
    """The first message the device received that is exactly `wanted`."""
    return await asyncio.to_thread(device.wait_for, lambda m: command(m) == wanted, timeout)


async def said(bs: Bedside, sentence: str, site: str = SITE) -> float:
    """Say a sentence on a site; time.monotonic() taken before it was published."""
    before = time.monotonic()
    session = await bs.say(sentence, site=site)
    await bs.ended(session)
    return before


def assert_paced(steps: list[Received], said_at: float, first: float, scale: float) -> None:
    """Step k (from 1) arrived no earlier than said_at + k x STEP and on time after `first`."""
    for k, message in enumerate(steps, start=1):
        due = k * STEP * scale
        assert message.t >= said_at + due, f"step {k} {command(message)} came early"
        late = message.t - (first + due)
        assert late <= TOLERANCE, f"step {k} {command(message)} came {late * 1000:.0f} ms late"


# --- 1, 2, 5: every preset through "play cool down", then "stop" --------------------------


@pytest.mark.parametrize("name", list(PRESETS))
@pytest.mark.asyncio
async def test_cooldown_and_stop_send_exact_commands_to_each_preset(
    name: str, mosquitto: EmbeddedBroker, tmp_path: Path, recorder_factory: RecorderFactory
) -> None:
    """Exact commands, in order, for each player preset and both light presets.

    "play ..." (by voice, through the real Recognizer): volume 1, the preset's play
    commands, the lights' cool-down scene, then 12 volume steps of +2, one per half plan
    second, the last at fade_in x scale. "stop": the restore level of the light that has
    one (the other is left as it is), 5 falling volume steps, the player's stop, then
    nothing more. The other site's player and light, listed first, receive nothing.
    """
    preset = PRESETS[name]
    device = recorder_factory(mosquitto, *DEVICE_TOPICS)
    async with live_skill(mosquitto, tmp_path, scale=SCALE, **music_config(preset)) as bs:
        said_at = await said(bs, preset.sentence)
        await wait_command(device, preset.volume(VOLUME))
        played = device.messages()
        assert [without_volume_of_play(command(m)) for m in played] == [
            preset.volume(1),
            *preset.start,
            ZIGBEE_SCENE,
            HA_SCENE,
            *[preset.volume(v) for v in FADE_UP],
        ]
        steps = played[-len(FADE_UP) :]
        assert_paced(steps, said_at, played[0].t, SCALE)
        assert steps[-1].t - played[0].t == pytest.approx(FADE_IN * SCALE, abs=TOLERANCE)

        device.clear()
        stop_at = await said(bs, "stop")
        stopped = await wait_command(device, preset.stop)
        await asyncio.sleep(QUIET)
        received = device.messages()
        assert [command(m) for m in received] == [
            ZIGBEE_RESTORE,
            *[preset.volume(v) for v in FADE_DOWN],
            preset.stop,
        ], "volumes fall, then the stop, then nothing more"
        assert_paced(received[1:-1], stop_at, received[0].t, SCALE)
        assert stopped.t >= stop_at + FADE_OUT * SCALE
        assert stopped.t - received[0].t == pytest.approx(FADE_OUT * SCALE, abs=TOLERANCE)
        assert bs.runtime.room is not None
        assert not bs.runtime.room.music_playing(SITE)
    for other in ("living/#", "zigbee2mqtt/living/#"):
        assert device.messages(other) == [], "a device of another site was touched"


@pytest.mark.asyncio
async def test_generic_payloads_stay_valid_json_with_a_hostile_playlist_name(
    mosquitto: EmbeddedBroker, tmp_path: Path, recorder_factory: RecorderFactory
) -> None:
    """Quotes, a backslash, a newline, braces and a placeholder in a name change no JSON shape.

    The name is asked for by voice as a recognizer writes it; the play payload is one JSON
    object whose playlist is the configured name, byte for byte, and {volume} inside the
    name is not filled in.
    """
    preset = PRESETS["generic"]
    device = recorder_factory(mosquitto, GENERIC_TOPIC)
    async with live_skill(
        mosquitto, tmp_path, scale=SCALE, **music_config(preset, fade_in=0)
    ) as bs:
        await said(bs, preset.sentence)
        await wait_command(device, preset.volume(VOLUME))
    texts = [m.text() for m in device.messages()]
    assert texts[1] == (
        '{"action": "play", "playlist": "Café \\"Rain\\"\\n\\\\ {volume} }{ night"}'
    )
    assert json.loads(texts[1]) == {"action": "play", "playlist": HOSTILE}
    assert [json.loads(text) for text in texts] == [
        {"action": "volume", "volume": 1},
        {"action": "play", "playlist": HOSTILE},
        {"action": "volume", "volume": VOLUME},
    ]


# --- 3: ducking --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_music_dips_while_the_voice_speaks_and_returns_after_the_line(
    mosquitto: EmbeddedBroker, tmp_path: Path, recorder_factory: RecorderFactory
) -> None:
    """With the music at 25 and duck 40%, a spoken reply dips it to 10 and brings it back.

    "slower" with no breathing running makes the skill answer (a line of one or two
    sentences). The dip goes out before the reply's first clip; the music returns
    0.6 plan seconds after the speaker's last playFinished, and nothing else is sent.
    """
    scale = 0.1
    preset = PRESETS["generic"]
    device = recorder_factory(mosquitto, GENERIC_TOPIC)
    config = music_config(preset, fade_in=0, duck=40)
    async with live_skill(mosquitto, tmp_path, scale=scale, speakers=[SITE], **config) as bs:
        await said(bs, "play cool down")
        # The cool-down's own reply is spoken over the start: the step to 25 is heard at 10.
        await wait_command(device, preset.volume(VOLUME))
        await bs.idle()
        assert [command(m)[1] for m in device.messages()] == [
            {"action": "volume", "volume": 1},
            {"action": "play", "playlist": "Cool down"},
            {"action": "volume", "volume": 10},
            {"action": "volume", "volume": 25},
        ]
        device.clear()
        said_at = time.monotonic()
        await bs.say("slower")
        back = await wait_command(device, preset.volume(VOLUME))
        await asyncio.sleep(QUIET)
        dip, restore = device.messages()
        assert command(dip) == preset.volume(10)
        assert restore is back
        clips = bs.clips(SITE, after=said_at)
        assert clips, "the skill said nothing"
        assert dip.t <= clips[0].t + 0.02, "the music dips before the voice starts"
        finished = [
            m.t
            for m in bs.recorder.messages(f"hermes/audioServer/{SITE}/playFinished")
            if m.t > said_at
        ]
        assert len(finished) == len(clips)
        hold = restore.t - finished[-1]
        assert 0.6 * scale - 0.02 <= hold <= 0.6 * scale + TOLERANCE


# --- 4: the breathing light ---------------------------------------------------------------

BREATHING_LAMPS = [
    {
        "name": f"{site}-lamp",
        "kind": "zigbee2mqtt-light",
        "friendly_name": f"{site}/lamp",
        "sites": [site],
        "scene": {"brightness": 30, "color_temp": 454, "transition": 45},
        "restore": {"brightness": 200, "color_temp": 370, "transition": 3},
        "breathing": {"low": 10, "high": 80},
    }
    for site in ("bedroom", "guest")
]


def light_plan(control: Any, site: str, scale: float) -> list[tuple[float, Command]]:
    """(plan offset, command) the lamp of a site should get for each phase cue of a plan."""
    levels = {"inhale": 80, "top-up": 80, "exhale": 10}
    return [
        (
            cue.offset,
            (
                f"zigbee2mqtt/{site}/lamp/set",
                {
                    "state": "ON",
                    "brightness": levels[cue.phase],
                    "transition": round(cue.seconds * scale, 2),
                    "color_temp": 454,
                },
            ),
        )
        for cue in control.plan.cues
        if cue.kind == "phase" and cue.phase in levels
    ]


@pytest.mark.asyncio
async def test_breathing_light_follows_each_phase_then_goes_back(
    mosquitto: EmbeddedBroker, tmp_path: Path, recorder_factory: RecorderFactory
) -> None:
    """One light command per inhale/top-up/exhale cue, at the cue's time; none for holds.

    Two sessions at once: box breathing on the bedroom (in, hold, out, hold: the light
    alternates 80/10 and keeps still over the holds) and cyclic sighing on the guest room
    (in, top-up, out) after its cool-down scene. Each transition is the phase length x
    time scale. When a session ends, the bedroom lamp returns to its restore level and
    the guest lamp, whose cool-down scene is on, returns to the scene.
    """
    scale = 0.04
    device = recorder_factory(mosquitto, "zigbee2mqtt/#")
    guest_player = PRESETS["generic"].device | {"sites": ["guest"]}
    async with live_skill(
        mosquitto, tmp_path, scale=scale, devices=[*BREATHING_LAMPS, guest_player]
    ) as bs:
        await said(bs, "play cool down", site="guest")
        await wait_command(device, ("zigbee2mqtt/guest/lamp/set", ZIGBEE_SCENE[1]))
        await said(bs, "two rounds of box breathing")
        await said(bs, "cyclic sighing for one minute", site="guest")
        controls = {site: await bs.breathing(site) for site in ("bedroom", "guest")}
        for site in controls:
            await bs.idle(site, timeout=20)
        await asyncio.sleep(QUIET)

    phases = {site: {c.phase for c in controls[site].plan.cues} for site in controls}
    assert {"inhale", "hold", "exhale"} <= phases["bedroom"]
    assert {"inhale", "top-up", "exhale"} <= phases["guest"]
    ends = {"bedroom": ZIGBEE_RESTORE[1], "guest": ZIGBEE_SCENE[1]}
    for site, control in controls.items():
        received = device.messages(f"zigbee2mqtt/{site}/lamp/set")
        if site == "guest":
            assert command(received.pop(0))[1] == ZIGBEE_SCENE[1]  # the cool-down scene
        expected = light_plan(control, site, scale)
        assert [command(m) for m in received] == [
            *[cmd for _offset, cmd in expected],
            (f"zigbee2mqtt/{site}/lamp/set", ends[site]),
        ], site
        for (offset, cmd), message in zip(expected, received, strict=False):
            due = control.start + offset * scale  # the skill's own monotonic clock
            assert due <= message.t <= due + TOLERANCE, f"{site} {cmd} at plan second {offset}"
    brightness = [command(m)[1]["brightness"] for m in device.messages("zigbee2mqtt/bedroom/#")]
    assert brightness[:-1] == [80, 10] * (len(brightness) // 2)  # box: alternating, 2 rounds
    assert len(brightness) == 5


# --- bugs found in skill/room/room.py -----------------------------------------------------------


@pytest.mark.asyncio
async def test_stop_while_the_voice_speaks_never_raises_the_volume(
    mosquitto: EmbeddedBroker, tmp_path: Path, recorder_factory: RecorderFactory
) -> None:
    """ "stop" said while the music is dipped under the voice: it fades down from the dip.

    The music plays at 25 and is dipped to 10 under a reply (no speaker answers, so the
    voice waits its full time-out and the dip lasts well over a second). Then "stop": every
    volume after the dip must be at most 10 and falling, then the player's stop.
    """
    preset = PRESETS["generic"]
    device = recorder_factory(mosquitto, GENERIC_TOPIC)
    config = music_config(preset, fade_in=0, duck=40)
    async with live_skill(mosquitto, tmp_path, scale=SCALE, **config) as bs:
        await said(bs, "play cool down")
        await wait_command(device, preset.volume(VOLUME))  # after the start reply's dip
        device.clear()
        await said(bs, "slower")  # the reply dips the music...
        await wait_command(device, preset.volume(10))
        await said(bs, "stop")  # ...and "stop" comes while it is spoken
        await wait_command(device, preset.stop)
        await asyncio.sleep(QUIET)
    volumes = [command(m)[1]["volume"] for m in device.messages() if command(m) != preset.stop]
    assert volumes[0] == 10
    assert volumes == sorted(volumes, reverse=True), f"the music swelled on stop: {volumes}"
    assert command(device.messages()[-1]) == preset.stop


@pytest.mark.asyncio
async def test_cooldown_asked_again_while_fading_out_keeps_playing(
    mosquitto: EmbeddedBroker, tmp_path: Path, recorder_factory: RecorderFactory
) -> None:
    """ "play cool down" during the fade out of a "stop": the new music is not stopped.

    The old fade out is cancelled by the new play; its last act must not be the player's
    stop, sent after the new play command.
    """
    preset = PRESETS["sonos2mqtt"]
    device = recorder_factory(mosquitto, "sonos/#")
    config = music_config(preset, fade_in=0, fade_out=20)  # a 1 s fade out at this scale
    async with live_skill(mosquitto, tmp_path, scale=SCALE, **config) as bs:
        await said(bs, "play cool down")
        await wait_command(device, preset.volume(VOLUME))
        await said(bs, "stop")
        await wait_command(device, preset.volume(24))  # fading out
        device.clear()
        await said(bs, "play cool down")
        await wait_command(device, preset.volume(VOLUME))
        await asyncio.sleep(QUIET)
        assert bs.runtime.room is not None
        assert bs.runtime.room.music_playing(SITE)
    received = [command(m) for m in device.messages()]
    assert preset.stop not in received, f"the new music was stopped: {received}"
    assert received == [preset.volume(1), *preset.start, preset.volume(VOLUME)]


@pytest.mark.asyncio
async def test_homeassistant_play_event_carries_the_start_volume(
    mosquitto: EmbeddedBroker, tmp_path: Path, recorder_factory: RecorderFactory
) -> None:
    """The play event says the volume the music starts at (1), not 0.

    The README's automation sets the player's volume from the play event before
    play_media; with "volume": 0 it mutes the player (after the volume event set 1).
    """
    preset = PRESETS["homeassistant"]
    device = recorder_factory(mosquitto, "aftercare/+/cooldown")
    config = music_config(preset, fade_in=0)
    async with live_skill(mosquitto, tmp_path, scale=SCALE, **config) as bs:
        await said(bs, "play cool down")
        await wait_command(device, preset.volume(VOLUME))
    play = [command(m)[1] for m in device.messages() if command(m)[1]["action"] == "play"]
    assert play == [{"action": "play", "playlist": "Cool down", "volume": 1}]
