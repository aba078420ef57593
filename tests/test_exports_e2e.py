"""/export and /report end to end: admin command in, CSV documents out (fake Bot API).

Documents are read back from what the fake Telegram received, parsed with `csv`, and checked
row by row, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import re
import zipfile
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from pydantic import SecretStr

from bot.features.exports import CSV_ENCODING, EXPORT_COLUMNS, REPORT_COLUMNS, Exports
from bot.petition import Petition
from storage.base import Storage
from storage.postgres import PostgresStorage
from storage.records import Journey, SignatureRequest, SignResult, Step
from tests.bidi import unisolated
from tests.conftest import NOW, execute_raw
from tests.fakes import FakeBotAPI
from tests.fakes.bot_api import ReceivedFile
from tests.harness import BotInstance

ADMIN = 777101
SECRET = "organisers-export-key"
SIGNED = Journey(step=Step.SIGNED)
BOM = b"\xef\xbb\xbf"
DATE_RE = r"\d{4}-\d{2}-\d{2}"


@pytest.fixture
async def bot(
    server: FakeBotAPI, database_url: str, petition: Petition
) -> AsyncIterator[BotInstance]:
    async with BotInstance(
        server, database_url, petition, admin_ids=str(ADMIN), export_secret=SECRET
    ) as instance:
        yield instance


async def sign(
    storage: Storage, petition: Petition, user_id: int, country: str, name: str, **extra: object
) -> SignResult:
    values: dict[str, object] = {
        "petition_id": petition.id,
        "user_id": user_id,
        "name": name,
        "country": country,
        "language": "en",
        "wants_updates": False,
        "guardian_consent": False,
        "text_version": petition.version,
        "referred_by": None,
        "signed_at": NOW,
    }
    values.update(extra)
    return await storage.sign(SignatureRequest(**values), SIGNED)  # type: ignore[arg-type]


def records(document: ReceivedFile) -> list[list[str]]:
    """The document's CSV, which must be UTF-8 with one BOM."""
    assert document.data.startswith(BOM)
    return list(csv.reader(io.StringIO(document.data.decode(CSV_ENCODING), newline="")))


def keyed(user_id: int) -> str:
    return hmac.new(SECRET.encode(), str(user_id).encode(), hashlib.sha256).hexdigest()[:16]


async def test_admin_exports_every_signature_as_csv(server: FakeBotAPI, bot: BotInstance) -> None:
    storage, petition = bot.storage, bot.petition
    ada = await sign(storage, petition, 900000000001, "CA", "Ada Lovelace", signed_at=NOW)
    await sign(
        storage,
        petition,
        900000000002,
        "GB",
        '=HYPERLINK("http://evil.example","click")',
        wants_updates=True,
        signed_at=NOW + timedelta(hours=1),
    )
    await sign(
        storage,
        petition,
        900000000003,
        "US",
        "Алёна 李小龙 محمد",
        language="fr",
        guardian_consent=True,
        referred_by=ada.signature.referral_code,
        signed_at=NOW + timedelta(hours=2),
    )
    await sign(
        storage, petition, 900000000004, "DE", "Old Signer", signed_at=NOW - timedelta(days=400)
    )
    await storage.anonymize_signed_before(petition.id, NOW - timedelta(days=100), now=NOW)

    admin = server.user(ADMIN, "Admin")
    await admin.send("/export", timeout=15)
    (document,) = admin.documents
    assert re.fullmatch(rf"signatures-test-petition-{DATE_RE}\.csv", document.file_name or "")
    assert document.message["document"]["file_name"] == document.file_name
    assert re.fullmatch(
        r"Signatures of Protect prisoners of conscience: 4 rows, taken \w+ \d+, \d{4}",
        unisolated(document.caption or ""),
    )
    header, *rows = records(document)
    assert header == list(EXPORT_COLUMNS)
    assert rows == [
        ["1", "2026-11-23T12:00:00Z", "Ada Lovelace", "CA", "en", "no", "no", "2026-11-01",
         "no", keyed(900000000001)],
        ["2", "2026-11-23T13:00:00Z", "'=HYPERLINK(\"http://evil.example\",\"click\")", "GB",
         "en", "yes", "no", "2026-11-01", "no", keyed(900000000002)],
        ["3", "2026-11-23T14:00:00Z", "Алёна 李小龙 محمد", "US", "fr", "no", "yes", "2026-11-01",
         "yes", keyed(900000000003)],
        ["4", "2025-10-19T12:00:00Z", "", "DE", "en", "no", "no", "2026-11-01", "no", ""],
    ]  # fmt: skip
    for user_id in (900000000001, 900000000002, 900000000003, 900000000004):
        assert str(user_id).encode() not in document.data
    assert ada.signature.referral_code.encode() not in document.data
    actions = [call.params.get("action") for call in server.calls_for("sendChatAction")]
    assert "upload_document" in actions
    entries = await storage.audit_entries(petition.id)
    assert (entries[0].action, entries[0].user_id, entries[0].allowed) == ("export", ADMIN, True)


