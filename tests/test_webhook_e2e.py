"""Webhook mode: secret required, health endpoint, and several instances sharing PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.petition import Petition
from tests.bidi import unisolated
from tests.conftest import execute_raw
from tests.fakes import FakeBotAPI, FakeUser
from tests.harness import WebhookBotInstance, raw_message
from tests.test_journey_e2e import sign_up_to_preview


@pytest.fixture
async def server() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        fake.webhook_targets = []
        yield fake


async def test_signing_through_the_webhook(
    server: FakeBotAPI, tmp_path: Path, petition: Petition
) -> None:
    async with WebhookBotInstance(server, f"sqlite:///{tmp_path}/w.db", petition) as instance:
        server.webhook_targets = [instance.url]
        assert server.webhook_secret == WebhookBotInstance.SECRET
        zoe = server.user(6001, "Zoe")
        await sign_up_to_preview(zoe)
        await zoe.press("Sign now")
        assert "You are signer #1." in unisolated(zoe.last)
        assert await instance.storage.total(petition.id) == 1
    # Every button was answered in the webhook's reply: no call of the bot's own for that.
    answers = server.calls_for("answerCallbackQuery")
    assert len(answers) == 6 and all(call.ok and call.via_webhook_response for call in answers)


async def test_webhook_refuses_requests_without_the_secret(
    server: FakeBotAPI, tmp_path: Path, petition: Petition
) -> None:
    async with (
        WebhookBotInstance(server, f"sqlite:///{tmp_path}/w.db", petition) as instance,
        aiohttp.ClientSession() as http,
    ):
        update = {"update_id": 1, **raw_message(6002, "/start")}
        async with http.post(instance.url, json=update) as response:
            assert response.status == 403
        headers = {"X-Telegram-Bot-Api-Secret-Token": "wrong"}
        async with http.post(instance.url, json=update, headers=headers) as response:
            assert response.status == 403
        headers = {"X-Telegram-Bot-Api-Secret-Token": WebhookBotInstance.SECRET}
        for body in (b"{not json", b"[]", b"null", b'"x"', b"42"):
            async with http.post(instance.url, data=body, headers=headers) as response:
                assert response.status == 400, body  # JSON or not, no update: no traceback
        server.register_chat(server.user(6003, "M").chat)  # Telegram knows the chat it sends
        surrogate = b'{"update_id": 9, "message": {"message_id": 1, "date": 1, "chat": {"id": '
        surrogate += b'6003, "type": "private"}, "from": {"id": 6003, "is_bot": false, '
        surrogate += rb'"first_name": "M"}, "text": "/start \ud800"}}'
        async with http.post(instance.url, data=surrogate, headers=headers) as response:
            assert response.status == 200
        health_url = instance.url.replace(WebhookBotInstance.PATH, "/healthz")
        async with http.get(health_url) as response:
            assert response.status == 200
            assert (await response.json())["total"] == 0
    # Nothing forged got through; the broken character came in with the secret and is answered.
    assert [call.params["chat_id"] for call in server.calls_for("sendMessage")] == [6003]


async def sign_whole_journey(user: FakeUser, semaphore: asyncio.Semaphore) -> None:
    async with semaphore:
        await sign_up_to_preview(
            user, country=["Canada", "Australia", "New Zealand"][user.user_id % 3]
        )
        await user.press("Sign now", timeout=60)


async def test_two_instances_on_one_database_count_exactly(
    server: FakeBotAPI, postgres_url: str, petition: Petition
) -> None:
    """500 supporters through two instances; every 5th update is delivered to both."""
    supporters = 500
    async with (
        WebhookBotInstance(server, postgres_url, petition) as first,
        WebhookBotInstance(server, postgres_url, petition) as second,
    ):
        server.webhook_targets = [first.url, second.url]
        server.duplicate_delivery_every = 5
        users = [server.user(7000 + index, f"Supporter {index}") for index in range(supporters)]
        semaphore = asyncio.Semaphore(100)
        started = time.monotonic()
        await asyncio.gather(*(sign_whole_journey(user, semaphore) for user in users))
        elapsed = time.monotonic() - started
        await server.wait_idle(timeout=60)
        storage = first.storage
        assert await storage.total(petition.id) == supporters
        assert await second.storage.total(petition.id) == supporters
        numbers = await execute_raw(storage, "SELECT number FROM signatures ORDER BY number")
        assert [row[0] for row in numbers] == list(range(1, supporters + 1))  # unique, gapless
        users_signed = await execute_raw(storage, "SELECT COUNT(DISTINCT user_id) FROM signatures")
        assert users_signed == [(supporters,)]
        assert sum((await storage.country_counts(petition.id)).values()) == supporters
        assert await storage.recount(petition.id) == supporters  # counters never drifted
        assert all("You are signer #" in unisolated(user.last) for user in users)
        duplicates = [delivery for delivery in server.webhook_deliveries if delivery.duplicate]
        assert duplicates, "the load balancer should have delivered some updates twice"
        served = {delivery.url for delivery in server.webhook_deliveries if delivery.ok}
        assert served == {first.url, second.url}
        print(f"\n{supporters} journeys through 2 webhook instances in {elapsed:.1f} s")


async def test_shutdown_finishes_updates_in_flight(
    server: FakeBotAPI, tmp_path: Path, petition: Petition, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = await WebhookBotInstance(server, f"sqlite:///{tmp_path}/w.db", petition).start()
    server.webhook_targets = [instance.url]
    server.latency = 0.3  # the reply is slow: the update is still in flight when we stop
    storage, load, in_flight = instance.storage, instance.storage.load, asyncio.Event()

    async def load_and_signal(*args: object, **kwargs: object) -> object:
        in_flight.set()
        return await load(*args, **kwargs)

    monkeypatch.setattr(storage, "load", load_and_signal)
    ann = server.user(6003, "Ann")
    update_id = ann.push_text("/start")
    await asyncio.wait_for(in_flight.wait(), timeout=10)
    await instance.stop()  # what SIGTERM does
    await server.wait_delivered(update_id, timeout=10)
    assert "Protect prisoners of conscience" in unisolated(ann.last)
    assert [d.status for d in server.webhook_deliveries if d.update_id == update_id] == [200]


async def test_after_sigterm_new_updates_get_503_until_the_port_closes(
    server: FakeBotAPI, tmp_path: Path, petition: Petition, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Draining answers 503 (Telegram retries, another instance takes it); it never refuses."""
    instance = await WebhookBotInstance(server, f"sqlite:///{tmp_path}/w.db", petition).start()
    server.webhook_targets = [instance.url]
    storage, load = instance.storage, instance.storage.load
    in_flight, release = asyncio.Event(), asyncio.Event()

    async def held_load(*args: object, **kwargs: object) -> object:
        in_flight.set()
        await release.wait()
        return await load(*args, **kwargs)

    monkeypatch.setattr(storage, "load", held_load)
    ann = server.user(6004, "Ann")
    update_id = ann.push_text("/start")
    await asyncio.wait_for(in_flight.wait(), timeout=10)
    stopping = asyncio.create_task(instance.stop())  # what SIGTERM does
    await asyncio.sleep(0.2)
    headers = {"X-Telegram-Bot-Api-Secret-Token": WebhookBotInstance.SECRET}
    async with aiohttp.ClientSession() as session:
        late = {"update_id": update_id + 1, **raw_message(6005, "/start")}
        async with session.post(instance.url, json=late, headers=headers) as response:
            assert response.status == 503
        async with session.get(instance.url.removesuffix(instance.PATH) + "/healthz") as response:
            assert response.status == 503 and (await response.json())["status"] == "draining"
    assert not stopping.done()
    release.set()
    await asyncio.wait_for(stopping, timeout=15)
    await server.wait_delivered(update_id, timeout=10)
    assert "Protect prisoners of conscience" in unisolated(ann.last)
