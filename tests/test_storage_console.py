"""Storage contract, the admin console's reads (storage.base.ConsoleReads), on every backend."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.flow import FUNNEL_STAGES
from storage.base import Storage
from storage.records import Journey, Step
from tests.conftest import NOW, StorageFactory, execute_raw
from tests.stored import PETITION, SIGNED, request_for

TODAY = NOW.date()


async def test_overview_counts_every_tally_and_withdrawal_takes_them_back(
    storage: Storage,
) -> None:
    await storage.sign(request_for(1, "CA", language="fr", wants_updates=True), SIGNED)
    await storage.sign(request_for(2, "US", referred_by="code-1"), SIGNED)
    await storage.sign(
        request_for(3, "US", language="fr", referred_by="code-1", signed_at=NOW - timedelta(1)),
        SIGNED,
    )
    overview = await storage.overview(PETITION)
    assert (overview.total, overview.opted_in, overview.referred) == (3, 1, 2)
    assert overview.countries == {"US": 2, "CA": 1}
    assert list(overview.languages.items()) == [("fr", 2), ("en", 1)]  # best first
    assert await storage.daily_counts(PETITION) == {TODAY - timedelta(1): 1, TODAY: 2}
    assert await storage.daily_counts(PETITION, since=TODAY) == {TODAY: 2}
    assert await storage.referral_count(PETITION, "code-1") == 2
    assert await storage.top_referrers(PETITION) == [2]

    await storage.withdraw(PETITION, 3)
    overview = await storage.overview(PETITION)
    assert (overview.total, overview.opted_in, overview.referred) == (2, 1, 1)
    assert overview.languages == {"en": 1, "fr": 1}
    assert await storage.daily_counts(PETITION) == {TODAY: 2}  # the empty day is left out
    assert await storage.referral_count(PETITION, "code-1") == 1


async def test_a_double_signature_counts_once(storage: Storage) -> None:
    for _ in range(2):
        await storage.sign(request_for(1, wants_updates=True), SIGNED, ("signed",))
    overview = await storage.overview(PETITION)
    assert (overview.total, overview.opted_in, overview.funnel) == (1, 1, {"signed": 1})


async def test_funnel_counts_stages_when_reached(storage: Storage) -> None:
    journey = Journey(step=Step.COUNTRY, progress=2)
    for user_id in (1, 2):
        await storage.save_journey(
            PETITION, user_id, journey, message_id=None, language=None, now=NOW,
            reached=FUNNEL_STAGES[:2],
        )  # fmt: skip
    await storage.save_journey(
        PETITION, 1, journey, message_id=None, language=None, now=NOW, reached=()
    )
    await storage.sign(request_for(1), SIGNED, FUNNEL_STAGES[2:])
    funnel = (await storage.overview(PETITION)).funnel
    assert funnel == {stage: 2 if stage in FUNNEL_STAGES[:2] else 1 for stage in FUNNEL_STAGES}


async def test_recount_rebuilds_tallies_but_keeps_the_funnel(storage: Storage) -> None:
    await storage.sign(request_for(1, wants_updates=True, referred_by="abc"), SIGNED, ("signed",))
    await execute_raw(storage, "UPDATE tallies SET total = 99")
    await storage.recount(PETITION)
    overview = await storage.overview(PETITION)
    assert (overview.opted_in, overview.referred, overview.languages) == (1, 1, {"en": 1})
    assert await storage.daily_counts(PETITION) == {TODAY: 1}
    assert overview.funnel == {"signed": 99}  # history: nothing to rebuild it from


async def test_a_milestone_is_reached_once_across_instances(
    make_storage: StorageFactory,
) -> None:
    first, second = await make_storage(), await make_storage()
    results = await asyncio.gather(
        *(store.reach_milestone(PETITION, 1000, now=NOW) for store in (first, second, first))
    )
    assert sorted(results) == [False, False, True]
    assert await second.reach_milestone(PETITION, 10_000, now=NOW)


async def test_export_rows_stream_in_number_order_and_by_country(storage: Storage) -> None:
    for user_id in range(1, 8):
        await storage.sign(request_for(user_id, "US" if user_id % 2 else "CA"), SIGNED)
    await storage.withdraw(PETITION, 3)
    rows = [row async for row in storage.export_rows(PETITION, batch_size=2)]
    assert [row.number for row in rows] == [1, 2, 4, 5, 6, 7]
    assert rows[0].name == "Supporter 1" and rows[0].user_id == 1 and rows[0].country == "US"
    us = [row.number async for row in storage.export_rows(PETITION, country="US", batch_size=1)]
    assert us == [1, 5, 7]
    assert [row async for row in storage.export_rows(PETITION, country="FR")] == []


async def test_export_hides_anonymised_supporters(storage: Storage) -> None:
    await storage.sign(request_for(1), SIGNED)
    await storage.anonymize_signed_before(PETITION, NOW + timedelta(1), now=NOW)
    [row] = [row async for row in storage.export_rows(PETITION)]
    assert (row.name, row.user_id, row.number, row.country) == (None, None, 1, "CA")


async def test_country_span(storage: Storage) -> None:
    assert await storage.country_span(PETITION, "CA") is None
    for day in (3, 1, 2):
        await storage.sign(request_for(day, signed_at=NOW + timedelta(days=day)), SIGNED)
    first, last = await storage.country_span(PETITION, "CA")  # type: ignore[misc]
    assert (first.date(), last.date()) == (TODAY + timedelta(3), TODAY + timedelta(2))