async def test_without_a_key_the_supporter_column_stays_empty(
    server: FakeBotAPI, database_url: str, petition: Petition
) -> None:
    async with BotInstance(server, database_url, petition, admin_ids=str(ADMIN)) as bot:
        await sign(bot.storage, petition, 900000000001, "CA", "Ada Lovelace")
        admin = server.user(ADMIN, "Admin")
        await admin.send("/export", timeout=15)
        header, row = records(admin.documents[-1])
        assert dict(zip(header, row, strict=True))["supporter"] == ""


async def test_non_admins_cannot_export_and_are_audited(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    await sign(bot.storage, bot.petition, 900000000001, "CA", "Ada Lovelace")
    mallory = server.user(777102, "Mallory")
    for command in ("/export", "/report", "/export@petition_test_bot all"):
        await mallory.send(command)
        assert "I don't know that command" in mallory.last
    assert mallory.documents == []
    assert not server.calls_for("sendDocument")
    entries = await bot.storage.audit_entries(bot.petition.id)
    assert [(entry.action, entry.detail, entry.allowed) for entry in reversed(entries)] == [
        ("export", "", False),
        ("report", "", False),
        ("export", "all", False),
    ]


async def test_report_sends_one_file_per_addressed_country_and_a_summary(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    storage, petition = bot.storage, bot.petition  # targets: CA, GB, US, AU, NZ
    day = timedelta(days=1)
    await sign(storage, petition, 900000000001, "CA", "Ada", signed_at=NOW - 3 * day)
    await sign(storage, petition, 900000000002, "US", "+Bob", signed_at=NOW - 2 * day)
    await sign(storage, petition, 900000000003, "CA", "Chloé", signed_at=NOW - day)
    await sign(storage, petition, 900000000004, "DE", "Dieter", signed_at=NOW)
    admin = server.user(ADMIN, "Admin")
    await admin.send("/report", replies=6, timeout=15)

    texts = [message.get("caption", message.get("text")) for message in admin.messages]
    assert [unisolated(text) for text in texts] == [
        "Canada: 2 signatures, first November 20, 2026, last November 22, 2026",
        "United Kingdom: no signatures yet",
        "United States: 1 signature, first November 21, 2026, last November 21, 2026",
        "Australia: no signatures yet",
        "New Zealand: no signatures yet",
        "Delivery report for Protect prisoners of conscience\n\n"
        "Worldwide: 4 signatures.\n"
        "Signers come from 3 countries.\n"
        "From the addressed countries: 3 signatures.\n"
        "From elsewhere: 1 signature.",
    ]
    canada, united_states = admin.documents
    assert re.fullmatch(rf"report-test-petition-CA-{DATE_RE}\.csv", canada.file_name or "")
    assert re.fullmatch(rf"report-test-petition-US-{DATE_RE}\.csv", united_states.file_name or "")
    assert records(canada) == [
        list(REPORT_COLUMNS),
        ["1", "Ada", "CA", "2026-11-20T12:00:00Z"],
        ["3", "Chloé", "CA", "2026-11-22T12:00:00Z"],
    ]
    assert records(united_states) == [
        list(REPORT_COLUMNS),
        ["2", "'+Bob", "US", "2026-11-21T12:00:00Z"],
    ]
    assert b"900000000001" not in canada.data


async def test_report_speaks_the_admins_language_and_hides_anonymised_names(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    storage, petition = bot.storage, bot.petition
    await sign(storage, petition, 900000000001, "US", "Old", signed_at=NOW - timedelta(days=400))
    await sign(storage, petition, 900000000002, "US", "New")
    await storage.anonymize_signed_before(petition.id, NOW - timedelta(days=100), now=NOW)
    admin = server.user(ADMIN, "Admin", language_code="fr")
    await admin.send("/report", replies=6, timeout=15)
    (document,) = admin.documents
    assert unisolated(document.caption or "").startswith("États-Unis")
    assert "novembre 2026" in unisolated(document.caption or "")
    assert [row[1] for row in records(document)[1:]] == ["", "New"]


async def bulk_sign(storage: Storage, petition_id: str, count: int) -> None:
    """`count` signatures in one statement (CA, US, DE in turn), then the counters rebuilt."""
    if isinstance(storage, PostgresStorage):
        sql = f"""
            INSERT INTO signatures (petition_id, user_id, number, name, country, language,
                wants_updates, guardian_consent, text_version, referral_code, referred_by,
                signed_at)
            SELECT '{petition_id}', 5000000000 + i, i, 'Supporter ' || i,
                (ARRAY['CA', 'US', 'DE'])[i % 3 + 1], 'en', i % 2 = 1, false, '2026-11-01',
                'bulk' || i, NULL, TIMESTAMPTZ '2026-11-20 12:00:00+00' + i * INTERVAL '1 second'
            FROM generate_series(1, {count}) AS i"""
    else:
        sql = f"""
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count})
            INSERT INTO signatures (petition_id, user_id, number, name, country, language,
                wants_updates, guardian_consent, text_version, referral_code, referred_by,
                signed_at)
            SELECT '{petition_id}', 5000000000 + i, i, 'Supporter ' || i,
                CASE i % 3 WHEN 0 THEN 'CA' WHEN 1 THEN 'US' ELSE 'DE' END, 'en', i % 2, 0,
                '2026-11-01', 'bulk' || i, NULL,
                strftime('%Y-%m-%dT%H:%M:%S+00:00', '2026-11-20 12:00:00', '+' || i || ' seconds')
            FROM n"""
    await execute_raw(storage, sql)
    assert await storage.recount(petition_id) == count


def all_parts(documents: list[ReceivedFile]) -> list[list[str]]:
    """Rows of zip parts, in order, each checked to start with the header."""
    together: list[list[str]] = []
    for document in documents:
        with zipfile.ZipFile(io.BytesIO(document.data)) as archive:
            (member,) = archive.namelist()
            text = archive.read(member).decode(CSV_ENCODING)
        header, *rows = csv.reader(io.StringIO(text, newline=""))
        assert header == list(EXPORT_COLUMNS)
        together.extend(rows)
    return together


async def test_a_large_petition_exports_every_row(server: FakeBotAPI, bot: BotInstance) -> None:
    count = 20_000
    await bulk_sign(bot.storage, bot.petition.id, count)
    admin = server.user(ADMIN, "Admin")
    await admin.send("/export", timeout=60)
    (document,) = admin.documents
    _header, *rows = records(document)
    assert len(rows) == count
    assert [int(row[0]) for row in rows] == list(range(1, count + 1))
    assert rows[12344][:4] == ["12345", "2026-11-20T15:25:45Z", "Supporter 12345", "CA"]
    assert rows[12344][-1] == keyed(5000012345)
    assert "20,000 rows" in unisolated(document.caption or "")

    # Above Telegram's upload limit the same table goes as a zip, or as zip parts.
    commands = bot.application.bot_data.admin_commands  # type: ignore[union-attr]
    size = len(document.data)
    commands["export"] = Exports(SecretStr(SECRET), upload_limit=size // 2).export
    await admin.send("/export", timeout=60)
    zipped = admin.documents[-1]
    assert re.fullmatch(rf"signatures-test-petition-{DATE_RE}\.zip", zipped.file_name or "")
    assert "compressed as a zip" in unisolated(zipped.caption or "")
    assert all_parts([zipped]) == rows

    commands["export"] = Exports(SecretStr(SECRET), upload_limit=size // 5).export
    before = len(admin.documents)
    await admin.send("/export", timeout=60)
    await server.wait_until(
        lambda: bool(
            re.search(r"Part (\d+) of \1;", unisolated(admin.documents[-1].caption or ""))
        ),
        60,
    )
    parts = admin.documents[before:]
    assert len(parts) >= 2
    for number, part in enumerate(parts, start=1):
        assert part.file_name is not None and part.file_name.endswith(f"-part{number}.zip")
        assert f"Part {number} of {len(parts)}" in unisolated(part.caption or "")
        assert len(part.data) <= size // 5
    assert all_parts(parts) == rows
