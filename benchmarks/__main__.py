"""python -m benchmarks: run every benchmark and write benchmarks/RESULTS.md.

Latency runs first, so the peak memory it reports is that of a skill with its voice loaded,
not of the cue sessions that follow; then cue lateness, 20 sites at once and the soak.
Everything stays on 127.0.0.1 and ends on its own: about seventeen minutes on a warm clip
cache (the first run on a machine renders every prompt once, a few minutes more). --quick
runs a smaller version in about eight minutes.
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

from benchmarks import cue_lateness, latency, load, soak
from benchmarks.harness import CpuMeter, machine, ms, percentile, table

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
"""Where the results go unless --output says otherwise."""
BUSY_MACHINE = 0.2
"""Other processes using more than this many cores make the numbers unreliable."""

log = logging.getLogger("benchmarks")


async def _other_load(seconds: float = 2.0) -> float:
    """Cores other processes use right now (sampled for `seconds`)."""
    meter = CpuMeter().start()
    await asyncio.sleep(seconds)
    return meter.stop().others


async def _run(quick: bool, command: str) -> str:
    began = time.monotonic()
    facts = machine()
    before = await _other_load()
    if before > BUSY_MACHINE:
        log.warning(
            "other processes use %.2f cores right now; the numbers will be worse than this "
            "machine can do (see the CPU lines in the results)",
            before,
        )
    meter = CpuMeter().start()
    latency_report = await latency.run(latency.QUICK if quick else latency.Settings())
    latency_cpu = meter.stop()
    meter = CpuMeter().start()
    cue_report = await cue_lateness.run(cue_lateness.QUICK if quick else cue_lateness.Settings())
    cue_cpu = meter.stop()
    meter = CpuMeter().start()
    load_report = await load.run(load.QUICK if quick else load.Settings())
    load_cpu = meter.stop()
    meter = CpuMeter().start()
    soak_report = await soak.run(soak.QUICK if quick else soak.Settings())
    soak_cpu = meter.stop()
    total = time.monotonic() - began
    sessions = cue_report.sessions
    p99_ok = all(s.meets_targets for s in sessions)
    summary = table(
        ["target", "holds", "where"],
        [
            [
                "cue lateness p99 ≤ 10 ms and max ≤ 25 ms, no cue missing",
                "yes" if p99_ok else "**NO**",
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
            [
                "20 sites at once: cue p99 ≤ 10 ms, max ≤ 25 ms, no cue missing",
                "yes" if load_report.ok else "**NO**",
                "; ".join(load_summary(r) for r in load_report.runs) or "not run",
            ],
            [
                "soak: no RSS growth beyond noise, no lost cue, no leaked task or thread",
                "yes" if soak_report.ok else "**NO**",
                soak_summary(soak_report),
            ],
        ],
    )
    machine_rows = [[name, value] for name, value in facts]
    machine_rows.append(
        ["Other processes before the run", f"{before:.2f} cores" if not math.isnan(before) else "?"]
    )
    machine_rows.append(["CPU during latency", latency_cpu.describe()])
    machine_rows.append(["CPU during cue lateness", cue_cpu.describe()])
    machine_rows.append(["CPU during 20 sites at once", load_cpu.describe()])
    machine_rows.append(["CPU during the soak", soak_cpu.describe()])
    parts = [
        "# Aftercare benchmark results",
        f"Produced by `{command}` in {total / 60:.1f} minutes "
        f"({'quick settings' if quick else 'full settings'}). "
        "See benchmarks/README.md for what each number means.",
        "## Machine",
        table(["", ""], machine_rows),
        "## Targets",
        summary,
        cue_lateness.markdown(cue_report),
        load.markdown(load_report),
        soak.markdown(soak_report),
        latency.markdown(latency_report),
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
        "--output", type=Path, default=RESULTS, help=f"Markdown file to write ({RESULTS.name})"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    log.setLevel(logging.INFO)
    command = " ".join(["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])])
    text = asyncio.run(_run(args.quick, command))
    args.output.write_text(text, encoding="utf-8")
    print(text)
    print(f"Wrote {args.output}")


if __name__ == "__main__":
    main()
