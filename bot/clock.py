"""The application's one notion of "now" (UTC), injected everywhere a rule needs the time.

Production runs on the system clock; tests hand `build_application` (or the sandbox) a clock of
their own, so that nothing a test checks depends on the day or the hour it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)
