"""The Rhasspy sentences.ini and Home Assistant YAML exports of the templates."""

from __future__ import annotations

import configparser
import io
import re
from pathlib import Path

import pytest
import yaml
from hassil import Intents, recognize

from skill.base.vocabulary import CONTEXT_ONLY
from skill.language.nlu import Recognizer
from skill.language.sentences import to_hassil, to_intent_script, to_rhasspy
from skill.language.templates import Templates, load_templates

INTENTS_DIR = Path(__file__).resolve().parent.parent / "intents"
PLAYLISTS = ("Rain Sounds", "Mum's Lullabies!")
SAFEWORDS = ("red", "Pineapple")
ROUTINES = ("short", "long", "quiet", "gentle_morning")

SLOTS = {
    "AftercareStart": {"routine"},
    "AftercareBreathe": {"minutes!int", "rounds!int", "pattern", "style"},
    "AftercareCooldown": {"playlist"},
    "AftercareStop": set(),
    "AftercareSlower": set(),
    "AftercareFaster": set(),
    "AftercarePause": set(),
    "AftercareResume": set(),
    "AftercareMore": {"minutes!int"},
    "AftercareFeeling": {"feeling"},
    "AftercareNeed": {"need"},
    "AftercareQuiet": set(),
    "AftercareAffirm": set(),
    "AftercareNotNow": set(),
    # name and other_name only appear once names are configured (the {names} list).
    "AftercarePrefer": {"routine", "pattern", "style", "quiet", "playlist"},
    "AftercareRecall": set(),
    "AftercareForget": set(),
    "AftercareFollowUp": {"when"},
    "AftercareCancelFollowUp": set(),
    "AftercareHelp": set(),
    "AftercareSkip": set(),
    "AftercareMusicOff": set(),
    "AftercareCaution": set(),
    "AftercarePlan": set(),
    "AftercarePlanRecall": set(),
    # An answer only (CONTEXT_ONLY): in the Rhasspy export, not in Home Assistant's.
    "AftercarePlanAnswer": {"choice", "other_choice", "playlist", "pattern"},
}


@pytest.fixture(scope="module")
def templates() -> Templates:
    """The shipped English templates with two playlists, two safewords and a routine added."""
    return load_templates(INTENTS_DIR, playlists=PLAYLISTS, safewords=SAFEWORDS, routines=ROUTINES)


@pytest.fixture(scope="module")
def ini(templates: Templates) -> str:
    """The Rhasspy export of the shipped templates."""
    return to_rhasspy(templates)


def _sections(text: str) -> configparser.ConfigParser:
    """Read sentences.ini with the same ini settings as rhasspynlu.parse_ini."""
    parser = configparser.ConfigParser(allow_no_value=True, strict=False, delimiters=["="])
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    return parser


def _body_lines(text: str) -> list[str]:
    """Every rule and sentence line (no comments, blanks or section headers)."""
    return [
        line
        for line in text.splitlines()
        if line and not line.startswith("#") and not re.fullmatch(r"\[\w+\]", line)
    ]


def test_every_intent_has_a_section_with_its_slots(ini: str) -> None:
    parser = _sections(ini)
    assert set(parser.sections()) == set(SLOTS)
    for intent, slots in SLOTS.items():
        text = "\n".join(f"{key} {value or ''}" for key, value in parser[intent].items())
        tags = set(re.findall(r"\)\{([\w!]+)\}", text))
        assert tags == slots, intent
        sentences = [key for key, value in parser[intent].items() if value is None]
        assert sentences, intent


def test_rules_are_defined_in_every_section_that_uses_them(ini: str) -> None:
    parser = _sections(ini)
    for intent in parser.sections():
        defined = {key for key, value in parser[intent].items() if value is not None}
        text = "\n".join(f"{key} {value or ''}" for key, value in parser[intent].items())
        assert set(re.findall(r"<(\w+)>", text)) <= defined, intent


