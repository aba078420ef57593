"""The storage contract: every backend must pass these (PostgreSQL joins in a later issue)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from storage import open_storage
from storage.base import Storage
from storage.records import Claim, Journey, SignatureRequest, Step
from storage.schema import migration_scripts
from tests.conftest import NOW, StorageFactory, execute_raw, signature_request

PETITION = "contract-petition"


def request_for(user_id: int, country: str = "CA", **overrides: object) -> SignatureRequest:
    return signature_request(PETITION, user_id, country=country, **overrides)


SIGNED = Journey(step=Step.SIGNED, country="CA", name="x", consent=True, meets_minimum_age=True)


async def test_unknown_supporter(storage: Storage) -> None:
    record = await storage.load(PETITION, 42)
    assert (record.journey, record.signature, record.total, record.message_id) == (
        None,
        None,
        0,
        None,
    )
    assert await storage.total(PETITION) == 0
    assert await storage.country_counts(PETITION) == {}


async def test_journey_round_trip(storage: Storage) -> None:
    journey = Journey(
        step=Step.SEARCH,
        resume_step=Step.AGE,
        country_matches=("DE", "DK"),
        country="DE",
        wants_updates=True,
        referrer="abcd1234",
    )
    await storage.save_journey(PETITION, 7, journey, message_id=99, language="de", now=NOW)
    record = await storage.load(PETITION, 7)
    assert record.journey == journey
    assert (record.message_id, record.language) == (99, "de")
    later = replace(journey, step=Step.AGE)
    await storage.save_journey(PETITION, 7, later, message_id=None, language=None, now=NOW)
    record = await storage.load(PETITION, 7)
    assert record.journey == later
    assert record.language == "de"  # a save without a language keeps the stored choice
    assert (await storage.load("other-petition", 7)).journey is None


async def test_sign_is_idempotent_and_counts_exactly(storage: Storage) -> None:
    first = await storage.sign(request_for(1, "CA"), SIGNED)
    assert first.created and first.signature.number == 1 and first.total == 1
    again = await storage.sign(request_for(1, "GB", name="Someone else"), SIGNED)
    assert not again.created
    assert again.signature == first.signature
    assert again.total == 1
    second = await storage.sign(request_for(2, "GB"), SIGNED)
    assert (second.signature.number, second.total) == (2, 2)
    assert await storage.country_counts(PETITION) == {"CA": 1, "GB": 1}
    record = await storage.load(PETITION, 1)
    assert record.signature == first.signature
    assert record.journey is not None and record.journey.step == Step.SIGNED
    assert record.total == 2


async def test_signature_keeps_referral_code_unique(storage: Storage) -> None:
    results = [await storage.sign(request_for(user), SIGNED) for user in range(1, 51)]
    codes = {result.signature.referral_code for result in results}
    assert len(codes) == 50
    assert all(4 <= len(code) <= 32 for code in codes)


async def test_concurrent_signing_gives_unique_gapless_numbers(
    make_storage: StorageFactory,
) -> None:
    # Two instances on one database, 300 supporters, each tapping Sign twice on both.
    first, second = await make_storage(), await make_storage()
    countries = ["CA", "GB", "US", "AU", "NZ"]
    calls = []
    for user in range(1, 301):
        request = request_for(user, countries[user % 5])
        calls += [first.sign(request, SIGNED), second.sign(request, SIGNED)]
    results = await asyncio.gather(*calls)
    created = [result for result in results if result.created]
    assert len(created) == 300
    assert sorted(result.signature.number for result in created) == list(range(1, 301))
    assert await first.total(PETITION) == 300
    assert await second.total(PETITION) == 300
    assert sum((await first.country_counts(PETITION)).values()) == 300
    assert (await first.country_counts(PETITION))["CA"] == 60


async def test_recount_repairs_drifted_counters(storage: Storage, tmp_path: Path) -> None:
    for user in range(1, 6):
        await storage.sign(request_for(user, "US" if user < 3 else "NZ"), SIGNED)
    await execute_raw(storage, "UPDATE petition_counts SET total = 999")  # a manual edit
    await execute_raw(storage, "UPDATE country_counts SET total = 0")
    assert await storage.recount(PETITION) == 5
    assert await storage.country_counts(PETITION) == {"US": 2, "NZ": 3}
    next_one = await storage.sign(request_for(6), SIGNED)
    assert next_one.signature.number == 6  # numbers are never reused


async def test_hostile_text_is_stored_literally(storage: Storage) -> None:
    name = "Robert'); DROP TABLE signatures;-- 🙂 \u202e"
    await storage.sign(request_for(1, name=name), SIGNED)
    assert await storage.total(PETITION) == 1
    assert await execute_raw(storage, "SELECT name FROM signatures") == [(name,)]


async def test_unreadable_journey_row_starts_afresh(storage: Storage) -> None:
    await storage.save_journey(
        PETITION, 5, Journey(step=Step.AGE), message_id=None, language=None, now=NOW
    )
    await execute_raw(storage, "UPDATE journeys SET step = 'warp', answers = '{not json'")
    assert (await storage.load(PETITION, 5)).journey == Journey()


async def test_instances_starting_at_once_migrate_once_and_keep_data(database_url: str) -> None:
    first, second, third = (open_storage(database_url) for _ in range(3))
    await asyncio.gather(first.open(), second.open(), third.open())
    await first.sign(request_for(1), SIGNED)
    for storage in (first, second, third):
        await storage.close()
    reopened = open_storage(database_url)
    await reopened.open()
    try:
        assert await reopened.total(PETITION) == 1
        assert (await reopened.load(PETITION, 1)).signature is not None
        versions = await execute_raw(
            reopened, "SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_version"
        )
        dialect = "sqlite" if database_url.startswith("sqlite") else "postgres"
        scripts = len(migration_scripts(dialect))
        assert versions == [(scripts, scripts)]
    finally:
        await reopened.close()


def test_open_storage_rejects_unknown_schemes() -> None:
    with pytest.raises(ValueError, match="DATABASE_URL"):
        open_storage("mysql://localhost/db")


async def test_signed_at_round_trips_with_time_zone(storage: Storage) -> None:
    when = NOW + timedelta(microseconds=123)
    await storage.sign(request_for(1, signed_at=when), SIGNED)
    signature = (await storage.load(PETITION, 1)).signature
    assert signature is not None and signature.signed_at == when


async def test_withdraw_lowers_counts_in_the_same_transaction(storage: Storage) -> None:
    await storage.sign(request_for(1, "CA"), SIGNED)
    await storage.sign(request_for(2, "CA"), SIGNED)
    assert await storage.withdraw(PETITION, 1) == 1
    assert await storage.withdraw(PETITION, 1) is None  # nothing left to withdraw
    assert await storage.withdraw(PETITION, 99) is None
    assert await storage.country_counts(PETITION) == {"CA": 1}
    assert (await storage.load(PETITION, 1)).signature is None
    again = await storage.sign(request_for(1, "GB"), SIGNED)
    assert again.created and again.signature.number == 3  # numbers are never reused
    assert again.total == 2


async def test_withdraw_never_drives_counts_below_zero(storage: Storage) -> None:
    await storage.sign(request_for(1, "CA"), SIGNED)
    await execute_raw(storage, "UPDATE petition_counts SET total = 0")
    await execute_raw(storage, "UPDATE country_counts SET total = 0")
    assert await storage.withdraw(PETITION, 1) == 0
    assert await storage.country_counts(PETITION) == {}


async def test_personal_data_holds_everything_stored(storage: Storage) -> None:
    empty = await storage.personal_data(PETITION, 5)
    assert (empty.signature, empty.journey, empty.number) == (None, None, None)
    request = request_for(5, "NZ", wants_updates=True, referred_by="friend123")
    await storage.sign(request, SIGNED)
    data = await storage.personal_data(PETITION, 5)
    assert data.signature == request
    assert data.number == 1 and data.referral_code
    assert data.journey == SIGNED and data.language == "en"
    assert data.journey_updated_at == NOW


async def test_anonymisation_keeps_counts_and_drops_names_and_ids(storage: Storage) -> None:
    for user in range(1, 8):
        when = NOW - timedelta(days=10) if user <= 5 else NOW
        await storage.sign(request_for(user, "CA" if user % 2 else "US", signed_at=when), SIGNED)
    cutoff = NOW - timedelta(days=1)
    assert await storage.anonymize_signed_before(PETITION, cutoff, now=NOW, batch_size=2) == 5
    assert await storage.anonymize_signed_before(PETITION, cutoff, now=NOW) == 0  # idempotent
    assert await storage.total(PETITION) == 7
    assert await storage.country_counts(PETITION) == {"CA": 4, "US": 3}
    assert await storage.recount(PETITION) == 7
    rows = await execute_raw(storage, "SELECT user_id, name FROM signatures ORDER BY number")
    assert [row[0] for row in rows] == [-1, -2, -3, -4, -5, 6, 7]
    assert [row[1] for row in rows][:5] == [""] * 5
    assert (await storage.load(PETITION, 1)).signature is None
    assert (await storage.load(PETITION, 6)).journey is None  # journeys are gone too


async def test_each_update_is_claimed_once_across_instances(make_storage: StorageFactory) -> None:
    first, second = await make_storage(), await make_storage()
    lease = NOW + timedelta(seconds=30)
    claim = {"now": NOW, "lease_until": lease}
    assert await first.claim_update(1, 100, owner="a", **claim) == Claim.OWNED
    assert await first.claim_update(1, 100, owner="a", **claim) == Claim.BUSY  # a second copy
    assert await second.claim_update(1, 100, owner="b", **claim) == Claim.BUSY
    assert await second.claim_update(2, 100, owner="b", **claim) == Claim.OWNED  # another bot
    await first.finish_updates(1, [100], now=NOW)
    assert await second.claim_update(1, 100, owner="b", **claim) == Claim.DONE
    # An owner that died mid-update: its lease runs out, and another instance takes over.
    assert await first.claim_update(1, 101, owner="a", **claim) == Claim.OWNED
    later = {"now": lease + timedelta(seconds=1), "lease_until": lease + timedelta(seconds=31)}
    assert await second.claim_update(1, 101, owner="b", **later) == Claim.OWNED
    assert await first.claim_update(1, 102, owner="a", **claim) == Claim.OWNED
    assert await second.claim_update(1, 102, owner="b", **claim) == Claim.BUSY  # lease runs
    fetched = [(104, "{}"), (103, '{"update_id": 103}')]
    assert await first.receive_updates(1, fetched, now=NOW) == [103, 104]
    # A re-fetch changes nothing, and only what is new is new.
    assert await first.receive_updates(1, [(103, "again"), (105, "{}")], now=NOW) == [105]
    assert await second.receive_updates(1, [], now=NOW) == []
    assert await second.unfinished_updates(1, NOW - timedelta(minutes=1)) == [
        '{"update_id": 103}',
        "{}",
        "{}",
    ]  # 100 is done; 101 and 102 have no payload (not fetched by polling)
    assert await second.claim_update(1, 103, owner="b", **claim) == Claim.OWNED
    await second.finish_updates(1, [103, 105], now=NOW)  # polling marks them in batches
    kept = await execute_raw(first, "SELECT payload FROM update_claims WHERE update_id = 103")
    assert kept == [(None,)]  # a done update's payload is not kept for a day
    assert await first.unfinished_updates(1, NOW - timedelta(minutes=1)) == ["{}"]
    assert await first.unfinished_updates(1, NOW) == []  # only recent ones are replayed
    assert await first.forget_updates(NOW + timedelta(days=1)) == 7
    assert await first.claim_update(1, 100, owner="a", **claim) == Claim.OWNED


async def test_blocked_flag_round_trips(storage: Storage) -> None:
    await storage.sign(request_for(1), SIGNED)
    assert (await storage.load(PETITION, 1)).blocked is False
    await storage.set_blocked(PETITION, 1, NOW)
    assert (await storage.load(PETITION, 1)).blocked is True
    await storage.set_blocked(PETITION, 1, None)
    assert (await storage.load(PETITION, 1)).blocked is False
    await storage.set_blocked(PETITION, 2, NOW)  # not a signer: nothing to mark, no error
    assert (await storage.load(PETITION, 2)).blocked is False


async def test_live_goal_and_pause_are_shared(make_storage: StorageFactory) -> None:
    first, second = await make_storage(), await make_storage()
    assert ((await second.load(PETITION, 1)).goal, (await second.load(PETITION, 1)).paused) == (
        None,
        None,
    )
    await first.set_live_goal(PETITION, 5000)
    await first.set_live_paused(PETITION, True)
    record = await second.load(PETITION, 1)
    assert (record.goal, record.paused, record.total) == (5000, True, 0)
    await second.sign(request_for(1), SIGNED)  # the counters row keeps its live settings
    record = await first.load(PETITION, 1)
    assert (record.goal, record.paused, record.total) == (5000, True, 1)
    await first.set_live_paused(PETITION, None)
    assert (await second.load(PETITION, 1)).paused is None


async def test_audit_log_keeps_every_entry_newest_first(storage: Storage) -> None:
    await storage.audit(PETITION, 1, "goal", "100", allowed=True, now=NOW)
    await storage.audit(PETITION, 2, "pause", "", allowed=False, now=NOW + timedelta(seconds=1))
    await storage.audit("other", 1, "resume", "", allowed=True, now=NOW)
    entries = await storage.audit_entries(PETITION)
    assert [(e.user_id, e.action, e.detail, e.allowed) for e in entries] == [
        (2, "pause", "", False),
        (1, "goal", "100", True),
    ]
    assert entries[1].at == NOW


async def test_referral_count(storage: Storage) -> None:
    first = await storage.sign(request_for(1), SIGNED)
    code = first.signature.referral_code
    assert await storage.referral_count(PETITION, code) == 0
    for user in (2, 3):
        await storage.sign(request_for(user, referred_by=code), SIGNED)
    await storage.sign(request_for(4, referred_by="someone-else"), SIGNED)
    assert await storage.referral_count(PETITION, code) == 2
    await storage.withdraw(PETITION, 3)
    assert await storage.referral_count(PETITION, code) == 1
