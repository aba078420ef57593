"""/export and /report: signatures as CSV files, sent to the admin who asked.

/export is the organisers' full table; /report is what they hand to each addressed government,
one file per target country. Both stream rows from the database to a temporary file and from
there to Telegram (see `bot.uploads`), so a petition with millions of signers never sits in
memory. A table above Telegram's 50 MB upload limit goes as a zip, split into parts if even the
zip is too large. Temporary files go to the system's temporary directory (`TMPDIR`): point it
at a disk, not a RAM-backed tmpfs, where petitions are large.

What leaves the bot is kept safe to open and to share: the Telegram id never appears (a keyed
hash stands in for it, or nothing without `EXPORT_SECRET`), nor anyone's referral code; a
name that a spreadsheet would run as a formula is defused; UTF-8 with a BOM, so Excel shows
names in every script.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hashlib
import hmac
import io
import logging
import tempfile
import zipfile
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import aiohttp
from pydantic import SecretStr
from telegram import Bot
from telegram.constants import ChatAction
from telegram.error import TelegramError

from bot.admin_screens.files import (
    export_caption,
    file_refused,
    report_caption,
    report_summary,
)
from bot.countries import country_name
from bot.features.admin import AdminCommand, AdminRequest
from bot.settings import Settings
from bot.uploads import MAX_UPLOAD_BYTES, send_document
from storage.records import ExportRow

log = logging.getLogger(__name__)

EXPORT_COLUMNS = (
    "number",
    "signed_at",
    "name",
    "country",
    "language",
    "wants_updates",
    "guardian_consent",
    "text_version",
    "referred",
    "supporter",
)
REPORT_COLUMNS = ("number", "name", "country", "signed_at")
# A cell starting with one of these is run as a formula by Excel, LibreOffice or Google Sheets
# (OWASP "CSV injection"); tab and carriage return can smuggle one past a naive check.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
SUPPORTER_HASH_LENGTH = 16  # hex characters: 64 bits, no collisions in any real petition
CSV_ENCODING = "utf-8-sig"  # the BOM tells Excel the file is UTF-8
CSV_MEDIA_TYPE = "text/csv"
ZIP_MEDIA_TYPE = "application/zip"
WRITE_BATCH_ROWS = 2000  # rows formatted in memory before each write to disk
COPY_CHUNK_BYTES = 1024 * 1024
# Most compressed output zlib keeps back before writing it: one block of at most 16K symbols.
ZLIB_HELD_BACK_BYTES = 128 * 1024
# Telegram shows "sending a file…" for 5 seconds per chat action: renew it before it fades.
CHAT_ACTION_SECONDS = 4.0

RowFields = Callable[[ExportRow], Sequence[str]]


# ---- the rows ---------------------------------------------------------------------------------


def defuse_formula(value: str) -> str:
    """A cell a spreadsheet would evaluate gets a leading apostrophe, so it shows as text."""
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value


def supporter_hash(user_id: int | None, secret: bytes | None) -> str:
    """A stable stand-in for the Telegram id: HMAC-SHA256 keyed with `EXPORT_SECRET`.

    Organisers can tell one supporter's rows apart across exports without anyone learning the
    id: without the key the hash cannot be recomputed from a guessed id. Empty with no key,
    and for anonymised signatures, which keep no id.
    """
    if user_id is None or not secret:
        return ""
    digest = hmac.new(secret, str(user_id).encode("ascii"), hashlib.sha256).hexdigest()
    return digest[:SUPPORTER_HASH_LENGTH]


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, the same for every row whatever the database returned."""
    if moment.tzinfo is None:  # stored as UTC; a naive value is UTC too
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def export_fields(row: ExportRow, secret: bytes | None) -> list[str]:
    """One /export line. `referred` says only whether, never whose code brought them."""
    return [
        str(row.number),
        iso_utc(row.signed_at),
        defuse_formula(row.name or ""),
        defuse_formula(row.country),
        defuse_formula(row.language),
        yes_no(row.wants_updates),
        yes_no(row.guardian_consent),
        defuse_formula(row.text_version),
        yes_no(bool(row.referred_by)),
        supporter_hash(row.user_id, secret),
    ]


def report_fields(row: ExportRow) -> list[str]:
    """One /report line: what a government needs to count and check signatures, no more."""
    return [
        str(row.number),
        defuse_formula(row.name or ""),
        defuse_formula(row.country),
        iso_utc(row.signed_at),
    ]


