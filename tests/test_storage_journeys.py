"""Storage contract, journeys (storage.base.JourneyStore), on every backend."""

from __future__ import annotations

from dataclasses import replace

from storage.base import Storage
from storage.records import Journey, ReferralOwner, Step
from tests.conftest import NOW, execute_raw
from tests.stored import PETITION, SIGNED, request_for


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


async def test_blocked_flag_round_trips(storage: Storage) -> None:
    await storage.sign(request_for(1), SIGNED)
    assert (await storage.load(PETITION, 1)).blocked is False
    await storage.set_blocked(PETITION, 1, NOW)
    assert (await storage.load(PETITION, 1)).blocked is True
    await storage.set_blocked(PETITION, 1, None)
    assert (await storage.load(PETITION, 1)).blocked is False
    await storage.set_blocked(PETITION, 2, NOW)  # not a signer: nothing to mark, no error
    assert (await storage.load(PETITION, 2)).blocked is False


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


async def test_focus_follows_the_petition_opened_last(storage: Storage) -> None:
    assert await storage.focus(7) is None
    await storage.set_focus(7, PETITION, now=NOW)
    await storage.set_focus(8, "other-petition", now=NOW)
    await storage.set_focus(7, "other-petition", now=NOW)
    assert (await storage.focus(7), await storage.focus(8)) == ("other-petition", "other-petition")


async def test_petitions_of_a_supporter_cover_journeys_and_signatures(storage: Storage) -> None:
    assert await storage.petitions_of(7) == []
    await storage.sign(request_for(7), SIGNED)
    await storage.save_journey(
        "b-petition", 7, Journey(step=Step.AGE), message_id=None, language=None, now=NOW
    )
    await storage.save_journey(
        PETITION, 8, Journey(step=Step.AGE), message_id=None, language=None, now=NOW
    )
    assert await storage.petitions_of(7) == ["b-petition", PETITION]


async def test_a_share_code_names_its_petition(storage: Storage) -> None:
    result = await storage.sign(request_for(7), SIGNED)
    owner = await storage.referral_owner(result.signature.referral_code)
    assert owner == ReferralOwner(PETITION, 7)
    assert await storage.referral_owner("nosuchcode") is None
    await storage.withdraw(PETITION, 7)
    assert await storage.referral_owner(result.signature.referral_code) is None
