"""Broadcast: the real `BroadcastSender` (bot/features/broadcast.py) on real storage.

Two runs, because the issue's 100k recipients at the configured rate (20/s by default) would
take 83 minutes:

- `paced`: recipients at the configured rate through the real PTB bot (our rate limiter,
  aiohttp) and the fake Bot API in its own process, with its latency per call and 429s
  injected during the run: the rate achieved, and each chat's count of messages received;
- `scale`: 100k opted-in signers (full run) sent as fast as the sender can go, to an in-process
  bot that answers at once and throws a 429 every so often: 0 duplicates at that size, and
  what the storage side of a delivery costs.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
from telegram.error import RetryAfter
from telegram.ext import ExtBot

from bench.journeys import _control, _process
from bench.storage_bench import BULK_USER_BASE, PETITION, _sqlite_bulk
from bot.app import limits_of
from bot.broadcasting import BroadcastSender
from bot.ratelimit import BroadcastGate, PacingRateLimiter
from bot.request import AiohttpRequest
from bot.settings import Settings
from storage import open_storage
from storage.base import Storage
from storage.records import BroadcastState, Delivery

RETRY_AFTER_SECONDS = 1  # each injected 429 asks for this much silence
ADMIN = 42  # the admin who confirmed it: progress reports go to this chat
TEXT = "<b>We reached 100,000 signatures.</b> Thank you for standing with us!"


def _recipients(signers: int) -> list[int]:
    """User ids of the bulk-loaded signers who asked for updates (every third one)."""
    return [BULK_USER_BASE + number for number in range(1, signers + 1) if number % 3 == 0]


async def _prepare(folder: Path, opted_in: int) -> tuple[Storage, int, list[int]]:
    """A database with `opted_in` signers who want updates, and a confirmed broadcast."""
    path = folder / "broadcast.db"
    storage = open_storage(f"sqlite:///{path}")
    await storage.open()
    signers = opted_in * 3
    await asyncio.to_thread(_sqlite_bulk, str(path), 1, signers)
    broadcast_id = await storage.create_broadcast(PETITION, ADMIN, TEXT, now=datetime.now(UTC))
    moved = await storage.set_broadcast_state(
        broadcast_id, BroadcastState.SENDING, expected=BroadcastState.DRAFT
    )
    assert moved
    return storage, broadcast_id, _recipients(signers)


def _sender(
    bot: Any, storage: Storage, rate: float, gate: BroadcastGate | None = None
) -> BroadcastSender:
    return BroadcastSender(
        bot,
        storage,
        PETITION,
        clock=lambda: datetime.now(UTC),
        language="en",
        rate=rate,
        gate=gate,
    )


async def run_paced(opted_in: int, latency: float, *, faults: bool = True) -> dict[str, Any]:
    """At the configured rate, over HTTP to the fake Bot API (with 429s injected, or none)."""
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    rate = settings.broadcast_rate
    with tempfile.TemporaryDirectory() as folder:
        storage, broadcast_id, recipients = await _prepare(Path(folder), opted_in)
        async with (
            _process("bench.fake_server", "--latency", str(latency), log_folder=Path(folder)) as (
                _,
                server,
            ),
            aiohttp.ClientSession() as session,
        ):
            await _control(session, f"{server['url']}/bench/chats", {"user_ids": [ADMIN]})
            await _control(session, f"{server['url']}/bench/chats", {"user_ids": recipients})
            limiter = PacingRateLimiter(limits_of(settings))  # as the application has it
            bot = ExtBot(
                server["token"],
                base_url=f"{server['url']}/bot",
                request=AiohttpRequest(connection_pool_size=8),
                rate_limiter=limiter,
            )
            async with bot:
                sender = _sender(bot, storage, rate, limiter.broadcast_gate)
                injecting = asyncio.create_task(
                    _inject_429s(session, server["url"]) if faults else asyncio.sleep(0)
                )
                started = time.perf_counter()
                try:
                    await sender.send_due()
                finally:
                    injecting.cancel()
                seconds = time.perf_counter() - started
            received = await _control(
                session, f"{server['url']}/bench/sends", {"user_ids": recipients}
            )
        final = await storage.get_broadcast(broadcast_id)
        await storage.close()
    assert final is not None
    sent = final.progress.get(Delivery.SENT, 0)
    return {
        "run": "paced" if faults else "paced, no 429",
        "recipients": len(recipients),
        "latency_ms": round(latency * 1000, 1),
        "configured_rate": rate,
        "achieved_rate": round(sent / seconds, 2),
        # Telegram's 429s ask for silence (the sender pauses every send):
        # the rate over the rest of the time is what the pacing itself achieves.
        "achieved_rate_outside_429_pauses": round(
            sent / max(seconds - received["silence_asked_seconds"], 1e-9), 2
        ),
        "silence_asked_seconds": received["silence_asked_seconds"],
        "seconds": round(seconds, 1),
        "sent": sent,
        "unknown": final.progress.get(Delivery.SENDING, 0),
        "state": final.state.value,
        "rate_limited_answers": received["rate_limited_answers"],
        "chats_received_once": received["received_once"],
        "chats_never_received": received["received_never"],
        "duplicate_sends": received["received_more_than_once"],
    }


async def _inject_429s(session: aiohttp.ClientSession, url: str) -> None:
    """Four 429s in a row after 1 s, then one every 15 s (each reaches the sender, which goes
    quiet for the time asked)."""
    elapsed = 0
    while True:
        await asyncio.sleep(1)
        elapsed += 1
        times = 4 if elapsed == 1 else 1 if elapsed % 15 == 0 else 0
        if times:
            await _control(
                session,
                f"{url}/bench/fail",
                {
                    "method": "sendMessage",
                    "status": 429,
                    "retry_after": RETRY_AFTER_SECONDS,
                    "times": times,
                },
            )


class InstantBot:
    """Answers at once and counts each chat's messages; every 997th send is a 429."""

    def __init__(self) -> None:
        self.received: Counter[int] = Counter()
        self.calls = 0
        self.rate_limited = 0

    async def send_message(self, chat_id: int, text: str, **_: Any) -> SimpleNamespace:
        self.calls += 1
        if self.calls % 997 == 0:
            self.rate_limited += 1
            raise RetryAfter(timedelta(milliseconds=20))
        self.received[chat_id] += 1
        return SimpleNamespace(message_id=self.calls)

    async def edit_message_text(self, *_: Any, **__: Any) -> bool:
        return True

    async def delete_message(self, *_: Any, **__: Any) -> bool:
        return True


