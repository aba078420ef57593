"""Storage contract, broadcasts and deliveries (storage.base.BroadcastStore), on every backend."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from storage.base import Storage
from storage.records import BroadcastState, Delivery
from tests.conftest import NOW, StorageFactory
from tests.stored import PETITION, SIGNED, request_for


async def test_broadcast_lifecycle(storage: Storage) -> None:
    for user_id in range(1, 8):
        await storage.sign(request_for(user_id, wants_updates=user_id != 4), SIGNED)
    await storage.set_blocked(PETITION, 5, NOW)
    broadcast_id = await storage.create_broadcast(PETITION, 99, "<b>News</b>", now=NOW)
    draft = await storage.get_broadcast(broadcast_id)
    assert draft is not None and (draft.state, draft.text, draft.progress) == (
        BroadcastState.DRAFT,
        "<b>News</b>",
        {},
    )
    assert await storage.latest_broadcast(PETITION) is None  # drafts are not broadcasts yet
    lease = {"now": NOW, "lease_until": NOW + timedelta(minutes=1)}
    assert await storage.lease_broadcast(PETITION, owner="a", **lease) is None
    assert await storage.set_broadcast_state(
        broadcast_id, BroadcastState.SENDING, expected=BroadcastState.DRAFT
    )
    assert not await storage.set_broadcast_state(  # a double tap on "Send"
        broadcast_id, BroadcastState.SENDING, expected=BroadcastState.DRAFT
    )
    leased = await storage.lease_broadcast(PETITION, owner="a", **lease)
    assert leased is not None and leased.id == broadcast_id and leased.owner == "a"
    assert await storage.lease_broadcast(PETITION, owner="b", **lease) is None  # a's lease runs

    assert await storage.claim_recipients(broadcast_id, 2, now=NOW) == [1, 2]
    await storage.set_delivery(broadcast_id, 1, Delivery.SENDING, now=NOW)
    await storage.set_delivery(broadcast_id, 1, Delivery.SENT, now=NOW)
    # "a" crashed here: 2 was queued but never handed over, so "b" sends it first.
    later = NOW + timedelta(minutes=2)
    taken_over = await storage.lease_broadcast(
        PETITION, owner="b", now=later, lease_until=later + timedelta(minutes=1)
    )
    assert taken_over is not None and taken_over.owner == "b"
    assert taken_over.progress == {Delivery.QUEUED: 1, Delivery.SENT: 1}
    assert await storage.left_over_recipients(broadcast_id) == [2]
    assert await storage.claim_recipients(broadcast_id, 3, now=later) == [3, 6, 7]  # 4, 5 skip
    for user_id in (2, 3, 6):
        await storage.set_delivery(broadcast_id, user_id, Delivery.SENT, now=later)
    await storage.set_delivery(broadcast_id, 7, Delivery.BLOCKED, now=later)
    assert await storage.left_over_recipients(broadcast_id) == []
    assert await storage.claim_recipients(broadcast_id, 3, now=later) == []
    assert await storage.set_broadcast_state(
        broadcast_id, BroadcastState.DONE, expected=BroadcastState.SENDING
    )
    done = await storage.latest_broadcast(PETITION)
    assert done is not None and done.state is BroadcastState.DONE
    assert done.progress == {Delivery.SENT: 4, Delivery.BLOCKED: 1}


async def test_two_claimers_never_share_a_recipient(make_storage: StorageFactory) -> None:
    first, second = await make_storage(), await make_storage()
    for user_id in range(1, 41):
        await first.sign(request_for(user_id, wants_updates=True), SIGNED)
    broadcast_id = await first.create_broadcast(PETITION, 99, "hi", now=NOW)
    await first.set_broadcast_state(
        broadcast_id, BroadcastState.SENDING, expected=BroadcastState.DRAFT
    )
    claimed: list[int] = []
    for _ in range(6):
        batches = await asyncio.gather(
            first.claim_recipients(broadcast_id, 4, now=NOW),
            second.claim_recipients(broadcast_id, 4, now=NOW),
        )
        for store, batch in zip((first, second), batches, strict=True):
            for user_id in batch:
                await store.set_delivery(broadcast_id, user_id, Delivery.SENT, now=NOW)
            claimed += batch
    assert sorted(claimed) == list(range(1, 41))
