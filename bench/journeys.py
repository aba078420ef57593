"""Complete signing journeys per second: the real bot, the fake Bot API, three processes.

- `bench.fake_server`: the fake Telegram with an injected latency per Bot API call, and the
  simulated supporters, who all start at once and press the buttons as soon as they appear;
- `bench.bot_process`: the bot under test (ours, or the naive baseline), long polling;
- this process: starts both, reads the bot's CPU time and memory from /proc, collects.

So the bot's CPU and RSS are its own: the fake server's work (HTTP, HTML checks, deep copies)
runs on the other core. Step times are measured by the supporters, from pushing an update to
seeing the answer, and reported above the floor of one Bot API round trip (a press is
answered and edited in parallel; /start is one sendMessage).
"""

from __future__ import annotations

import asyncio
import json
import signal
import statistics
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp
import asyncpg

from bench import procstat
from storage.postgres import split_schema

PROJECT_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60.0
WARM_UP_SUPPORTERS = 10


class ProcessFailed(RuntimeError):
    pass


@asynccontextmanager
async def _process(name: str, *arguments: str, log_folder: Path) -> Any:
    """Run `python -m <name> ...`; yield (process, its first stdout line as JSON)."""
    log_path = log_folder / f"{name.rsplit('.', 1)[-1]}.log"
    with _open_log(log_path) as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            name,
            *arguments,
            cwd=PROJECT_ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
        )
        try:
            assert process.stdout is not None
            try:
                line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT)
            except TimeoutError:
                line = b""
            if not line:
                raise ProcessFailed(f"{name} did not start:\n{_tail(log_path)}")
            yield process, json.loads(line)
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(process.wait(), 30)
                except TimeoutError:
                    process.kill()
                    await process.wait()


def _open_log(path: Path) -> BinaryIO:
    """The child's stderr goes to a file: shown when it fails to start or journeys fail."""
    return path.open("wb")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


