"""What an admin reads with /export and /report files: captions and the report's summary."""

from __future__ import annotations

from datetime import datetime
from html import escape

from bot.i18n import Translator


def export_caption(
    t: Translator, title: str, rows: int, taken: datetime, *, zipped: bool, part: int, parts: int
) -> str:
    """ "Signatures of <title>: N rows, taken <date>", plus a word on zip and parts (HTML)."""
    lines = [
        t.format(
            t.ngettext(
                "Signatures of {title}: {count} row, taken {date}",
                "Signatures of {title}: {count} rows, taken {date}",
                rows,
            ),
            title=f"<b>{escape(title)}</b>",
            count=t.number(rows),
            date=t.date(taken),
        )
    ]
    lines.extend(_packing_notes(t, zipped=zipped, part=part, parts=parts))
    return "\n".join(lines)


def report_caption(
    t: Translator,
    country: str,
    rows: int,
    first: datetime | None,
    last: datetime | None,
    *,
    zipped: bool = False,
    part: int = 1,
    parts: int = 1,
) -> str:
    """ "<Country>: N signatures, first <date>, last <date>" (HTML); N=0: none yet."""
    name = f"<b>{escape(country)}</b>"
    if rows == 0:
        return t.format(t.gettext("{country}: no signatures yet"), country=name)
    if first is None or last is None:
        line = t.format(
            t.ngettext("{country}: {count} signature", "{country}: {count} signatures", rows),
            country=name,
            count=t.number(rows),
        )
    else:
        line = t.format(
            t.ngettext(
                "{country}: {count} signature, first {first}, last {last}",
                "{country}: {count} signatures, first {first}, last {last}",
                rows,
            ),
            country=name,
            count=t.number(rows),
            first=t.date(first),
            last=t.date(last),
        )
    return "\n".join([line, *_packing_notes(t, zipped=zipped, part=part, parts=parts)])


def _packing_notes(t: Translator, *, zipped: bool, part: int, parts: int) -> list[str]:
    notes = []
    if zipped:
        notes.append(
            t.gettext(
                "The table is larger than the 50 MB Telegram lets bots send, so it comes "
                "compressed as a zip."
            )
        )
    if parts > 1:
        notes.append(
            t.format(
                t.gettext("Part {part} of {parts}; each part starts with the column names."),
                part=t.number(part),
                parts=t.number(parts),
            )
        )
    return notes


def report_summary(
    t: Translator, title: str, total: int, countries: int, in_targets: int, elsewhere: int
) -> str:
    """The last /report message: the worldwide total and where it came from (HTML)."""
    return "\n".join(
        [
            t.format(t.gettext("Delivery report for {title}"), title=f"<b>{escape(title)}</b>"),
            "",
            t.format(
                t.ngettext(
                    "Worldwide: {count} signature.", "Worldwide: {count} signatures.", total
                ),
                count=t.number(total),
            ),
            t.format(
                t.ngettext(
                    "Signers come from {count} country.",
                    "Signers come from {count} countries.",
                    countries,
                ),
                count=t.number(countries),
            ),
            t.format(
                t.ngettext(
                    "From the addressed countries: {count} signature.",
                    "From the addressed countries: {count} signatures.",
                    in_targets,
                ),
                count=t.number(in_targets),
            ),
            t.format(
                t.ngettext(
                    "From elsewhere: {count} signature.",
                    "From elsewhere: {count} signatures.",
                    elsewhere,
                ),
                count=t.number(elsewhere),
            ),
        ]
    )


def file_refused(t: Translator, reason: str) -> str:
    return t.format(t.gettext("The file could not be sent: {reason}"), reason=escape(reason))
