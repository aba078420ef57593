"""Memory of the bot process as distinct supporters pile up: does RSS stay flat?

`python -m bench.memory --checkpoints 10000,100000` runs in a fresh process (so nothing else
is in its RSS) and prints one JSON line. Each supporter walks the whole journey once; RSS is
read after a warm-up and at each checkpoint, after a garbage collection.

Two drivers, both without HTTP (a million journeys through the fake server would take hours):

- `app` (default): the real PTB application on the instant in-process transport, so PTB's own
  per-user state (user_data, chat_data), our throttle's buckets and the update processor's
  queues are all in the figure;
- `service`: `JourneyService.handle` directly, for runs too long for the application driver.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from bench import procstat
from bench.inprocess import InProcessBot
from bot.app import use_fast_event_loop
from bot.features.throttle import MAX_TRACKED_USERS, Throttle
from bot.flow import Command, Pressed
from bot.petition import load_petition
from bot.service import JourneyService, Supporter
from bot.settings import DEFAULT_PETITION_FILE
from storage import open_storage

WARM_UP = 1_000
BATCH = 500  # supporters walking at once
FIRST_USER = 3_000_000


def _reading(label: int, started: float) -> dict[str, Any]:
    gc.collect()
    now = procstat.sample()
    return {
        "supporters": label,
        "rss_mb": procstat.mb(now.rss),
        "seconds": round(time.perf_counter() - started, 1),
    }


async def run_app(
    checkpoints: list[int], folder: Path, warm_up: int
) -> tuple[list[dict[str, Any]], dict]:
    petition = load_petition(DEFAULT_PETITION_FILE)
    readings: list[dict[str, Any]] = []
    # The garbage collector tuned as in production: the reading shows what that costs.
    async with InProcessBot(f"sqlite:///{folder / 'memory.db'}", petition, tune_gc=True) as bot:
        pressed = await bot.capture_journey(FIRST_USER - 1)
        # From here on the transport keeps nothing per chat: its memory is not the bot's.
        bot.transport.remember_keyboards = False
        bot.transport.keyboards.clear()
        bot.transport.texts.clear()
        application = bot.application
        assert application is not None
        started = time.perf_counter()
        done = 0
        for target in [warm_up, *checkpoints]:
            while done < target:
                size = min(BATCH, target - done)
                users = range(FIRST_USER + done, FIRST_USER + done + size)
                await bot.feed(bot.journeys(users, pressed))
                done += size
            readings.append(_reading(done, started))
        throttle = application.bot_data.throttle
        structures = {
            "throttle_buckets_at_cap_mb": throttle_buckets_at_cap_mb(),
            "ptb_user_data_entries": len(application.user_data),
            "ptb_chat_data_entries": len(application.chat_data),
            "throttle_buckets": len(throttle) if throttle is not None else None,
        }
    return readings, structures


def throttle_buckets_at_cap_mb() -> float:
    """Memory of the throttle's buckets when full: the one per-supporter structure we keep.

    It is capped (least recently seen out), so beyond the cap RSS should not grow with
    supporters; measured with tracemalloc on a fresh throttle, filled to the cap.
    """
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    throttle = Throttle(per_second=1.0, burst=20)
    for user_id in range(MAX_TRACKED_USERS):
        throttle.check(user_id)
    size = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return procstat.mb(size)


async def run_service(
    checkpoints: list[int], folder: Path, warm_up: int
) -> tuple[list[dict[str, Any]], dict]:
    petition = load_petition(DEFAULT_PETITION_FILE)
    # The button data of one journey (the same for everyone), from the real application.
    async with InProcessBot(f"sqlite:///{folder / 'capture.db'}", petition) as bot:
        pressed = await bot.capture_journey(FIRST_USER - 1)
    storage = open_storage(f"sqlite:///{folder / 'memory.db'}")
    await storage.open()
    service = JourneyService(storage, petition)

    async def walk(user_id: int) -> None:
        supporter = Supporter(user_id, f"Bench {user_id}", "en")
        await service.handle(supporter, Command("start"))
        for data in pressed:
            await service.handle(supporter, Pressed(data), message_id=1_000)

    readings: list[dict[str, Any]] = []
    started = time.perf_counter()
    done = 0
    try:
        for target in [warm_up, *checkpoints]:
            while done < target:
                size = min(BATCH, target - done)
                await asyncio.gather(*(walk(FIRST_USER + done + index) for index in range(size)))
                done += size
            readings.append(_reading(done, started))
    finally:
        await storage.close()
    return readings, {}


def summarise(driver: str, readings: list[dict[str, Any]], structures: dict) -> dict[str, Any]:
    """Growth from the first checkpoint to the last, per supporter and per million."""
    first, last = readings[1], readings[-1]
    added = last["supporters"] - first["supporters"]
    growth = last["rss_mb"] - first["rss_mb"]
    per_supporter = growth * 2**20 / added if added else 0.0
    return {
        "driver": driver,
        "readings": readings,
        "rss_growth_mb": round(growth, 1),
        "bytes_per_supporter": round(per_supporter, 1),
        **structures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoints", default="10000,100000")
    parser.add_argument("--driver", choices=("app", "service"), default="app")
    parser.add_argument("--warm-up", type=int, default=WARM_UP)
    arguments = parser.parse_args()
    checkpoints = [int(value) for value in arguments.checkpoints.split(",")]
    use_fast_event_loop()  # as run_bot.py does
    with tempfile.TemporaryDirectory() as folder:
        runner = run_app if arguments.driver == "app" else run_service
        readings, structures = asyncio.run(runner(checkpoints, Path(folder), arguments.warm_up))
    print(json.dumps(summarise(arguments.driver, readings, structures)), flush=True)


async def run(
    checkpoints: list[int], driver: str = "app", warm_up: int = WARM_UP
) -> dict[str, Any]:
    """Run the memory benchmark in a fresh interpreter; its JSON result."""
    import sys

    from bench.journeys import PROJECT_ROOT

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.memory",
        "--checkpoints",
        ",".join(map(str, checkpoints)),
        "--driver",
        driver,
        "--warm-up",
        str(warm_up),
        cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"bench.memory failed:\n{stderr.decode(errors='replace')[-3000:]}")
    return json.loads(stdout.decode().strip().splitlines()[-1])


if __name__ == "__main__":
    main()
