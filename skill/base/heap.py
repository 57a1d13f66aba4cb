"""Keeping long-lived objects out of the garbage collector's way."""

from __future__ import annotations

import gc


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
