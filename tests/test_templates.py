"""Template files: malformed ones are refused with the file and key named; files merge."""

from __future__ import annotations

from pathlib import Path

import pytest

from skill.base.errors import DataFileError
from skill.language.nlu import Recognizer
from skill.language.templates import DEFAULT_ROUTINES, load_templates
from skill.routines.model import routine_names

STOP = "AftercareStop"


VALID = """\
language: en
intents:
  AftercareStop:
    data:
      - sentences:
          - "stop"
"""


def _write(folder: Path, name: str, text: str) -> Path:
    """Write a template file under folder/en and return its path."""
    path = folder / "en" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("language: en\nintents: [unclosed\n", "", "not valid YAML"),
        ("- just\n- a list\n", "", "expected a mapping"),
        ("language: fr\nintents: {}\n", "language", "expected 'en'"),
        ("language: en\nsentences: {}\n", "sentences", "unknown key"),
        (
            VALID.replace('"stop"', '"(stop"'),
            "intents.AftercareStop.data[0].sentences[0]",
            "cannot parse",
        ),
        (
            VALID.replace('"stop"', '"Stop!"'),
            "intents.AftercareStop.data[0].sentences[0]",
            "not normalized",
        ),
        (
            VALID.replace('"stop"', '"<nope> stop"'),
            "intents.AftercareStop.data[0].sentences[0]",
            "unknown rule <nope>",
        ),
        (
            VALID.replace('"stop"', '"stop {nope}"'),
            "intents.AftercareStop.data[0].sentences[0]",
            "unknown list {nope}",
        ),
        (
            VALID.replace('"stop"', '"um stop"') + "skip_words: [um]\n",
            "intents.AftercareStop.data[0].sentences[0]",
            "skip_words",
        ),
        (
            VALID + "skip_words: [Um]\n",
            "skip_words[0]",
            "not normalized",
        ),
        (
            VALID.replace('"stop"', "42"),
            "intents.AftercareStop.data[0].sentences",
            "expected a non-empty list",
        ),
        ("language: en\nintents:\n  AftercareStop: {}\n", "intents.AftercareStop", "'data'"),
        (
            VALID + "lists:\n  playlist:\n    values: [x]\n",
            "lists.playlist",
            "reserved",
        ),
        (
            VALID + "expansion_rules:\n  safeword: red\n",
            "expansion_rules.safeword",
            "reserved",
        ),
        (
            VALID + "expansion_rules:\n  caution_word: yellow\n",
            "expansion_rules.caution_word",
            "configured caution words",
        ),
        (
            VALID + "lists:\n  routines:\n    values: [short]\n",
            "lists.routines",
            "reserved",
        ),
        (
            VALID + "lists:\n  size:\n    range: {from: 9, to: 1}\n",
            "lists.size.range",
            "from <= to",
        ),
        (
            VALID + "lists:\n  size:\n    values: [{in: big}]\n",
            "lists.size.values[0]",
            "expected a string or",
        ),
        (
            VALID + "expansion_rules:\n  a: <b>\n  b: (x|<a>)\n",
            "expansion_rules.a",
            "refers to itself",
        ),
    ],
)
def test_malformed_templates_name_the_file_and_key(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    path = _write(tmp_path, "broken.yaml", text)
    with pytest.raises(DataFileError) as caught:
        load_templates(tmp_path)
    assert caught.value.path == str(path)
    assert caught.value.key == key
    assert problem in caught.value.problem
    assert str(path) in str(caught.value)


def test_duplicate_rule_names_the_second_file(tmp_path: Path) -> None:
    first = _write(tmp_path, "a.yaml", VALID + "expansion_rules:\n  x: stop\n")
    second = _write(tmp_path, "b.yaml", "language: en\nexpansion_rules:\n  x: halt\n")
    with pytest.raises(DataFileError, match="already defined") as caught:
        load_templates(tmp_path)
    assert caught.value.path == str(second)
    assert str(first) in caught.value.problem


def test_missing_language_folder(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match=r"no \*\.yaml template files"):
        load_templates(tmp_path, language="de")


def test_intents_merge_across_files(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", VALID)
    _write(tmp_path, "b.yaml", VALID.replace('"stop"', '"halt"'))
    recognizer = Recognizer.load(tmp_path)
    for utterance in ("stop", "halt"):
        result = recognizer.recognize(utterance)
        assert result is not None
        assert result.intent.intent_name == STOP


def test_config_words_fill_the_reserved_names(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "a.yaml",
        """\
language: en
intents:
  AftercareStart:
    data:
      - sentences:
          - "start {routines:routine}"
          - "start the {routine_alias:routine} one"
  AftercareCaution:
    data:
      - sentences:
          - "<caution_word> [please]"
lists:
  routine_alias:
    values:
      - {in: "quick", out: "short"}
      - {in: "morning", out: "short"}
""",
    )
    templates = load_templates(
        tmp_path, routines=("short", "Gentle_Morning", "morning"), caution_words=("Amber!",)
    )
    assert templates.routines == ("short", "Gentle_Morning", "morning")
    assert templates.caution_words == ("amber",)
    assert templates.document["lists"]["routines"]["values"] == [
        {"in": "short", "out": "short"},
        {"in": "gentle morning", "out": "Gentle_Morning"},
        {"in": "morning", "out": "morning"},
    ]
    # "morning" is a routine's own name now, so it is no longer another word for short
    assert templates.document["lists"]["routine_alias"]["values"] == [
        {"in": "quick", "out": "short"}
    ]
    recognizer = Recognizer(templates)
    for utterance, slots in [
        ("start gentle morning", [("routine", "Gentle_Morning")]),
        ("start the quick one", [("routine", "short")]),
        ("start morning", [("routine", "morning")]),
    ]:
        result = recognizer.recognize(utterance)
        assert result is not None, utterance
        assert [(slot.slot_name, slot.value["value"]) for slot in result.slots or ()] == slots
    assert recognizer.recognize("start the morning one") is None
    result = recognizer.recognize("amber please")
    assert result is not None
    assert result.intent.intent_name == "AftercareCaution"


def test_routine_names_that_sound_the_same_are_refused(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", VALID)
    with pytest.raises(ValueError, match="routines 'gentle_morning' and 'gentle-morning'"):
        load_templates(tmp_path, routines=("gentle_morning", "gentle-morning"))


def test_the_default_routines_are_the_shipped_ones() -> None:
    assert routine_names() == DEFAULT_ROUTINES
