"""python -m benchmarks: run every benchmark and write benchmarks/RESULTS.md.

Latency runs first, so the peak memory it reports is that of a skill with its voice loaded,
not of the cue sessions that follow; then cue lateness, 20 sites at once, the soak and the
whole skill in a process of its own on a small CPU (constrained). Everything stays on
127.0.0.1 and ends on its own: about twenty-one minutes on a warm clip cache (the first run
on a machine renders every prompt once, a few minutes more). --quick runs a smaller version
in about thirteen minutes. --only NAME (repeatable) runs some of them and prints their
sections without touching RESULTS.md (unless --output says where to write).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks import constrained, cue_lateness, latency, load, soak
from benchmarks.harness import CpuMeter, machine, ms, percentile, table

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
"""Where the results go unless --output says otherwise."""
BENCHMARKS = ("latency", "cue_lateness", "load", "soak", "constrained")
"""Every benchmark, in the order they run (names for --only)."""
BUSY_MACHINE = 0.2
"""Other processes using more than this many cores make the numbers unreliable."""

log = logging.getLogger("benchmarks")


async def _other_load(seconds: float = 2.0) -> float:
    """Cores other processes use right now (sampled for `seconds`)."""
    meter = CpuMeter().start()
    await asyncio.sleep(seconds)
    return meter.stop().others


async def _run(quick: bool, command: str, only: Sequence[str] = BENCHMARKS) -> str:
    began = time.monotonic()
    facts = machine()
    before = await _other_load()
    if before > BUSY_MACHINE:
        log.warning(
            "other processes use %.2f cores right now; the numbers will be worse than this "
            "machine can do (see the CPU lines in the results)",
            before,
        )
    cpu: list[list[str]] = []
    summary: list[list[str]] = []
    sections: list[str] = []
    if "latency" in only:
        meter = CpuMeter().start()
        latency_report = await latency.run(latency.QUICK if quick else latency.Settings())
        cpu.append(["CPU during latency", meter.stop().describe()])
    if "cue_lateness" in only:
        meter = CpuMeter().start()
        cue_report = await cue_lateness.run(
            cue_lateness.QUICK if quick else cue_lateness.Settings()
        )
        cpu.append(["CPU during cue lateness", meter.stop().describe()])
        sessions = cue_report.sessions
        summary += [
            [
                "cue lateness p99 ≤ 10 ms and max ≤ 25 ms, no cue missing",
                "yes" if all(s.meets_targets for s in sessions) else "**NO**",
                ", ".join(
                    f"{s.label} at scale {s.scale:g}" for s in sessions if not s.meets_targets
                )
                or "every session",
            ],
            [
                "lateness does not grow with session length",
                "yes" if cue_lateness.drift_ok(cue_report.drift) else "**NO**",
                ", ".join(f"{r.minutes} min" for r in cue_report.drift),
            ],
        ]
        sections.append(cue_lateness.markdown(cue_report))
    if "load" in only:
        meter = CpuMeter().start()
        load_report = await load.run(load.QUICK if quick else load.Settings())
        cpu.append(["CPU during 20 sites at once", meter.stop().describe()])
        summary.append(
            [
                "20 sites at once: cue p99 ≤ 10 ms, max ≤ 25 ms, no cue missing",
                "yes" if load_report.ok else "**NO**",
                "; ".join(load_summary(r) for r in load_report.runs) or "not run",
            ]
        )
        sections.append(load.markdown(load_report))
    if "soak" in only:
        meter = CpuMeter().start()
        soak_report = await soak.run(soak.QUICK if quick else soak.Settings())
        cpu.append(["CPU during the soak", meter.stop().describe()])
        summary.append(
            [
                "soak: no RSS growth beyond noise, no lost cue, no leaked task or thread",
                "yes" if soak_report.ok else "**NO**",
                soak_summary(soak_report),
            ]
        )
        sections.append(soak.markdown(soak_report))
    if "latency" in only:
        sections.append(latency.markdown(latency_report))  # last, as always
    if "constrained" in only:
        meter = CpuMeter().start()
        constrained_report = await constrained.run(
            constrained.QUICK if quick else constrained.Settings()
        )
        cpu.append(
            [
                "CPU during the whole-process run (the skill is one of the other processes)",
                meter.stop().describe(),
            ]
        )
        summary += constrained_report.targets()
        sections.append(constrained.markdown(constrained_report))
    total = time.monotonic() - began
    machine_rows = [[name, value] for name, value in facts]
    machine_rows.append(
        ["Other processes before the run", f"{before:.2f} cores" if not math.isnan(before) else "?"]
    )
    machine_rows += cpu
    ran = "" if tuple(only) == BENCHMARKS else f" (only {', '.join(only)})"
    parts = [
        "# Aftercare benchmark results",
        f"Produced by `{command}` in {total / 60:.1f} minutes "
        f"({'quick settings' if quick else 'full settings'}){ran}. "
        "See benchmarks/README.md for what each number means.",
        "## Machine",
        table(["", ""], machine_rows),
        "## Targets",
        table(["target", "holds", "where"], summary),
        *sections,
    ]
    return "\n\n".join(parts) + "\n"


def load_summary(result: load.LoadResult) -> str:
    """One run of the 20-site benchmark in a few words, for the targets table."""
    values = result.latenesses()
    spec = result.run
    when = "real time" if spec.scale == 1 else f"compressed x{spec.scale:g}"
    return (
        f"{spec.label} ({len(result.sites)} sites, {spec.minutes} min, {when}): "
        f"p99 {ms(percentile(values, 99), 1)} ms, max {ms(max(values, default=math.nan), 1)} ms, "
        f"{result.missing} missing"
    )


def soak_summary(report: soak.Report) -> str:
    """The soak in a few words, for the targets table."""
    settings = report.settings
    lost = sum(j.missing + j.published - j.received for j in report.jobs)
    return (
        f"{settings.plan_minutes:g} min compressed x{settings.scale:g} on {settings.sites} "
        f"sites, {len(report.jobs)} activities: RSS {report.rss_growth:+.1f} MiB (noise "
        f"{report.noise:.0f}), {lost} lost, "
        f"{sum(not j.in_order for j in report.jobs)} out of order, tasks "
        f"{report.moment('before').tasks} → {report.moment('closed').tasks}, threads "
        f"{report.moment('before').own_threads} → {report.moment('closed').own_threads}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Run everything; write the Markdown results."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Run the Aftercare benchmarks."
    )
    parser.add_argument("--quick", action="store_true", help="fewer and shorter runs")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help=f"Markdown file to write ({RESULTS.name}; with --only: none unless given)",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=BENCHMARKS,
        help="run only this benchmark (repeatable); prints its section",
    )
    args = parser.parse_args(argv)
    only = tuple(name for name in BENCHMARKS if name in (args.only or BENCHMARKS))
    output: Path | None = args.output if args.output is not None or args.only else RESULTS
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    log.setLevel(logging.INFO)
    command = " ".join(["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])])
    text = asyncio.run(_run(args.quick, command, only))
    print(text)
    if output is not None:
        output.write_text(text, encoding="utf-8")
        print(f"Wrote {output}")


if __name__ == "__main__":
    main()