def test_multi_word_values_are_grouped_before_the_colon(ini: str) -> None:
    assert "(four seven eight):478" in ini
    assert "(cyclic sighing):sigh" in ini
    assert "(without talking):quiet" in ini
    assert "resonance:coherent" in ini
    assert "(twenty five):25" in ini
    assert "ninety:90" in ini
    assert "(half an hour):30" in ini
    assert "(rain sounds):(Rain Sounds)" in ini
    # Rhasspy cannot output "!" in a value; the skill gets "Mum's Lullabies".
    assert "(mum's lullabies):(Mum's Lullabies)" in ini
    assert "safeword = (red | pineapple)" in ini
    assert "caution_word = yellow" in ini
    assert "(gentle morning):gentle_morning" in ini
    assert "# Routines: short, long, quiet, gentle_morning" in ini
    assert "# Safewords: red, pineapple" in ini
    assert "# Caution words: yellow" in ini


def test_no_hassil_only_syntax_is_left(ini: str) -> None:
    for line in _body_lines(ini):
        assert not line.startswith("["), line
        assert ";" not in line, line
        # Every {tag} follows a (group): no bare hassil {list} references.
        assert line.count("{") == line.count("){"), line
        # Words written with digits are left to Rhasspy's number handling.
        words = re.sub(r":\([^)]*\)|:\w+|\{[^}]*\}", " ", line)
        assert not re.search(r"\d", words), line
        assert line.count("(") == line.count(")"), line
        assert line.replace("\\[", "[").count("[") == line.count("]"), line


def test_sentences_starting_with_an_optional_are_escaped(tmp_path: Path) -> None:
    _write(tmp_path, "[please] stop", "(halt;now)")
    text = to_rhasspy(load_templates(tmp_path))
    assert "\\[please] stop" in text.splitlines()
    assert "(halt now | now halt)" in text.splitlines()
    parser = _sections(text)
    assert "\\[please] stop" in parser["AftercareStop"]


def test_an_intent_without_caution_words_is_left_out() -> None:
    text = to_rhasspy(load_templates(INTENTS_DIR, caution_words=()))
    assert "[AftercareCaution]" not in text
    assert "# Caution words: (none)" in text
    assert "[AftercareStop]" in text
    custom = to_rhasspy(load_templates(INTENTS_DIR, caution_words=("Amber", "orange")))
    assert "caution_word = (amber | orange)" in custom


def test_templates_that_cannot_match_are_left_out(tmp_path: Path) -> None:
    _write(tmp_path, "stop", "play {playlist}", "<safeword> please", "{size} breathing")
    text = to_rhasspy(load_templates(tmp_path, playlists=(), safewords=()))
    lines = _body_lines(text)
    assert "stop" in lines
    assert "(<list_size>){size} breathing" in lines
    assert "list_size = ((four seven eight):478 | big)" in lines
    assert not any("playlist" in line or "safeword" in line for line in lines)

    with_config = to_rhasspy(load_templates(tmp_path, playlists=("A b",), safewords=("red",)))
    assert "play (<list_playlist>){playlist}" in with_config
    assert "<safeword> please" in with_config


def test_export_is_deterministic(templates: Templates, ini: str) -> None:
    assert to_rhasspy(templates) == ini
    recognizer = Recognizer(templates)
    assert to_rhasspy(recognizer) == ini
    assert to_hassil(recognizer) == to_hassil(templates)


