"""How the interpreter runs the skill: the garbage collector and Python's lock."""

from __future__ import annotations

import gc
import sys

SWITCH_INTERVAL = 0.0005
"""Seconds a thread may hold Python's lock while another waits for it (default 0.005)."""


def freeze_heap(*, collect: bool = True) -> None:
    """Collect once, then keep everything loaded so far out of later collections.

    The voice, the recognizer and the responses leave some 46,000 long-lived objects;
    a full collection walks them all and holds the event loop 15-30 ms, which is a
    breathing cue heard late. Frozen, they are skipped: later full collections see only
    what the running skill made since (well under a millisecond). `thaw_heap` undoes it.
    """
    if collect:  # freezing alone costs nothing; the collection is what holds the loop
        gc.collect()
    gc.freeze()


def thaw_heap() -> None:
    """Hand frozen objects back to the collector, so nothing of a closed Runtime lingers.

    Process-wide: with two Runtimes in one process (tests, benchmarks), closing one
    thaws the other too, which then only runs with ordinary collections.
    """
    gc.unfreeze()


def quick_handoff() -> float:
    """Let threads hand Python's lock to each other within SWITCH_INTERVAL; the old value.

    The event loop publishes and paho's network thread sends: every message crosses from
    one thread to the other, and each crossing waits for the lock. At the default 5 ms,
    50 sites' cues due at one moment reached a subscriber over 20 ms apart (p99, one
    core); at 0.5 ms, within 8-12 ms (benchmarks/constrained.py). Process-wide; restore
    the old value with sys.setswitchinterval.
    """
    old = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    return old
