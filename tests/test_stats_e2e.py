"""/stats and milestone news, end to end through the fake Bot API."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest
from PIL import Image

from bot.chart import METADATA_KEY
from bot.petition import Petition
from bot.public import bound_port
from storage.records import SignatureRequest
from tests.bidi import unisolated
from tests.conftest import make_petition, signature_request
from tests.fakes import FakeBotAPI
from tests.harness import BotInstance
from tests.stored import SIGNED
from tests.test_journey_e2e import sign_up_to_preview

ADMIN = 880001


@pytest.fixture
async def bot(
    server: FakeBotAPI, database_url: str, petition: Petition
) -> AsyncIterator[BotInstance]:
    async with BotInstance(server, database_url, petition, admin_ids=str(ADMIN)) as instance:
        yield instance


def signature(bot: BotInstance, user_id: int, **overrides: object) -> SignatureRequest:
    now = bot.application.bot_data.journeys.clock()  # type: ignore[union-attr]
    return signature_request(bot.petition.id, user_id, **{"signed_at": now, **overrides})


async def test_admin_gets_figures_funnel_and_a_chart(server: FakeBotAPI, bot: BotInstance) -> None:
    ada, bea, cy = (server.user(uid, name) for uid, name in ((1, "Ada"), (2, "Bea"), (3, "Cy")))
    await sign_up_to_preview(ada)
    await ada.press("Sign")
    await sign_up_to_preview(bea, "United States")  # stops at the preview
    await cy.send("/start")  # only started
    storage = bot.storage
    yesterday = signature(bot, 4).signed_at - timedelta(days=1)
    for user_id in range(10, 13):
        await storage.sign(
            signature(
                bot, user_id, country="US", language="fr", wants_updates=True, signed_at=yesterday
            ),
            SIGNED,
        )

    admin = server.user(ADMIN, "Admin")
    await admin.send("/stats", replies=2)
    text = unisolated(admin.messages[-2]["text"])
    assert "Signatures: 4 of 50 (8%)" in text
    assert "Today: 1 · last 7 days: 4" in text
    assert "Asked for updates: 3 (75%)" in text
    assert "🇺🇸 United States: 3 (75%)" in text and "🇨🇦 Canada: 1 (25%)" in text
    assert "Français: 3 (75%)" in text and "English: 1 (25%)" in text
    funnel = text.split("Journey funnel", 1)[1]
    assert "Started: 3" in funnel
    assert "Gave consent: 2 (−0% from the step before)" in funnel
    assert "Signed: 1 (−50% from the step before)" in funnel  # Bea stopped at the preview
    assert "Signing is open." in text

    [photo] = admin.photos
    image = Image.open(io.BytesIO(photo.data))
    assert image.format == "PNG"
    data = json.loads(image.info[METADATA_KEY])
    assert data["goal"] == 50 and data["cumulative"][-1] == 4
    assert data["daily"][-2:] == [3, 1]
    assert "signatures per day" in (photo.caption or "")


async def test_non_admins_cannot_see_stats(server: FakeBotAPI, bot: BotInstance) -> None:
    mallory = server.user(880002, "Mallory")
    await mallory.send("/stats")
    assert "I don't know that command" in unisolated(mallory.last)
    assert not mallory.photos
    [entry] = await bot.storage.audit_entries(bot.petition.id)
    assert (entry.action, entry.allowed, entry.user_id) == ("stats", False, 880002)


async def test_admins_hear_of_milestones_once(server: FakeBotAPI, database_url: str) -> None:
    petition = make_petition(goal=3, milestones=[2])
    admin = server.user(ADMIN, "Admin")
    async with BotInstance(server, database_url, petition, admin_ids=str(ADMIN)):
        await admin.send("/help")  # the admin has a chat with the bot
        signers = [server.user(uid, f"Signer {uid}") for uid in (21, 22, 23)]
        for signer in signers[:2]:
            await sign_up_to_preview(signer)
            await signer.press("Sign")
        await admin.wait_for_replies(2)
        assert "passed 2 signatures (2 now)" in unisolated(admin.last)
        await signers[1].send("/withdraw")
        await signers[1].press("Yes, withdraw my signature")
        await sign_up_to_preview(signers[1])
        await signers[1].press("Sign")  # back at 2: no repeat
        await sign_up_to_preview(signers[2])
        await signers[2].press("Sign")
        await admin.wait_for_replies(3)
        assert "passed 3 signatures (3 now)" in unisolated(admin.last)
        assert "That was the goal" in unisolated(admin.last)
        await admin.expect_silence()
        news = [m["text"] for m in admin.messages if "passed" in m.get("text", "")]
        assert len(news) == 2


async def test_the_bot_serves_its_public_count(
    server: FakeBotAPI, database_url: str, petition: Petition
) -> None:
    async with BotInstance(server, database_url, petition, public_port=0) as instance:
        runner = instance.application.bot_data.public_runner  # type: ignore[union-attr]
        await instance.storage.sign(signature(instance, 31, country="CA"), SIGNED)
        url = f"http://127.0.0.1:{bound_port(runner)}"
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{url}/count.json") as response:
                counts = await response.json()
            async with session.get(f"{url}/badge.svg") as response:
                badge = await response.text()
        assert (counts["total"], counts["goal"], counts["countries"]) == (1, 50, {"CA": 1})
        assert "1 / 50" in badge
