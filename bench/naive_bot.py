"""Reference bots: the naive baseline, and the bare PTB floor over HTTP.

The baseline: the same journey written the way a first Telegram bot usually is.

Deliberately naive, as the issue asks, so that "ours is N× faster" has a reference point:
PTB's defaults (updates one at a time, the httpx transport), a `ConversationHandler` whose
state lives in a `PicklePersistence` file, blocking `sqlite3` calls in the handlers, and the
count read with `COUNT(*)` on every signature. It shows the same button labels as ours, so the
same simulated supporters can walk it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    PicklePersistence,
)

DEMANDS, COUNTRY, AGE, CONSENT, NAME, PREVIEW = range(6)


def _keyboard(*rows: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(text, callback_data=data) for text, data in row] for row in rows]
    )


def build_naive_application(api_url: str, token: str, folder: Path) -> Application:
    database = sqlite3.connect(folder / "naive.db", check_same_thread=False)
    database.execute(
        "CREATE TABLE IF NOT EXISTS signatures (user_id INTEGER PRIMARY KEY, name TEXT, "
        "country TEXT, signed_at TEXT DEFAULT CURRENT_TIMESTAMP)"
    )
    database.commit()

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        assert update.message is not None
        count = database.execute("SELECT COUNT(*) FROM signatures").fetchone()[0]
        await update.message.reply_text(
            f"Protect prisoners of conscience.\n{count} people have signed.",
            reply_markup=_keyboard([("✍️ Sign the petition", "sign")]),
        )
        return DEMANDS

    async def demands(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        query = update.callback_query
        assert query is not None
        await query.answer()
        await query.edit_message_text(
            "Where do you live?",
            reply_markup=_keyboard(
                [("🇨🇦 Canada", "CA"), ("🇬🇧 United Kingdom", "GB")],
                [("🇺🇸 United States", "US"), ("🇦🇺 Australia", "AU")],
            ),
        )
        return COUNTRY

    async def country(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        query = update.callback_query
        assert query is not None and context.user_data is not None
        await query.answer()
        context.user_data["country"] = query.data
        await query.edit_message_text(
            "How old are you?",
            reply_markup=_keyboard([("Under 16", "young")], [("16 or older", "adult")]),
        )
        return AGE

    async def age(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        query = update.callback_query
        assert query is not None
        await query.answer()
        await query.edit_message_text(
            "Your name and country are recorded on this petition.",
            reply_markup=_keyboard([("✅ I agree", "agree")]),
        )
        return CONSENT

    async def consent(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        query = update.callback_query
        assert query is not None
        await query.answer()
        name = query.from_user.full_name
        await query.edit_message_text(
            "Which name should we record?",
            reply_markup=_keyboard([(f"Use this name: {name}", "name")]),
        )
        return NAME

    async def name(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        query = update.callback_query
        assert query is not None and context.user_data is not None
        await query.answer()
        context.user_data["name"] = query.from_user.full_name
        await query.edit_message_text(
            f"Please check: {context.user_data['name']}, {context.user_data['country']}.",
            reply_markup=_keyboard([("✍️ Sign now", "sign_now")]),
        )
        return PREVIEW

    async def sign(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        query = update.callback_query
        assert query is not None and context.user_data is not None
        await query.answer()
        database.execute(
            "INSERT OR IGNORE INTO signatures (user_id, name, country) VALUES (?, ?, ?)",
            (query.from_user.id, context.user_data["name"], context.user_data["country"]),
        )
        database.commit()
        count = database.execute("SELECT COUNT(*) FROM signatures").fetchone()[0]
        await query.edit_message_text(f"Thank you! You are signer #{count}.")
        return ConversationHandler.END

    conversation = ConversationHandler(
        entry_points=[CommandHandler("start", start)],
        states={
            DEMANDS: [CallbackQueryHandler(demands)],
            COUNTRY: [CallbackQueryHandler(country)],
            AGE: [CallbackQueryHandler(age)],
            CONSENT: [CallbackQueryHandler(consent)],
            NAME: [CallbackQueryHandler(name)],
            PREVIEW: [CallbackQueryHandler(sign)],
        },
        fallbacks=[CommandHandler("start", start)],
        name="journey",
        persistent=True,
    )
    application = (
        ApplicationBuilder()
        .token(token)
        .base_url(f"{api_url}/bot")
        .persistence(PicklePersistence(folder / "naive.pickle"))
        .build()
    )
    application.add_handler(conversation)
    return application


# ---- the bare floor over HTTP -------------------------------------------------------------

# Callback data -> (text, buttons) of the next screen: the same labels as ours, no state.
_BARE_SCREENS: dict[str, tuple[str, list[list[tuple[str, str]]]]] = {
    "sign": ("Where do you live?", [[("🇨🇦 Canada", "CA"), ("🇬🇧 United Kingdom", "GB")]]),
    "CA": ("How old are you?", [[("Under 16", "young")], [("16 or older", "adult")]]),
    "adult": ("Your name and country are recorded.", [[("✅ I agree", "agree")]]),
    "agree": ("Which name should we record?", [[("Use this name", "name")]]),
    "name": ("Please check and sign.", [[("✍️ Sign now", "sign_now")]]),
    "sign_now": ("Thank you! You are signer #1.", []),
}


def build_bare_application(api_url: str, token: str) -> Application:
    """PTB answering each step with a fixed screen: no storage, no flow, no claims.

    The floor over real HTTP: the same transport as ours (our aiohttp request class), the same
    concurrency and the same Bot API calls per update (answer + edit, or one send), so the
    gap between its journeys/s and ours is what our handlers and storage cost end to end.
    """
    from telegram.constants import ParseMode
    from telegram.ext import Defaults, MessageHandler, filters

    from bot.request import AiohttpRequest

    async def on_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.message is not None:
            await update.message.reply_text(
                "Protect prisoners of conscience.",
                reply_markup=_keyboard([("✍️ Sign the petition", "sign")]),
            )

    async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        text, rows = _BARE_SCREENS[query.data or "sign"]
        answered = asyncio.create_task(query.answer())
        await query.edit_message_text(text, reply_markup=_keyboard(*rows) if rows else None)
        await answered

    application = (
        ApplicationBuilder()
        .token(token)
        .base_url(f"{api_url}/bot")
        .defaults(Defaults(parse_mode=ParseMode.HTML))
        .concurrent_updates(256)
        .request(AiohttpRequest(connection_pool_size=256))
        .get_updates_request(AiohttpRequest(connection_pool_size=2))
        .build()
    )
    application.add_handler(MessageHandler(filters.ALL, on_message))
    application.add_handler(CallbackQueryHandler(on_button))
    return application