async def _control(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> Any:
    async with session.post(url, json=body) as response:
        response.raise_for_status()
        return await response.json()


async def drop_schema(database_url: str) -> None:
    """Remove a benchmark's PostgreSQL schema (signatures from a run must not pile up)."""
    dsn, schema = split_schema(database_url)
    if not schema:
        return
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await connection.close()


def postgres_url(base: str, name: str) -> str:
    """A fresh schema per run: `?schema=bench_<name>_<random>` on the base URL."""
    dsn, _ = split_schema(base)
    separator = "&" if "?" in dsn else "?"
    return f"{dsn}{separator}schema=bench_{name}_{uuid.uuid4().hex[:8]}"


async def run(
    supporters: int,
    latency: float,
    database_url: str | None = None,
    *,
    naive: bool = False,
    bare: bool = False,
    profile: Path | None = None,
    settings: dict[str, Any] | None = None,
    arrival_rate: float | None = None,
) -> dict[str, Any]:
    """N supporters walk the whole journey (at once, or arriving `arrival_rate` per second);
    the figures of the bot's process."""
    phases = [(supporters, arrival_rate)]
    return (
        await run_phases(
            phases,
            latency,
            database_url,
            naive=naive,
            bare=bare,
            profile=profile,
            settings=settings,
        )
    )[0]


@dataclass(frozen=True)
class Phase:
    """One measured run: supporters all at once (`arrival_rate` None) or arriving so many a
    second; `flood_every`: one chat in that many gets a 429 on its first write; `before`:
    what to do first (given the control session and the fake server's URL)."""

    supporters: int
    arrival_rate: float | None = None
    scenario: str = ""
    flood_every: int = 0
    flood_seconds: int = 5
    before: Callable[[aiohttp.ClientSession, str], Awaitable[None]] | None = None


async def run_phases(
    phases: Sequence[Phase | tuple[int, float | None]],
    latency: float,
    database_url: str | None = None,
    *,
    naive: bool = False,
    bare: bool = False,
    webhook: bool = False,
    profile: Path | None = None,
    settings: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """One bot process, several measured runs of (supporters, arrival rate) one after another.

    Starting the two processes costs seconds, so the all-at-once run and the paced one share
    them; each phase has supporters of its own (new user ids), so every journey is a first.
    """
    phases = [phase if isinstance(phase, Phase) else Phase(*phase) for phase in phases]
    backend = (
        "naive" if naive else "bare-ptb" if bare else (database_url or "sqlite").split(":", 1)[0]
    )
    summaries = []
    with tempfile.TemporaryDirectory() as folder:
        logs = Path(folder)
        async with AsyncExitStack() as stack:
            _, server = await stack.enter_async_context(
                _process("bench.fake_server", "--latency", str(latency), log_folder=logs)
            )
            bot_arguments = ["--api", server["url"], "--token", server["token"]]
            if naive:
                bot_arguments.append("--naive")
            if bare:
                bot_arguments.append("--bare")
            if database_url:
                bot_arguments += ["--database", database_url]
            if profile is not None:
                bot_arguments += ["--profile", str(profile)]
            if settings:
                bot_arguments += ["--settings", json.dumps(settings)]
            if webhook:
                bot_arguments.append("--webhook")
            bot_process, ready = await stack.enter_async_context(
                _process("bench.bot_process", *bot_arguments, log_folder=logs)
            )
            timeout = aiohttp.ClientTimeout(total=3600)
            session = await stack.enter_async_context(aiohttp.ClientSession(timeout=timeout))
            if webhook:
                await _control(
                    session, f"{server['url']}/bench/webhook", {"targets": [ready["webhook"]]}
                )
            control = f"{server['url']}/bench/journeys"
            # Imports, caches and connections warm up on a few journeys; the naive bot's
            # take a second each, and one is enough for it.
            warm_up = 1 if naive else WARM_UP_SUPPORTERS
            warm = await _control(session, control, {"supporters": warm_up, "first_user": 10_000})
            if warm["completed"] != warm_up:
                raise ProcessFailed(
                    f"warm-up journeys failed: {warm['errors']}\n{_tail(logs / 'bot_process.log')}"
                )
            pg_pids = procstat.postgres_pids() if backend.startswith("postgres") else []
            first_user = 1_000_000
            for phase in phases:
                supporters, arrival_rate = phase.supporters, phase.arrival_rate
                if phase.before is not None:
                    await phase.before(session, server["url"])
                flood = {"every": phase.flood_every, "retry_after": phase.flood_seconds}
                await _control(session, f"{server['url']}/bench/flood", flood)
                pg_before = procstat.children_cpu(pg_pids)
                before = procstat.sample(bot_process.pid)
                body = {
                    "supporters": supporters,
                    "first_user": first_user,
                    "arrival_rate": arrival_rate,
                }
                result = await _control(session, control, body)
                after = procstat.sample(bot_process.pid)
                pg_cpu = procstat.children_cpu(pg_pids) - pg_before
                first_user += supporters
                await _control(session, f"{server['url']}/bench/flood", {"every": 0})
                if result["error_count"]:
                    print(
                        f"  {result['error_count']} journeys failed, e.g. {result['errors'][:2]}"
                        f"\n{_tail(logs / 'bot_process.log', 10)}",
                        file=sys.stderr,
                    )
                summary = summarise(backend, supporters, latency, result, before, after, pg_cpu)
                summary["arrival_rate"] = arrival_rate  # None: all at once
                summary["scenario"] = phase.scenario or ("webhook" if webhook else "polling")
                summaries.append(summary)
    return summaries


def summarise(
    backend: str,
    supporters: int,
    latency: float,
    result: dict[str, Any],
    before: procstat.Sample,
    after: procstat.Sample,
    pg_cpu: float,
) -> dict[str, Any]:
    seconds = result["seconds"]
    completed = result["completed"]
    above_floor = [step - latency for step in result["step_times"]]
    quantiles = statistics.quantiles(above_floor, n=100) if len(above_floor) > 1 else [0.0] * 99
    bot_cpu = after.cpu - before.cpu
    return {
        "backend": backend,
        "supporters": supporters,
        "completed": completed,
        "latency_ms": round(latency * 1000, 1),
        "seconds": round(seconds, 2),
        "journeys_per_second": round(completed / seconds, 2),
        "step_p50_ms_above_floor": round(quantiles[49] * 1000, 1),
        "step_p99_ms_above_floor": round(quantiles[98] * 1000, 1),
        "bot_cpu_ms_per_journey": round(bot_cpu * 1000 / max(completed, 1), 2),
        "bot_cpu_utilisation": round(bot_cpu / seconds, 2),  # 1.0 = one core busy
        "bot_peak_rss_mb": procstat.mb(after.peak_rss),
        "bot_rss_after_mb": procstat.mb(after.rss),
        "server_cpu_utilisation": round(result["server_cpu"] / seconds, 2),
        "postgres_cpu_utilisation": round(pg_cpu / seconds, 2) if pg_cpu else None,
        "bot_api_calls_per_journey": round(result["bot_api_calls"] / max(completed, 1), 1),
        "flooded_chats": result.get("flooded", 0),
        # The supporters Telegram did not slow down: their journeys/s until the last ended.
        "others_journeys_per_second": round(
            result.get("others_completed", completed) / result.get("others_seconds", seconds), 2
        ),
        "recipient_sends_per_second": round(result.get("recipient_sends", 0) / seconds, 2),
        "steps_per_journey": round(len(result["step_times"]) / max(supporters, 1), 1),
    }
