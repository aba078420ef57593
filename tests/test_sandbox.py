"""The terminal sandbox plays the same journey on the same storage, with no network."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.flow import Command, Pressed, Typed
from bot.petition import Petition
from bot.sandbox import format_screen, parse_input, run_sandbox, to_terminal
from bot.screens import Button, Screen
from storage.sqlite import SQLiteStorage
from tests.bidi import unisolated
from tests.clock import NOW, running_from
from tests.conftest import make_petition


async def sandbox_output(
    tmp_path: Path, petition: Petition, lines: list[str], **options: Any
) -> str:
    """Everything the sandbox printed for these typed lines (then end of input)."""
    answers = iter([*lines, ""])
    out = io.StringIO()
    await run_sandbox(
        SQLiteStorage(tmp_path / "sandbox.db"),
        petition,
        read_line=lambda: next(answers),
        out=out,
        clock=running_from(NOW),
        **options,
    )
    return out.getvalue()


async def test_sandbox_signs_a_petition(
    tmp_path: Path, petition: Petition, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USER", "")
    # Sign → Canada → old enough → I agree → type a name → Sign now → /status → Ctrl-D.
    lines = ["2", "1", "1", "2", "Ada Lovelace", "1", "/status"]
    text = unisolated(await sandbox_output(tmp_path, petition, lines))
    assert "[1] 📜 Read the demands" in text
    assert "Name: Ada Lovelace" in text
    assert "You are signer #1." in text
    assert "on November 23, 2026 as signer #1" in text  # /status
    assert "<b>" not in text
    reopened = SQLiteStorage(tmp_path / "sandbox.db")
    await reopened.open()
    assert await reopened.total(petition.id) == 1
    await reopened.close()


def test_numbers_press_buttons_and_text_is_typed() -> None:
    screen = Screen("<b>Hi</b> &amp; bye", ((Button("A", "a:x"), Button("Link", url="https://e")),))
    text, actions = format_screen(screen)
    assert text.startswith("Hi & bye")
    assert "[2] Link  → https://e" in text
    assert parse_input("1", actions) == Pressed("a:x")
    assert parse_input("2", actions) is None  # a link has nothing to press
    assert parse_input("3", actions) == Typed("3")
    assert parse_input("/start r_abcd", actions) == Command("start", "r_abcd")
    assert parse_input("Ada\n", actions) == Typed("Ada")
    assert to_terminal("<b>x</b>", color=True) == "\033[1mx\033[0m"


async def test_sandbox_privacy_states_the_retention_rule_and_closed_status_says_no_start(
    tmp_path: Path,
) -> None:
    ended = make_petition(deadline=(NOW - timedelta(days=1)).date().isoformat())
    output = await sandbox_output(tmp_path, ended, ["/privacy", "/status"], retention_days=30)
    text = unisolated(output)
    assert "30 days after the petition closes, signatures are anonymised" in text
    assert "Signing has ended." in text and "send /start to begin" not in text


async def test_the_sandbox_says_goodbye_in_the_supporters_language(
    tmp_path: Path, petition: Petition, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANG", "de_DE.UTF-8")
    output = await sandbox_output(tmp_path, petition, [])
    assert output.endswith("\nAuf Wiedersehen.\n")
    assert "Bye." not in output and "Sandbox:" not in output
