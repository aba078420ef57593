"""Through the live bot: supporters of many languages type their country the way they do, and
the country they mean is among the first two buttons offered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.countries import flag_code
from bot.petition import Petition
from tests.fakes import FakeBotAPI, FakeUser
from tests.harness import BotInstance
from tests.test_countries import typed_countries


@pytest.fixture
async def bot(server: FakeBotAPI, tmp_path: Path, petition: Petition) -> AsyncIterator[BotInstance]:
    async with BotInstance(server, f"sqlite:///{tmp_path}/search.db", petition) as instance:
        yield instance


async def press_by_data(user: FakeUser, suffix: str) -> None:
    """Press the button whose callback data ends with `suffix`, whatever its label's language."""
    stored = user._find_keyboard_message()
    assert stored is not None
    for row in stored.inline_keyboard:
        for button in row:
            if button.get("callback_data", "").endswith(suffix):
                await user.press(button["text"])
                return
    raise AssertionError(f"no button {suffix!r} in {user.button_texts}")


async def offered_countries(user: FakeUser, query: str) -> list[str]:
    await user.send("/start")
    await press_by_data(user, "intro:sign")
    await user.send(query)
    return [code for code in map(flag_code, user.button_texts) if code]


async def test_typed_names_in_many_languages_offer_the_country_meant(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    rows = typed_countries()[::6]  # every sixth: all kinds and languages, in a few seconds
    assert len({row["language"] for row in rows}) >= 20
    missed = []
    for user_id, row in enumerate(rows, start=700_000):
        supporter = server.user(user_id, "S", language_code=row["language"])
        offered = await offered_countries(supporter, row["query"])
        if row["expected"] not in offered[:2]:
            missed.append((row["query"], row["language"], row["expected"], offered[:3]))
    assert len(missed) <= 0.05 * len(rows), missed
    print(f"\n{len(rows) - len(missed)}/{len(rows)} offered the country meant in the first two")
