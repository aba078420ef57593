"""`python -m bench [--quick] [--supporters N] [--latency-ms MS] [--postgres URL]`.

Prints a table and writes bench/results/latest.json. The fake Bot API server, the simulated
supporters and the bot share one process (and this machine's 2 cores), so the CPU figures
include the simulation; compare runs on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
from datetime import UTC, datetime
from pathlib import Path

from bench import journeys

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small run, under a minute")
    parser.add_argument("--supporters", type=int, default=None)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--postgres", help="also run on this PostgreSQL URL (?schema=… advised)")
    arguments = parser.parse_args()
    supporters = arguments.supporters or (200 if arguments.quick else 2000)
    latency = arguments.latency_ms / 1000
    results = [journeys.run(supporters, latency)]
    if arguments.postgres:
        results.append(journeys.run(supporters, latency, arguments.postgres))
    rows = [journeys.as_row(asyncio.run(result)) for result in results]
    print(
        f"{'backend':<10} {'supporters':>10} {'journeys/s':>11} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'cpu ms/j':>9} {'rss MB':>7}"
    )
    for row in rows:
        print(
            f"{row['backend']:<10} {row['supporters']:>10} {row['journeys_per_second']:>11} "
            f"{row['step_p50_ms_above_floor']:>8} {row['step_p99_ms_above_floor']:>8} "
            f"{row['cpu_ms_per_journey']:>9} {row['peak_rss_mb']:>7}"
        )
    RESULTS.mkdir(exist_ok=True)
    report = {
        "taken": datetime.now(UTC).isoformat(),
        "machine": platform.platform(),
        "python": platform.python_version(),
        "journeys": rows,
    }
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
