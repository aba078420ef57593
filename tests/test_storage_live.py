"""Storage contract, live settings and the audit log (storage.base.LiveSettings)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from storage.base import Storage
from tests.conftest import NOW, StorageFactory
from tests.stored import PETITION, SIGNED, request_for


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


async def test_a_shared_secret_is_made_once_and_shared_by_every_instance(
    make_storage: StorageFactory,
) -> None:
    first, second = await make_storage(), await make_storage()
    made, read = await asyncio.gather(first.shared_secret("logs"), second.shared_secret("logs"))
    assert made == read and len(made) == 32
    assert await first.shared_secret("other") != made
