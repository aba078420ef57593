"""Command menus: what each kind of user sees next to the message box, in their language."""

from __future__ import annotations

from babel import Locale
from telegram import BotCommand

from bot.i18n import (
    SOURCE_LANGUAGE,
    available_languages,
    likely_locale,
    match_language,
    translator,
)
from bot.petition import Petition


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


def menu_languages(petition: Petition) -> dict[str | None, str]:
    """Telegram's menu language codes (two letters; None = everyone else) → our language.

    Several of our languages share a code (pt_BR and pt_PT → "pt", zh_Hans and zh_Hant →
    "zh"): the one the petition is written in wins, then the one CLDR finds likeliest for the
    bare code (Brazilian Portuguese, as Telegram's own Portuguese is).
    """
    languages = available_languages()
    menus: dict[str | None, str] = {
        None: match_language(petition.default_language, languages) or SOURCE_LANGUAGE
    }
    variants: dict[str, list[str]] = {}
    for language in languages:
        variants.setdefault(Locale.parse(language).language, []).append(language)
    for code, candidates in variants.items():
        menus[code] = min(
            candidates,
            key=lambda language: (not petition.has_text_in(language), not _likeliest(language)),
        )
    return menus


def _likeliest(language: str) -> bool:
    """Whether `language` is what CLDR expects of its bare code (pt → pt_BR, zh → zh_Hans)."""
    locale = Locale.parse(language)
    likely = likely_locale(Locale(locale.language))
    if likely is None:
        return False
    return (locale.script or likely.script) == likely.script and (
        locale.territory or likely.territory
    ) == likely.territory


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
