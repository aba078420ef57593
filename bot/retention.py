"""Housekeeping: retention of signatures, and forgetting processed updates.

Some time after a petition closes, its signatures are anonymised.

Names and Telegram ids go; country, date and signer number stay, so every count and the
delivery report's totals still hold. Runs in batches, each its own transaction, so it can stop
at any moment (SIGTERM) and pick up where it left off.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.petition import Petition
from storage.base import Storage

if TYPE_CHECKING:
    from bot.desk import PetitionDesk

log = logging.getLogger(__name__)
CHECK_INTERVAL_SECONDS = 3600
# Telegram gives up redelivering an update within a day: claims older than this are useless.
UPDATE_CLAIMS_KEPT = timedelta(days=2)


def anonymisation_due(petition: Petition, retention_days: int | None, now: datetime) -> bool:
    """Only a deadline closes a petition for good; a pause may be lifted tomorrow."""
    if retention_days is None or petition.deadline is None:
        return False
    return now >= petition.deadline + timedelta(days=retention_days)


async def anonymise_if_due(
    storage: Storage, petition: Petition, retention_days: int | None, now: datetime
) -> int:
    if not anonymisation_due(petition, retention_days, now):
        return 0
    return await storage.anonymize_signed_before(petition.id, now, now=now)


async def housekeeping_loop(
    storage: Storage, desk: PetitionDesk, interval: float = CHECK_INTERVAL_SECONDS
) -> None:
    while True:
        try:
            # Every petition served, retired ones included: their retention runs on.
            await housekeep(storage, desk.catalog.petitions, desk.retention_days, desk.clock())
        except Exception:
            log.exception("housekeeping failed; trying again in %s s", interval)
        await asyncio.sleep(interval)


async def housekeep(
    storage: Storage,
    petitions: Iterable[Petition],
    retention_days: int | None,
    now: datetime,
) -> None:
    await storage.forget_updates(now - UPDATE_CLAIMS_KEPT)
    for petition in petitions:
        count = await anonymise_if_due(storage, petition, retention_days, now)
        if count:
            log.info("anonymised %d signatures of petition %r", count, petition.id)
