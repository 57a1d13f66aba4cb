"""The Home Assistant package, read as YAML: topics, services, modes, and what it refuses.

What the package does when Home Assistant runs it is tested in a real Home Assistant core
(tests/test_homeassistant_core.py); these tests pin down the text itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from skill.language.sentences import to_intent_script
from skill.language.templates import Templates, load_templates
from skill.room.ha_package import PARALLEL_RUNS, SPEAK_QUEUE, WAIT_SECONDS, package

ROOT = Path(__file__).resolve().parent.parent
SITE = "bedroom"
ENTITY = "assist_satellite.bedroom"


@pytest.fixture(scope="module")
def templates() -> Templates:
    """The shipped English templates."""
    return load_templates(ROOT / "intents")


@pytest.fixture(scope="module")
def text(templates: Templates) -> str:
    """The package for the bedroom, with its satellite as the default speaker."""
    return package(templates, site_id=SITE, entity_id=ENTITY)


@pytest.fixture(scope="module")
def automations(text: str) -> dict[str, dict[str, Any]]:
    """The package's automations by the topic they listen to."""
    loaded = yaml.safe_load(text)["automation"]
    return {item["trigger"][0]["topic"].rsplit("/", 1)[1]: item for item in loaded}


def _steps(node: Any) -> list[dict[str, Any]]:
    """Every step in an action sequence, nested ones (if/then/else, choose) included."""
    found: list[dict[str, Any]] = []
    if isinstance(node, list):
        for item in node:
            found.extend(_steps(item))
    elif isinstance(node, dict):
        found.append(node)
        for key in ("then", "else", "sequence", "choose", "default"):
            if key in node:
                found.extend(_steps(node[key]))
    return found


def _calls(automation: dict[str, Any], service: str) -> list[dict[str, Any]]:
    return [step for step in _steps(automation["action"]) if step.get("service") == service]


def test_the_package_is_yaml_with_a_header_and_two_integrations(text: str) -> None:
    header, _ = text.split("\nautomation:", maxsplit=1)
    assert header
    assert all(line.startswith("# ") for line in header.splitlines())
    assert "custom_sentences" in header
    assert list(yaml.safe_load(text)) == ["automation", "intent_script"]
    assert "&id" not in text
    assert "*id" not in text


def test_each_skill_topic_has_one_automation_in_the_old_and_new_syntax(
    automations: dict[str, dict[str, Any]],
) -> None:
    assert set(automations) == {"speak", "play", "stop", "ask"}
    for name, automation in automations.items():
        assert automation["id"] == f"aftercare_{SITE}_{name}"
        assert automation["trigger"] == [{"platform": "mqtt", "topic": f"aftercare/{SITE}/{name}"}]
        assert {"trigger", "condition", "action"} <= set(automation)
        assert not {"triggers", "conditions", "actions"} & set(automation)
        for step in _steps(automation["action"]):
            assert "action" not in step, "service calls are written `service:`"


def test_speak_is_queued_and_announces_after_the_satellite_is_idle(
    automations: dict[str, dict[str, Any]],
) -> None:
    speak = automations["speak"]
    assert (speak["mode"], speak["max"]) == ("queued", SPEAK_QUEUE)
    assert SPEAK_QUEUE >= 50
    steps = _steps(speak["action"])
    wait = next(i for i, step in enumerate(steps) if "wait_template" in step)
    announce = next(
        i for i, step in enumerate(steps) if step.get("service") == "assist_satellite.announce"
    )
    assert wait < announce
    assert "idle" in steps[wait]["wait_template"]
    assert (steps[wait]["timeout"], steps[wait]["continue_on_timeout"]) == (WAIT_SECONDS, True)
    assert steps[announce]["continue_on_error"] is True
    assert steps[announce]["data"] == {
        "entity_id": "{{ target }}",
        "media_id": '{{ request.get("url") }}',
        "preannounce": False,
    }
    [finished] = _calls(speak, "mqtt.publish")
    assert finished["data"]["topic"] == f"aftercare/{SITE}/finished"
    assert speak["action"][-1]["service"] == "mqtt.publish", "finished comes last, always"


