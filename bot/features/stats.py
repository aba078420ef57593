"""/stats for campaign admins, and the milestone news they get while the count grows.

Every figure comes from counter tables kept in the signing transaction (`Storage.overview`,
`daily_counts`, `top_referrers`), so /stats answers as fast at ten million signatures as at
ten. The text is a pure function of those figures; the chart is `bot.chart`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import date, timedelta
from html import escape

from telegram.error import TelegramError
from telegram.ext import Application

from bot.chart import signatures_chart
from bot.features.admin import AdminCommand, AdminRequest
from bot.flow import FUNNEL_STAGES
from bot.i18n import Translator, resolve_language, translator
from bot.petition import Petition
from bot.screens import Screen, country_label, directed, language_name
from bot.service import JourneyService
from storage.base import Storage
from storage.records import Overview

log = logging.getLogger(__name__)

TOP_COUNTRIES = 10
TOP_LANGUAGES = 8
TOP_REFERRERS = 5
CHART_DAYS = 30


def _funnel_labels(t: Translator) -> dict[str, str]:
    return {
        "started": t.gettext("Started"),
        "demands": t.gettext("Read the demands"),
        "country": t.gettext("Chose a country"),
        "age": t.gettext("Confirmed their age"),
        "consent": t.gettext("Gave consent"),
        "signed": t.gettext("Signed"),
    }


def _share(t: Translator, part: int, whole: int) -> str:
    return t.percent(part / whole) if whole else t.percent(0)


def _top(
    t: Translator, counts: Mapping[str, int], limit: int, label: Callable[[str], str]
) -> list[str]:
    total = sum(counts.values())
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    lines = [
        f"{escape(label(key))}: {t.number(count)} ({_share(t, count, total)})"
        for key, count in ranked[:limit]
    ]
    rest = sum(count for _, count in ranked[limit:])
    if rest:
        lines.append(
            t.gettext("Others: {count} ({share})").format(
                count=t.number(rest), share=_share(t, rest, total)
            )
        )
    return lines


def funnel_lines(t: Translator, funnel: Mapping[str, int]) -> list[str]:
    """Each stage with how many reached it, and how many of the previous stage's were lost."""
    labels = _funnel_labels(t)
    lines: list[str] = []
    previous: int | None = None
    for stage in FUNNEL_STAGES:
        reached = funnel.get(stage, 0)
        line = f"{labels[stage]}: {t.number(reached)}"
        if previous:
            lost = max(previous - reached, 0)
            line += " " + t.gettext("(−{share} from the step before)").format(
                share=_share(t, lost, previous)
            )
        lines.append(line)
        previous = reached
    return lines


def stats_text(
    t: Translator,
    petition: Petition,
    overview: Overview,
    daily: Mapping[date, int],
    top_referrers: list[int],
    *,
    today: date,
    state: str | None,
) -> str:
    """The /stats message (HTML). `state` is `Petition.closed_reason`: None when open."""
    total = overview.total
    goal = petition.with_live(overview.goal, None).goal_for(total)
    week = sum(count for day, count in daily.items() if today - day < timedelta(days=7))
    status = {
        None: t.gettext("Signing is open."),
        "paused": t.gettext("Signing is paused (/resume opens it again)."),
        "ended": t.gettext("Signing has ended."),
    }.get(state, "")
    summary = [
        f"📊 <b>{escape(petition.text_for(t.language).title)}</b>",
        t.gettext("Signatures: {total} of {goal} ({share})").format(
            total=t.number(total), goal=t.number(goal), share=_share(t, total, goal)
        ),
        t.gettext("Today: {today} · last 7 days: {week}").format(
            today=t.number(daily.get(today, 0)), week=t.number(week)
        ),
        t.gettext("Asked for updates: {count} ({share})").format(
            count=t.number(overview.opted_in), share=_share(t, overview.opted_in, total)
        ),
        t.gettext("Came through a supporter's link: {count} ({share})").format(
            count=t.number(overview.referred), share=_share(t, overview.referred, total)
        ),
        status,
    ]
    sections = ["\n".join(line for line in summary if line)]
    if overview.countries:
        heading = t.ngettext(
            "<b>By country</b> ({count} country)",
            "<b>By country</b> ({count} countries)",
            len(overview.countries),
        ).format(count=t.number(len(overview.countries)))
        lines = _top(t, overview.countries, TOP_COUNTRIES, lambda code: country_label(code, t))
        sections.append("\n".join([heading, *lines]))
    if overview.languages:
        lines = _top(t, overview.languages, TOP_LANGUAGES, language_name)
        sections.append("\n".join([t.gettext("<b>By language</b>"), *lines]))
    if top_referrers:
        counts = ", ".join(t.number(count) for count in top_referrers)
        sections.append(
            t.gettext("<b>Top referrers</b> (signers each brought, anonymised): {counts}").format(
                counts=counts
            )
        )
    funnel = funnel_lines(t, overview.funnel)
    sections.append("\n".join([t.gettext("<b>Journey funnel</b>"), *funnel]))
    return directed(Screen("\n\n".join(sections)), t).text


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
        caption=t.gettext(
            "Last {days} days: signatures per day (bars), the running total (line) and the "
            "goal (dashed)."
        ).format(days=t.number(CHART_DAYS)),
    )


COMMANDS: dict[str, AdminCommand] = {"stats": show_stats}


def milestone_text(t: Translator, mark: int, total: int, goal_before: int) -> str:
    text = t.gettext("🎉 The petition has passed {mark} signatures ({total} now).").format(
        mark=t.number(mark), total=t.number(total)
    )
    if mark == goal_before:
        text += "\n" + t.gettext("That was the goal: supporters now see the next one.")
    return text


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
