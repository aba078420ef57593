"""Admin commands: every one goes through here, so each is admins-only and audited.

Only `ADMIN_IDS` may use them; everyone else gets the ordinary "unknown command" answer, no
hint that they exist, and the attempt is written to the audit log. Every admin action is too.
Feature modules contribute commands as `AdminCommand` handlers (see `register`). /goal, /pause
and /resume live here: they change the live petition without a restart, stored, so every
instance sees them at once.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from telegram import BotCommandScopeChat, Message, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    TypeHandler,
    filters,
)

from bot import admin_screens as screens
from bot.context import Context
from bot.desk import PetitionDesk
from bot.i18n import Translator, translator
from bot.menus import admin_command_list, command_list
from bot.service import JourneyService
from storage.base import Storage

AUDIT_GROUP = -1
MAX_GOAL = 1_000_000_000
MAX_AUDIT_DETAIL = 200


@dataclass(frozen=True, slots=True)
class AdminRequest:
    """One admin command, decoded: what a handler needs, nothing Telegram-specific to parse."""

    message: Message
    admin_id: int
    arguments: list[str]
    text: str  # everything after the command, line breaks kept (HTML from the entities)
    t: Translator
    service: JourneyService  # the petition it acts on
    storage: Storage
    context: Context
    named: bool = False  # the command named its petition (`/stats <id>`)


AdminCommand = Callable[[AdminRequest], Awaitable[None]]


def _command_of(update: Update) -> tuple[str, list[str]] | None:
    message = update.message
    if message is None or not message.text or not message.text.startswith("/"):
        return None
    words = message.text.split()
    return words[0][1:].split("@", 1)[0].casefold(), words[1:]


def _text_after_command(message: Message) -> str:
    """The command's argument as HTML, so a broadcast keeps the admin's bold and links."""
    return re.sub(r"^/\S*\s*", "", message.text_html or "", count=1).strip()


async def audit_refused(update: Update, context: Context) -> None:
    """A non-admin tried an admin command: note it, then let the usual answer follow."""
    command = _command_of(update)
    user = update.effective_user
    if command is None or user is None or command[0] not in context.bot_data.admin_commands:
        return
    if user.id in context.bot_data.admin_ids:
        return
    desk = context.bot_data.desk
    service = await desk.focused(user.id)
    await context.bot_data.storage.audit(
        service.petition.id,
        user.id,
        command[0],
        " ".join(command[1])[:MAX_AUDIT_DETAIL],
        allowed=False,
        now=desk.clock(),
    )


async def targeted(
    desk: PetitionDesk, admin_id: int, arguments: list[str]
) -> tuple[JourneyService, list[str]]:
    """The petition a command acts on: named as its first argument, else the one the admin
    opened last (with a single petition: that one), and the arguments left."""
    named = desk.service(arguments[0]) if arguments else None
    if named is not None:
        return named, arguments[1:]
    return await desk.focused(admin_id), arguments


async def on_admin_command(update: Update, context: Context) -> None:
    command = _command_of(update)
    message = update.message
    if command is None or message is None or message.from_user is None:
        return
    name, arguments = command
    handler: AdminCommand | None = context.bot_data.admin_commands.get(name)
    if handler is None:
        return
    desk = context.bot_data.desk
    storage = context.bot_data.storage
    service, rest = await targeted(desk, message.from_user.id, arguments)
    await storage.audit(
        service.petition.id,
        message.from_user.id,
        name,
        " ".join(arguments)[:MAX_AUDIT_DETAIL],
        allowed=True,
        now=desk.clock(),
    )
    text = _text_after_command(message)
    named = len(rest) < len(arguments)
    if named:  # the petition's id came first: the text is what follows
        text = text.removeprefix(arguments[0]).strip()
    await handler(
        AdminRequest(
            message=message,
            admin_id=message.from_user.id,
            arguments=rest,
            text=text,
            t=translator(context.bot_data.quick_language(message.from_user)),
            service=service,
            storage=storage,
            context=context,
            named=named,
        )
    )


async def set_goal(request: AdminRequest) -> None:
    t, storage, petition = request.t, request.storage, request.service.petition
    arguments = request.arguments
    goal = int(arguments[0]) if arguments and arguments[0].isdigit() else 0
    if not 0 < goal <= MAX_GOAL:
        record = await storage.load(petition.id, request.admin_id)
        shown = request.service.live_petition(record).goal_for(record.total)
        await request.message.reply_text(screens.goal_usage(t, shown))
        return
    await storage.set_live_goal(petition.id, goal)
    await request.message.reply_text(screens.goal_set(t, goal))


async def pause(request: AdminRequest) -> None:
    await request.storage.set_live_paused(request.service.petition.id, True)
    await request.message.reply_text(screens.paused(request.t))


async def resume(request: AdminRequest) -> None:
    await request.storage.set_live_paused(request.service.petition.id, False)
    await request.message.reply_text(screens.resumed(request.t))


async def list_petitions(request: AdminRequest) -> None:
    """Every petition with its count and state; `/petitions <id>` makes it the one commands
    act on (opening it with its deep link does too)."""
    desk, t, chosen = request.context.bot_data.desk, request.t, request.service
    if request.arguments:  # what is left is not the id of a petition served
        unknown = request.arguments[0][:MAX_AUDIT_DETAIL]
        await request.message.reply_text(screens.no_such_petition(t, unknown))
        return
    if request.named:
        await desk.choose(request.admin_id, chosen.petition.id)
    entries = []
    now = desk.clock()
    for petition in desk.catalog.petitions:
        record = await request.storage.load(petition.id, request.admin_id)
        live = desk.services[petition.id].live_petition(record)
        entries.append(screens.PetitionEntry(live, record.total, live.closed_reason(now)))
    await request.message.reply_text(screens.petitions_text(t, entries, chosen.petition.id))


PETITION_COMMANDS: dict[str, AdminCommand] = {
    "goal": set_goal,
    "pause": pause,
    "resume": resume,
    "petitions": list_petitions,
}


async def publish_admin_menus(application: Application, default_language: str) -> None:
    """Admins see their commands in their own chat's menu; nobody else does."""
    commands = command_list(default_language) + admin_command_list(default_language)
    for admin_id in application.bot_data.admin_ids:
        # Telegram knows no chat with an admin who has not started the bot yet.
        with contextlib.suppress(TelegramError):
            await application.bot.set_my_commands(commands, scope=BotCommandScopeChat(admin_id))


