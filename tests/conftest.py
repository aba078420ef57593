"""Shared fixtures: a small petition, storage backends, a fixed clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.petition import Petition
from storage.sqlite import SQLiteStorage

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def petition_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "test-petition",
        "version": "2026-11-01",
        "default_language": "en",
        "goal": 50,
        "targets": ["CA", "GB", "US", "AU", "NZ"],
        "age": {"default": 16, "by_country": {"US": 13}},
        "sources": [{"title": "China Tribunal", "url": "https://chinatribunal.com/"}],
        "text": {
            "en": {
                "title": "Protect prisoners of conscience",
                "summary": "A short summary of why this matters.",
                "background": "Some background with <b>bold</b> facts.",
                "demands": ["First demand.", "Second demand.", "Third demand."],
                "consent": "Your name and country are recorded on this petition.",
                "privacy": "We keep your Telegram id, name and country.",
            },
            "fr": {"title": "Protéger les prisonniers d'opinion"},
        },
    }
    data.update(overrides)
    return data


def make_petition(**overrides: Any) -> Petition:
    return Petition.model_validate(petition_data(**overrides))


@pytest.fixture
def petition() -> Petition:
    return make_petition()


@pytest.fixture
async def sqlite_storage(tmp_path: Path) -> AsyncIterator[SQLiteStorage]:
    storage = SQLiteStorage(tmp_path / "petition.db")
    await storage.open()
    yield storage
    await storage.close()
