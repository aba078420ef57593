"""Admin screens: what the console shows, as pure functions of plain data (like bot.screens).

This module: the live petition (/goal, /pause, /resume), /petitions and error alerts;
`stats`, `files` (/export, /report) and `broadcasts` hold the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from bot.i18n import Translator
from bot.petition import Petition
from bot.screens import Screen, directed


@dataclass(frozen=True, slots=True)
class PetitionEntry:
    petition: Petition  # with the goal and pause admins set live
    total: int
    closed: str | None  # "paused", "ended" or None (see Petition.closed_reason)


def petitions_text(t: Translator, entries: list[PetitionEntry], chosen: str) -> str:
    """/petitions: each petition with its id, count and state; which one commands act on."""
    states = {
        None: t.gettext("open"),
        "paused": t.gettext("paused"),
        "ended": t.gettext("closed"),
    }
    lines = [t.gettext("<b>Petitions</b>"), ""]
    for entry in entries:
        marker = "👉 " if entry.petition.id == chosen else "• "
        title = entry.petition.text_for(t.language).title
        count = t.format(
            t.ngettext("{count} person has signed", "{count} people have signed", entry.total),
            count=t.number(entry.total),
        )
        # Isolates go around the <code>, never inside: the id is copied from there.
        line = t.format("{id}: {title}", id=f"<code>{entry.petition.id}</code>", title=title)
        lines.append(marker + line)
        lines.append(f"   {count} · {states[entry.closed]}")
    lines.append("")
    other = next((e.petition.id for e in entries if e.petition.id != chosen), chosen)
    lines.append(
        t.format(
            t.gettext(
                "Commands act on {id}. To act on another once, put its id first, as in {example}; "
                "to switch, send {switch}."
            ),
            id=f"<code>{chosen}</code>",
            example=f"<code>/stats {other}</code>",
            switch=f"<code>/petitions {other}</code>",
        )
    )
    return directed(Screen("\n".join(lines)), t).text


def goal_usage(t: Translator, shown_goal: int) -> str:
    return t.format(
        t.gettext(
            "Send /goal followed by a number, for example /goal 100000. The current goal is {goal}."
        ),
        goal=t.number(shown_goal),
    )


def goal_set(t: Translator, goal: int) -> str:
    return t.format(
        t.gettext("Goal set to {goal}. Supporters see it from now on."), goal=t.number(goal)
    )


def paused(t: Translator) -> str:
    return t.gettext("Signing is paused. Supporters are told so until you send /resume.")


def resumed(t: Translator) -> str:
    return t.gettext("Signing is open again.")


def no_such_petition(t: Translator, petition_id: str) -> str:
    return t.format(
        t.gettext("No petition has the id {id}. Send /petitions to see them."),
        id=escape(petition_id),
    )


def error_alert(t: Translator, kind: str) -> str:
    """Plain text (the error's description is not HTML)."""
    return t.format(
        t.gettext(
            "⚠️ The bot hit an unexpected error: {error}. Supporters were asked to try again; "
            "the log has the details. Further errors of this kind are not reported for ten minutes."
        ),
        error=kind,
    )
