"""Sending a broadcast: to every signer who asked for updates, once, whatever happens.

`BroadcastSender` runs in every instance; a lease lets one of them send at a time, paced to
`BROADCAST_RATE` messages per second, and survives crashes and restarts without sending anyone
the message twice:

- the sending broadcast is leased by one process at a time; a lease that runs out (its
  process died) is taken over by any instance, on start-up or within a few seconds;
- recipients are claimed from storage in batches, once per broadcast whatever the instances;
- each delivery is marked SENDING *before* the Bot API call and its outcome after it. A
  delivery still SENDING after a crash may or may not have arrived: it is reported as
  "unknown" and never retried. Queued ones were never handed over, so a successor sends them.

Broadcasts have a budget of their own: the rate limiter (bot.ratelimit) lets their calls
straight through and never counts them against a supporter's chat, so a broadcast never delays
an answer to a supporter. A 429 (RetryAfter) means Telegram did not take the message: the
sender goes quiet for the `retry_after` asked (through the limiter's `BroadcastGate`, which a
429 on any call that names no chat also silences), then retries the same recipient. A network
error or timeout may have delivered the message: it stays unknown rather than risk a duplicate.
The admin conversation that writes and confirms a broadcast is bot.features.broadcast.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import math
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from telegram import (
    Bot,
    Message,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application, ExtBot

from bot.admin_screens import broadcasts as screens
from bot.context import Services
from bot.features.once import new_owner
from bot.i18n import resolve_language, translator
from bot.metrics import Metrics
from bot.petition import Petition
from bot.ratelimit import BroadcastGate, CallKind, retry_seconds
from bot.telegram_io import pseudonym
from storage.base import Storage
from storage.records import Broadcast, BroadcastState, Delivery

log = logging.getLogger(__name__)

# A sender renews its lease every batch (and every third of it while sending); another
# instance takes over only once it has run out. Tests shorten it to simulate a crash quickly.
LEASE = timedelta(seconds=60)
POLL_SECONDS = 5.0  # how often an idle sender looks for a broadcast to send or take over
STARTING_POLL_SECONDS = 0.2  # how often it looks whether the application has started
PROGRESS_SECONDS = 5.0  # the admin's progress message is edited at most this often
BATCH_SECONDS = 2.0  # a batch holds about this much sending: /broadcast_stop acts within it
MIN_BATCH = 10
# Sends in flight at once: the pace spaces their starts, so a call's latency (up to this many
# seconds) does not eat into the rate.
LATENCY_ALLOWANCE_SECONDS = 0.5
MAX_IN_FLIGHT = 32
STOP_GRACE_SECONDS = 5.0


async def send_broadcast_text(bot: Bot, chat_id: int, text: str, *, bulk: bool = False) -> Message:
    """The one way a broadcast is sent: the admin's preview is exactly what supporters get.

    `bulk`: a delivery to a supporter, on the broadcast's own budget (not the preview)."""
    limited = bulk and isinstance(bot, ExtBot) and bot.rate_limiter is not None
    return await bot.send_message(
        chat_id,
        text,
        parse_mode=ParseMode.HTML,
        **({"rate_limit_args": CallKind.BROADCAST} if limited else {}),
    )


class Outcome(enum.Enum):
    DONE = "done"
    STOPPED = "stopped"  # by an admin
    LOST = "lost"  # our lease ran out and another instance carries on
    SHUTTING_DOWN = "shutting down"  # this instance stops; the next one carries on


@dataclass
class _Run:
    """One sender's stint on one broadcast (a takeover starts a new one)."""

    broadcast: Broadcast
    expected: int
    resumed: bool  # another sender had started it
    started: float  # monotonic
    renewed: float  # monotonic time of the last lease renewal
    counts: Counter[Delivery] = field(default_factory=Counter)
    progress_message: int | None = None
    progress_shown: float = 0.0


