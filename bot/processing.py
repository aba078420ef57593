"""Update processing: different supporters concurrently, each supporter's updates in order.

PTB's `BaseUpdateProcessor.process_update` (final) holds the processor's semaphore while
`do_process_update` runs. A per-user lock taken inside it would let one flooding supporter's
queued updates sit on global slots and starve everyone else. So PTB's own semaphore is made
effectively unbounded, and the real bound is applied here, per update, by the one task that
drains each active supporter's queue: a supporter occupies at most one slot at a time, however
many updates they send.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot.telegram_io import pseudonym

if TYPE_CHECKING:
    from bot.metrics import Metrics

log = logging.getLogger(__name__)

# PTB's semaphore only counts waiting updates here; the real bound is `_slots`.
_UNBOUNDED = 1 << 30

_Item = tuple[Awaitable[Any], asyncio.Future[None]]


def sequence_key(update: object) -> int | None:
    """Whose updates must stay in order: the user's, else the chat's; None for neither."""
    if isinstance(update, Update):
        if update.effective_user is not None:
            return update.effective_user.id
        if update.effective_chat is not None:
            return update.effective_chat.id
    return None


def describe_update(update: object) -> str:
    """'update 17 (callback_query)': what arrived, naming no one."""
    if not isinstance(update, Update):
        return type(update).__name__
    kind = next((kind for kind in Update.ALL_TYPES if getattr(update, kind, None)), "empty")
    return f"update {update.update_id} ({kind})"


class PerUserUpdateProcessor(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(_UNBOUNDED)
        self.metrics: Metrics | None = None  # handling time per update, when metrics are on
        self.bound = max_concurrent_updates
        self._slots = asyncio.Semaphore(max_concurrent_updates)
        self._queues: dict[int, deque[_Item]] = {}
        self._drains: set[asyncio.Task[None]] = set()

    @property
    def active_users(self) -> int:
        return len(self._queues)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = sequence_key(update)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s from %s", describe_update(update), pseudonym(key))
        if key is None:
            async with self._slots:
                await (coroutine if self.metrics is None else self._timed(coroutine))
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
            drain = asyncio.create_task(self._drain(key, queue), name="drain-updates")
            self._drains.add(drain)
            drain.add_done_callback(self._drains.discard)
        queue.append((coroutine, done))
        # Waiting here keeps PTB's bookkeeping right: Application.stop() waits for this update.
        await done

    async def _drain(self, key: int, queue: deque[_Item]) -> None:
        try:
            while queue:
                coroutine, done = queue[0]
                try:
                    async with self._slots:
                        # No extra frame on the hot path when metrics are off.
                        await (coroutine if self.metrics is None else self._timed(coroutine))
                except Exception as error:  # PTB's process_update routes errors itself
                    if not done.done():
                        done.set_exception(error)
                else:
                    if not done.done():
                        done.set_result(None)
                queue.popleft()
        finally:
            if self._queues.get(key) is queue:
                del self._queues[key]
            for coroutine, done in queue:  # only left on cancellation at shutdown
                if hasattr(coroutine, "close"):
                    coroutine.close()
                if not done.done():
                    done.cancel()

    async def _timed(self, coroutine: Awaitable[Any]) -> None:
        assert self.metrics is not None
        with self.metrics.timing_update():
            await coroutine

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        if self._drains:
            await asyncio.gather(*self._drains, return_exceptions=True)
