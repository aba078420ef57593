"""The pure parts of /export and /report: CSV fields, hashing, packing, captions, uploads."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import os
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import SecretStr
from telegram import Bot
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter

from bot.admin_screens.files import export_caption, report_caption, report_summary
from bot.features.exports import (
    CSV_ENCODING,
    EXPORT_COLUMNS,
    REPORT_COLUMNS,
    Exports,
    defuse_formula,
    export_fields,
    export_file_name,
    iso_utc,
    package_csv,
    report_fields,
    report_file_name,
    supporter_hash,
    write_csv,
)
from bot.i18n import FIRST_STRONG_ISOLATE as FSI
from bot.i18n import POP_DIRECTIONAL_ISOLATE as PDI
from bot.i18n import translator
from bot.uploads import FloodWait, result_of, send_document
from storage.records import ExportRow
from tests.bidi import unisolated
from tests.fakes import FakeBotAPI

SECRET = b"a-secret-only-the-organisers-know"
WHEN = datetime(2026, 11, 23, 12, 30, 5, tzinfo=UTC)
EN = translator("en")


def row(**overrides: object) -> ExportRow:
    values: dict[str, object] = {
        "number": 7,
        "signed_at": WHEN,
        "name": "Ada Lovelace",
        "user_id": 987654321012,
        "country": "GB",
        "language": "en",
        "wants_updates": True,
        "guardian_consent": False,
        "text_version": "2026-11-01",
        "referred_by": None,
    }
    values.update(overrides)
    return ExportRow(**values)  # type: ignore[arg-type]


# ---- fields -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
        ("+1 555", "'+1 555"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Jean-Luc", "Jean-Luc"),  # a sign inside a name is harmless
        ("Zoë = yes", "Zoë = yes"),
        ("", ""),
        ("李小龙", "李小龙"),
    ],
)
def test_formula_triggers_get_an_apostrophe(name: str, shown: str) -> None:
    assert defuse_formula(name) == shown


def test_supporter_hash_is_a_keyed_hmac_prefix() -> None:
    expected = hmac.new(SECRET, b"987654321012", hashlib.sha256).hexdigest()[:16]
    assert supporter_hash(987654321012, SECRET) == expected
    assert supporter_hash(987654321012, b"another key") != expected
    assert supporter_hash(987654321012, None) == ""  # no key: nothing linkable at all
    assert supporter_hash(None, SECRET) == ""  # anonymised


def test_timestamps_are_iso_utc_whatever_the_zone() -> None:
    assert iso_utc(WHEN) == "2026-11-23T12:30:05Z"
    berlin = WHEN.astimezone(timezone(timedelta(hours=1)))
    assert iso_utc(berlin) == "2026-11-23T12:30:05Z"
    assert iso_utc(WHEN.replace(tzinfo=None)) == "2026-11-23T12:30:05Z"


def test_export_fields_never_carry_the_telegram_id_or_referral_code() -> None:
    fields = export_fields(row(referred_by="SoMeCoDe1234"), SECRET)
    assert dict(zip(EXPORT_COLUMNS, fields, strict=True)) == {
        "number": "7",
        "signed_at": "2026-11-23T12:30:05Z",
        "name": "Ada Lovelace",
        "country": "GB",
        "language": "en",
        "wants_updates": "yes",
        "guardian_consent": "no",
        "text_version": "2026-11-01",
        "referred": "yes",
        "supporter": supporter_hash(987654321012, SECRET),
    }
    assert not any("987654321012" in field or "SoMeCoDe1234" in field for field in fields)
    assert export_fields(row(), SECRET)[EXPORT_COLUMNS.index("referred")] == "no"


def test_anonymised_rows_export_without_name_or_hash() -> None:
    fields = export_fields(row(name=None, user_id=None), SECRET)
    assert fields[EXPORT_COLUMNS.index("name")] == ""
    assert fields[EXPORT_COLUMNS.index("supporter")] == ""
    assert fields[EXPORT_COLUMNS.index("country")] == "GB"  # what every count needs stays


def test_report_fields_and_hygiene() -> None:
    assert report_fields(row(name="=cmd|' /C calc'!A0")) == [
        "7",
        "'=cmd|' /C calc'!A0",
        "GB",
        "2026-11-23T12:30:05Z",
    ]
    assert report_fields(row(name=None, user_id=None))[1] == ""
    assert len(REPORT_COLUMNS) == len(report_fields(row()))


async def rows_of(rows: list[ExportRow]) -> AsyncIterator[ExportRow]:
    for each in rows:
        yield each


async def test_csv_round_trips_any_name_with_a_bom(tmp_path: Path) -> None:
    names = ['Zoë "Z" Smith, Jr.', "Алёна\nline two", "محمد", "李小龙", None, "=1+1"]
    rows = [row(number=index, name=name) for index, name in enumerate(names, start=1)]
    path = tmp_path / "out.csv"
    count = await write_csv(rows_of(rows), path, REPORT_COLUMNS, report_fields)
    assert count == len(rows)
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and data.count(b"\xef\xbb\xbf") == 1
    parsed = list(csv.reader(io.StringIO(data.decode(CSV_ENCODING), newline="")))
    assert parsed[0] == list(REPORT_COLUMNS)
    assert [record[1] for record in parsed[1:]] == [
        'Zoë "Z" Smith, Jr.',
        "Алёна\nline two",
        "محمد",
        "李小龙",
        "",
        "'=1+1",
    ]


async def test_csv_writes_every_batch(tmp_path: Path) -> None:
    rows = [row(number=index) for index in range(1, 4_501)]  # more than two write batches
    path = tmp_path / "out.csv"
    assert await write_csv(rows_of(rows), path, REPORT_COLUMNS, report_fields) == 4_500
    with path.open(encoding=CSV_ENCODING, newline="") as file:
        parsed = list(csv.reader(file))
    assert [int(record[0]) for record in parsed[1:]] == list(range(1, 4_501))


# ---- packing --------------------------------------------------------------------------------


def write_table(path: Path, rows: int, *, random_names: bool) -> list[list[str]]:
    records = [["number", "name"]] + [
        [str(number), os.urandom(24).hex() if random_names else f"Supporter {number % 50}"]
        for number in range(1, rows + 1)
    ]
    with path.open("w", encoding=CSV_ENCODING, newline="") as file:
        csv.writer(file).writerows(records)
    return records


def unzip_records(path: Path) -> tuple[list[str], list[list[str]]]:
    with zipfile.ZipFile(path) as archive:
        (member,) = archive.namelist()
        text = archive.read(member).decode(CSV_ENCODING)
    return [member], list(csv.reader(io.StringIO(text, newline="")))


def test_a_table_that_fits_goes_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "signatures-p-2026-11-23.csv"
    write_table(path, 100, random_names=False)
    package = package_csv(path, limit=1_000_000)
    assert package.files == (path,) and not package.zipped
    assert package.media_type == "text/csv"


def test_a_large_table_goes_as_one_zip(tmp_path: Path) -> None:
    path = tmp_path / "signatures-p-2026-11-23.csv"
    records = write_table(path, 20_000, random_names=False)
    limit = path.stat().st_size // 2
    package = package_csv(path, limit=limit)
    assert package.zipped and package.media_type == "application/zip"
    (archive,) = package.files
    assert archive.name == "signatures-p-2026-11-23.zip"
    assert archive.stat().st_size <= limit
    members, unpacked = unzip_records(archive)
    assert members == ["signatures-p-2026-11-23.csv"]
    assert unpacked == records


def test_a_table_too_large_even_zipped_goes_in_parts(tmp_path: Path) -> None:
    path = tmp_path / "signatures-p-2026-11-23.csv"
    records = write_table(path, 30_000, random_names=True)  # hex: compresses only about 2:1
    limit = 400_000
    package = package_csv(path, limit=limit)
    assert package.zipped and len(package.files) >= 3
    together: list[list[str]] = []
    for number, archive in enumerate(package.files, start=1):
        assert archive.name == f"signatures-p-2026-11-23-part{number}.zip"
        assert archive.stat().st_size <= limit
        members, unpacked = unzip_records(archive)
        assert members == [f"signatures-p-2026-11-23-part{number}.csv"]
        assert unpacked[0] == records[0]  # every part opens on its own
        together.extend(unpacked[1:])
    assert together == records[1:]
    assert not (tmp_path / "signatures-p-2026-11-23.zip").exists()


def test_file_names() -> None:
    assert export_file_name("five-eyes", WHEN) == "signatures-five-eyes-2026-11-23.csv"
    assert report_file_name("five-eyes", "US", WHEN) == "report-five-eyes-US-2026-11-23.csv"


# ---- captions -------------------------------------------------------------------------------


def test_export_caption() -> None:
    caption = export_caption(EN, "Free <them> & now", 12345, WHEN, zipped=False, part=1, parts=1)
    # Each value isolated, the title's tags inside its isolate.
    assert caption == (
        f"Signatures of {FSI}<b>Free &lt;them&gt; &amp; now</b>{PDI}: {FSI}12,345{PDI} rows, "
        f"taken {FSI}November 23, 2026{PDI}"
    )
    one = export_caption(EN, "T", 1, WHEN, zipped=False, part=1, parts=1)
    assert ": 1 row, taken" in unisolated(one)
    zipped = unisolated(export_caption(EN, "T", 9, WHEN, zipped=True, part=2, parts=3))
    assert "compressed as a zip" in zipped and "Part 2 of 3" in zipped


def test_report_caption() -> None:
    first = WHEN - timedelta(days=30)

    def caption(*arguments: object) -> str:
        return unisolated(report_caption(EN, *arguments))  # type: ignore[arg-type]

    assert caption("Bosnia & Herzegovina", 2, first, WHEN) == (
        "<b>Bosnia &amp; Herzegovina</b>: 2 signatures, first October 24, 2026, "
        "last November 23, 2026"
    )
    assert caption("Canada", 1, WHEN, WHEN).startswith("<b>Canada</b>: 1 signature,")
    assert caption("Canada", 0, None, None) == "<b>Canada</b>: no signatures yet"
    assert caption("Canada", 3, None, None) == "<b>Canada</b>: 3 signatures"


def test_report_summary() -> None:
    summary = unisolated(report_summary(EN, "Title", 1_000_001, 42, 900_000, 100_001))
    assert "Delivery report for <b>Title</b>" in summary
    assert "Worldwide: 1,000,001 signatures." in summary
    assert "Signers come from 42 countries." in summary
    assert "From the addressed countries: 900,000 signatures." in summary
    assert "From elsewhere: 100,001 signatures." in summary
    assert "from 1 country." in unisolated(report_summary(EN, "T", 1, 1, 1, 0))


def test_the_key_comes_from_settings() -> None:
    assert Exports(SecretStr("k")).secret == b"k"
    assert Exports(SecretStr("")).secret is None
    assert Exports(None).secret is None


# ---- uploads --------------------------------------------------------------------------------


def test_telegram_answers_become_ptb_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # as bot.app sets it: no deprecation warning
    assert result_of(200, b'{"ok": true, "result": {"message_id": 5, "date": 0}}') == {
        "message_id": 5,
        "date": 0,
    }
    with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
        result_of(403, b'{"ok":false,"error_code":403,"description":"Forbidden: bot was '
                  b'blocked by the user"}')  # fmt: skip
    with pytest.raises(BadRequest, match=r"(?i)file is too big"):
        result_of(
            400, b'{"ok":false,"error_code":400,"description":"Bad Request: file is too big"}'
        )
    with pytest.raises(RetryAfter) as flood:
        result_of(429, b'{"ok":false,"error_code":429,"description":"Too Many Requests",'
                  b'"parameters":{"retry_after":7}}')  # fmt: skip
    assert isinstance(flood.value, FloodWait) and flood.value.seconds == 7
    with pytest.raises(ChatMigrated):
        result_of(400, b'{"ok":false,"parameters":{"migrate_to_chat_id":-1001}}')
    with pytest.raises(NetworkError, match="Bad Gateway"):
        result_of(502, b"<html>bad gateway</html>")
    with pytest.raises(NetworkError, match="Request Entity Too Large"):
        result_of(413, b"")


async def test_send_document_streams_a_file_to_the_fake_api(tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    path.write_bytes(b"\xef\xbb\xbfnumber,name\r\n1,Ada\r\n" * 1000)
    async with FakeBotAPI() as server:
        user = server.user(4242, "Organiser")
        server.register_chat(user.chat)
        bot = Bot(server.token, base_url=f"{server.url}/bot")
        message = await send_document(
            bot, 4242, path, file_name="table.csv", caption="<b>Hi</b> &amp; bye",
            content_type="text/csv",
        )  # fmt: skip
        assert message["document"]["file_name"] == "table.csv"
        (received,) = user.documents
        assert received.data == path.read_bytes()
        assert received.caption == "Hi & bye"  # sent as HTML
        (call,) = server.calls_for("sendDocument")
        assert call.params["document"].content_type == "text/csv"
        with pytest.raises(BadRequest, match=r"(?i)chat not found"):
            await send_document(bot, 999, path, file_name="table.csv")


def test_a_limit_too_small_to_split_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "signatures-p-2026-11-23.csv"
    write_table(path, 5_000, random_names=True)
    with pytest.raises(ValueError, match="too small"):
        package_csv(path, limit=50_000)
