"""Retention: anonymisation runs only once a deadline-closed petition is old enough."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.retention import anonymisation_due, anonymise_if_due, housekeep
from storage.records import Journey, SignatureRequest, Step
from storage.sqlite import SQLiteStorage
from tests.conftest import NOW, make_petition


def test_due_only_after_deadline_plus_retention() -> None:
    closed = make_petition(deadline=(NOW - timedelta(days=31)).isoformat())
    assert anonymisation_due(closed, 30, NOW)
    assert not anonymisation_due(closed, 40, NOW)
    assert not anonymisation_due(closed, None, NOW)
    assert not anonymisation_due(make_petition(paused=True), 1, NOW)  # a pause is not a close


async def test_anonymise_if_due_on_storage(tmp_path: Path) -> None:
    petition = make_petition(deadline=(NOW - timedelta(days=3)).isoformat())
    storage = SQLiteStorage(tmp_path / "r.db")
    await storage.open()
    try:
        request = SignatureRequest(
            petition.id, 1, "Ada", "CA", "en", False, False, "v1", None, NOW - timedelta(days=5)
        )
        await storage.sign(request, Journey(step=Step.SIGNED))
        assert await anonymise_if_due(storage, petition, 7, NOW) == 0
        assert await anonymise_if_due(storage, petition, 2, NOW) == 1
        assert await storage.total(petition.id) == 1
        assert (await storage.personal_data(petition.id, 1)).signature is None
    finally:
        await storage.close()


async def test_housekeeping_forgets_old_update_claims_and_anonymises(tmp_path: Path) -> None:
    petition = make_petition(deadline=(NOW - timedelta(days=3)).isoformat())
    storage = SQLiteStorage(tmp_path / "h.db")
    await storage.open()
    try:
        old, fresh = NOW - timedelta(days=3), NOW
        for update_id, when in ((1, old), (2, fresh)):
            await storage.claim_update(9, update_id, owner="o", now=when, lease_until=when)
        request = SignatureRequest(
            petition.id, 1, "Ada", "CA", "en", False, False, "v1", None, NOW - timedelta(days=5)
        )
        await storage.sign(request, Journey(step=Step.SIGNED))
        await housekeep(storage, [petition], 1, NOW)
        assert await storage.claim_update(9, 1, owner="x", now=NOW, lease_until=NOW) == "owned"
        assert await storage.claim_update(9, 2, owner="x", now=NOW, lease_until=NOW) == "busy"
        assert (await storage.personal_data(petition.id, 1)).signature is None
    finally:
        await storage.close()
