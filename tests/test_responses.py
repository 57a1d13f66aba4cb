"""The response loader, the key helpers, and a lint over every shipped responses/*.yaml."""

from __future__ import annotations

import itertools
import random
import re
from pathlib import Path

import pytest

from skill.base.errors import AftercareError, DataFileError
from skill.care import replies as care
from skill.language import keys
from skill.language.responses import (
    MissingResponseError,
    ResponseBook,
    ResponseValuesError,
    response_path,
)
from skill.routines.model import load_routines

ROOT = Path(__file__).resolve().parent.parent
RESPONSES_DIR = ROOT / "responses"
RESPONSE_FILES = sorted(RESPONSES_DIR.glob("*.yaml"))

ALLOWED_PLACEHOLDERS = frozenset(
    {
        "minutes",
        "rounds",
        "name",
        "names",
        "playlist",
        "routine",
        "pattern",
        "style",
        "where",
        "time",
        "playlists",
        "plan",
        "items",
    }
)
MAX_SENTENCE_WORDS = 14
MAX_CUE_WORDS = 3
MAX_STOP_WORDS = 4
MAX_VARIANTS = 5
MAX_HARD_SENTENCES = 2
MAX_HARD_WORDS = 20

# Keys allowed more variants than MAX_VARIANTS: (fewest, most).
VARIANT_RANGES: dict[str, tuple[int, int]] = {
    keys.AFFIRM: (6, 10),
    keys.JOURNAL_PROMPT: (6, 8),
    # Hard moments: one fixed line, the same every time (predictable when it matters most).
    keys.FEELING_HURT: (1, 1),
    keys.FEELING_UNSAFE: (1, 1),
    keys.HELP_CALL: (1, 1),
    # Few, carefully weighed words.
    keys.feeling("sore"): (2, 3),
    keys.FEELING_NUMB: (2, 3),
    keys.feeling("tearful"): (2, 3),
    keys.feeling("ashamed"): (2, 3),
    keys.feeling("drop"): (2, 3),
    keys.need("space"): (2, 3),
    keys.SKIP_NOTHING: (2, 3),
    keys.CAUTION_WAITING: (2, 3),
    # A plan read back: its phrases are joined into one sentence, so each reads one way.
    **{keys.plan_part(part): (1, 1) for part in keys.PLAN_PARTS},
    **{keys.plan_item(item): (1, 1) for item in keys.PLAN_ITEMS},
}

# Hard moments: every line at most two short sentences and MAX_HARD_WORDS words, filled in.
HARD_KEYS = frozenset(
    {
        keys.feeling("sad"),
        keys.feeling("anxious"),
        keys.feeling("not_okay"),
        keys.FEELING_HURT,
        keys.feeling("sore"),
        keys.FEELING_UNSAFE,
        keys.FEELING_NUMB,
        keys.feeling("tearful"),
        keys.feeling("ashamed"),
        keys.feeling("drop"),
        keys.need("space"),
        keys.HELP_CALL,
        keys.CAUTION_ASK,
        keys.CAUTION_WAITING,
        keys.CHECKIN_UNCLEAR,
    }
)

# The only keys that may presume two people: the `together` pattern, asked for by name.
TWO_PERSON_KEYS = frozenset({keys.breathing_intro("together"), keys.BREATHING_TOGETHER_FADE})

# Keys that must stay very short: at most this many words in every variant.
SHORT_KEYS: dict[str, int] = {
    keys.NOTNOW_ACK: 2,
    keys.ROUTINE_QUIET_OPENING: 8,
    keys.ROUTINE_QUIET_CLOSE: 8,
}

# Questions: each variant asks (check-ins are answered aloud).
QUESTION_KEYS = (
    keys.CHECKIN_KEYS
    | {keys.JOURNAL_PROMPT}
    | {keys.plan_ask(question) for question in keys.PLAN_QUESTIONS}
)

# Reassurance ("not now is fine too") belongs after a check-in's question, never before it.
REASSURANCE = re.compile(
    r"\b(?:fine|okay|ok|alright|no need|no pressure|not now|any answer|too|no rush|whatever)\b",
    re.IGNORECASE,
)