def test_speak_on_a_media_player_announces_over_it_one_line_at_a_time(
    automations: dict[str, dict[str, Any]],
) -> None:
    speak = automations["speak"]
    [media] = _calls(speak, "media_player.play_media")
    assert media["data"]["announce"] is True
    assert media["data"]["media_content_id"] == '{{ request.get("url") }}'
    branch = next(
        choice["sequence"]
        for choice in speak["action"][0]["choose"]
        if "media_player" in choice["conditions"][0]["value_template"]
    )
    assert [("wait_template" in step, step.get("service")) for step in branch] == [
        (True, None),
        (False, "media_player.play_media"),
        (True, None),
    ]
    assert "playing" in branch[2]["wait_template"]


def test_play_runs_in_parallel_on_a_media_player_or_a_satellite(
    automations: dict[str, dict[str, Any]],
) -> None:
    play = automations["play"]
    assert (play["mode"], play["max"]) == ("parallel", PARALLEL_RUNS)
    [media] = _calls(play, "media_player.play_media")
    assert media["data"]["media_content_type"] == "music"
    assert media["data"]["media_content_id"] == '{{ request.get("url") }}'
    [announce] = _calls(play, "assist_satellite.announce")
    assert announce["data"]["preannounce"] is False
    conditions = [
        choice["conditions"][0]["value_template"] for choice in play["action"][0]["choose"]
    ]
    assert "media_player" in conditions[0]
    assert "assist_satellite" in conditions[1]
    assert play["action"][-1]["data"]["topic"] == f"aftercare/{SITE}/finished"


def test_stop_stops_only_a_media_player_and_needs_no_id(
    automations: dict[str, dict[str, Any]],
) -> None:
    stop = automations["stop"]
    assert stop["mode"] == "parallel"
    assert [call["data"] for call in _calls(stop, "media_player.media_stop")] == [
        {"entity_id": "{{ target }}"}
    ]
    assert "media_player" in stop["action"][0]["if"][0]["value_template"]
    assert "id" not in stop["condition"][0]["value_template"]
    assert not _calls(stop, "mqtt.publish")


def test_ask_asks_with_the_answers_and_always_publishes_an_answer(
    automations: dict[str, dict[str, Any]],
) -> None:
    ask = automations["ask"]
    assert ask["mode"] == "parallel"
    [question] = _calls(ask, "assist_satellite.ask_question")
    assert question["response_variable"] == "reply"
    assert question["continue_on_error"] is True
    assert question["data"] == {
        "entity_id": "{{ target }}",
        "question_media_id": '{{ request.get("url") }}',
        "preannounce": False,
        "answers": '{{ request.get("answers") }}',
    }
    branch = ask["action"][0]
    assert branch["then"][-1]["data"]["topic"] == f"aftercare/{SITE}/answer"
    assert branch["else"][-1]["data"]["topic"] == f"aftercare/{SITE}/answer"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            {"id": "AftercareFeeling", "sentence": "i feel calm", "slots": {"feeling": "calm"}},
            {"answer": "AftercareFeeling", "sentence": "i feel calm", "slots": {"feeling": "calm"}},
        ),
        (
            {"id": None, "sentence": "what", "slots": {}},
            {"answer": None, "sentence": "what", "slots": {}},
        ),
        (None, {"answer": None, "sentence": None, "slots": {}, "error": True}),
    ],
    ids=["matched", "unmatched", "failed"],
)
def test_the_answer_payload_renders_to_the_json_the_skill_reads(
    automations: dict[str, dict[str, Any]], reply: dict[str, Any] | None, expected: dict[str, Any]
) -> None:
    """Rendered with plain Jinja and json.dumps standing in for Home Assistant's to_json."""
    env = jinja2.Environment(autoescape=False)
    env.filters["to_json"] = json.dumps
    template = automations["ask"]["action"][0]["then"][-1]["data"]["payload"]
    variables: dict[str, Any] = {"request": {"id": "a1"}}
    if reply is not None:
        variables["reply"] = reply
    assert json.loads(env.from_string(template).render(variables)) == {"id": "a1", **expected}


