"""`python run_bot.py --sandbox`: the same journey in a terminal, no token, no network.

Buttons appear as numbered choices: type the number to press one, type anything else to answer
as if in Telegram (commands such as /start and /status too). Ctrl-D or /quit leaves.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import threading
from collections.abc import Callable
from typing import TextIO

from bot.clock import Clock, utc_now
from bot.desk import PetitionDesk
from bot.flow import Command, Event, Pressed, Typed
from bot.i18n import translator
from bot.petition import Petition
from bot.petitions import Catalog
from bot.screens import Screen, plain_text
from bot.service import Supporter
from storage.base import Storage

SANDBOX_USER_ID = 1
SANDBOX_BOT_USERNAME = "your_petition_bot"
_BOLD = re.compile(r"</?(b|strong)>")


def to_terminal(html_text: str, *, color: bool) -> str:
    """Telegram HTML as terminal text (bold kept as ANSI bold when the terminal has colour)."""
    text = _BOLD.sub(
        lambda m: ("\033[0m" if m.group(0).startswith("</") else "\033[1m") if color else "",
        html_text,
    )
    return plain_text(text)


def format_screen(screen: Screen, *, color: bool = False) -> tuple[str, list[str | None]]:
    """The screen as text with numbered buttons, and what each number presses."""
    lines = [to_terminal(screen.text, color=color), ""]
    actions: list[str | None] = []
    for row in screen.buttons:
        for button in row:
            actions.append(button.data)
            target = f"  → {button.url}" if button.url else ""
            lines.append(f"  [{len(actions)}] {button.text}{target}")
    return "\n".join(lines).rstrip() + "\n", actions


def parse_input(line: str, actions: list[str | None]) -> Event | None:
    text = line.strip()
    if text.isdigit() and 1 <= int(text) <= len(actions):
        data = actions[int(text) - 1]
        return Pressed(data) if data else None
    if text.startswith("/"):
        name, _, payload = text[1:].partition(" ")
        return Command(name.casefold(), payload.strip())
    return Typed(line.rstrip("\n"))


async def _read_in_daemon_thread(read: Callable[[], str]) -> str:
    """One line, read off the event loop in a daemon thread: Ctrl-C must not wait for a
    read blocked on the terminal (asyncio's own executor joins its threads at exit)."""
    loop = asyncio.get_running_loop()
    line: asyncio.Future[str] = loop.create_future()

    def reading() -> None:
        try:
            text = read()
        except BaseException as error:  # EOF errors and the like reach the awaiting side
            loop.call_soon_threadsafe(_settle, line, None, error)
        else:
            loop.call_soon_threadsafe(_settle, line, text, None)

    threading.Thread(target=reading, name="sandbox-input", daemon=True).start()
    return await line


def _settle(future: asyncio.Future[str], text: str | None, error: BaseException | None) -> None:
    if future.done():  # the sandbox stopped waiting (Ctrl-C)
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(text or "")


async def run_sandbox(
    storage: Storage,
    petitions: Petition | Catalog,
    *,
    read_line: Callable[[], str] | None = None,
    out: TextIO = sys.stdout,
    clock: Clock = utc_now,
    retention_days: int | None = None,
) -> None:
    read = read_line or sys.stdin.readline
    color = out.isatty() and "NO_COLOR" not in os.environ
    language = (os.environ.get("LANG") or "en").split(".")[0]
    supporter = Supporter(SANDBOX_USER_ID, os.environ.get("USER", "").title(), language)
    catalog = petitions if isinstance(petitions, Catalog) else Catalog((petitions,))
    desk = PetitionDesk(
        storage,
        catalog,
        bot_username=SANDBOX_BOT_USERNAME,
        clock=clock,
        retention_days=retention_days,  # /privacy states the rule, as in Telegram
    )
    await storage.open()
    try:
        t = translator(await desk.language_of(supporter))
        out.write(
            t.gettext(
                "Sandbox: type a number to press a button, or type an answer. "
                "/quit or Ctrl-D leaves."
            )
            + "\n\n"
        )
        event: Event | None = Command("start")
        actions: list[str | None] = []
        while True:
            if event is not None:
                screen = await desk.handle(supporter, event)
                text, actions = format_screen(screen, color=color)
                out.write(f"{'─' * 60}\n{text}\n")
            out.write("> ")
            out.flush()
            line = await _read_in_daemon_thread(read)
            if not line or line.strip() == "/quit":
                t = translator(await desk.language_of(supporter))
                out.write("\n" + t.gettext("Bye.") + "\n")
                return
            event = parse_input(line, actions)
    finally:
        await storage.close()