async def write_csv(
    rows: AsyncIterator[ExportRow], path: Path, header: Sequence[str], fields: RowFields
) -> int:
    """Write rows to `path` as they arrive from the database; return how many.

    Rows are formatted in batches in memory and each batch is written from a worker thread,
    so neither memory nor the event loop depends on the size of the petition.
    """
    count = 0
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    with path.open("w", encoding=CSV_ENCODING, newline="") as file:
        async for row in rows:
            writer.writerow(fields(row))
            count += 1
            if count % WRITE_BATCH_ROWS == 0:
                await asyncio.to_thread(file.write, buffer.getvalue())
                buffer.seek(0)
                buffer.truncate()
        await asyncio.to_thread(file.write, buffer.getvalue())
    return count


# ---- packing for Telegram's upload limit ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Package:
    """The files to send for one table: the CSV itself, one zip, or several zip parts."""

    files: tuple[Path, ...]
    zipped: bool

    @property
    def media_type(self) -> str:
        return ZIP_MEDIA_TYPE if self.zipped else CSV_MEDIA_TYPE


def package_csv(csv_path: Path, limit: int = MAX_UPLOAD_BYTES) -> Package:
    """The CSV if it fits in one upload, else a zip of it, else zip parts that each fit.

    Blocking (compression): run it in a thread. Parts are split between rows and each starts
    with the header, so every part opens on its own in a spreadsheet.
    """
    if csv_path.stat().st_size <= limit:
        return Package((csv_path,), zipped=False)
    whole = csv_path.with_suffix(".zip")
    if _zip_whole(csv_path, whole, limit):
        return Package((whole,), zipped=True)
    whole.unlink(missing_ok=True)
    return Package(tuple(_zip_parts(csv_path, limit)), zipped=True)


def _needs_zip64(csv_path: Path) -> bool:
    return csv_path.stat().st_size >= zipfile.ZIP64_LIMIT


def _zip_whole(csv_path: Path, target: Path, limit: int) -> bool:
    """Compress the CSV into one zip; False (early) as soon as it cannot fit in `limit`."""
    with (
        target.open("wb") as raw,
        zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive,
        csv_path.open("rb") as source,
        archive.open(csv_path.name, "w", force_zip64=_needs_zip64(csv_path)) as member,
    ):
        while chunk := source.read(COPY_CHUNK_BYTES):
            member.write(chunk)
            if raw.tell() > limit:
                return False
    return target.stat().st_size <= limit


def _zip_parts(csv_path: Path, limit: int) -> Iterator[Path]:
    """Zip parts of at most `limit` bytes, split between records (csv-aware).

    zlib holds back the output of the block it is building, so a part is closed once its file
    is within a margin of the limit that covers the largest block zlib can hold back.
    """
    threshold = limit - limit // 50 - ZLIB_HELD_BACK_BYTES
    if threshold <= 0:
        raise ValueError(f"an upload limit of {limit} bytes is too small to split a table")
    zip64 = _needs_zip64(csv_path)
    with csv_path.open(encoding=CSV_ENCODING, newline="") as source:
        reader = csv.reader(source)
        header = next(reader)
        number = 0
        part: _ZipPart | None = None
        try:
            for record in reader:
                if part is None:
                    number += 1
                    part = _ZipPart(csv_path, number, header, zip64)
                part.writer.writerow(record)
                if part.size() >= threshold:
                    yield part.close()
                    part = None
            if part is not None:
                yield part.close()
                part = None
        finally:
            if part is not None:
                part.close()


class _ZipPart:
    """One zip part being written: `<stem>-part<k>.zip` holding `<stem>-part<k>.csv`."""

    def __init__(self, csv_path: Path, number: int, header: Sequence[str], zip64: bool) -> None:
        name = f"{csv_path.stem}-part{number}"
        self.path = csv_path.with_name(f"{name}.zip")
        self._raw = self.path.open("wb")
        self._archive = zipfile.ZipFile(self._raw, "w", zipfile.ZIP_DEFLATED)
        self._member = self._archive.open(f"{name}.csv", "w", force_zip64=zip64)
        self._text = io.TextIOWrapper(self._member, encoding=CSV_ENCODING, newline="")
        self.writer = csv.writer(self._text)
        self.writer.writerow(header)

    def size(self) -> int:
        self._text.flush()
        return self._raw.tell()

    def close(self) -> Path:
        self._text.close()  # closes the member too
        self._archive.close()
        self._raw.close()
        return self.path


def export_file_name(petition_id: str, taken: datetime) -> str:
    return f"signatures-{petition_id}-{taken.astimezone(UTC):%Y-%m-%d}.csv"


def report_file_name(petition_id: str, country: str, taken: datetime) -> str:
    return f"report-{petition_id}-{country}-{taken.astimezone(UTC):%Y-%m-%d}.csv"


