"""Complete signing journeys per second through the real bot and the fake Bot API.

N simulated supporters walk the whole journey at once against the fake Bot API server with an
injected latency per Bot API call; we report journeys/s, the time each step takes above the
latency floor (p50/p99), CPU time per journey and peak RSS.
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bot.petition import load_petition
from bot.settings import DEFAULT_PETITION_FILE
from tests.fakes import FakeBotAPI, FakeUser
from tests.harness import BotInstance

STEPS = ("Sign the petition", "Canada", "or older", "I agree", "Use this name", "Sign now")


@dataclass
class JourneyResult:
    backend: str
    supporters: int
    latency_ms: float
    seconds: float
    journeys_per_second: float
    step_p50_ms_above_floor: float
    step_p99_ms_above_floor: float
    cpu_ms_per_journey: float
    peak_rss_mb: float


async def _walk(user: FakeUser, step_times: list[float], floor: float) -> None:
    started = time.perf_counter()
    await user.send("/start", timeout=120)
    step_times.append(time.perf_counter() - started - floor)
    for label in STEPS:
        started = time.perf_counter()
        await user.press(label, timeout=120)
        step_times.append(time.perf_counter() - started - floor)
    if "You are signer #" not in user.last:
        raise RuntimeError(f"journey did not finish: {user.last!r}")


async def run(supporters: int, latency: float, database_url: str | None = None) -> JourneyResult:
    petition = load_petition(DEFAULT_PETITION_FILE)
    with tempfile.TemporaryDirectory() as folder:
        url = database_url or f"sqlite:///{Path(folder) / 'bench.db'}"
        async with (
            FakeBotAPI(latency=latency) as server,
            BotInstance(server, url, petition, max_concurrent_updates=512),
        ):
            users = [
                server.user(1_000_000 + index, f"Bench {index}") for index in range(supporters)
            ]
            step_times: list[float] = []
            # A press costs at least one Bot API round trip (edit, answer in parallel).
            floor = latency
            cpu_before = time.process_time()
            started = time.perf_counter()
            await asyncio.gather(*(_walk(user, step_times, floor) for user in users))
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu_before
    quantiles = statistics.quantiles(step_times, n=100)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return JourneyResult(
        backend=url.split(":", 1)[0],
        supporters=supporters,
        latency_ms=latency * 1000,
        seconds=round(seconds, 2),
        journeys_per_second=round(supporters / seconds, 1),
        step_p50_ms_above_floor=round(quantiles[49] * 1000, 1),
        step_p99_ms_above_floor=round(quantiles[98] * 1000, 1),
        cpu_ms_per_journey=round(cpu * 1000 / supporters, 2),
        peak_rss_mb=round(peak_rss_mb, 1),
    )


def as_row(result: JourneyResult) -> dict[str, object]:
    return asdict(result)
