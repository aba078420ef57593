"""Command menus: what each kind of user sees next to the message box, in their language."""

from __future__ import annotations

from babel import Locale
from telegram import BotCommand

from bot.i18n import SOURCE_LANGUAGE, available_languages, match_language, translator


def command_list(language: str) -> list[BotCommand]:
    """The private-chat command menu in one language."""
    t = translator(language)
    return [
        BotCommand("start", t.gettext("Read and sign the petition")),
        BotCommand("status", t.gettext("How many have signed")),
        BotCommand("privacy", t.gettext("What is stored about you")),
        BotCommand("language", t.gettext("Change the language")),
        BotCommand("mylink", t.gettext("Your link to share")),
        BotCommand("mydata", t.gettext("Everything stored about you")),
        BotCommand("withdraw", t.gettext("Remove your signature")),
        BotCommand("help", t.gettext("What this bot can do")),
        BotCommand("cancel", t.gettext("Start over")),
    ]


def menu_languages(default_language: str) -> dict[str | None, str]:
    """Telegram's menu language codes (two letters; None = everyone else) → our language.

    Several of our languages can share a code (zh_Hans, zh_Hant → "zh"): the first one wins.
    """
    menus: dict[str | None, str] = {
        None: match_language(default_language, available_languages()) or SOURCE_LANGUAGE
    }
    for language in available_languages():
        menus.setdefault(Locale.parse(language).language, language)
    return menus


def admin_command_list(language: str) -> list[BotCommand]:
    """Admins' extra commands, shown only in their own chats."""
    t = translator(language)
    return [
        BotCommand("stats", t.gettext("Figures, funnel and chart")),
        BotCommand("export", t.gettext("All signatures as a CSV file")),
        BotCommand("report", t.gettext("Delivery report per target country")),
        BotCommand("broadcast", t.gettext("Message supporters who asked for updates")),
        BotCommand("broadcast_status", t.gettext("How the last broadcast is going")),
        BotCommand("broadcast_stop", t.gettext("Stop the broadcast")),
        BotCommand("goal", t.gettext("Change the goal")),
        BotCommand("pause", t.gettext("Pause signing")),
        BotCommand("resume", t.gettext("Resume signing")),
        BotCommand("petitions", t.gettext("The petitions, and which one commands act on")),
    ]
