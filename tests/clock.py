"""The tests' clock: a fixed day, never the day the suite happens to run on."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from bot.clock import Clock

# Noon, so that a test lasting minutes stays on the same date in every time zone's sense of
# "today" that the code might use (it uses UTC).
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


# One origin for the whole test run: every clock made from the same start agrees with every
# other, as the clocks of several bot instances sharing one database do.
_ORIGIN = time.monotonic()


def running_from(start: datetime = NOW) -> Clock:
    """A clock that read `start` when the test run began and runs on at real speed from there.

    End-to-end tests need time to pass (leases run out, rate limits refill) but never to
    depend on the calendar: dates shown to supporters are always those of `start`.
    """

    def now() -> datetime:
        return start + timedelta(seconds=time.monotonic() - _ORIGIN)

    return now
