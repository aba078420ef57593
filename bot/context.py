"""What the features share, typed: PTB's `bot_data` as one object, and the handlers' context.

PTB creates `bot_data` with no arguments when the application is built; `build_application`
then fills in every service before anything runs. Handlers take a `Context`, so
`context.bot_data.storage` is a `Storage`, not a string key and a cast.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from telegram import User
from telegram.ext import CallbackContext, ContextTypes, ExtBot

from bot.i18n import SOURCE_LANGUAGE, resolve_language

if TYPE_CHECKING:  # the features import this module: only their types are needed here
    from aiohttp import web

    from bot.broadcasting import BroadcastSender
    from bot.desk import PetitionDesk
    from bot.features.admin import AdminCommand
    from bot.features.errors import AdminAlerts
    from bot.features.throttle import Throttle
    from bot.inbox import DoneMarks, Inbox
    from bot.incoming import WebhookReplies
    from bot.metrics import Metrics
    from bot.public import PublicCounts
    from bot.service import JourneyService
    from bot.settings import Settings
    from storage.base import Storage


class Services:
    """Everything the features share, one per application."""

    settings: Settings
    storage: Storage
    desk: PetitionDesk  # every petition's journeys, and which one each event is for
    admin_ids: frozenset[int]
    admin_commands: dict[str, AdminCommand]
    alerts: AdminAlerts

    def __init__(self) -> None:
        # Polling keeps an inbox; webhook mode claims through storage (owner, done marks).
        self.inbox: Inbox | None = None
        self.done_marks: DoneMarks | None = None
        self.update_owner = ""
        self.busy_updates: set[int] = set()  # updates found in progress on another instance
        self.webhook_replies: WebhookReplies | None = None
        self.throttle: Throttle | None = None
        self.broadcast_senders: dict[str, BroadcastSender] = {}  # one per petition
        self.public_counts: PublicCounts | None = None
        self.public_runner: web.AppRunner | None = None
        self.metrics: Metrics | None = None  # METRICS_PORT set: Prometheus metrics
        self.metrics_runner: web.AppRunner | None = None
        self.housekeeping: asyncio.Task[None] | None = None

    @property
    def journeys(self) -> JourneyService:
        """The default petition's journeys: the only petition, else the newest open one."""
        return self.desk.default()

    def quick_language(self, user: User | None) -> str:
        """The user's language without a database read: Telegram's language, else the default.

        For answers given before (or instead of) loading the supporter's journey, where their
        stored /language choice is not at hand: notes from the rate limit, errors, groups,
        admins.
        """
        desk = getattr(self, "desk", None)
        default = desk.default().petition.default_language if desk else SOURCE_LANGUAGE
        return resolve_language(None, user.language_code if user else None, default)


Context = CallbackContext[ExtBot[Any], dict[Any, Any], dict[Any, Any], Services]
CONTEXT_TYPES = ContextTypes(bot_data=Services)