class AdminButtonHandler(CallbackQueryHandler):
    """Buttons of admin screens (callback data `<prefix>:...`), pressed by an admin.

    Anyone else's press (a forged button) is left to the signing handlers, which answer it
    like any stale button.
    """

    def __init__(self, prefix: str, callback: Callable, admin_ids: frozenset[int]) -> None:
        super().__init__(callback, pattern=f"^{prefix}:")
        self.admin_ids = admin_ids

    def check_update(self, update: object) -> object:
        if not isinstance(update, Update) or update.effective_user is None:
            return None
        if update.effective_user.id not in self.admin_ids:
            return None
        return super().check_update(update)


def register(
    application: Application,
    admin_ids: frozenset[int],
    commands: Mapping[str, AdminCommand],
) -> None:
    """Register before the signing handlers: admins' commands must reach this module first."""
    application.bot_data.admin_ids = admin_ids
    application.bot_data.admin_commands = {**PETITION_COMMANDS, **commands}
    application.add_handler(TypeHandler(Update, audit_refused), group=AUDIT_GROUP)
    if admin_ids:
        admins_only = filters.ChatType.PRIVATE & filters.User(list(admin_ids))
        application.add_handler(
            CommandHandler(list(application.bot_data.admin_commands), on_admin_command, admins_only)
        )
