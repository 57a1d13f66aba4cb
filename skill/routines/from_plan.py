"""The routine a plan asks for: the short routine's shape, with only what was chosen.

Each part of the plan that was left unsaid keeps the short routine's usual behaviour
(water and warmth offered, calm breathing, the music and the dimmed lights), so a plan of
one answer changes one thing. Everything stays stoppable and skippable as in any routine.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

from skill.base.vocabulary import CueStyle
from skill.care.plan import NO_BREATHING, Plan
from skill.language import keys
from skill.routines.model import (
    BreatheStep,
    CheckinStep,
    CloseStep,
    LightsStep,
    MusicStep,
    OfferStep,
    Routine,
    SayStep,
    SilenceStep,
    Step,
)

PLAN_ROUTINE: Final = "plan"
"""The name a planned routine runs under (in logs and the published state)."""
ITEM_OFFERS: Final = {
    "water": "water",
    "blanket": "warmth",
    "snack": "snack",
    "towel": "clean_up",
    "tissues": "tissues",
}
"""The routine's offer for each thing a plan keeps nearby."""
USUAL_OFFERS: Final = ("water", "warmth")
"""Offered when the plan does not say what to have nearby (as the short routine does)."""
USUAL_PATTERN: Final = "calm"
BREATHING_MINUTES: Final = 1.5


def plan_routine(plan: Plan, patterns: Collection[str]) -> Routine:
    """The steps of a routine that follows `plan`."""
    few = plan.words == "few"  # two wishes: a little talking, a little quiet
    quiet = plan.words == "quiet"  # the routine runs in quiet mode: only its soft lines
    opening = keys.ROUTINE_QUIET_OPENING if quiet else keys.ROUTINE_OPENING
    steps: list[Step] = [SayStep(opening), SilenceStep(20)]
    if "offers" not in plan.leave_out and not few:
        offers = USUAL_OFFERS if plan.nearby is None else [ITEM_OFFERS[i] for i in plan.nearby]
        for offer in offers:
            steps += [OfferStep(offer), SilenceStep(30)]
    if plan.breathing != NO_BREATHING:
        # ANY_PATTERN, or a pattern config.yaml no longer has: the usual one.
        pattern = plan.breathing if plan.breathing and plan.breathing in patterns else USUAL_PATTERN
        style = CueStyle.FEWER_WORDS if few else None
        steps += [
            SayStep(keys.ROUTINE_BREATHE_OFFER),
            BreatheStep(pattern, BREATHING_MINUTES, style),
            SilenceStep(15),
        ]
    questions = "questions" not in plan.leave_out and not few
    if questions:
        steps += [CheckinStep("feeling"), SilenceStep(30)]
    if "kind_words" not in plan.leave_out:
        steps += [SayStep(keys.ROUTINE_KIND_WORDS), SilenceStep(40)]
    if questions:
        steps += [CheckinStep("need"), SilenceStep(20)]
    if plan.music != "none":
        steps.append(MusicStep("soft" if plan.music == "soft" else "play"))
    if plan.lights != "leave":
        steps.append(LightsStep("scene"))
    steps.append(SilenceStep(60))
    if plan.later == "morning":
        steps.append(SayStep(keys.ROUTINE_LATER_MORNING))
    elif plan.later == "tonight":
        steps.append(SayStep(keys.ROUTINE_LATER_TONIGHT))
    steps.append(CloseStep(keys.ROUTINE_CLOSE))
    return Routine(
        name=PLAN_ROUTINE,
        description="The routine planned together beforehand.",
        steps=tuple(steps),
    )
