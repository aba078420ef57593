"""Petition files re-read without a restart (`kill -HUP <pid>`).

New petitions start being served, changed ones show their new text and settings from the next
screen, and a petition whose file is gone is retired: closed for signing, still readable, its
signatures never deleted. A file that does not load leaves everything as it was, with one
line in the log naming the problem.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from telegram.ext import Application

from bot.broadcasting import start_petition_sender
from bot.context import Services
from bot.petition import PetitionFileError
from bot.petitions import load_petitions
from bot.screens import check_petition_fits

log = logging.getLogger(__name__)


def reload_petitions(application: Application) -> bool:
    """Read PETITION_FILE again and serve what it names now; False if it did not load."""
    services: Services = application.bot_data
    desk = services.desk
    try:
        fresh = load_petitions(services.settings.petition_file)
        for petition in fresh:
            check_petition_fits(petition)
    except PetitionFileError as error:
        log.error("petitions not reloaded, still serving the previous ones: %s", error)
        return False
    catalog = desk.catalog.reloaded(fresh, desk.clock())
    for service in desk.replace_catalog(catalog):
        if application.running:
            start_petition_sender(application, service.petition)
    log.info(
        "petitions reloaded: serving %s%s",
        ", ".join(repr(p.id) for p in catalog.petitions if p.id not in catalog.retired),
        f"; retired {', '.join(sorted(catalog.retired))}" if catalog.retired else "",
    )
    return True


def reload_on_hangup(application: Application) -> None:
    """Re-read the petition files when the process gets SIGHUP (where signals exist)."""
    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload_petitions, application)
    except (NotImplementedError, AttributeError):  # Windows: no SIGHUP
        log.info("SIGHUP is not available here: restart the bot to reload petitions")
