"""What an activity should be heard as, and what it was heard as, in comparable labels.

A label is ("speech", response key), ("cue", cue text) or ("chime", chime name). A routine or
breathing plan gives the labels it calls for; what the Runtime published (its listener's
`Spoken` items) gives the labels heard, each spoken line once however many sentences it has.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Iterator, Sequence

from skill.assets import Assets
from skill.breathing.plan import BreathingPlan
from skill.breathing.runner import QUIET_CHIMES
from skill.language import keys
from skill.routines.model import (
    BreatheStep,
    CheckinStep,
    CloseStep,
    JournalStep,
    OfferStep,
    Routine,
    SayStep,
)
from skill.voice.output import Spoken
from skill.voice.piper import split_sentences

Label = tuple[str, str]
"""(kind, what): ("speech", response key), ("cue", cue text) or ("chime", chime name)."""


class Lines:
    """Maps published sentences back to response keys, and plans to the labels they produce."""

    def __init__(self, assets: Assets, max_chars: int) -> None:
        self._cues = assets.cue_texts()
        self._keys: dict[str, set[str]] = {}
        responses = assets.responses
        for key in sorted(responses.keys()):
            for variant in responses.variants(key):
                if "{" in variant.replace("{{", "").replace("}}", ""):
                    continue  # lines with placeholders: no activity here says them
                for sentence in split_sentences(variant.format(), max_chars):
                    self._keys.setdefault(sentence, set()).add(key)

    def heard(self, spoken: Iterable[Spoken], expect: Collection[Label] = ()) -> list[Label]:
        """What was published, as labels; the sentences of one line count once.

        Consecutive sentences belong to one line while some key has them all; a sentence
        several keys share is labelled with the one `expect` names, if any.
        """
        wanted = {what for kind, what in expect if kind == "speech"}
        labels: list[Label] = []
        keys: set[str] | None = None  # the keys the line being read may still belong to
        for item in spoken:
            if item.kind != "speech":
                labels.append((item.kind, item.text))
                keys = None
                continue
            found = self._keys.get(item.text, {f"? {item.text}"})
            if keys is not None and keys & found:
                keys &= found  # the next sentence of the same line
            else:
                keys = set(found)
                labels.append(("speech", ""))
            labels[-1] = ("speech", min(keys & wanted or keys))
        return labels

    def plan(self, plan: BreathingPlan, *, quiet: bool = False) -> list[Label]:
        """What a breathing plan should produce: per cue its chime, then its words.

        `quiet` (the quiet routine, or after "no talking"): chimes keep the pace, no words.
        """
        labels: list[Label] = []
        for cue in plan.cues:
            if quiet:
                chime = cue.chime or QUIET_CHIMES.get(cue.phase or "")
                if cue.kind == "phase" and chime is not None:
                    labels.append(("chime", chime))
                continue
            if cue.chime is not None:
                labels.append(("chime", cue.chime))
            if cue.voice_key is None:
                continue
            if cue.kind == "phase" and cue.phase is not None:
                labels.append(("cue", self._cues[cue.phase]))
            else:
                labels.append(("speech", cue.voice_key))
        return labels

    def routine(
        self,
        routine: Routine,
        *,
        quiet: bool,
        plans: Iterator[BreathingPlan],
        replies: Iterator[str | None],
    ) -> list[Label]:
        """What a routine should produce with these breathing plans and check-in replies.

        `plans`: the plan of each breathing stretch, in order (fewer when it was stopped
        before a stretch began); `replies`: the response key each check-in's answer gets
        (None: nothing is said). Follows the rules of routines.yaml: in quiet mode only the
        soft `routine.quiet_*` lines, chimes and the quiet close; each question asked once.
        """
        labels: list[Label] = []
        asked: set[str] = set()
        for step in routine.steps:
            if isinstance(step, BreatheStep):
                plan = next(plans, None)
                if plan is None:
                    break
                labels += self.plan(plan, quiet=quiet)
            elif isinstance(step, CloseStep):
                labels.append(("speech", keys.ROUTINE_QUIET_CLOSE if quiet else step.key))
            elif isinstance(step, SayStep) and keys.is_quiet_line(step.key):
                labels.append(("speech", step.key))
            elif quiet:
                continue
            elif isinstance(step, SayStep):
                labels.append(("speech", step.key))
            elif isinstance(step, OfferStep):
                labels.append(("speech", f"routine.{step.offer}"))
            elif isinstance(step, CheckinStep) and step.question not in asked:
                asked.add(step.question)
                labels.append(("speech", f"checkin.{step.question}"))
                reply = next(replies, None)
                if reply is not None:
                    labels.append(("speech", reply))
            elif isinstance(step, JournalStep):
                labels += [("speech", "routine.journal_intro"), ("speech", "journal.prompt")]
        return labels


def differences(
    expected: Sequence[Label], heard: Sequence[Label], *, cut: bool = False
) -> tuple[int, int]:
    """(missing, extra): planned labels not heard, heard labels not planned.

    `cut`: the activity was stopped, so what the plan has after the last thing heard was
    never due and does not count as missing.
    """
    if list(heard) == list(expected[: len(heard)] if cut else expected):
        return 0, 0  # the usual case, without the quadratic search
    missing = extra = 0
    opcodes = difflib.SequenceMatcher(None, expected, heard, autojunk=False).get_opcodes()
    for index, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        never_due = cut and tag == "delete" and index == len(opcodes) - 1
        if tag in ("delete", "replace") and not never_due:
            missing += i2 - i1
        if tag in ("insert", "replace"):
            extra += j2 - j1
    return missing, extra
