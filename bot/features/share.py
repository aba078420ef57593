"""Inline mode: typing ``@<bot>`` in any chat offers a card that invites friends to sign.

The card shows the petition's title, the live count against the goal and a button that opens
the bot. A signer's button carries their own referral link, so friends who sign through it
count on their /mylink. The card is for the petition the user has open; with several
petitions, typing a petition's id after the bot's name picks that one instead.

Inline mode must be switched on for the bot in BotFather (/setinline), or Telegram never
sends inline queries.
"""

from __future__ import annotations

import logging

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import Application, InlineQueryHandler

from bot.context import Context
from bot.i18n import resolve_language, translator
from bot.screens import (
    Screen,
    View,
    closed_text,
    directed,
    petition_lines,
    plain_text,
    progress_text,
    share_link,
    title_line,
)
from bot.telegram_io import pseudonym

log = logging.getLogger(__name__)

# Short, so the count on a fresh card is never more than a few seconds old.
CACHE_SECONDS = 10


def start_link(bot_username: str, petition_id: str | None = None) -> str:
    """The bot's deep link without a referral: opens the chat with its Start button, on the
    petition's welcome when it names one (a bot with several petitions needs it)."""
    return f"https://t.me/{bot_username}?start" + (f"={petition_id}" if petition_id else "")


async def on_inline_query(update: Update, context: Context) -> None:
    query = update.inline_query
    if query is None:
        return
    desk = context.bot_data.desk
    # A petition named by its id (as typed after @bot), else the one the user has open.
    named = desk.service(query.query.strip()) if desk.catalog.several else None
    service = named or await desk.focused(query.from_user.id)
    link_id = service.petition.id if desk.catalog.several else None
    results: list[InlineQueryResultArticle] = []
    if not query.offset:  # one card, no further pages: a scroll asks for nothing more
        record = await service.storage.load(service.petition.id, query.from_user.id)
        # Their /language choice when they made one (it comes with the record at no cost).
        language = resolve_language(
            record.language, query.from_user.language_code, service.petition.default_language
        )
        view = View(
            petition=service.live_petition(record),  # the goal and pause admins set live
            t=translator(language),
            total=record.total,
            now=service.clock(),
            bot_username=context.bot.username or service.bot_username,
            signature=record.signature,
        )
        results.append(share_card(view, link_id))
    try:
        # Personal even without a referral link: the card is in the querier's language.
        await query.answer(results, cache_time=CACHE_SECONDS, is_personal=True)
    except TelegramError as error:  # the query expired (a slow answer) or was already answered
        log.warning(
            "could not answer the inline query of user %s: %s",
            pseudonym(query.from_user.id),
            error,
        )


def share_card(view: View, petition_id: str | None = None) -> InlineQueryResultArticle:
    """The petition as an inline result: what the friends in the chat will see and press.

    `petition_id`: put in the plain start link (a bot with several petitions)."""
    t, petition = view.t, view.petition
    text = petition.text_for(t.language)
    closed = petition.closed_reason(view.now)
    summary = _summary_line(view, closed)
    if closed:
        call = closed_text(view)
        button = InlineKeyboardButton(
            t.gettext("📜 Read the petition"), url=start_link(view.bot_username, petition_id)
        )
    else:
        call = t.gettext("Add your name too: it takes about a minute.")
        # A signer's own link, so friends who sign through the card count on their /mylink.
        link = (
            share_link(view, view.signature)
            if view.signature is not None
            else start_link(view.bot_username, petition_id)
        )
        button = InlineKeyboardButton(t.gettext("✍️ Sign the petition"), url=link)
    wording = petition_lines(petition, "summary", text.summary or "", t)
    parts = [title_line(petition, t), wording, progress_text(view), f"<b>{call}</b>"]
    message = directed(Screen("\n\n".join(part for part in parts if part)), t).text
    return InlineQueryResultArticle(
        id=petition.id,
        title=plain_text(text.title),
        description=summary,
        input_message_content=InputTextMessageContent(message, parse_mode=ParseMode.HTML),
        reply_markup=InlineKeyboardMarkup([[button]]),
    )


def _summary_line(view: View, closed: str | None) -> str:
    """The result's one-line description (plain text): the count, and the goal or the close."""
    t, petition = view.t, view.petition
    if closed:
        count = t.format(
            t.ngettext("{count} person has signed", "{count} people have signed", view.total),
            count=t.number(view.total),
        )
        state = t.gettext("Signing is paused for now.")
        if closed != "paused":
            state = t.gettext("Signing has ended.")
        return f"{count} · {state}"
    goal = petition.goal_for(view.total)
    return t.format(
        t.ngettext(
            "{count} has signed · goal {goal}", "{count} have signed · goal {goal}", view.total
        ),
        count=t.number(view.total),
        goal=t.number(goal),
    )


def register(application: Application) -> None:
    application.add_handler(InlineQueryHandler(on_inline_query))
