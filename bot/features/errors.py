"""The last resort: log the failure, tell the supporter something helpful, alert the admins.

Admins hear about each kind of failure at most once per `ALERT_INTERVAL`, so a broken database
at peak time sends them one message, not ten thousand. Alerts name no one and carry no error
text (which may quote personal data): the kind of error and where it happened; the log has
the rest.
"""

from __future__ import annotations

import contextlib
import logging
import time
import traceback
from collections.abc import Callable

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application

from bot.admin_screens import error_alert
from bot.context import Context
from bot.i18n import translator
from bot.incoming import private_chat_of
from bot.telegram_io import pseudonym

log = logging.getLogger(__name__)

ALERT_INTERVAL = 600.0


class AdminAlerts:
    def __init__(
        self,
        admin_ids: frozenset[int],
        *,
        interval: float = ALERT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.admin_ids = admin_ids
        self.interval = interval
        self.clock = clock
        self._last_sent: dict[str, float] = {}

    def due(self, kind: str) -> bool:
        """Whether this kind of error may be reported now (and note that it was)."""
        now = self.clock()
        last = self._last_sent.get(kind)
        if last is not None and now - last < self.interval:
            return False
        self._last_sent[kind] = now
        return True


def describe(error: BaseException | None) -> str:
    """`KindOfError at file.py:123 (function)`: where in our code it happened, no message."""
    if error is None:
        return "unknown error"
    frames = traceback.extract_tb(error.__traceback__)
    ours = [frame for frame in frames if "/bot/" in frame.filename or "/storage/" in frame.filename]
    place = ours[-1] if ours else (frames[-1] if frames else None)
    where = (
        f" at {place.filename.rsplit('/', 1)[-1]}:{place.lineno} ({place.name})" if place else ""
    )
    return f"{type(error).__name__}{where}"


def is_database_error(error: BaseException | None) -> bool:
    """Raised by a database driver (SQLite's, asyncpg) or our storage layer."""
    module = type(error).__module__ if error is not None else ""
    return module.startswith(("sqlite3", "asyncpg", "aiosqlite", "storage"))


async def on_error(update: object, context: Context) -> None:
    user = update.effective_user if isinstance(update, Update) else None
    metrics = context.bot_data.metrics
    if metrics is not None:
        metrics.failed_updates.labels(type(context.error).__name__).inc()
        if is_database_error(context.error):
            metrics.database_errors.inc()
    log.error(
        "unhandled error for user %s",
        pseudonym(user.id if user else None),
        exc_info=context.error,
    )
    await _alert_admins(context, context.bot_data.quick_language(None))
    if not isinstance(update, Update):
        return
    chat_id = private_chat_of(update)
    if chat_id is None:
        return
    text = translator(context.bot_data.quick_language(user)).gettext(
        "Sorry, something went wrong on our side. Please try again in a moment: "
        "your answers so far are saved."
    )
    try:
        await context.bot.send_message(chat_id, text)
    except TelegramError:
        log.warning("could not tell user %s about the error", pseudonym(user.id if user else None))


async def _alert_admins(context: Context, language: str) -> None:
    alerts = context.bot_data.alerts
    kind = describe(context.error)
    if not alerts.admin_ids or not alerts.due(kind):
        return
    text = error_alert(translator(language), kind)
    for admin_id in alerts.admin_ids:
        with contextlib.suppress(TelegramError):
            await context.bot.send_message(admin_id, text, parse_mode=None)


def register(application: Application, admin_ids: frozenset[int]) -> None:
    application.bot_data.alerts = AdminAlerts(admin_ids)
    application.add_error_handler(on_error)
