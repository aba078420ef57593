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
from telegram.ext import Application, ApplicationHandlerStop, ContextTypes, TypeHandler

from bot.features.signing import SERVICE_KEY, STORAGE_KEY
from bot.inbox import DoneMarks, Inbox
from storage.base import Storage
from storage.records import Claim

OWNER_KEY = "update_owner"
INBOX_KEY = "inbox"
DONE_MARKS_KEY = "done_marks"
BUSY_UPDATES_KEY = "busy_updates"
LEASE = timedelta(seconds=60)
FIRST_GROUP, LAST_GROUP = -2, 100


def new_owner() -> str:
    """Names this process in claims, so it can tell its own claims from another instance's."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def claim(application: Application, update: Update) -> Claim:
    storage: Storage = application.bot_data[STORAGE_KEY]
    now = application.bot_data[SERVICE_KEY].clock()
    return await storage.claim_update(
        application.bot.id,
        update.update_id,
        owner=application.bot_data[OWNER_KEY],
        now=now,
        lease_until=now + LEASE,
    )


async def claim_or_stop(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    claimed = await claim(context.application, update)
    if claimed is Claim.OWNED:
        return
    if claimed is Claim.BUSY:
        # The webhook endpoint answers 503, so Telegram retries it later (here or elsewhere);
        # if the instance working on it dies, that retry is processed.
        context.bot_data[BUSY_UPDATES_KEY].add(update.update_id)
    raise ApplicationHandlerStop  # a copy of an update that is done or in progress


def was_busy(application: Application, update: Update) -> bool:
    """Whether this update was found in progress on another instance (and so not handled)."""
    busy: set[int] = application.bot_data[BUSY_UPDATES_KEY]
    if update.update_id in busy:
        busy.discard(update.update_id)
        return True
    return False


async def mark_done(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    # Written a moment later, together with the other updates finished meanwhile. Telegram may
    # have its answer by then: a copy arriving in that moment finds the update still claimed
    # (and is answered 503, to come back later), so it is never handled twice.
    done_marks: DoneMarks = context.bot_data[DONE_MARKS_KEY]
    done_marks.add(update.update_id)


async def take_or_stop(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    inbox: Inbox = context.bot_data[INBOX_KEY]
    if not inbox.take(update.update_id):
        raise ApplicationHandlerStop  # a copy of an update received before


async def finish_in_inbox(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    inbox: Inbox = context.bot_data[INBOX_KEY]
    inbox.finish(update.update_id)


def register(
    application: Application, *, inbox: Inbox | None, done_marks: DoneMarks | None = None
) -> None:
    """`inbox`: polling's; None in webhook mode, where claims go through storage and
    `done_marks` writes the updates finished."""
    if inbox is not None:
        application.bot_data[INBOX_KEY] = inbox
        application.add_handler(TypeHandler(Update, take_or_stop), group=FIRST_GROUP)
        application.add_handler(TypeHandler(Update, finish_in_inbox), group=LAST_GROUP)
        return
    if done_marks is None:
        raise ValueError("webhook mode needs done_marks")
    application.bot_data[DONE_MARKS_KEY] = done_marks
    application.bot_data[OWNER_KEY] = new_owner()
    application.bot_data[BUSY_UPDATES_KEY] = set()
    application.add_handler(TypeHandler(Update, claim_or_stop), group=FIRST_GROUP)
    application.add_handler(TypeHandler(Update, mark_done), group=LAST_GROUP)