# Replies: nothing listens after them, so they never ask anything.
REPLY_KEYS = (
    keys.FEELING_KEYS
    | keys.NEED_KEYS
    | {
        keys.QUIET_ACK,
        keys.NOTNOW_ACK,
        keys.AFFIRM,
        keys.ROUTINE_SLOW_DOWN,
        keys.PREFER_SAVED,
        keys.PREFER_NAME_SAVED,
        keys.RECALL_NONE,
        keys.RECALL_INTRO,
        keys.RECALL_ROUTINE,
        keys.RECALL_PATTERN,
        keys.RECALL_STYLE,
        keys.RECALL_QUIET,
        keys.RECALL_PLAYLIST,
        keys.RECALL_NAMES,
        keys.RECALL_OUTRO,
        keys.FORGET_DONE,
        keys.FOLLOWUP_MORNING,
        keys.FOLLOWUP_TONIGHT,
        keys.FOLLOWUP_CANCELLED,
        keys.FOLLOWUP_NONE,
        keys.SKIP_NOTHING,
        keys.MUSIC_OFF,
        keys.CHECKIN_UNCLEAR,
        keys.HELP_CALL,
        keys.CAUTION_WAITING,
        keys.CAUTION_RESUMED,
        keys.PLAN_NOTED,
        keys.PLAN_SKIPPED,
        keys.PLAN_UNCLEAR,
        keys.PLAN_REST_LATER,
        keys.PLAN_READBACK,
        keys.PLAN_BOTH,
        keys.PLAN_READY,
        keys.PLAN_EMPTY,
        keys.PLAN_NONE,
        keys.ROUTINE_LATER_MORNING,
        keys.ROUTINE_LATER_TONIGHT,
    }
)

# Values for every placeholder, the longest the code can pass where it matters.
FILL: dict[str, object] = {
    "minutes": 5,
    "rounds": 4,
    "name": "Sam",
    "names": "Sam and Alex",
    "playlist": "Evening",
    "routine": "short",
    "pattern": "calm",
    "style": "fewer words",
    "where": "your local emergency number",
    "time": "about twenty-five to twelve in the morning",
    "playlists": "Cool down, Rain sounds or Evening",
    "plan": "a few soft words, no music, box breathing and a morning check-in",
    "items": "some water, a blanket and some tissues",
}

# The phrase the voice tells people to say to erase what it remembers.
FORGET_PHRASE = "forget our settings"

# Each entry: (why it is banned, regex). Matched case-insensitively on word boundaries,
# after curly apostrophes are made straight.
BANNED: tuple[tuple[str, str], ...] = (
    (
        "gendered word",
        r"\b(?:he|she|his|her|hers|him|himself|herself|boyfriend|girlfriend|husband|wife"
        r"|man|woman|men|women|boy|girl)\b",
    ),
    ("assumes how many people", r"\b(?:both|you two|two of you|your partners?)\b"),
    (
        "assumes the relationship",
        r"\b(?:couples?|lovers?|spouses?|married|sweetheart|darling|honey|babe|baby)\b",
    ),
    (
        "assumes bodies",
        r"\b(?:breasts?|nipples?|penis\w*|vagina\w*|vulva\w*|genital\w*|testic\w*|clit\w*)\b",
    ),
    (
        "assumes what happened",
        r"\b(?:sex\w*|orgasm\w*|made love|intercourse|climax\w*|penetrat\w*|foreplay)\b",
    ),
    (
        "medical claim",
        r"\b(?:heal\w*|cur(?:e|es|ed|ing)|treat\w*|therap\w*|diagnos\w*|medic\w*|remed\w*"
        r"|symptom\w*|swell\w*|inflam\w*|prevent\w*|pain relief)\b",
    ),
    (
        "clinical label",
        r"\b(?:dysphori\w*|depress\w*|trauma\w*|disorder\w*|panic attacks?|ptsd)\b",
    ),
    (
        "reassurance it cannot know",
        r"\b(?:you're safe|you are safe|you're fine|you are fine|everything's fine"
        r"|everything is fine|nothing's wrong|nothing is wrong|(?:it's|that's|perfectly"
        r"|completely) normal)\b",
    ),
    (
        "probing question",
        r"\b(?:why|what happened|what's wrong|what is wrong|what went wrong"
        r"|tell me (?:more|about))\b",
    ),
    (
        "promises to fetch (the speaker cannot)",
        r"\b(?:i'll|i will|let me) (?:get|bring|fetch|grab|hand|pass|pour|make) "
        r"(?:you|it|that|this|one|some)\b|\bhere(?:'s| is) your\b",
    ),
    (
        "pressure",
        r"\b(?:you must|must|you should|should|you need to|have to|has to|got to|make sure)\b",
    ),
    (
        "plays a feeling down",
        r"\b(?:nothing needs fixing|nothing to (?:fix|solve)|lots of people|many people"
        r"|(?:it|this) happens to everyone|no big deal|don't worry|just a feeling|cheer up"
        r"|look on the bright side|at least)\b",
    ),
    (
        "evaluative question",
        r"\b(?:wasn't (?:that|it)|didn't you|did (?:you|it|that) (?:enjoy|like|feel good|go well)"
        r"|how was (?:it|that)|how did (?:it|that|i|we) (?:go|do)"
        r"|was (?:it|that) (?:good|okay|ok|nice|great|fun)|on a scale)\b",
    ),
)