def test_hassil_export_loads_back_and_recognizes(templates: Templates) -> None:
    text = to_hassil(templates)
    document = yaml.safe_load(text)
    assert document["lists"]["playlist"]["values"] == [
        {"in": "rain sounds", "out": "Rain Sounds"},
        {"in": "mum's lullabies", "out": "Mum's Lullabies!"},
    ]
    intents = Intents.from_yaml(io.StringIO(text))
    samples = {
        "Play the Rain Sounds playlist.": ("AftercareCooldown", {"playlist": "Rain Sounds"}),
        "Red!": ("AftercareStop", {}),
        "pineapple": ("AftercareStop", {}),
        "Let's do box breathing for 5 minutes, please": (
            "AftercareBreathe",
            {"pattern": "box", "minutes": 5},
        ),
        "two more minutes": ("AftercareMore", {"minutes": 2}),
        "a long aftercare": ("AftercareStart", {"routine": "long"}),
        "start the gentle morning aftercare": ("AftercareStart", {"routine": "gentle_morning"}),
        "slow it down": ("AftercareSlower", {}),
        "yellow": ("AftercareCaution", {}),
        "I said yellow": ("AftercareCaution", {}),
    }
    for utterance, (intent, slots) in samples.items():
        result = recognize(utterance, intents)
        assert result is not None, utterance
        assert result.intent.name == intent
        assert {name: entity.value for name, entity in result.entities.items()} == slots
    for unrelated in ("stop the alarm", "red wine or white wine", "the yellow one", "good morning"):
        assert recognize(unrelated, intents) is None, unrelated


def test_check_in_values_are_exported(ini: str) -> None:
    assert "(not okay):not_okay" in ini
    assert "nervous:anxious" in ini
    assert "(ice pack):cold_pack" in ini
    assert "(to be held):cuddle" in ini
    assert "(tomorrow morning):morning" in ini
    assert "(this evening):tonight" in ini
    assert "(it when you talk):off" in ini
    assert "([both] [the] <chime_noun> and [the | your] <voice_noun> [together]):both" in ini
    assert "(sub drop):drop" in ini
    assert "space:space" not in ini
    assert "(some space):space" in ini
    # A list value written as a template keeps its rules and alternatives inside the group.
    assert "(move <feel_their> <feel_body>):hurt" in ini
    # No names configured: the naming templates are left out.
    assert "{name}" not in ini
    assert "{other_name}" not in ini


def test_configured_names_are_exported() -> None:
    named = to_rhasspy(load_templates(INTENTS_DIR, names=("Sam", "Jo-Anne")))
    assert "){name}" in named
    assert "){other_name}" in named
    assert "(jo anne):Jo-Anne" in named


def test_hassil_export_recognizes_the_check_in_intents(templates: Templates) -> None:
    intents = Intents.from_yaml(io.StringIO(to_hassil(templates)))
    samples = {
        "I'm not okay.": ("AftercareFeeling", {"feeling": "not_okay"}),
        "something hurts": ("AftercareFeeling", {"feeling": "sore"}),
        "could we get a blanket": ("AftercareNeed", {"need": "blanket"}),
        "an ice pack please": ("AftercareNeed", {"need": "cold_pack"}),
        "you can stop talking": ("AftercareQuiet", {}),
        "say something kind": ("AftercareAffirm", {}),
        "maybe later": ("AftercareNotNow", {}),
        "we prefer the long aftercare": ("AftercarePrefer", {"routine": "long"}),
        "our playlist is rain sounds": ("AftercarePrefer", {"playlist": "Rain Sounds"}),
        "we like it when you talk": ("AftercarePrefer", {"quiet": "off"}),
        "what do you remember about us": ("AftercareRecall", {}),
        "forget our settings": ("AftercareForget", {}),
        "check on us this evening": ("AftercareFollowUp", {"when": "tonight"}),
        "cancel the check-in": ("AftercareCancelFollowUp", {}),
        # issue #12: hard moments
        "my bum is a bit sore": ("AftercareFeeling", {"feeling": "sore"}),
        "it really hurts": ("AftercareFeeling", {"feeling": "hurt"}),
        "they don't feel safe": ("AftercareFeeling", {"feeling": "unsafe"}),
        "she feels numb": ("AftercareFeeling", {"feeling": "numb"}),
        "i can't stop crying": ("AftercareFeeling", {"feeling": "tearful"}),
        "i feel guilty": ("AftercareFeeling", {"feeling": "ashamed"}),
        "i think i'm in a drop": ("AftercareFeeling", {"feeling": "drop"}),
        "please don't touch me": ("AftercareNeed", {"need": "space"}),
        "call an ambulance": ("AftercareHelp", {}),
        "no thanks": ("AftercareSkip", {}),
        "let's move on": ("AftercareSkip", {}),
        "turn the music off": ("AftercareMusicOff", {}),
    }
    for utterance, (intent, slots) in samples.items():
        result = recognize(utterance, intents)
        assert result is not None, utterance
        assert result.intent.name == intent, utterance
        assert {name: entity.value for name, entity in result.entities.items()} == slots


