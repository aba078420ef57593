"""Each Telegram update is processed once, however often it arrives.

Telegram delivers an update again when it has no proof we took it: a webhook call that timed
out (perhaps retried against another instance), or polling offsets lost in a crash.

- Webhook (several instances may share the traffic): the first handler claims the update in
  storage, shared by every instance; a copy finds it claimed or done and stops there. The
  last handler marks it done (written a moment later, with the others finished meanwhile).
  A claim is a lease: if its instance dies mid-update, the lease runs out and a redelivery is
  processed after all, so nothing is lost.
- Polling (one consumer per bot): the inbox (bot.inbox) already wrote each update as it
  arrived and knows its copies, so no further database trip is needed per update.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from telegram import Update
from telegram.ext import Application, ApplicationHandlerStop, TypeHandler

from bot.context import Context, Services
from bot.inbox import DoneMarks, Inbox
from storage.records import Claim

LEASE = timedelta(seconds=60)
FIRST_GROUP, LAST_GROUP = -2, 100


def new_owner() -> str:
    """Names this process in claims, so it can tell its own claims from another instance's."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def claim(application: Application, update: Update) -> Claim:
    services: Services = application.bot_data
    now = services.desk.clock()
    return await services.storage.claim_update(
        application.bot.id,
        update.update_id,
        owner=services.update_owner,
        now=now,
        lease_until=now + LEASE,
    )


async def claim_or_stop(update: Update, context: Context) -> None:
    claimed = await claim(context.application, update)
    if claimed is Claim.OWNED:
        return
    if claimed is Claim.BUSY:
        # The webhook endpoint answers 503, so Telegram retries it later (here or elsewhere);
        # if the instance working on it dies, that retry is processed.
        context.bot_data.busy_updates.add(update.update_id)
    raise ApplicationHandlerStop  # a copy of an update that is done or in progress


def was_busy(application: Application, update: Update) -> bool:
    """Whether this update was found in progress on another instance (and so not handled)."""
    busy = application.bot_data.busy_updates
    if update.update_id in busy:
        busy.discard(update.update_id)
        return True
    return False


async def mark_done(update: Update, context: Context) -> None:
    # Written a moment later, together with the other updates finished meanwhile. Telegram may
    # have its answer by then: a copy arriving in that moment finds the update still claimed
    # (and is answered 503, to come back later), so it is never handled twice.
    done_marks = context.bot_data.done_marks
    assert done_marks is not None  # registered in webhook mode only
    done_marks.add(update.update_id)


async def take_or_stop(update: Update, context: Context) -> None:
    inbox = context.bot_data.inbox
    assert inbox is not None  # registered in polling mode only
    if not inbox.take(update.update_id):
        raise ApplicationHandlerStop  # a copy of an update received before


async def finish_in_inbox(update: Update, context: Context) -> None:
    inbox = context.bot_data.inbox
    assert inbox is not None
    inbox.finish(update.update_id)


def register(
    application: Application, *, inbox: Inbox | None, done_marks: DoneMarks | None = None
) -> None:
    """`inbox`: polling's; None in webhook mode, where claims go through storage and
    `done_marks` writes the updates finished."""
    services: Services = application.bot_data
    if inbox is not None:
        services.inbox = inbox
        application.add_handler(TypeHandler(Update, take_or_stop), group=FIRST_GROUP)
        application.add_handler(TypeHandler(Update, finish_in_inbox), group=LAST_GROUP)
        return
    if done_marks is None:
        raise ValueError("webhook mode needs done_marks")
    services.done_marks = done_marks
    services.update_owner = new_owner()
    application.add_handler(TypeHandler(Update, claim_or_stop), group=FIRST_GROUP)
    application.add_handler(TypeHandler(Update, mark_done), group=LAST_GROUP)