_PLACEHOLDER_RE = re.compile(r"(?<!\{)\{([^{}]*)\}(?!\})")
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+")


def write(tmp_path: Path, text: str) -> Path:
    """Write a responses file under tmp_path and return its path."""
    path = tmp_path / "xx.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def book_of(tmp_path: Path, text: str, seed: int = 7) -> ResponseBook:
    """Load inline YAML as a ResponseBook with a seeded rng."""
    return ResponseBook.load(write(tmp_path, text), rng=random.Random(seed))


def banned_hits(text: str) -> list[str]:
    """The reasons a line breaks the banned-phrasing list, with the words that matched."""
    hits = []
    text = text.replace("\u2019", "'")
    for reason, pattern in BANNED:
        for match in re.finditer(pattern, text, flags=re.IGNORECASE):
            hits.append(f"{reason}: {match.group(0)!r}")
    return hits


def sentences(text: str) -> list[str]:
    """A line split into sentences at . ! or ? followed by a space."""
    return [part for part in _SENTENCE_END_RE.split(text.strip()) if part]


def word_count(text: str) -> int:
    """Spoken words in a text; a placeholder counts as one word, lone punctuation as none."""
    return sum(1 for token in text.split() if re.search(r"[\w{]", token))


# --- Loader ------------------------------------------------------------------


