"""Storage contract, the update inbox (storage.base.UpdateInbox), on every backend."""

from __future__ import annotations

from datetime import timedelta

from storage.records import Claim
from tests.conftest import NOW, StorageFactory, execute_raw


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