def test_the_default_entity_is_the_fallback_target(templates: Templates) -> None:
    with_default = yaml.safe_load(package(templates, site_id=SITE, entity_id=ENTITY))
    without = yaml.safe_load(package(templates, site_id=SITE, entity_id=None))
    for automation in with_default["automation"]:
        assert automation["variables"]["target"].endswith(f'else "{ENTITY}" }}}}')
    for automation in without["automation"]:
        assert automation["variables"]["target"].endswith('else "" }}')
    assert ENTITY not in package(templates, site_id=SITE, entity_id=None)


def test_the_intent_scripts_are_those_of_the_sentences_export(
    templates: Templates, text: str
) -> None:
    expected = yaml.safe_load(to_intent_script(templates, site_id=SITE))["intent_script"]
    assert yaml.safe_load(text)["intent_script"] == expected
    assert (
        '"siteId": "bedroom"'
        in yaml.safe_load(text)["intent_script"]["AftercareStop"]["action"][0]["data"]["payload"]
    )


def test_the_topic_prefix_and_an_unusual_site_id_reach_every_topic(templates: Templates) -> None:
    text = package(
        templates, site_id="bed.room", entity_id="media_player.x", topic_prefix="home/aftercare"
    )
    loaded = yaml.safe_load(text)["automation"]
    topics = sorted(item["trigger"][0]["topic"] for item in loaded)
    assert topics == [f"home/aftercare/bed.room/{n}" for n in ("ask", "play", "speak", "stop")]
    published = {
        step["data"]["topic"]
        for item in loaded
        for step in _steps(item["action"])
        if step.get("service") == "mqtt.publish"
    }
    assert published == {"home/aftercare/bed.room/finished", "home/aftercare/bed.room/answer"}
    assert {item["id"] for item in loaded} == {
        f"aftercare_bed_room_6f4341be_{n}" for n in ("speak", "play", "stop", "ask")
    }


@pytest.mark.parametrize(
    "site_id",
    ["", "bed/room", "bed+room", "bed#room", "bed room", 'bed"room', "bed'room", "b{x}", "a\\b"],
)
def test_a_site_id_that_cannot_be_carried_is_refused(templates: Templates, site_id: str) -> None:
    with pytest.raises(ValueError, match="site id") as caught:
        package(templates, site_id=site_id, entity_id=ENTITY)
    assert "expected 1-64 characters" in str(caught.value)


def test_a_site_id_longer_than_the_skill_allows_is_refused(templates: Templates) -> None:
    package(templates, site_id="x" * 64, entity_id=ENTITY)
    with pytest.raises(ValueError, match="site id"):
        package(templates, site_id="x" * 65, entity_id=ENTITY)


@pytest.mark.parametrize(
    "entity_id",
    ["", "light.bedroom", "assist_satellite", "Assist_satellite.bedroom", "media_player.b r"],
)
def test_an_entity_that_is_no_speaker_is_refused(templates: Templates, entity_id: str) -> None:
    with pytest.raises(ValueError, match=r"assist_satellite\.bedroom or media_player\.bedroom"):
        package(templates, site_id=SITE, entity_id=entity_id)


@pytest.mark.parametrize("prefix", ["", "/aftercare", "after/+", "after/#", "a b", "a//b"])
def test_a_bad_topic_prefix_is_refused(templates: Templates, prefix: str) -> None:
    with pytest.raises(ValueError, match="topic prefix"):
        package(templates, site_id=SITE, entity_id=ENTITY, topic_prefix=prefix)