def test_load_reads_keys_and_variants(tmp_path: Path) -> None:
    book = book_of(tmp_path, "a.b:\n  - One.\n  - Two.\nc:\n  - Three.\n")
    assert book.keys() == frozenset({"a.b", "c"})
    assert book.variants("a.b") == ("One.", "Two.")
    assert book.path == str(tmp_path / "xx.yaml")


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        pytest.param("- a\n- b\n", "", "expected a mapping", id="top-level-list"),
        pytest.param("just text\n", "", "expected a mapping", id="top-level-string"),
        pytest.param("", "", "empty", id="empty-file"),
        pytest.param("# only a comment\n", "", "empty", id="comment-only"),
        pytest.param("a.b:\n", "a.b", "no variants", id="null-value"),
        pytest.param("a.b: []\n", "a.b", "no variants", id="empty-list"),
        pytest.param("a.b: Hello.\n", "a.b", "expected a list", id="bare-string"),
        pytest.param("a.b: {x: y}\n", "a.b", "expected a list", id="mapping-value"),
        pytest.param("a.b:\n  - ''\n", "a.b", "variant 1 is empty", id="empty-variant"),
        pytest.param("a.b:\n  - Hi.\n  - '   '\n", "a.b", "variant 2 is empty", id="blank"),
        pytest.param("a.b:\n  - 3\n", "a.b", "variant 1 is a number", id="int-variant"),
        pytest.param("a.b:\n  - yes\n", "a.b", "true/false", id="bool-variant"),
        pytest.param("a.b:\n  -\n", "a.b", "null", id="null-variant"),
        pytest.param("a.b:\n  - [x]\n", "a.b", "a list", id="list-variant"),
        pytest.param("a.b:\n  - Hi {0}.\n", "a.b", "placeholder syntax {0}", id="positional"),
        pytest.param("a.b:\n  - Hi {}.\n", "a.b", "placeholder syntax {}", id="empty-braces"),
        pytest.param("a.b:\n  - Hi {x!r}.\n", "a.b", "syntax {x!r}", id="conversion"),
        pytest.param("a.b:\n  - Hi {x:>3}.\n", "a.b", "syntax {x:>3}", id="format-spec"),
        pytest.param("a.b:\n  - Hi {x.y}.\n", "a.b", "syntax {x.y}", id="attribute"),
        pytest.param("a.b:\n  - Hi {x[0]}.\n", "a.b", "syntax {x[0]}", id="index"),
        pytest.param("a.b:\n  - Hi {x\n", "a.b", "only plain placeholders", id="unclosed"),
        pytest.param("a.b:\n  - Hi x}\n", "a.b", "only plain placeholders", id="stray-close"),
        pytest.param(
            "a.b:\n  - '{minutes} more.'\n  - '{rounds} more.'\n",
            "a.b",
            "same placeholders",
            id="mixed-placeholders",
        ),
        pytest.param("a.b:\n  - Hi.\n  - Hi.\n", "a.b", "repeats variant 1", id="dup-variant"),
        pytest.param("a.b:\n  - Hi.\na.b:\n  - Yo.\n", "a.b", "line 3", id="dup-key"),
        pytest.param("Routine.Water:\n  - Hi.\n", "Routine.Water", "lowercase", id="bad-key"),
        pytest.param("1:\n  - Hi.\n", "1", "must be a string", id="number-key"),
        pytest.param("a.b: [unclosed\n", "", "not valid YAML", id="bad-yaml"),
    ],
)
def test_load_errors_name_file_and_key(tmp_path: Path, text: str, key: str, fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(DataFileError) as caught:
        ResponseBook.load(path)
    err = caught.value
    assert err.path == str(path)
    assert err.key == key
    message = str(err)
    assert str(path) in message
    assert key in message
    assert fragment in message


def test_load_missing_file_names_it(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(DataFileError, match=r"nope\.yaml: file not found"):
        ResponseBook.load(path)


def test_from_data_builds_a_book_without_a_file() -> None:
    book = ResponseBook.from_data({"a.b": ["One.", "Two."]}, rng=random.Random(1))
    assert book.pick("a.b") in {"One.", "Two."}
    with pytest.raises(DataFileError, match=r"<memory>: a\.b: variant 1 is empty"):
        ResponseBook.from_data({"a.b": [" "]})


# --- pick ----------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_pick_never_repeats_back_to_back_and_covers_every_variant(
    tmp_path: Path, seed: int
) -> None:
    book = book_of(tmp_path, "k:\n  - A.\n  - B.\n  - C.\n  - D.\n", seed=seed)
    picks = [book.pick("k") for _ in range(2000)]
    assert all(first != second for first, second in itertools.pairwise(picks))
    assert set(picks) == {"A.", "B.", "C.", "D."}


def test_pick_no_repeat_holds_per_key_even_when_keys_interleave(tmp_path: Path) -> None:
    book = book_of(tmp_path, "a:\n  - A1.\n  - A2.\nb:\n  - B1.\n  - B2.\n  - B3.\n")
    last: dict[str, str] = {}
    for step in range(1000):
        key = "a" if step % 3 else "b"
        text = book.pick(key)
        assert text != last.get(key)
        last[key] = text


def test_pick_with_two_variants_alternates(tmp_path: Path) -> None:
    book = book_of(tmp_path, "k:\n  - Yes.\n  - No.\n")
    first = book.pick("k")
    picks = [first] + [book.pick("k") for _ in range(9)]
    assert picks[::2] == [first] * 5
    assert len(set(picks)) == 2


def test_pick_single_variant_is_always_the_same(tmp_path: Path) -> None:
    book = book_of(tmp_path, "cue.inhale:\n  - Breathe in.\n")
    assert {book.pick("cue.inhale") for _ in range(20)} == {"Breathe in."}


def test_pick_formats_placeholders(tmp_path: Path) -> None:
    book = book_of(tmp_path, "m:\n  - '{minutes} more minutes.'\n  - 'Adding {minutes} more.'\n")
    texts = {book.pick("m", minutes=5) for _ in range(10)}
    # Whole numbers are spoken as words: Piper never reads a digit.
    assert texts == {"five more minutes.", "Adding five more."}
    assert book.pick("m", minutes="two") in {"two more minutes.", "Adding two more."}


def test_pick_ignores_unused_values_and_unescapes_braces(tmp_path: Path) -> None:
    book = book_of(tmp_path, "k:\n  - 'Curly {{here}}.'\n")
    assert book.pick("k", minutes=3) == "Curly {here}."


def test_pick_without_a_needed_value_raises(tmp_path: Path) -> None:
    book = book_of(tmp_path, "m:\n  - '{minutes} more.'\n")
    with pytest.raises(ResponseValuesError, match=r"m: pick needs values for: minutes; got: none"):
        book.pick("m")
    assert ResponseValuesError.code == "response_values"


def test_missing_key_raises_and_never_returns_the_key(tmp_path: Path) -> None:
    book = book_of(tmp_path, "a:\n  - Hi.\n")
    with pytest.raises(MissingResponseError) as caught:
        book.pick("routine.water")
    err = caught.value
    assert isinstance(err, AftercareError)
    assert err.code == "missing_response"
    assert err.key == "routine.water"
    assert "xx.yaml" in str(err)
    assert "routine.water" in str(err)
    with pytest.raises(MissingResponseError):
        book.variants("routine.water")


def test_missing_lists_absent_required_keys(tmp_path: Path) -> None:
    book = book_of(tmp_path, "a:\n  - Hi.\nb:\n  - Yo.\n")
    assert book.missing(["a", "z", "c", "z"]) == ["c", "z"]
    assert book.missing(["a", "b"]) == []


def test_all_texts_skips_placeholders_and_duplicates(tmp_path: Path) -> None:
    text = "a:\n  - One.\n  - Two.\nb:\n  - '{rounds} rounds.'\nc:\n  - One.\n  - 'A {{b}}.'\n"
    book = book_of(tmp_path, text)
    assert book.all_texts() == ("One.", "Two.", "A {b}.")


# --- response_path -------------------------------------------------------------


def test_response_path_finds_the_language_file(tmp_path: Path) -> None:
    (tmp_path / "en.yaml").write_text("a:\n  - Hi.\n", encoding="utf-8")
    assert response_path(tmp_path, "en") == tmp_path / "en.yaml"


def test_response_path_missing_language_names_file_and_choices(tmp_path: Path) -> None:
    (tmp_path / "en.yaml").write_text("a:\n  - Hi.\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"de\.yaml: language: .*'de'.*available: en"):
        response_path(tmp_path, "de")


@pytest.mark.parametrize("language", ["../en", "en/x", "", "e"])
def test_response_path_rejects_non_language_codes(tmp_path: Path, language: str) -> None:
    (tmp_path / "en.yaml").write_text("a:\n  - Hi.\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="not a language code"):
        response_path(tmp_path, language)


def test_response_path_finds_the_shipped_english_file() -> None:
    assert response_path(RESPONSES_DIR, "en") == RESPONSES_DIR / "en.yaml"


# --- keys ------------------------------------------------------------------------


def test_key_helpers_build_known_keys() -> None:
    assert keys.breathing_intro("box") == "breathing.intro.box"
    assert keys.breathing_intro("478") == "breathing.intro.478"
    assert keys.cue("top-up") == keys.cue("top-up") == "cue.top_up"
    assert keys.cue("inhale") == keys.cue("inhale")
    assert keys.breathing_more(1) == keys.BREATHING_MORE_ONE
    assert keys.breathing_more(5) == keys.BREATHING_MORE
    assert keys.breathing_minutes_limit(1) == keys.BREATHING_MINUTES_LIMIT_ONE
    assert keys.breathing_minutes_limit(30) == keys.BREATHING_MINUTES_LIMIT
    for pattern in keys.BREATHING_PATTERNS:
        assert keys.breathing_intro(pattern) in keys.ALL_KEYS
    for phase in keys.CUE_PHASES:
        assert keys.cue(phase) in keys.ALL_KEYS
    assert keys.CUE_KEYS <= keys.ALL_KEYS
    assert set(keys.PLACEHOLDERS) <= keys.ALL_KEYS
    assert keys.feeling("not_okay") == keys.feeling("not_okay") == "feeling.not_okay"
    assert keys.feeling("hurt") == keys.FEELING_HURT
    assert keys.need("cold_pack") == keys.need("cold_pack") == "need.cold_pack"
    assert keys.need("quiet") == keys.need("quiet")
    assert {keys.feeling(name) for name in keys.FEELINGS} == keys.FEELING_KEYS
    assert {keys.need(name) for name in keys.NEEDS} == keys.NEED_KEYS
    assert keys.CHECKIN_KEYS | keys.FEELING_KEYS | keys.NEED_KEYS <= keys.ALL_KEYS


def test_key_helpers_name_allowed_values() -> None:
    with pytest.raises(ValueError, match=r"'boxx'; choose one of: settle, calm, .*rest"):
        keys.breathing_intro("boxx")
    with pytest.raises(ValueError, match=r"'top_up'; choose one of: inhale, top-up"):
        keys.cue("top_up")
    with pytest.raises(ValueError, match=r"'not okay'; choose one of: good, okay, .*hurt"):
        keys.feeling("not okay")
    with pytest.raises(ValueError, match=r"'ice'; choose one of: water, .*cold_pack, .*cuddle"):
        keys.need("ice")


def test_every_public_key_constant_is_in_all_keys() -> None:
    constants = {
        value
        for name, value in vars(keys).items()
        if name.isupper() and isinstance(value, str) and "." in value
    }
    assert constants
    assert constants <= keys.ALL_KEYS


# --- Lint over every shipped language file -----------------------------------------


def test_banned_list_matches_words_not_parts_of_words() -> None:
    assert banned_hits("Did you enjoy that?")
    assert banned_hits("Hold HER close.")
    assert banned_hits("You should rest.")
    assert banned_hits("This heals.")
    assert banned_hits("Good for both of you.")
    assert not banned_hits("Here, there, other, the, these, secure, manner, ashes, curled.")


@pytest.mark.parametrize(
    "text",
    [
        "Why do you feel that way?",
        "What happened?",
        "Tell me more.",
        "I'll get you some water.",
        "Let me bring that.",
        "Here's your blanket.",
        "You're safe now.",
        "That\u2019s normal.",
        "Maybe it's postcoital dysphoria.",
        "Hold your lover close.",
        "Rest your chest, breasts, whatever.",
        "Did that feel good?",
        "How was that?",
        "Was it okay?",
        "How did we do?",
        "This reduces swelling.",
        "A simple remedy.",
    ],
)
def test_banned_list_catches_new_risks(text: str) -> None:
    assert banned_hits(text)


def test_banned_list_allows_ordinary_care_words() -> None:
    ordinary = (
        "I'll bring in some gentle music. Breathe normally. Somewhat, anyhow. "
        "Getting help is okay. Everything else continues gently. A shower, a towel. "
        "Something cool can feel gentler on skin. Whatever comes up is welcome here."
    )
    assert not banned_hits(ordinary)


def test_there_is_at_least_one_language_file() -> None:
    assert RESPONSES_DIR / "en.yaml" in RESPONSE_FILES


@pytest.fixture(params=RESPONSE_FILES, ids=[path.name for path in RESPONSE_FILES])
def shipped(request: pytest.FixtureRequest) -> ResponseBook:
    """Each shipped responses file, loaded (which already checks its structure)."""
    path: Path = request.param
    return ResponseBook.load(path, rng=random.Random(0))


def test_file_has_every_key_the_code_uses(shipped: ResponseBook) -> None:
    assert shipped.missing(keys.ALL_KEYS) == []


def test_file_has_no_keys_the_code_does_not_use(shipped: ResponseBook) -> None:
    assert sorted(shipped.keys() - keys.ALL_KEYS) == []


def test_no_empty_variants(shipped: ResponseBook) -> None:
    empty = [
        key for key in sorted(shipped.keys()) if not all(v.strip() for v in shipped.variants(key))
    ]
    assert empty == []


def test_sentences_are_short(shipped: ResponseBook) -> None:
    too_long = [
        f"{key}: {sentence!r} ({word_count(sentence)} words)"
        for key in sorted(shipped.keys())
        for variant in shipped.variants(key)
        for sentence in sentences(variant)
        if word_count(sentence) > MAX_SENTENCE_WORDS
    ]
    assert too_long == []


def test_cues_have_exactly_one_very_short_variant(shipped: ResponseBook) -> None:
    wrong = [
        f"{key}: {shipped.variants(key)!r}"
        for key in sorted(keys.CUE_KEYS)
        if len(shipped.variants(key)) != 1 or word_count(shipped.variants(key)[0]) > MAX_CUE_WORDS
    ]
    assert wrong == []


def test_stop_confirmation_is_one_to_four_words(shipped: ResponseBook) -> None:
    for variant in shipped.variants(keys.STOP_DONE):
        assert 1 <= word_count(variant) <= MAX_STOP_WORDS, variant


def test_variant_counts_stay_in_range(shipped: ResponseBook) -> None:
    """Three to five lines a key (never the same twice in a row), except where noted."""
    wrong = []
    for key in sorted(shipped.keys() - keys.CUE_KEYS):
        fewest, most = VARIANT_RANGES.get(key, (3, MAX_VARIANTS))
        count = len(shipped.variants(key))
        if not fewest <= count <= most:
            wrong.append(f"{key}: {count} variants, expected {fewest} to {most}")
    assert wrong == []


def test_short_keys_stay_short(shipped: ResponseBook) -> None:
    wrong = [
        f"{key}: {variant!r} ({word_count(variant)} words, at most {most})"
        for key, most in sorted(SHORT_KEYS.items())
        for variant in shipped.variants(key)
        if not 1 <= word_count(variant) <= most
    ]
    assert wrong == []


def test_questions_ask_and_never_reassure_first(shipped: ResponseBook) -> None:
    wrong = []
    for key in sorted(QUESTION_KEYS):
        for variant in shipped.variants(key):
            if "?" not in variant:
                wrong.append(f"{key}: {variant!r} asks nothing")
                continue
            before = variant[: variant.index("?")]
            before = before[: max(before.rfind(". "), 0)]  # the sentences before the question
            if REASSURANCE.search(before):
                wrong.append(f"{key}: {variant!r} reassures before its question")
    assert wrong == []


def test_reassurance_lint_catches_it_before_the_question() -> None:
    before = "Not now is a fine answer too. How are you feeling?"
    after = "How are you feeling? Not now is a fine answer too."
    assert REASSURANCE.search(before[: before.rfind(". ")])
    assert not REASSURANCE.search(after[: max(after[: after.index("?")].rfind(". "), 0)])


def test_replies_never_ask_anything(shipped: ResponseBook) -> None:
    asking = [
        f"{key}: {variant!r}"
        for key in sorted(REPLY_KEYS)
        for variant in shipped.variants(key)
        if "?" in variant
    ]
    assert asking == []


def test_hurt_reply_says_what_it_did_and_the_help_line_says_where_help_is(
    shipped: ResponseBook,
) -> None:
    (hurt,) = shipped.variants(keys.FEELING_HURT)
    assert re.search(r"\bstopped everything\b", hurt, flags=re.IGNORECASE), hurt
    (help_line,) = shipped.variants(keys.HELP_CALL)
    assert re.search(r"\bcan't call anyone\b", help_line, flags=re.IGNORECASE), help_line
    assert "{where}" in help_line


def test_unsafe_reply_stops_and_never_offers_closeness(shipped: ResponseBook) -> None:
    for variant in shipped.variants(keys.FEELING_UNSAFE):
        assert re.search(r"\bstop", variant, flags=re.IGNORECASE), variant
        assert not re.search(
            r"\b(?:close|closeness|cuddle|hold|touch|hug|fine|safe now)\b", variant, re.IGNORECASE
        ), variant


def test_hard_moment_replies_are_short(shipped: ResponseBook) -> None:
    long = []
    for key in sorted(HARD_KEYS):
        for variant in shipped.variants(key):
            text = variant.format(**{name: FILL[name] for name in _PLACEHOLDER_RE.findall(variant)})
            if word_count(text) > MAX_HARD_WORDS or len(sentences(text)) > MAX_HARD_SENTENCES:
                long.append(f"{key}: {text!r} ({word_count(text)} words)")
    assert long == []


def test_only_the_two_person_keys_say_each_other_or_together(shipped: ResponseBook) -> None:
    found = [
        f"{key}: {variant!r}"
        for key in sorted(shipped.keys() - TWO_PERSON_KEYS)
        for variant in shipped.variants(key)
        if re.search(r"\b(?:each other|together)\b", variant, flags=re.IGNORECASE)
    ]
    assert found == []


@pytest.mark.parametrize(
    "text",
    [
        "I'm here. Nothing needs fixing.",
        "Lots of people feel this after closeness.",
        "Many people have feelings like this.",
        "Don't worry, it happens to everyone.",
    ],
)
def test_banned_list_catches_playing_a_feeling_down(text: str) -> None:
    assert any(hit.startswith("plays a feeling down") for hit in banned_hits(text))


def test_not_okay_reply_always_offers_stopping(shipped: ResponseBook) -> None:
    for variant in shipped.variants(keys.feeling("not_okay")):
        assert re.search(r"\bstop", variant, flags=re.IGNORECASE), variant


def test_recall_outro_names_the_forget_phrase(shipped: ResponseBook) -> None:
    for variant in shipped.variants(keys.RECALL_OUTRO):
        assert FORGET_PHRASE in variant.lower(), variant


def test_no_banned_phrasing(shipped: ResponseBook) -> None:
    found = [
        f"{key}: {variant!r}: {hit}"
        for key in sorted(shipped.keys())
        for variant in shipped.variants(key)
        for hit in banned_hits(variant)
    ]
    assert found == []


def test_placeholders_are_allowed_and_match_the_code(shipped: ResponseBook) -> None:
    wrong = []
    for key in sorted(shipped.keys()):
        expected = keys.PLACEHOLDERS.get(key, frozenset())
        for variant in shipped.variants(key):
            used = frozenset(_PLACEHOLDER_RE.findall(variant))
            if not used <= ALLOWED_PLACEHOLDERS or used != expected:
                wrong.append(f"{key}: {variant!r} uses {sorted(used)}, expected {sorted(expected)}")
    assert wrong == []


def test_numbers_are_spelled_out(shipped: ResponseBook) -> None:
    digits = [
        f"{key}: {variant!r}"
        for key in sorted(shipped.keys())
        for variant in shipped.variants(key)
        if re.search(r"\d", variant)
    ]
    assert digits == []


def test_every_line_renders_without_digits(shipped: ResponseBook) -> None:
    for key in keys.ALL_KEYS:
        for _ in range(len(shipped.variants(key))):
            text = shipped.pick(key, **FILL)
            assert text.strip()
            assert "{" not in text
            assert "}" not in text
            assert not re.search(r"\d", text), f"{key}: {text!r}"


def test_every_key_is_spoken_by_some_code_path() -> None:
    """A key no code path can say is a line nobody hears, or a promise nothing keeps."""
    skill_dir = ROOT / "skill"
    sources = "\n".join(
        path.read_text(encoding="utf-8")
        for path in sorted(skill_dir.rglob("*.py"))
        if path.name != "keys.py"
    )
    data = "\n".join(path.read_text(encoding="utf-8") for path in skill_dir.rglob("*.yaml"))
    constants: dict[str, list[str]] = {}
    for name, value in vars(keys).items():
        if name.isupper() and isinstance(value, str):
            constants.setdefault(value, []).append(name)
    said = {line for feeling in care.FEELINGS for line in care.feeling_reply(feeling).lines}
    said |= {
        line for need in care.NEEDS for line in (care.need_reply(need) or care.CareReply()).lines
    }
    for routine in load_routines().values():
        said |= routine.response_keys()
    helpers = {
        "keys.cue(": keys.CUE_KEYS,
        "keys.breathing_more(": {keys.BREATHING_MORE_ONE, keys.BREATHING_MORE},
        "keys.breathing_minutes_limit(": {
            keys.BREATHING_MINUTES_LIMIT_ONE,
            keys.BREATHING_MINUTES_LIMIT,
        },
        "keys.offer(": {keys.offer(offer) for offer in keys.OFFERS},
        "keys.plan_ask(": {keys.plan_ask(question) for question in keys.PLAN_QUESTIONS},
        "keys.plan_part(": {keys.plan_part(part) for part in keys.PLAN_PARTS},
        "keys.plan_item(": {keys.plan_item(item) for item in keys.PLAN_ITEMS},
    }
    for call, family in helpers.items():
        if call in sources:
            said |= family
    unspoken = [
        key
        for key in sorted(keys.ALL_KEYS)
        if key not in said
        and f'"{key}"' not in sources
        and not re.search(rf"(?<![\w.]){re.escape(key)}\b", data)
        and not any(f"keys.{name}" in sources for name in constants.get(key, []))
    ]
    assert unspoken == []
