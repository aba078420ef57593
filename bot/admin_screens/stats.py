"""/stats and milestone news, as text: pure functions of the counters (see bot.features.stats)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, timedelta
from html import escape

from bot.flow import FUNNEL_STAGES
from bot.i18n import Translator
from bot.petition import Petition
from bot.screens import Screen, country_label, directed, language_name, petition_lines
from storage.records import Overview

TOP_COUNTRIES = 10


TOP_LANGUAGES = 8


TOP_REFERRERS = 5


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
            t.format(
                t.gettext("Others: {count} ({share})"),
                count=t.number(rest),
                share=_share(t, rest, total),
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
            line += " " + t.format(
                t.gettext("(−{share} from the step before)"), share=_share(t, lost, previous)
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
        petition_lines(
            petition, "title", f"📊 <b>{escape(petition.text_for(t.language).title)}</b>", t
        ),
        t.format(
            t.gettext("Signatures: {total} of {goal} ({share})"),
            total=t.number(total),
            goal=t.number(goal),
            share=_share(t, total, goal),
        ),
        t.format(
            t.gettext("Today: {today} · last 7 days: {week}"),
            today=t.number(daily.get(today, 0)),
            week=t.number(week),
        ),
        t.format(
            t.gettext("Asked for updates: {count} ({share})"),
            count=t.number(overview.opted_in),
            share=_share(t, overview.opted_in, total),
        ),
        t.format(
            t.gettext("Came through a supporter's link: {count} ({share})"),
            count=t.number(overview.referred),
            share=_share(t, overview.referred, total),
        ),
        status,
    ]
    sections = ["\n".join(line for line in summary if line)]
    if overview.countries:
        heading = t.format(
            t.ngettext(
                "<b>By country</b> ({count} country)",
                "<b>By country</b> ({count} countries)",
                len(overview.countries),
            ),
            count=t.number(len(overview.countries)),
        )
        lines = _top(t, overview.countries, TOP_COUNTRIES, lambda code: country_label(code, t))
        sections.append("\n".join([heading, *lines]))
    if overview.languages:
        lines = _top(t, overview.languages, TOP_LANGUAGES, language_name)
        sections.append("\n".join([t.gettext("<b>By language</b>"), *lines]))
    if top_referrers:
        counts = t.format_list(t.number(count) for count in top_referrers)
        sections.append(
            t.format(
                t.gettext("<b>Top referrers</b> (signers each brought, anonymised): {counts}"),
                counts=counts,
            )
        )
    funnel = funnel_lines(t, overview.funnel)
    sections.append("\n".join([t.gettext("<b>Journey funnel</b>"), *funnel]))
    return directed(Screen("\n\n".join(sections)), t).text


def milestone_text(t: Translator, mark: int, total: int, goal_before: int) -> str:
    text = t.format(
        t.gettext("🎉 The petition has passed {mark} signatures ({total} now)."),
        mark=t.number(mark),
        total=t.number(total),
    )
    if mark == goal_before:
        text += "\n" + t.gettext("That was the goal: supporters now see the next one.")
    return text


def chart_caption(t: Translator, days: int) -> str:
    return t.format(
        t.gettext(
            "Last {days} days: signatures per day (bars), the running total (line) and the "
            "goal (dashed)."
        ),
        days=t.number(days),
    )