def test_answers_only_go_to_rhasspy_not_to_home_assistant(templates: Templates, ini: str) -> None:
    """AftercarePlanAnswer is for Rhasspy's listening sessions, which name it in their intent
    filter; Home Assistant's Assist has none, so answers reach the skill there as raw text,
    read by its own recognizer: neither the custom sentences nor the intent_script have it."""
    assert {"AftercarePlanAnswer"} == CONTEXT_ONLY
    assert "AftercarePlanAnswer" in _sections(ini).sections()
    assert "(dim the lights):dim" in ini
    assert "){other_choice}" in ini
    document = yaml.safe_load(to_hassil(templates))
    assert not set(document["intents"]) & CONTEXT_ONLY
    assert {"AftercarePlan", "AftercarePlanRecall"} <= set(document["intents"])
    scripts = yaml.safe_load(to_intent_script(templates))["intent_script"]
    assert not set(scripts) & CONTEXT_ONLY
    assert {"AftercarePlan", "AftercarePlanRecall"} <= set(scripts)
    intents = Intents.from_yaml(io.StringIO(to_hassil(templates)))
    for answer in ("dim the lights", "mostly quiet", "no breathing and no music"):
        assert recognize(answer, intents) is None, answer
    for request, intent in (
        ("let's plan our aftercare", "AftercarePlan"),
        ("what's our plan for afterwards", "AftercarePlanRecall"),
    ):
        result = recognize(request, intents)
        assert result is not None, request
        assert result.intent.name == intent


def _write(folder: Path, *sentences: str) -> None:
    """A one-file template folder for AftercareStop with a small list."""
    path = folder / "en" / "stop.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "language": "en",
        "intents": {"AftercareStop": {"data": [{"sentences": list(sentences)}]}},
        "lists": {
            "size": {
                "values": [
                    {"in": "4 7 8", "out": "478"},
                    {"in": "four seven eight", "out": "478"},
                    "big",
                ]
            }
        },
    }
    path.write_text(yaml.safe_dump(document), encoding="utf-8")


def test_intent_script_payloads_are_nlu_intents_the_skill_accepts(templates: Templates) -> None:
    """Render each payload template as Home Assistant would (Jinja, `to_json`) and parse it."""
    import json

    import jinja2

    from skill.hermes.messages import parse_intent, slot

    env = jinja2.Environment(autoescape=False)
    env.filters["to_json"] = json.dumps
    scripts = yaml.safe_load(to_intent_script(templates, site_id="bedroom"))["intent_script"]
    assert set(scripts) == set(SLOTS) - CONTEXT_ONLY
    breathe = scripts["AftercareBreathe"]["action"][0]["data"]
    assert breathe["topic"] == "hermes/intent/AftercareBreathe"
    rendered = env.from_string(breathe["payload"]).render(minutes=5, pattern="box")
    intent = parse_intent(breathe["topic"], rendered.encode())
    assert intent.site_id == "bedroom"
    assert slot(intent, "minutes") == 5
    assert slot(intent, "pattern") == "box"
    assert slot(intent, "rounds") is None
    for name, script in scripts.items():
        data = script["action"][0]["data"]
        bare = parse_intent(data["topic"], env.from_string(data["payload"]).render().encode())
        assert bare.intent.intent_name == name
        assert bare.slots == []


def test_rhasspy_sentences_may_start_with_a_hesitation(templates: Templates) -> None:
    """The built-in recognizer drops "um" and "uh" before matching; Rhasspy keeps every word,
    so each exported sentence allows one in front."""
    sentences = [
        line
        for line in to_rhasspy(templates).splitlines()
        if line and not line.startswith(("#", "[")) and " = " not in line
    ]
    assert sentences
    assert all(line.startswith("\\[(um | ") for line in sentences)
