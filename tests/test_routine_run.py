"""Running routines with fake tools: order, quiet mode, slowing down, one question each."""

from __future__ import annotations

import asyncio

import pytest
from rhasspyhermes.intent import Intent
from rhasspyhermes.nlu import NluIntent

from skill.clock import Clock
from skill.routine_run import RoutineControl, RoutineTools, run_routine
from skill.routines import BreatheStep, load_routines

ROUTINES = load_routines()


class Tools:
    """Records what a routine does; answers check-ins from a script."""

    def __init__(self, answers: dict[str, str | None] | None = None, scale: float = 0.0005) -> None:
        self.log: list[str] = []
        self.answers = answers or {}
        self.clock = Clock(scale)

    async def say_key(self, key: str) -> None:
        self.log.append(f"say {key}")

    async def say_text(self, text: str) -> None:
        self.log.append(f"text {text}")

    async def breathe(self, step: BreatheStep, control: RoutineControl) -> None:
        self.log.append(f"breathe {step.pattern} {'chime' if control.quiet else step.style}")

    async def ask(self, question: str) -> NluIntent | None:
        self.log.append(f"ask {question}")
        name = self.answers.get(question)
        if name is None:
            return None
        return NluIntent(input="", intent=Intent(intent_name=name, confidence_score=1.0))

    async def answer(self, intent: NluIntent, control: RoutineControl) -> None:
        self.log.append(f"answer {intent.intent.intent_name}")
        if intent.intent.intent_name == "AftercareQuiet":
            control.quiet = control.silenced = True
        if intent.intent.intent_name == "AftercareFeeling":
            control.slow = True

    def music(self, action: str) -> None:
        self.log.append(f"music {action}")

    def lights(self, action: str) -> None:
        self.log.append(f"lights {action}")

    def tools(self) -> RoutineTools:
        return RoutineTools(
            say_key=self.say_key,
            say_text=self.say_text,
            breathe=self.breathe,
            ask=self.ask,
            answer=self.answer,
            music=self.music,
            lights=self.lights,
            clock=self.clock,
        )


@pytest.mark.asyncio
async def test_short_routine_in_order() -> None:
    tools = Tools()
    await run_routine(ROUTINES["short"], RoutineControl(), tools.tools())
    assert tools.log == [
        "say routine.opening",
        "say routine.water",
        "say routine.warmth",
        "say routine.breathe_offer",
        "breathe calm None",
        "ask feeling",
        "say routine.kind_words",
        "ask need",
        "music play",
        "lights scene",
        "say routine.close",
    ]


@pytest.mark.asyncio
async def test_quiet_mode_keeps_only_music_lights_chimes_and_a_soft_close() -> None:
    tools = Tools()
    await run_routine(ROUTINES["short"], RoutineControl(quiet=True), tools.tools())
    assert tools.log == [
        "breathe calm chime",
        "music play",
        "lights scene",
        "say routine.quiet_close",
    ]


@pytest.mark.asyncio
async def test_no_talking_answer_turns_the_rest_quiet() -> None:
    tools = Tools({"feeling": "AftercareQuiet"})
    await run_routine(ROUTINES["short"], RoutineControl(), tools.tools())
    after = tools.log[tools.log.index("answer AftercareQuiet") + 1 :]
    assert after == ["music play", "lights scene"]  # "no talking": not even the close


@pytest.mark.asyncio
async def test_not_okay_slows_and_leaves_out_the_journal() -> None:
    tools = Tools({"feeling": "AftercareFeeling"})
    control = RoutineControl()
    started = asyncio.get_running_loop().time()
    await run_routine(ROUTINES["long"], control, tools.tools())
    assert control.slow
    assert "say routine.journal_intro" not in tools.log
    assert asyncio.get_running_loop().time() - started < 5


@pytest.mark.asyncio
async def test_each_question_is_asked_once() -> None:
    tools = Tools()
    control = RoutineControl(asked={"feeling"})
    await run_routine(ROUTINES["long"], control, tools.tools())
    assert tools.log.count("ask feeling") == 0
    assert tools.log.count("ask need") == 1


@pytest.mark.asyncio
async def test_replies_are_said_inside_a_silence_not_over_a_line() -> None:
    tools = Tools(scale=0.01)
    control = RoutineControl()
    task = asyncio.create_task(run_routine(ROUTINES["short"], control, tools.tools()))
    await asyncio.sleep(0.01)  # the opening is said at once; the silence takes 0.2 s
    assert tools.log == ["say routine.opening"]
    control.tell("A reply.")
    await asyncio.sleep(0.05)  # well inside the first 20 s silence (0.2 s here)
    assert tools.log == ["say routine.opening", "text A reply."]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_shipped_lengths() -> None:
    assert 4 * 60 <= ROUTINES["short"].planned_seconds() <= 8 * 60
    assert 20 * 60 <= ROUTINES["long"].planned_seconds() <= 30 * 60
    assert ROUTINES["quiet"].planned_seconds() >= 5 * 60


@pytest.mark.asyncio
async def test_the_quiet_routine_says_its_one_soft_opening() -> None:
    tools = Tools()
    await run_routine(ROUTINES["quiet"], RoutineControl(), tools.tools())
    assert tools.log == [
        "say routine.quiet_opening",
        "lights scene",
        "music play",
        "breathe calm chime",
        "say routine.quiet_close",
    ]