# ---- the commands -------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _showing_upload(bot: Bot, chat_id: int) -> AsyncIterator[None]:
    """Keep "sending a file…" at the top of the admin's chat while the table is made."""

    async def renew() -> None:
        while True:
            with contextlib.suppress(TelegramError):
                await bot.send_chat_action(chat_id=chat_id, action=ChatAction.UPLOAD_DOCUMENT)
            await asyncio.sleep(CHAT_ACTION_SECONDS)

    task = asyncio.create_task(renew(), name=f"upload-action-{chat_id}")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class Exports:
    """The two commands, holding the key for the supporter hash (from `EXPORT_SECRET`)."""

    def __init__(
        self, export_secret: SecretStr | None, *, upload_limit: int = MAX_UPLOAD_BYTES
    ) -> None:
        value = export_secret.get_secret_value() if export_secret is not None else ""
        self.secret: bytes | None = value.encode("utf-8") or None
        self.upload_limit = upload_limit

    def commands(self) -> dict[str, AdminCommand]:
        return {"export": self.export, "report": self.report}

    async def export(self, request: AdminRequest) -> None:
        """Every signature, one CSV (or zip) to the admin."""
        petition, t = request.service.petition, request.t
        taken = request.service.clock()
        chat_id = request.message.chat_id
        bot = request.context.bot
        secret = self.secret
        with tempfile.TemporaryDirectory(prefix="petition-export-") as directory:
            path = Path(directory) / export_file_name(petition.id, taken)
            async with _showing_upload(bot, chat_id), aiohttp.ClientSession() as session:
                rows = await write_csv(
                    request.storage.export_rows(petition.id),
                    path,
                    EXPORT_COLUMNS,
                    lambda row: export_fields(row, secret),
                )
                title = petition.text_for(t.language).title
                caption = partial(export_caption, t, title, rows, taken)
                await self._send(request, session, path, caption)
        log.info("export of %d signatures sent to an admin", rows)

    async def report(self, request: AdminRequest) -> None:
        """Per addressed country, in the petition's order: its CSV; then the summary."""
        petition, t, storage = request.service.petition, request.t, request.storage
        taken = request.service.clock()
        chat_id = request.message.chat_id
        bot = request.context.bot
        overview = await storage.overview(petition.id)
        counts = overview.countries
        with tempfile.TemporaryDirectory(prefix="petition-report-") as directory:
            async with _showing_upload(bot, chat_id), aiohttp.ClientSession() as session:
                for code in petition.targets:
                    name = country_name(code, t.language)
                    path = Path(directory) / report_file_name(petition.id, code, taken)
                    rows = 0
                    if counts.get(code, 0) > 0:  # the counters: no scan for an empty country
                        rows = await write_csv(
                            storage.export_rows(petition.id, country=code),
                            path,
                            REPORT_COLUMNS,
                            report_fields,
                        )
                    if rows == 0:  # nobody yet, or every signer withdrew meanwhile
                        await bot.send_message(chat_id, report_caption(t, name, 0, None, None))
                        continue
                    span = await storage.country_span(petition.id, code)
                    first, last = span if span is not None else (None, None)
                    caption = partial(report_caption, t, name, rows, first, last)
                    if not await self._send(request, session, path, caption):
                        return
        in_targets = sum(counts.get(code, 0) for code in petition.targets)
        elsewhere = sum(count for code, count in counts.items() if code not in petition.targets)
        countries = sum(1 for count in counts.values() if count > 0)
        title = petition.text_for(t.language).title
        await bot.send_message(
            chat_id, report_summary(t, title, overview.total, countries, in_targets, elsewhere)
        )

    async def _send(
        self,
        request: AdminRequest,
        session: aiohttp.ClientSession,
        csv_path: Path,
        caption: Callable[..., str],
    ) -> bool:
        """Send the table as it fits; on a refusal tell the admin why and return False."""
        package = await asyncio.to_thread(package_csv, csv_path, self.upload_limit)
        parts = len(package.files)
        try:
            for part, path in enumerate(package.files, start=1):
                await send_document(
                    request.context.bot,
                    request.message.chat_id,
                    path,
                    file_name=path.name,
                    caption=caption(zipped=package.zipped, part=part, parts=parts),
                    content_type=package.media_type,
                    session=session,
                )
        except TelegramError as error:
            log.warning("sending %s to an admin failed: %s", csv_path.name, error)
            await request.message.reply_text(file_refused(request.t, str(error)))
            return False
        return True


def admin_commands(settings: Settings) -> dict[str, AdminCommand]:
    """The /export and /report handlers for `admin.register`, keyed by command."""
    return Exports(settings.export_secret).commands()
