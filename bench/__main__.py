"""`python -m bench [--quick] [journeys baseline floor storage memory broadcast profile countries]`.

Runs the benchmarks of issue 7 (all of them by default, or the ones named), prints a table per
benchmark and a verdict against each target, and writes bench/results/latest.json (merged:
naming one benchmark replaces only its section) with a description of the machine, plus
bench/results/README_section.md with the figures for the README (full runs only). Figures
are printed, never asserted: this machine has 2 shared cores and its numbers move with the
neighbours' load.

`--quick` finishes in about a minute with small sizes; the full run takes about half an hour
(the 10M-signature storage fill alone is ~10 minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pstats
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from bench import (
    broadcast_bench,
    countries_bench,
    floor,
    journeys,
    limits,
    memory,
    procstat,
    report,
    storage_bench,
)

RESULTS = Path(__file__).parent / "results"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
ALL = (
    "journeys",
    "limits",
    "baseline",
    "floor",
    "storage",
    "memory",
    "broadcast",
    "profile",
    "countries",
)
QUICK_DEFAULT = ("journeys", "limits", "baseline", "floor", "storage", "memory", "broadcast")


def sizes(quick: bool) -> dict[str, Any]:
    """How big each benchmark runs, quick or full."""
    if quick:
        return {
            "supporters": 100,
            "paced_supporters": 30,
            "bare_supporters": 0,
            "baseline_supporters": 3,
            "floor_supporters": 100,
            "storage_sizes": [10_000],
            "sign_sample": 300,
            "memory_warm_up": 100,
            "memory_checkpoints": [200, 400],
            "broadcast_paced": 40,
            "broadcast_scale": 2_000,
            "profile_supporters": 100,
            "limits_supporters": 200,
            "limits_signing_supporters": 150,
            "limits_recipients": 1_000,
        }
    return {
        "supporters": 2_000,
        "paced_supporters": 2_000,
        "bare_supporters": 2_000,
        "baseline_supporters": 30,
        "floor_supporters": 1_000,
        "storage_sizes": [10_000, 1_000_000, 10_000_000],
        "sign_sample": 2_000,
        "memory_warm_up": 1_000,
        "memory_checkpoints": [10_000, 40_000],
        "broadcast_paced": 1_000,
        "broadcast_scale": 100_000,
        "profile_supporters": 500,
        "limits_supporters": 2_000,
        "limits_signing_supporters": 1_500,
        "limits_recipients": 10_000,
    }


async def postgres_available(url: str) -> bool:
    try:
        connection = await asyncpg.connect(url, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await connection.close()
    return True


async def run_journeys(arguments: argparse.Namespace, size: dict[str, Any]) -> dict[str, Any]:
    """Each backend: supporters arriving at the target rate (step latency at that load), then
    everyone at once (throughput). In that order: the burst leaves work behind in the database
    (PostgreSQL's autovacuum of a burst's upserts takes a core for a while) that would
    otherwise land on the latency run."""
    latency = arguments.latency_ms / 1000
    phases = [(size["paced_supporters"], arguments.arrival_rate), (size["supporters"], None)]
    rows = await journeys.run_phases(phases, latency)
    if arguments.postgres:
        url = journeys.postgres_url(arguments.postgres, "journeys")
        try:
            rows += await journeys.run_phases(phases, latency, url)
        finally:
            await journeys.drop_schema(url)
    return {"rows": rows}


async def run_limits(arguments: argparse.Namespace, size: dict[str, Any]) -> dict[str, Any]:
    rows = await limits.run(
        size["limits_supporters"],
        size["limits_signing_supporters"],
        size["limits_recipients"],
        arguments.latency_ms / 1000,
    )
    return {"rows": rows}


async def run_baseline(arguments: argparse.Namespace, size: dict[str, Any]) -> dict[str, Any]:
    # The naive bot handles one update at a time, so its rate does not depend on how many
    # supporters queue up: a few dozen give its figure without an hour of waiting.
    row = await journeys.run(size["baseline_supporters"], arguments.latency_ms / 1000, naive=True)
    return {"rows": [row]}


async def run_floor(arguments: argparse.Namespace, size: dict[str, Any]) -> dict[str, Any]:
    result = await floor.run(size["floor_supporters"])
    if size["bare_supporters"]:
        # The floor over real HTTP: bare PTB in the journey set-up (full run only: it costs
        # two process start-ups).
        result["bare_over_http"] = await journeys.run(
            size["bare_supporters"], arguments.latency_ms / 1000, bare=True
        )
    return result


async def run_storage(arguments: argparse.Namespace, size: dict[str, Any]) -> dict[str, Any]:
    rows = await storage_bench.run(size["storage_sizes"], arguments.postgres, size["sign_sample"])
    return {"rows": rows}


async def run_memory(arguments: argparse.Namespace, size: dict[str, Any]) -> dict[str, Any]:
    checkpoints = size["memory_checkpoints"]
    if arguments.memory_checkpoints:
        checkpoints = [int(value) for value in arguments.memory_checkpoints.split(",")]
    return await memory.run(checkpoints, arguments.memory_driver, size["memory_warm_up"])


async def run_broadcast(arguments: argparse.Namespace, size: dict[str, Any]) -> dict[str, Any]:
    rows = await broadcast_bench.run(
        size["broadcast_paced"],
        size["broadcast_scale"],
        arguments.latency_ms / 1000,
        without_faults=not arguments.quick,
    )
    return {"rows": rows}


async def run_profile(arguments: argparse.Namespace, size: dict[str, Any]) -> dict[str, Any]:
    """The journey benchmark (SQLite) with the bot process under cProfile."""
    RESULTS.mkdir(exist_ok=True)
    stats_path = RESULTS / "profile.pstats"
    row = await journeys.run(
        size["profile_supporters"], arguments.latency_ms / 1000, profile=stats_path
    )
    stats = pstats.Stats(str(stats_path))
    text_path = RESULTS / "profile.txt"
    write_profile_text(stats, text_path)
    return {"run": row, "top": report.profile_top(stats, 15), "files": [str(text_path)]}


def write_profile_text(stats: pstats.Stats, path: Path) -> None:
    """The 40 functions with the most own time, then ours by time including callees."""
    with path.open("w", encoding="utf-8") as out:
        stats.stream = out  # type: ignore[attr-defined]
        stats.sort_stats("tottime").print_stats(40)
        stats.sort_stats("cumulative").print_stats(r"/(bot|storage)/", 40)


async def run_countries(arguments: argparse.Namespace, size: dict[str, Any]) -> dict[str, Any]:
    return {"rows": countries_bench.run(rounds=1 if arguments.quick else 3)}


RUNNERS: dict[str, Callable[[argparse.Namespace, dict[str, Any]], Any]] = {
    "journeys": run_journeys,
    "limits": run_limits,
    "baseline": run_baseline,
    "floor": run_floor,
    "storage": run_storage,
    "memory": run_memory,
    "broadcast": run_broadcast,
    "profile": run_profile,
    "countries": run_countries,
}


async def run_all(arguments: argparse.Namespace) -> dict[str, Any]:
    size = sizes(arguments.quick)
    if arguments.supporters:
        size["supporters"] = arguments.supporters
    if arguments.postgres and not await postgres_available(arguments.postgres):
        print(f"PostgreSQL at {arguments.postgres} is not reachable: SQLite only", file=sys.stderr)
        arguments.postgres = None
    chosen = arguments.benchmarks or (QUICK_DEFAULT if arguments.quick else ALL)
    sections: dict[str, Any] = {}
    for name in chosen:
        print(f"== {name} ...", file=sys.stderr, flush=True)
        started = datetime.now(UTC)
        try:
            result = await RUNNERS[name](arguments, size)
        except Exception as error:  # one failing benchmark must not lose the others' figures
            print(f"   {name} failed: {error!r}", file=sys.stderr)
            result = {"error": repr(error)}
        seconds = (datetime.now(UTC) - started).total_seconds()
        sections[name] = {"taken": started.isoformat(), "run_seconds": round(seconds, 1), **result}
        print(report.section(name, sections[name]), flush=True)
    return sections


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("benchmarks", nargs="*", metavar="BENCHMARK", help=" ".join(ALL))
    parser.add_argument("--quick", action="store_true", help="small sizes: about a minute")
    parser.add_argument("--supporters", type=int, help="journey benchmark size")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="per Bot API call")
    parser.add_argument(
        "--arrival-rate",
        type=float,
        default=100.0,
        help="journeys/s at which supporters arrive in the latency run (default: the target)",
    )
    parser.add_argument(
        "--postgres", default=DEFAULT_POSTGRES, help="PostgreSQL URL (a schema per run)"
    )
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument(
        "--memory-checkpoints",
        help="supporters at which RSS is read, e.g. 10000,1000000 (the full 1M case takes "
        "about 4 h with the app driver, 1.5 h with the service driver)",
    )
    parser.add_argument(
        "--memory-driver",
        choices=("app", "service"),
        default="app",
        help="app: the whole PTB application in-process; service: JourneyService.handle only",
    )
    arguments = parser.parse_args()
    unknown = [name for name in arguments.benchmarks if name not in ALL]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)} (choose from {', '.join(ALL)})")
    if arguments.no_postgres:
        arguments.postgres = None
    machine = procstat.machine()
    sections = asyncio.run(run_all(arguments))
    mode = "quick" if arguments.quick else "full"
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "latest.json"
    document: dict[str, Any] = {}
    if path.exists():
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            document = {}
    if document.get("mode") != mode:
        document = {}  # quick and full figures are not to be mixed in one file
    document.update({"mode": mode, "machine": machine, "updated": datetime.now(UTC).isoformat()})
    document.setdefault("benchmarks", {}).update(sections)
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    (RESULTS / f"{mode}.json").write_text(json.dumps(document, indent=2), encoding="utf-8")
    verdicts = report.verdicts(document["benchmarks"])
    print(report.verdict_table(verdicts))
    written = [path, RESULTS / f"{mode}.json"]
    if mode == "full":  # quick figures are a smoke test, not what the README should quote
        (RESULTS / "README_section.md").write_text(
            report.readme_section(document, verdicts), encoding="utf-8"
        )
        written.append(RESULTS / "README_section.md")
    print(f"\nwrote {', '.join(map(str, written))}")


if __name__ == "__main__":
    main()