class SendSchedule:
    """Start times for sends, at least `interval` apart, reserved ahead of the sending.

    Each send reserves its slot before it waits, so sends in flight together never share one;
    after a pause (a 429, a slow call, a busy event loop) sending resumes at the rate from
    then on, never in a burst to catch up on the slots it missed.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.next_slot = 0.0

    def reserve(self, now: float, quiet_until: float = 0.0) -> float:
        slot = max(now, self.next_slot, quiet_until)
        self.next_slot = slot + self.interval
        return slot


class BroadcastSender:
    """Sends the petition's SENDING broadcast, if this process holds (or takes) its lease.

    One runs in every instance; the lease lets only one of them send at a time.
    """

    def __init__(
        self,
        bot: Bot,
        storage: Storage,
        petition_id: str,
        *,
        clock: Callable[[], datetime],
        language: str,
        rate: float,
        lease: timedelta = LEASE,
        poll_interval: float = POLL_SECONDS,
        progress_interval: float = PROGRESS_SECONDS,
        batch_size: int | None = None,
        owner: str | None = None,
        is_running: Callable[[], bool] = lambda: True,
        gate: BroadcastGate | None = None,
    ) -> None:
        self.bot = bot
        self.storage = storage
        self.petition_id = petition_id
        self.clock = clock
        self.t = translator(language)
        self.interval = 1.0 / rate
        self.lease = lease
        self.poll_interval = poll_interval
        self.progress_interval = progress_interval
        self.batch_size = batch_size or max(MIN_BATCH, math.ceil(rate * BATCH_SECONDS))
        self.in_flight = min(MAX_IN_FLIGHT, max(1, math.ceil(rate * LATENCY_ALLOWANCE_SECONDS)))
        self.owner = owner or new_owner()
        # Sending needs the application running: before start() and from stop() on, its
        # HTTP session may be closed, and a failed call would be recorded as "unknown".
        self.is_running = is_running
        self.schedule = SendSchedule(self.interval)
        self.metrics: Metrics | None = None  # deliveries by outcome, when metrics are on
        # When Telegram lets broadcasts send again: shared with the rate limiter, whose 429s
        # on calls that name no chat silence broadcasts too.
        self.gate = gate or BroadcastGate()
        self._stopping = False
        self._attempts_in_flight = 0
        self._no_attempt_in_flight = asyncio.Event()
        self._no_attempt_in_flight.set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._current: int | None = None

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="broadcast-sender")

    async def stop(self) -> None:
        """Stop sending; hand a broadcast in progress to the next instance straight away."""
        current = self._current
        task, self._task = self._task, None
        if task is not None:
            # No new sends; those in flight finish and record their outcome, so a stop
            # leaves no recipient "unknown" unless a call hangs past the grace period.
            self._stopping = True
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_GRACE_SECONDS):
                    await self._no_attempt_in_flight.wait()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if current is not None:
            await self._release()

    async def _release(self) -> None:
        """End our lease now: another instance need not wait for it to run out."""
        now = self.clock()
        try:
            await self.storage.lease_broadcast(
                self.petition_id, owner=self.owner, now=now, lease_until=now
            )
        except Exception:
            log.warning("could not release the broadcast lease; it runs out by itself")

    def wake(self) -> None:
        """A broadcast was just confirmed: look for it now, not at the next poll."""
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            try:
                busy = await self.send_due()
            except Exception:
                log.exception("broadcast sender failed; trying again in %s s", self.poll_interval)
                busy = False
            if busy:
                continue  # perhaps another broadcast is waiting
            idle = self.poll_interval if self.is_running() else STARTING_POLL_SECONDS
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(idle):
                    await self._wake.wait()
            self._wake.clear()

    async def send_due(self) -> bool:
        """Send (or carry on with) the sending broadcast if we get its lease; False: none."""
        if not self.is_running():
            return False
        now = self.clock()
        leased = await self.storage.lease_broadcast(
            self.petition_id, owner=self.owner, now=now, lease_until=now + self.lease
        )
        if leased is None:
            return False
        self._current = leased.id
        try:
            await self._send(leased)
        finally:
            self._current = None
        return True

    async def _send(self, leased: Broadcast) -> None:
        now = time.monotonic()
        run = _Run(
            broadcast=leased,
            expected=(await self.storage.overview(self.petition_id)).opted_in,
            resumed=bool(leased.progress),
            started=now,
            renewed=now,
            counts=Counter(leased.progress),
        )
        if run.resumed:
            log.info("resuming broadcast %d (taken over as %s)", leased.id, self.owner)
        await self._show_progress(run)
        outcome = await self._work(run)
        if outcome is Outcome.SHUTTING_DOWN:
            await self._release()
        await self._finish(run, outcome)

    async def _work(self, run: _Run) -> Outcome:
        broadcast_id = run.broadcast.id
        # Queued before a crash and never handed over: safe to send, and first.
        pending = await self.storage.left_over_recipients(broadcast_id)
        while True:
            if not pending:
                outcome = await self._renew(run)  # also tells whether an admin stopped it
                if outcome is not None:
                    return outcome
                pending = await self.storage.claim_recipients(
                    broadcast_id, self.batch_size, now=self.clock()
                )
                if not pending:
                    pending = await self.storage.left_over_recipients(broadcast_id)
                if not pending:
                    break
            outcome = await self._deliver_all(run, pending)
            if outcome is not None:
                return outcome
            pending = []
        if await self.storage.set_broadcast_state(
            broadcast_id, BroadcastState.DONE, expected=BroadcastState.SENDING
        ):
            return Outcome.DONE
        return await self._why_not_ours(run)

    async def _renew(self, run: _Run) -> Outcome | None:
        """Renew our lease; None while the broadcast is still ours to send."""
        now = self.clock()
        leased = await self.storage.lease_broadcast(
            self.petition_id, owner=self.owner, now=now, lease_until=now + self.lease
        )
        run.renewed = time.monotonic()
        if leased is not None and leased.id == run.broadcast.id:
            return None
        return await self._why_not_ours(run)

    async def _why_not_ours(self, run: _Run) -> Outcome:
        current = await self.storage.get_broadcast(run.broadcast.id)
        if current is not None and current.state is BroadcastState.STOPPED:
            return Outcome.STOPPED
        log.warning("broadcast %d: lease lost to another instance", run.broadcast.id)
        return Outcome.LOST

    async def _deliver_all(self, run: _Run, user_ids: list[int]) -> Outcome | None:
        """Deliver to these recipients, up to `in_flight` at once; None: carry on."""
        waiting = deque(user_ids)
        stopped: list[Outcome] = []

        async def deliver_in_turn() -> None:
            while waiting and not stopped:
                outcome = await self._deliver(run, waiting.popleft())
                if outcome is not None:
                    stopped.append(outcome)  # the others finish their send, then stop too
                    return
                await self._maybe_show_progress(run)

        async with asyncio.TaskGroup() as group:
            for _ in range(min(self.in_flight, len(waiting))):
                group.create_task(deliver_in_turn())
        return stopped[0] if stopped else None

    async def _deliver(self, run: _Run, user_id: int) -> Outcome | None:
        """One recipient, until Telegram takes or refuses the message. None: carry on."""
        while True:
            # Between batch renewals too: a slow batch (429 pauses) must not lose the lease.
            if time.monotonic() - run.renewed > self.lease.total_seconds() / 3:
                outcome = await self._renew(run)
                if outcome is not None:
                    return outcome
            await self._pace()
            if self._stopping or not self.is_running():
                return Outcome.SHUTTING_DOWN  # still queued: the next sender sends it
            self._attempts_in_flight += 1
            self._no_attempt_in_flight.clear()
            try:
                state = await self._attempt(run, user_id)
            finally:
                self._attempts_in_flight -= 1
                if not self._attempts_in_flight:
                    self._no_attempt_in_flight.set()
            if state is not None:
                run.counts[state] += 1
                if self.metrics is not None:
                    self.metrics.broadcast_deliveries.labels(self.petition_id, state.value).inc()
                return None

    async def _attempt(self, run: _Run, user_id: int) -> Delivery | None:
        """SENDING before the call, its outcome after; None: a 429, to be tried again."""
        broadcast_id = run.broadcast.id
        await self.storage.set_delivery(broadcast_id, user_id, Delivery.SENDING, now=self.clock())
        try:
            await send_broadcast_text(self.bot, user_id, run.broadcast.text, bulk=True)
        except RetryAfter as error:
            # Not delivered: queued again, so a successor may send it if we die waiting.
            await self.storage.set_delivery(
                broadcast_id, user_id, Delivery.QUEUED, now=self.clock()
            )
            seconds = retry_seconds(error)
            log.info("broadcast %d: flood control, waiting %.1f s", broadcast_id, seconds)
            # Telegram asks the bot to be silent: every send in flight waits it out.
            self.gate.silence(seconds)
            return None
        except Forbidden:
            await self.storage.set_blocked(self.petition_id, user_id, self.clock())
            state = Delivery.BLOCKED
        except BadRequest as error:  # chat not found, deactivated...: not delivered
            log.info("broadcast to %s refused: %s", pseudonym(user_id), error.message)
            state = Delivery.FAILED
        except NetworkError as error:
            # It may have reached Telegram: unknown, and never sent again.
            log.warning("broadcast to %s: outcome unknown (%s)", pseudonym(user_id), error)
            return Delivery.SENDING
        except TelegramError as error:
            log.info("broadcast to %s refused: %s", pseudonym(user_id), error.message)
            state = Delivery.FAILED
        else:
            state = Delivery.SENT
        await self.storage.set_delivery(broadcast_id, user_id, state, now=self.clock())
        return state

    async def _pace(self) -> None:
        """Wait for the next slot of the schedule (`SendSchedule`): at most `rate` sends a
        second. Slots are kept on the monotonic clock, so the time spent on the database and
        on the call itself counts toward the interval. A slot reserved before a 429 came in is
        given up for a new one after the silence Telegram asked for.
        """
        while True:
            now = time.monotonic()
            slot = self.schedule.reserve(now, self.gate.quiet_until)
            if slot > now:
                await asyncio.sleep(slot - now)
            if time.monotonic() >= self.gate.quiet_until:
                return

    async def _maybe_show_progress(self, run: _Run) -> None:
        if time.monotonic() - run.progress_shown >= self.progress_interval:
            await self._show_progress(run)

    async def _show_progress(self, run: _Run) -> None:
        run.progress_shown = time.monotonic()
        text = screens.progress(self.t, run.broadcast.id, run.counts, run.expected)
        admin = run.broadcast.created_by
        with contextlib.suppress(TelegramError):  # progress must never stop the sending
            if run.progress_message is None:
                message = await self.bot.send_message(admin, text)
                run.progress_message = message.message_id
            else:
                await self.bot.edit_message_text(
                    text, chat_id=admin, message_id=run.progress_message
                )

    async def _finish(self, run: _Run, outcome: Outcome) -> None:
        admin, t = run.broadcast.created_by, self.t
        if run.progress_message is not None:
            # The summary below replaces it: no "being sent" message left behind.
            with contextlib.suppress(TelegramError):
                await self.bot.delete_message(admin, run.progress_message)
        if outcome in (Outcome.LOST, Outcome.SHUTTING_DOWN):
            return  # the sender that carries on reports
        final = await self.storage.get_broadcast(run.broadcast.id)
        progress = final.progress if final is not None else run.counts
        report = screens.final_report(
            t,
            run.broadcast.id,
            progress,
            run.expected,
            finished=outcome is Outcome.DONE,
            seconds=time.monotonic() - run.started,
            resumed=run.resumed,
        )
        with contextlib.suppress(TelegramError):
            await self.bot.send_message(admin, report)
        log.info("broadcast %d %s: %s", run.broadcast.id, outcome.value, dict(progress))


async def start_sender(application: Application) -> None:
    """From post_init, once storage is open: also resumes a broadcast a crash interrupted."""
    services: Services = application.bot_data
    for service in services.desk.services.values():
        start_petition_sender(application, service.petition)


def start_petition_sender(application: Application, petition: Petition) -> None:
    """One sender per petition: its broadcasts go to those who opted in to it."""
    services: Services = application.bot_data
    if petition.id in services.broadcast_senders:
        return
    sender = BroadcastSender(
        application.bot,
        services.storage,
        petition.id,
        clock=services.desk.clock,
        language=resolve_language(None, None, petition.default_language),
        rate=services.settings.broadcast_rate,
        lease=LEASE,
        poll_interval=POLL_SECONDS,
        is_running=lambda: application.running,
        gate=getattr(application.bot.rate_limiter, "broadcast_gate", None),
    )
    sender.metrics = services.metrics
    services.broadcast_senders[petition.id] = sender
    sender.start()


async def stop_sender(application: Application) -> None:
    """From post_shutdown, before storage closes."""
    services: Services = application.bot_data
    senders, services.broadcast_senders = services.broadcast_senders, {}
    for sender in senders.values():
        await sender.stop()
