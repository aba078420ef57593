"""Admin commands that change the live petition without a restart: /goal, /pause, /resume.

Only `ADMIN_IDS` may use them; everyone else gets the ordinary "unknown command" answer, no
hint that they exist, and the attempt is written to the audit log. Every admin action is too.
Changes are stored, so every instance sees them at once.
"""

from __future__ import annotations

import contextlib

from telegram import BotCommandScopeChat, Update
from telegram.error import TelegramError
from telegram.ext import Application, CommandHandler, ContextTypes, TypeHandler, filters

from bot.features.signing import STORAGE_KEY, quick_language, service_of
from bot.i18n import translator
from bot.menus import admin_command_list, command_list
from bot.petition import current_goal
from storage.base import Storage

ADMIN_COMMANDS = ("goal", "pause", "resume")
ADMIN_IDS_KEY = "admin_ids"
AUDIT_GROUP = -1
MAX_GOAL = 1_000_000_000


def _command_of(update: Update) -> tuple[str, list[str]] | None:
    message = update.message
    if message is None or not message.text or not message.text.startswith("/"):
        return None
    words = message.text.split()
    return words[0][1:].split("@", 1)[0].casefold(), words[1:]


async def audit_refused(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A non-admin tried an admin command: note it, then let the usual answer follow."""
    command = _command_of(update)
    user = update.effective_user
    if command is None or user is None or command[0] not in ADMIN_COMMANDS:
        return
    if user.id in context.bot_data[ADMIN_IDS_KEY]:
        return
    service = service_of(context)
    storage: Storage = context.bot_data[STORAGE_KEY]
    await storage.audit(
        service.petition.id,
        user.id,
        command[0],
        " ".join(command[1])[:200],
        allowed=False,
        now=service.clock(),
    )


async def on_admin_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    command = _command_of(update)
    message = update.message
    if command is None or message is None or message.from_user is None:
        return
    name, arguments = command
    service = service_of(context)
    storage: Storage = context.bot_data[STORAGE_KEY]
    petition = service.petition
    t = translator(quick_language(context, message.from_user))
    if name == "goal":
        goal = int(arguments[0]) if arguments and arguments[0].isdigit() else 0
        if not 0 < goal <= MAX_GOAL:
            record = await storage.load(petition.id, message.from_user.id)
            live = service.live_petition(record)
            shown = current_goal(live.goal, record.total, auto_raise=live.auto_raise_goal)
            await message.reply_text(
                t.gettext(
                    "Send /goal followed by a number, for example /goal 100000. "
                    "The current goal is {goal}."
                ).format(goal=t.number(shown))
            )
            return
        await storage.set_live_goal(petition.id, goal)
        reply = t.gettext("Goal set to {goal}. Supporters see it from now on.").format(
            goal=t.number(goal)
        )
    elif name == "pause":
        await storage.set_live_paused(petition.id, True)
        reply = t.gettext("Signing is paused. Supporters are told so until you send /resume.")
    else:
        await storage.set_live_paused(petition.id, False)
        reply = t.gettext("Signing is open again.")
    await storage.audit(
        petition.id,
        message.from_user.id,
        name,
        " ".join(arguments)[:200],
        allowed=True,
        now=service.clock(),
    )
    await message.reply_text(reply)


async def publish_admin_menus(application: Application, default_language: str) -> None:
    """Admins see their commands in their own chat's menu; nobody else does."""
    commands = command_list(default_language) + admin_command_list(default_language)
    for admin_id in application.bot_data[ADMIN_IDS_KEY]:
        # Telegram knows no chat with an admin who has not started the bot yet.
        with contextlib.suppress(TelegramError):
            await application.bot.set_my_commands(commands, scope=BotCommandScopeChat(admin_id))


def register(application: Application, admin_ids: frozenset[int]) -> None:
    """Register before the signing handlers: admins' commands must reach this module first."""
    application.bot_data[ADMIN_IDS_KEY] = admin_ids
    application.add_handler(TypeHandler(Update, audit_refused), group=AUDIT_GROUP)
    if admin_ids:
        admins_only = filters.ChatType.PRIVATE & filters.User(list(admin_ids))
        application.add_handler(CommandHandler(ADMIN_COMMANDS, on_admin_command, admins_only))
