"""What admins read about broadcasts: the preview's question, progress, the final report.

Pure functions of plain data; the conversation is `bot.features.broadcast`, the delivery
engine `bot.broadcasting`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from html import escape

from babel.dates import format_timedelta

from bot.i18n import Translator
from bot.screens import Button, Screen, plain_text
from storage.records import Broadcast, BroadcastState, Delivery

BUTTON_PREFIX = "bc"


EXCERPT_LENGTH = 60


def figures(
    t: Translator, progress: Mapping[Delivery, int], expected: int, *, unknown: bool
) -> str:
    """`Sent 1,200 of about 5,000 · 3 blocked · 0 failed` (· N unknown when it is final)."""
    sent, blocked = progress.get(Delivery.SENT, 0), progress.get(Delivery.BLOCKED, 0)
    failed = progress.get(Delivery.FAILED, 0)
    parts = [
        t.format(
            t.ngettext(
                "Sent {sent} of about {expected}", "Sent {sent} of about {expected}", expected
            ),
            sent=t.number(sent),
            expected=t.number(expected),
        ),
        t.format(
            t.ngettext("{count} blocked", "{count} blocked", blocked), count=t.number(blocked)
        ),
        t.format(t.ngettext("{count} failed", "{count} failed", failed), count=t.number(failed)),
    ]
    if unknown:
        count = progress.get(Delivery.SENDING, 0)
        parts.append(
            t.format(t.ngettext("{count} unknown", "{count} unknown", count), count=t.number(count))
        )
    return " · ".join(parts)


def duration_text(t: Translator, seconds: float) -> str:
    return format_timedelta(timedelta(seconds=max(seconds, 1)), locale=t.locale)


def excerpt(text: str) -> str:
    """The start of a broadcast as plain text, to tell admins which one a report is about."""
    flat = " ".join(plain_text(text).split())
    if len(flat) > EXCERPT_LENGTH:
        flat = flat[: EXCERPT_LENGTH - 1].rstrip() + "…"
    return escape(flat)


def sending(t: Translator, expected: int) -> str:
    return t.format(
        t.ngettext(
            "Sending to about {count} supporter. Progress reports follow; "
            "/broadcast_stop stops it.",
            "Sending to about {count} supporters. Progress reports follow; "
            "/broadcast_stop stops it.",
            expected,
        ),
        count=t.number(expected),
    )


def busy(t: Translator) -> str:
    return t.gettext(
        "A broadcast is being sent right now. Wait until it is done (/broadcast_status shows "
        "how it is going), or stop it with /broadcast_stop."
    )


def usage(t: Translator) -> str:
    return t.gettext(
        "Send /broadcast followed by your message, for example:\n"
        "/broadcast We reached 10,000 signatures. Thank you!\n\n"
        "It goes to every signer who asked for updates. It can span several lines "
        "and use bold, italics and links. You see a preview before anything is sent."
    )


def too_long(t: Translator, length: int, limit: int) -> str:
    return t.format(
        t.gettext(
            "That message is too long for Telegram: {length} characters, at most {limit}. "
            "Please shorten it."
        ),
        length=t.number(length),
        limit=t.number(limit),
    )


def refused(t: Translator, reason: str) -> str:
    return t.format(
        t.gettext("Telegram refused this message ({reason}). Nothing was saved."),
        reason=escape(reason),
    )


def confirm(t: Translator, broadcast_id: int, expected: int) -> Screen:
    """Under the preview: how many it would reach, with Send and Cancel."""
    question = t.format(
        t.ngettext(
            "Send this to about {count} supporter who asked for updates?",
            "Send this to about {count} supporters who asked for updates?",
            expected,
        ),
        count=t.number(expected),
    )
    buttons = (
        (
            Button(t.gettext("Send"), f"{BUTTON_PREFIX}:send:{broadcast_id}"),
            Button(t.gettext("Cancel"), f"{BUTTON_PREFIX}:cancel:{broadcast_id}"),
        ),
    )
    return Screen(question, buttons)


def status(t: Translator, latest: Broadcast | None, expected: int) -> str:
    """/broadcast_status: the latest broadcast and its figures."""
    if latest is None:
        return t.gettext("No broadcast yet.")
    headers = {
        BroadcastState.SENDING: t.gettext("Broadcast #{id} of {date} is being sent."),
        BroadcastState.DONE: t.gettext("Broadcast #{id} of {date} is finished."),
        BroadcastState.STOPPED: t.gettext("Broadcast #{id} of {date} was stopped."),
    }
    header = headers.get(latest.state, headers[BroadcastState.DONE])
    return "\n".join(
        [
            t.format(header, id=latest.id, date=t.date(latest.created_at)),
            t.format("“{excerpt}”", excerpt=excerpt(latest.text)),
            figures(
                t, latest.progress, expected, unknown=latest.state is not BroadcastState.SENDING
            ),
        ]
    )


def nothing_sending(t: Translator) -> str:
    return t.gettext("No broadcast is being sent right now.")


def stopped(t: Translator, broadcast_id: int) -> str:
    return t.format(
        t.gettext(
            "Broadcast #{id} is stopped: no further messages go out, and it is not resumed. "
            "/broadcast_status shows the final figures."
        ),
        id=broadcast_id,
    )


def button_invalid(t: Translator) -> str:
    return t.gettext("This button is no longer valid.")


def cancelled(t: Translator) -> str:
    return t.gettext("Cancelled: nothing was sent.")


def state_notice(t: Translator, current: Broadcast | None) -> str:
    """A Send or Cancel pressed too late: what became of the draft."""
    if current is not None and current.state is BroadcastState.CANCELLED:
        return t.gettext("This broadcast was cancelled.")
    return t.gettext("This broadcast has already started. /broadcast_stop stops it.")


def progress(
    t: Translator, broadcast_id: int, counts: Mapping[Delivery, int], expected: int
) -> str:
    """The progress message the sender keeps up to date while it sends."""
    return "\n".join(
        [
            t.format(t.gettext("📣 Broadcast #{id} is being sent."), id=broadcast_id),
            figures(t, counts, expected, unknown=False),
        ]
    )


def final_report(
    t: Translator,
    broadcast_id: int,
    counts: Mapping[Delivery, int],
    expected: int,
    *,
    finished: bool,
    seconds: float,
    resumed: bool,
) -> str:
    """Sent to the admin when a broadcast is finished (or stopped by an admin)."""
    if finished:
        header = t.gettext("✅ Broadcast #{id} is finished.")
    else:
        header = t.gettext(
            "⏹ Broadcast #{id} was stopped. Supporters not reached yet will not get it."
        )
    lines = [t.format(header, id=broadcast_id), figures(t, counts, expected, unknown=True)]
    if resumed:
        lines.append(
            t.format(
                t.gettext("Sending took {duration} after it was resumed."),
                duration=duration_text(t, seconds),
            )
        )
    else:
        lines.append(
            t.format(t.gettext("Sending took {duration}."), duration=duration_text(t, seconds))
        )
    unknown = counts.get(Delivery.SENDING, 0)
    if unknown:
        lines.append(
            t.format(
                t.ngettext(
                    "Unknown: {count} message was being handed to Telegram when the bot was "
                    "interrupted; it may or may not have arrived, and is not sent again.",
                    "Unknown: {count} messages were being handed to Telegram when the bot was "
                    "interrupted; they may or may not have arrived, and are not sent again.",
                    unknown,
                ),
                count=t.number(unknown),
            )
        )
    return "\n".join(lines)
