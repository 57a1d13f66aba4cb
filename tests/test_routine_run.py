"""Running routines with fake tools: order, quiet mode, slowing down, one question each."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from rhasspyhermes.intent import Intent
from rhasspyhermes.nlu import NluIntent

from skill.base.clock import Clock
from skill.hermes.dialogue import Answer, Unclear
from skill.routines.model import BreatheStep, Routine, load_routines
from skill.routines.runner import RoutineControl, RoutineTools, run_routine

ROUTINES = load_routines()


class Tools:
    """Records what a routine does; answers check-ins from a script."""

    def __init__(
        self,
        answers: dict[str, str | None] | None = None,
        scale: float = 0.0005,
        breath_seconds: float = 0.0,
    ) -> None:
        self.log: list[str] = []
        self.answers = answers or {}
        self.clock = Clock(scale)
        self.breath_seconds = breath_seconds
        """Real seconds a breathing stretch takes (0: it ends at once)."""

    async def say_key(self, key: str) -> None:
        self.log.append(f"say {key}")

    async def say_text(self, text: str) -> None:
        self.log.append(f"text {text}")

    async def breathe(self, step: BreatheStep, control: RoutineControl) -> None:
        self.log.append(f"breathe {step.pattern} {'chime' if control.quiet else step.style}")
        await asyncio.sleep(self.breath_seconds)

    async def ask(self, question: str) -> Answer | None:
        self.log.append(f"ask {question}")
        name = self.answers.get(question)
        if name is None:
            return None
        if name == "unclear":
            return Unclear("bedroom")
        return NluIntent(input="", intent=Intent(intent_name=name, confidence_score=1.0))

    async def answer(self, answer: Answer, control: RoutineControl) -> None:
        if isinstance(answer, Unclear):
            self.log.append("answer unclear")
            control.slow_down(heavy=False)
            return
        self.log.append(f"answer {answer.intent.intent_name}")
        if answer.intent.intent_name == "AftercareQuiet":
            control.quiet = control.silenced = True
        if answer.intent.intent_name == "AftercareFeeling":
            control.slow_down()

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


def routine_of(*steps: dict[str, object]) -> Routine:
    """One routine from inline steps, as config.yaml would give it."""
    return load_routines(extra={"test": {"steps": list(steps)}})["test"]


@pytest.mark.asyncio
async def test_a_heavy_answer_says_once_it_slowed_and_leaves_out_gratitude_and_together() -> None:
    tools = Tools({"feeling": "AftercareFeeling"})
    control = RoutineControl()
    await run_routine(ROUTINES["long"], control, tools.tools())
    after = tools.log[tools.log.index("answer AftercareFeeling") + 1 :]
    assert after[0] == "say routine.slow_down"  # once, before the next step
    assert tools.log.count("say routine.slow_down") == 1
    for left_out in (
        "say routine.kind_words",
        "say affirm",
        "say routine.journal_intro",
        "say routine.followup_offer",  # the slow-down line already named the words
    ):
        assert left_out not in after
    assert not any(entry.startswith("breathe together") for entry in after)
    assert after[-1] == "say routine.close"  # one goodbye, still


@pytest.mark.asyncio
async def test_an_unclear_answer_slows_without_leaving_anything_out() -> None:
    tools = Tools({"feeling": "unclear"})
    control = RoutineControl()
    await run_routine(ROUTINES["short"], control, tools.tools())
    assert control.slow
    assert not control.heavy
    assert "say routine.slow_down" not in tools.log
    assert "say routine.kind_words" in tools.log


@pytest.mark.asyncio
async def test_after_no_talking_the_slow_down_line_is_not_said() -> None:
    control = RoutineControl(quiet=True, silenced=True)
    control.slow_down()
    tools = Tools()
    await run_routine(
        routine_of({"say": "routine.opening"}, {"silence": 1}), control, tools.tools()
    )
    assert tools.log == []


@pytest.mark.asyncio
async def test_skip_ends_the_current_step_and_the_routine_goes_on() -> None:
    tools = Tools(scale=0.01)
    control = RoutineControl()
    routine = routine_of({"say": "routine.opening"}, {"silence": 100}, {"say": "routine.water"})
    task = asyncio.create_task(run_routine(routine, control, tools.tools()))
    await asyncio.sleep(0.05)  # inside the 100 s (1 s real) silence
    assert control.skip()
    await asyncio.wait_for(task, 0.5)  # the silence ended at once
    assert tools.log == ["say routine.opening", "say routine.water"]


@pytest.mark.asyncio
async def test_declining_the_breathing_offer_declines_the_breathing_too() -> None:
    control = RoutineControl()
    tools = Tools(scale=0.01)
    said = asyncio.Event()

    async def slow_say(key: str) -> None:
        tools.log.append(f"say {key}")
        if key == "routine.breathe_offer":
            said.set()
            await asyncio.sleep(5)  # still speaking when "no thanks" comes

    routine = routine_of(
        {"say": "routine.breathe_offer"},
        {"breathe": {"pattern": "calm", "minutes": 1}},
        {"say": "routine.water"},
    )
    run = dataclasses.replace(tools.tools(), say_key=slow_say)
    task = asyncio.create_task(run_routine(routine, control, run))
    await said.wait()
    assert control.skip()
    await asyncio.wait_for(task, 0.5)
    assert tools.log == ["say routine.breathe_offer", "say routine.water"]


@pytest.mark.asyncio
async def test_skip_during_breathing_ends_only_the_breathing() -> None:
    tools = Tools(breath_seconds=5)
    control = RoutineControl()
    routine = routine_of({"breathe": {"pattern": "calm", "minutes": 1}}, {"say": "routine.water"})
    task = asyncio.create_task(run_routine(routine, control, tools.tools()))
    await asyncio.sleep(0.02)
    assert control.skip()
    await asyncio.wait_for(task, 0.5)
    assert tools.log == ["breathe calm None", "say routine.water"]


@pytest.mark.asyncio
async def test_skip_with_nothing_running_says_so() -> None:
    assert not RoutineControl().skip()


@pytest.mark.asyncio
async def test_no_music_leaves_out_every_music_step() -> None:
    tools = Tools()
    control = RoutineControl(no_music=True)
    await run_routine(ROUTINES["short"], control, tools.tools())
    assert "music play" not in tools.log
    assert "lights scene" in tools.log  # only the music


@pytest.mark.asyncio
async def test_a_pause_holds_the_routine_until_resumed() -> None:
    tools = Tools(scale=0.01)
    control = RoutineControl()
    routine = routine_of({"say": "routine.opening"}, {"silence": 100}, {"say": "routine.water"})
    task = asyncio.create_task(run_routine(routine, control, tools.tools()))
    await asyncio.sleep(0.05)
    control.pause()  # the silence is cut short, and nothing goes on
    await asyncio.sleep(0.3)
    assert tools.log == ["say routine.opening"]
    assert not task.done()
    control.resume()
    await asyncio.wait_for(task, 0.5)
    assert tools.log == ["say routine.opening", "say routine.water"]


@pytest.mark.asyncio
async def test_a_pause_during_breathing_leaves_the_stretch_to_its_own_controls() -> None:
    tools = Tools(breath_seconds=0.2)
    control = RoutineControl()
    routine = routine_of({"breathe": {"pattern": "calm", "minutes": 1}}, {"say": "routine.water"})
    task = asyncio.create_task(run_routine(routine, control, tools.tools()))
    await asyncio.sleep(0.02)
    control.pause()
    await asyncio.sleep(0.4)  # the stretch ran to its end (not cut); the routine waits
    assert tools.log == ["breathe calm None"]
    control.resume()
    await asyncio.wait_for(task, 0.5)
    assert tools.log == ["breathe calm None", "say routine.water"]


@pytest.mark.asyncio
async def test_stopping_the_routine_still_stops_it_mid_step() -> None:
    tools = Tools(scale=0.01)
    routine = routine_of({"silence": 100}, {"say": "routine.water"})
    task = asyncio.create_task(run_routine(routine, RoutineControl(), tools.tools()))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert tools.log == []


@pytest.mark.asyncio
async def test_the_slow_down_line_waits_for_a_whole_silence_after_the_heavy_answer() -> None:
    """A heavy answer said during a silence: the line comes after the next whole silence,
    never right after the reply; at the latest before the goodbye."""
    tools = Tools(scale=0.002)
    control = RoutineControl()
    routine = routine_of(
        {"say": "routine.opening"},
        {"silence": 100},
        {"say": "routine.water"},
        {"silence": 100},
        {"say": "routine.warmth"},
        {"silence": 100},
        {"close": "routine.close"},
    )
    task = asyncio.create_task(run_routine(routine, control, tools.tools()))
    await asyncio.sleep(0.05)  # inside the first silence (0.2 s here)
    control.slow_down()
    await asyncio.wait_for(task, 5)
    assert tools.log == [
        "say routine.opening",
        "say routine.water",
        "say routine.slow_down",
        "say routine.warmth",
        "say routine.close",
    ]


@pytest.mark.asyncio
async def test_the_slow_down_line_comes_before_the_goodbye_at_the_latest() -> None:
    tools = Tools(scale=0.002)
    control = RoutineControl()
    routine = routine_of({"silence": 100}, {"close": "routine.close"})
    task = asyncio.create_task(run_routine(routine, control, tools.tools()))
    await asyncio.sleep(0.05)
    control.slow_down()
    await asyncio.wait_for(task, 5)
    assert tools.log == ["say routine.slow_down", "say routine.close"]


def test_a_control_made_paused_is_not_marked_resumed() -> None:
    assert not RoutineControl(paused=True).resumed.is_set()
    assert RoutineControl().resumed.is_set()
