"""Screens of a bot with several petitions: the chooser, tagged buttons, /mydata for each.

Pure functions of plain data, like `bot.screens`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bot.i18n import Translator
from bot.petition import Petition
from bot.screens import (
    Button,
    Screen,
    View,
    directed,
    my_data_lines,
    plain_text,
    shorten,
    title_line,
)

CHOOSE_PREFIX = "choose:"
SHOW_CLOSED = f"{CHOOSE_PREFIX}closed"
SHOW_OPEN = f"{CHOOSE_PREFIX}open"
TAG_SEPARATOR = "|"
BUTTON_TITLE_LENGTH = 40


@dataclass(frozen=True, slots=True)
class Choice:
    """A petition as the chooser lists it."""

    petition: Petition
    tag: str
    total: int
    open: bool


def tagged(screen: Screen, tag: str) -> Screen:
    """The screen with each button's callback data marked as this petition's."""
    rows = tuple(
        tuple(
            replace(button, data=f"{tag}{TAG_SEPARATOR}{button.data}") if button.data else button
            for button in row
        )
        for row in screen.buttons
    )
    return Screen(screen.text, rows)


def untagged(data: str) -> tuple[str | None, str]:
    """(tag, the flow's own callback data); no tag on buttons sent before several petitions."""
    tag, separator, rest = data.partition(TAG_SEPARATOR)
    return (tag, rest) if separator else (None, data)


def chooser(
    choices: list[Choice], t: Translator, *, closed: bool = False, stale: bool = False
) -> Screen:
    """One button per open petition with its live count; the closed ones behind a button.

    `stale`: the supporter pressed a button that no longer leads anywhere (a petition
    retired since, or forged data): say so above the list."""
    shown = [choice for choice in choices if choice.open != closed]
    closed_count = sum(not choice.open for choice in choices)
    if closed:
        heading = t.gettext("These petitions no longer accept signatures. You can still read them.")
    elif shown:
        heading = t.gettext("Which petition would you like to read?")
    else:
        heading = t.gettext("No petition is collecting signatures right now.")
    lines = [f"<b>{heading}</b>", ""]
    if stale:
        notice = t.gettext("That button belongs to an earlier step. Here is where you are now.")
        lines[:0] = [f"<i>{notice}</i>", ""]
    rows: list[tuple[Button, ...]] = []
    for choice in shown:
        title = choice.petition.text_for(t.language).title
        count = t.format(
            t.ngettext("{count} person has signed", "{count} people have signed", choice.total),
            count=t.number(choice.total),
        )
        # The title is isolated: an English title stays whole in an Arabic list, and so on.
        lines.append(t.format("• {title}", title=title) + f"\n   {count}")
        label = f"{shorten(plain_text(title), BUTTON_TITLE_LENGTH)} · {t.number(choice.total)}"
        rows.append((Button(label, f"{CHOOSE_PREFIX}{choice.tag}"),))
    if closed and any(choice.open for choice in choices):
        rows.append((Button(t.gettext("« Open petitions"), SHOW_OPEN),))
    elif not closed and closed_count:
        label = t.format(t.gettext("Closed petitions ({count})"), count=t.number(closed_count))
        rows.append((Button(label, SHOW_CLOSED),))
    return directed(Screen("\n".join(lines).rstrip(), tuple(rows)), t)


def my_data_everywhere(views: list[View], t: Translator) -> Screen:
    """/mydata with several petitions: what is stored for each, one section per petition."""
    sections = [t.gettext("<b>Your data</b>")]
    for view in views:
        sections.append("\n".join([title_line(view.petition, t), *my_data_lines(view)]))
    sections.append(
        t.gettext(
            "Your Telegram id is stored with these answers. /withdraw removes your signature "
            "from the petition you have open, and /start opens another."
        )
    )
    return directed(Screen("\n\n".join(sections)), t)
