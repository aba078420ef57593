"""The framework floor: what python-telegram-bot itself costs per update, and our overhead on it.

The same prebuilt updates (N supporters' whole journeys) go through three applications on the
same instant in-process transport, and we compare CPU time per update:

- `ptb_no_work`: PTB with handlers that return at once - dispatch alone;
- `ptb_same_calls`: PTB whose handlers make exactly the Bot API calls ours make (answer the
  button, send or edit the same screen text and keyboard) - the least any bot must do;
- `ours`: the real application (throttle, claims, admin routing, flow, screens, storage).

The ratio against `ptb_same_calls` is our handler + storage overhead (target ≤ 1.5×). Updates
go in through `update_queue`, as polling hands them over; ours also pays polling's inbox write
(one per getUpdates batch of up to 100 updates), as it does in production.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from telegram import InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    filters,
)

from bench.inprocess import (
    InProcessBot,
    count_processed,
    processed,
    receive_in_inbox,
    wait_processed,
)
from bench.transport import TOKEN, InstantTransport, message_update, press_update
from bot.petition import load_petition
from bot.settings import DEFAULT_PETITION_FILE

FIRST_USER = 2_000_000


def _floor_application(
    transport: InstantTransport, screens: dict[str, tuple[str, Any]] | None
) -> Application:
    """A bare PTB application; with `screens`, it answers each press with our screen for it."""
    application = (
        ApplicationBuilder()
        .token(TOKEN)
        .request(transport)
        .get_updates_request(transport)
        .defaults(Defaults(parse_mode=ParseMode.HTML))
        .concurrent_updates(256)
        .updater(None)
        .build()
    )

    async def on_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if screens is not None and update.message is not None:
            text, markup = screens["/start"]
            await update.message.reply_text(text, reply_markup=markup)

    async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if screens is None or query is None:
            return
        text, markup = screens[query.data or ""]
        answered = asyncio.create_task(query.answer())
        await query.edit_message_text(text, reply_markup=markup)
        await answered

    application.add_handler(MessageHandler(filters.ALL, on_message))
    application.add_handler(CallbackQueryHandler(on_button))
    count_processed(application)
    return application


async def _measure(
    application: Application, transport: InstantTransport, updates: list[dict[str, Any]]
) -> dict[str, float]:
    """CPU and wall time to process `updates` (already built: not part of the measure)."""
    parsed = [Update.de_json(raw, application.bot) for raw in updates]
    target = processed(application) + len(parsed)
    cpu = time.process_time()
    main_thread_cpu = time.thread_time()
    started = time.perf_counter()
    await receive_in_inbox(application, updates)
    for update in parsed:
        await application.update_queue.put(update)
    await wait_processed(application, target)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    main_thread_cpu = time.thread_time() - main_thread_cpu
    return {
        "updates": len(parsed),
        # The rest of the CPU time is SQLite's, in aiosqlite's thread.
        "event_loop_cpu_us_per_update": round(main_thread_cpu * 1e6 / len(parsed), 1),
        "seconds": round(seconds, 3),
        "updates_per_second": round(len(parsed) / seconds, 1),
        "cpu_us_per_update": round(cpu * 1e6 / len(parsed), 1),
    }


async def _run_floor(
    updates: list[dict[str, Any]], screens: dict[str, tuple[str, Any]] | None
) -> dict[str, float]:
    transport = InstantTransport(remember_keyboards=screens is not None)
    application = _floor_application(transport, screens)
    async with application:
        await application.start()
        # Warm up on a copy of the first journey's worth, so imports and caches are not counted.
        await _measure(application, transport, updates[: min(len(updates), 70)])
        result = await _measure(application, transport, updates)
        await application.stop()
    return result


async def run(supporters: int, database_url: str | None = None) -> dict[str, object]:
    petition = load_petition(DEFAULT_PETITION_FILE)
    with tempfile.TemporaryDirectory() as folder:
        url = database_url or f"sqlite:///{Path(folder) / 'floor.db'}"
        async with InProcessBot(url, petition) as bot:
            pressed = await bot.capture_journey(FIRST_USER - 1)
            # Our screens, captured as the supporter saw them, for the floor's same-calls bot.
            screens = await _capture_screens(bot, FIRST_USER - 2, pressed)
            # Warm-up journeys (imports, caches, prepared statements), then the measured ones.
            await bot.feed(bot.journeys(range(FIRST_USER - 100, FIRST_USER - 90), pressed))
            updates = bot.journeys(range(FIRST_USER, FIRST_USER + supporters), pressed)
            assert bot.application is not None
            ours = await _measure(bot.application, bot.transport, updates)
            last = FIRST_USER + supporters - 1
            if "You are signer #" not in bot.transport.texts.get(last, ""):
                raise RuntimeError("the floor benchmark's journeys did not finish")
    # The floors get the same updates (fresh ids do not matter to them).
    no_work = await _run_floor(updates, None)
    same_calls = await _run_floor(updates, screens)
    return {
        "backend": url.split(":", 1)[0],
        "supporters": supporters,
        "ptb_no_work": no_work,
        "ptb_same_calls": same_calls,
        "ours": ours,
        "ratio_vs_same_calls": round(
            ours["cpu_us_per_update"] / same_calls["cpu_us_per_update"], 2
        ),
        "ratio_vs_no_work": round(ours["cpu_us_per_update"] / no_work["cpu_us_per_update"], 2),
    }


async def _capture_screens(
    bot: InProcessBot, user_id: int, pressed: list[str]
) -> dict[str, tuple[str, Any]]:
    """(text, keyboard) the bot showed after /start and after each press."""
    screens: dict[str, tuple[str, Any]] = {}
    await bot.feed([message_update(bot.new_update_id(), user_id, "/start", 1)])
    screens["/start"] = _screen(bot, user_id)
    for data in pressed:
        await bot.feed([press_update(bot.new_update_id(), user_id, data, 1_000)])
        screens[data] = _screen(bot, user_id)
    return screens


def _screen(bot: InProcessBot, user_id: int) -> tuple[str, Any]:
    keyboard = bot.transport.keyboards.get(user_id)
    markup = InlineKeyboardMarkup.de_json({"inline_keyboard": keyboard}, None) if keyboard else None
    return bot.transport.texts[user_id], markup