async def run_scale(opted_in: int) -> dict[str, Any]:
    """As fast as the sender goes (no pacing to speak of), to check the bookkeeping at size."""
    with tempfile.TemporaryDirectory() as folder:
        storage, broadcast_id, recipients = await _prepare(Path(folder), opted_in)
        bot = InstantBot()
        sender = _sender(bot, storage, rate=1_000_000)
        cpu = time.process_time()
        started = time.perf_counter()
        await sender.send_due()
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
        final = await storage.get_broadcast(broadcast_id)
        await storage.close()
    assert final is not None
    received = Counter(bot.received.get(user_id, 0) for user_id in recipients)
    sent = final.progress.get(Delivery.SENT, 0)
    return {
        "run": "scale",
        "recipients": len(recipients),
        "latency_ms": 0.0,
        "configured_rate": None,
        "achieved_rate": round(sent / seconds, 1),
        "seconds": round(seconds, 1),
        "sent": sent,
        "unknown": final.progress.get(Delivery.SENDING, 0),
        "state": final.state.value,
        "rate_limited_answers": bot.rate_limited,
        "chats_received_once": received.get(1, 0),
        "chats_never_received": received.get(0, 0),
        "duplicate_sends": sum(n for k, n in received.items() if k > 1),
        "cpu_ms_per_delivery": round(cpu * 1000 / max(sent, 1), 3),
    }


async def run(
    paced: int, scale: int, latency: float, *, without_faults: bool = False
) -> list[dict[str, Any]]:
    rows = [await run_paced(paced, latency)]
    if without_faults:  # what the pacing alone achieves at this latency
        rows.append(await run_paced(paced, latency, faults=False))
    return [*rows, await run_scale(scale)]
