"""/stats for campaign admins, and the milestone news they get while the count grows.

Every figure comes from counter tables kept in the signing transaction (`Storage.overview`,
`daily_counts`, `top_referrers`), so /stats answers as fast at ten million signatures as at
ten. The text is a pure function of those figures (`bot.admin_screens.stats`); the chart is
`bot.chart`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable

from telegram.error import TelegramError
from telegram.ext import Application

from bot.admin_screens.stats import TOP_REFERRERS, chart_caption, milestone_text, stats_text
from bot.chart import signatures_chart
from bot.features.admin import AdminCommand, AdminRequest
from bot.i18n import resolve_language, translator
from bot.service import JourneyService
from storage.base import Storage

log = logging.getLogger(__name__)

CHART_DAYS = 30


async def show_stats(request: AdminRequest) -> None:
    t, storage, service = request.t, request.storage, request.service
    petition = service.petition
    now = service.clock()
    today = now.date()
    overview = await storage.overview(petition.id)
    daily = await storage.daily_counts(petition.id)
    referrers = await storage.top_referrers(petition.id, TOP_REFERRERS)
    live = petition.with_live(overview.goal, overview.paused)
    text = stats_text(
        t, petition, overview, daily, referrers, today=today, state=live.closed_reason(now)
    )
    await request.message.reply_text(text)
    goal = live.goal_for(overview.total)
    chart = signatures_chart(daily, goal, today=today, days=CHART_DAYS)
    await request.message.reply_photo(
        chart,
        caption=chart_caption(t, CHART_DAYS),
    )


COMMANDS: dict[str, AdminCommand] = {"stats": show_stats}


def milestone_notifier(
    application: Application, service: JourneyService
) -> Callable[[int, int], Awaitable[None]]:
    """The service's `on_milestone`: tells every admin, without making the signer wait."""

    async def tell_admins(mark: int, total: int) -> None:
        storage: Storage = service.storage
        petition = service.petition
        for admin_id in application.bot_data.admin_ids:
            record = await storage.load(petition.id, admin_id)
            goal_before = petition.with_live(record.goal, None).goal_for(mark - 1)
            language = resolve_language(record.language, None, petition.default_language)
            text = milestone_text(translator(language), mark, total, goal_before)
            if application.bot_data.desk.catalog.several:  # say which petition it is
                text = f"<b>{petition.text_for(language).title}</b>\n{text}"
            # An admin who never started the bot (or blocked it) cannot be told.
            with contextlib.suppress(TelegramError):
                await application.bot.send_message(admin_id, text)

    async def on_milestone(mark: int, total: int) -> None:
        log.info("milestone %d reached (%d signatures)", mark, total)
        application.create_task(tell_admins(mark, total), name=f"milestone-{mark}")

    return on_milestone
