"""The bot with its default settings under Telegram's limits (issue 15).

Every run uses the production defaults, rate limiter included, at 50 ms per Bot API call:

- polling, supporters all at once; then again while one chat in 50 is answered 429 (retry
  after 5 s) on its first send or edit: the other supporters' journeys/s against the run
  without;
- webhook mode, supporters all at once (Telegram posting to the bot, at most its
  `max_connections` updates at a time);
- supporters arriving at 100 a second, then again while a broadcast to 10,000 supporters is
  sending: their p99 step time against the run without, and the broadcast's rate meanwhile.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench import journeys, storage_bench
from bench.journeys import Phase, _control
from bot.petition import load_petition
from bot.settings import DEFAULT_PETITION_FILE, Settings
from storage import open_storage
from storage.records import BroadcastState

FLOOD_EVERY = 50
FLOOD_SECONDS = 5
ARRIVAL_RATE = 100.0
ADMIN = 42  # who confirmed the broadcast: its progress messages go there
BROADCAST_START_TIMEOUT = 30.0


async def run(
    supporters: int, signing_supporters: int, recipients: int, latency: float
) -> list[dict[str, Any]]:
    rows = await journeys.run_phases(
        [
            Phase(supporters, scenario="polling"),
            Phase(
                supporters,
                scenario=f"polling, 1 chat in {FLOOD_EVERY} gets a 429 of {FLOOD_SECONDS} s",
                flood_every=FLOOD_EVERY,
                flood_seconds=FLOOD_SECONDS,
            ),
        ],
        latency,
    )
    rows += await journeys.run_phases(
        [Phase(supporters, scenario="webhook")], latency, webhook=True
    )
    rows += await during_broadcast(signing_supporters, recipients, latency)
    return rows


async def during_broadcast(
    signing_supporters: int, recipients: int, latency: float
) -> list[dict[str, Any]]:
    """Supporters arriving at 100/s, without and then with a broadcast sending meanwhile."""
    petition = load_petition(DEFAULT_PETITION_FILE)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "broadcast.db"
        database_url = f"sqlite:///{path}"
        recipient_ids = await _prepare(database_url, path, petition.id, recipients)

        async def start_broadcast(session: aiohttp.ClientSession, server: str) -> None:
            await _control(session, f"{server}/bench/chats", {"user_ids": [ADMIN]})
            before = await _control(session, f"{server}/bench/recipients", {"user_ids": []})
            await _control(session, f"{server}/bench/recipients", {"user_ids": recipient_ids})
            storage = open_storage(database_url)
            await storage.open()
            try:
                broadcast_id = await storage.create_broadcast(
                    petition.id, ADMIN, "Thank you: we are halfway there.", now=datetime.now(UTC)
                )
                await storage.set_broadcast_state(
                    broadcast_id, BroadcastState.SENDING, expected=BroadcastState.DRAFT
                )
            finally:
                await storage.close()
            # The sender looks for work every few seconds: measure once it is sending.
            deadline = time.monotonic() + BROADCAST_START_TIMEOUT
            while time.monotonic() < deadline:
                sends = await _control(session, f"{server}/bench/sends", {"user_ids": []})
                if sends["recipient_sends"] > before["sends"]:
                    return
                await asyncio.sleep(0.2)
            raise RuntimeError("the broadcast did not start")

        rows = await journeys.run_phases(
            [
                Phase(signing_supporters, ARRIVAL_RATE, scenario="polling, arriving"),
                Phase(
                    signing_supporters,
                    ARRIVAL_RATE,
                    scenario=f"polling, arriving, during a {recipients:,}-recipient broadcast",
                    before=start_broadcast,
                ),
            ],
            latency,
            database_url,
        )
    rows[-1]["broadcast_rate_configured"] = Settings(_env_file=None).broadcast_rate  # type: ignore[call-arg]
    return rows


async def _prepare(database_url: str, path: Path, petition_id: str, recipients: int) -> list[int]:
    """The bot's database with `recipients` signers who asked for updates (and twice as many
    who did not)."""
    storage = open_storage(database_url)
    await storage.open()  # the schema
    await storage.close()
    signers = recipients * 3
    await asyncio.to_thread(storage_bench._sqlite_bulk, str(path), 1, signers, petition_id)
    return [
        storage_bench.BULK_USER_BASE + number for number in range(1, signers + 1) if number % 3 == 0
    ]
