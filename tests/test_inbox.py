"""Polling's inbox: each update handled once per arrival, done marks written in batches."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from bot import inbox as inbox_module
from bot.inbox import Inbox
from storage.base import Storage

BOT_ID = 7
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
EARLIER = NOW - timedelta(minutes=1)


def updates(*update_ids: int) -> list[dict[str, object]]:
    return [
        {"update_id": update_id, "message": {"text": f"#{update_id}"}} for update_id in update_ids
    ]


async def test_an_update_is_taken_once_and_a_refetched_copy_never(storage: Storage) -> None:
    inbox = Inbox(storage, BOT_ID, lambda: NOW)
    await inbox.receive(updates(1, 2))
    await inbox.receive(updates(2, 3))  # PTB asked again before 2 was confirmed
    # Update 2 arrived twice: whichever reaches its handler first is refused, the other
    # handled (they are the same update).
    assert [inbox.take(update_id) for update_id in (1, 2, 2, 3)] == [True, False, True, True]


async def test_done_marks_are_written_together_after_a_moment(storage: Storage) -> None:
    inbox = Inbox(storage, BOT_ID, lambda: NOW)
    await inbox.receive(updates(10, 11, 12))
    inbox.finish(10)
    inbox.finish(11)
    assert len(await storage.unfinished_updates(BOT_ID, EARLIER)) == 3  # not written yet
    await asyncio.sleep(inbox_module.DONE_DELAY * 4)
    assert await storage.unfinished_updates(BOT_ID, EARLIER) == [
        '{"update_id":12,"message":{"text":"#12"}}'
    ]
    inbox.finish(12)
    await inbox.close()  # shutdown writes what is still waiting
    assert await storage.unfinished_updates(BOT_ID, EARLIER) == []


class FlakyStorage:
    """Fails the first `failures` finish_updates calls, then records them."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.finished: list[list[int]] = []

    async def finish_updates(
        self, bot_id: int, update_ids: Sequence[int], *, now: datetime
    ) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database away")
        self.finished.append(list(update_ids))


async def test_done_marks_survive_a_failed_write(caplog: pytest.LogCaptureFixture) -> None:
    flaky = FlakyStorage(failures=1)
    inbox = Inbox(flaky, BOT_ID, lambda: NOW)  # type: ignore[arg-type]
    inbox.finish(1)
    await asyncio.sleep(inbox_module.DONE_DELAY * 4)
    assert flaky.finished == []
    assert "could not mark 1 updates done" in caplog.text
    inbox.finish(2)
    await inbox.close()
    assert flaky.finished == [[1, 2]]


async def test_copies_remembered_are_bounded(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inbox_module, "MAX_REMEMBERED_COPIES", 3)
    inbox = Inbox(storage, BOT_ID, lambda: NOW)
    await inbox.receive(updates(*range(1, 6)))
    await inbox.receive(updates(*range(1, 6)))  # five copies, none ever handed to a handler
    assert [inbox.take(update_id) for update_id in range(1, 6)] == [True, True, False, False, False]
