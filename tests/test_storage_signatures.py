"""Storage contract, signatures and their counters (storage.base.SignatureStore)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from storage.base import Storage
from storage.records import Step
from tests.conftest import NOW, StorageFactory, execute_raw
from tests.stored import PETITION, SIGNED, request_for

TODAY = NOW.date()


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


async def test_anonymisation_keeps_counts_and_drops_names_and_ids(storage: Storage) -> None:
    for user in range(1, 8):
        when = NOW - timedelta(days=10) if user <= 5 else NOW
        await storage.sign(request_for(user, "CA" if user % 2 else "US", signed_at=when), SIGNED)
    await storage.set_focus(6, PETITION, now=NOW)
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
    assert await storage.focus(6) is None  # and which petition they had open


async def test_a_share_code_already_taken_is_drawn_again(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn = iter(["taken-code", "taken-code", "fresh-code", *["taken-code"] * 5])
    monkeypatch.setattr("storage.rows.new_referral_code", lambda: next(drawn))
    first = await storage.sign(request_for(1), SIGNED)
    second = await storage.sign(request_for(2), SIGNED)
    assert (first.signature.referral_code, second.signature.referral_code) == (
        "taken-code",
        "fresh-code",
    )
    with pytest.raises(RuntimeError, match="unique referral code"):
        await storage.sign(request_for(3), SIGNED)  # five clashes in a row: not a clash
    assert await storage.total(PETITION) == 2 and await storage.recount(PETITION) == 2
