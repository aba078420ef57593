"""Privacy rights end to end, on SQLite and PostgreSQL: see your data, withdraw, retention."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.petition import Petition
from tests.bidi import unisolated
from tests.fakes import FakeBotAPI
from tests.harness import BotInstance
from tests.test_journey_e2e import sign_up_to_preview


@pytest.fixture
async def bot(
    server: FakeBotAPI, database_url: str, petition: Petition
) -> AsyncIterator[BotInstance]:
    async with BotInstance(server, database_url, petition, retention_days=30) as instance:
        yield instance


async def test_wendy_sees_her_data_then_withdraws(server: FakeBotAPI, bot: BotInstance) -> None:
    wendy, xavier = server.user(5001, "Wendy", "Park"), server.user(5002, "Xavier")
    await wendy.send("/mydata")
    assert "Nothing is stored about you" in unisolated(wendy.last)
    await sign_up_to_preview(xavier)
    await xavier.press("Sign now")
    await sign_up_to_preview(wendy, country="New Zealand")
    await wendy.press("Sign now")
    assert "You are signer #2." in unisolated(wendy.last)
    await wendy.send("/mydata")
    for expected in (
        "Signature #2",
        "Name: Wendy Park",
        "New Zealand",
        "Updates by Telegram: no",
        "Version of the petition text: 2026-11-01",
        "Your share code:",
        "Send /withdraw",
    ):
        assert expected in unisolated(wendy.last), expected
    await wendy.send("/withdraw")
    assert "Withdraw your signature?" in unisolated(wendy.last)
    await wendy.press("No, keep my signature")
    assert "as signer #2" in unisolated(wendy.last)
    await wendy.send("/withdraw")
    await wendy.press("Yes, withdraw my signature")
    assert "Your signature has been withdrawn" in unisolated(wendy.last)
    assert "1 person has signed" in unisolated(wendy.last)
    assert await bot.storage.total(bot.petition.id) == 1
    assert await bot.storage.country_counts(bot.petition.id) == {"CA": 1}
    await wendy.send("/withdraw")
    assert "nothing to withdraw" in unisolated(wendy.last)
    await wendy.send("/mydata")
    assert "Signature #" not in unisolated(wendy.last)
    await wendy.press(
        "Back to the petition"
    ) if "Back to the petition" in wendy.button_texts else None
    # She may sign again: a new number, never a reused one.
    await sign_up_to_preview(wendy)
    await wendy.press("Sign now")
    assert "You are signer #3." in unisolated(wendy.last)
    assert "2 people have signed" in unisolated(wendy.last)


async def test_privacy_explains_retention_and_rights(server: FakeBotAPI, bot: BotInstance) -> None:
    yara = server.user(5003, "Yara")
    await yara.send("/privacy")
    assert "30 days after the petition closes, signatures are anonymised" in unisolated(yara.last)
    assert "/mydata" in unisolated(yara.last) and "/withdraw" in unisolated(yara.last)
