"""Operators' view: /metrics (Prometheus) and /healthz on METRICS_PORT, in polling mode."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from bot.petition import Petition
from bot.public import bound_port
from tests.fakes import FakeBotAPI
from tests.harness import BotInstance
from tests.test_journey_e2e import sign_up_to_preview


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_metrics_count_signatures_calls_and_flood_waits(
    server: FakeBotAPI, tmp_path: Path, petition: Petition
) -> None:
    async with BotInstance(server, f"sqlite:///{tmp_path}/m.db", petition, metrics_port=0) as bot:
        runner = bot.application.bot_data.metrics_runner  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{bound_port(runner)}"
        alice = server.user(5001, "Alice")
        server.fail_next("sendMessage", status=429, retry_after=1)
        await sign_up_to_preview(alice)
        await alice.press("Sign now")
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/metrics") as response:
                assert response.status == 200
                found = samples(await response.text())
            async with http.get(f"{base}/healthz") as response:
                assert response.status == 200
                assert (await response.json())["petitions"] == {petition.id: 1}
    key = (("petition", petition.id),)
    assert found[("petition_signatures_total", key)] == 1
    assert found[("petition_signatures_current", key)] == 1
    assert found[("petition_journey_stages_total", (*key, ("stage", "signed")))] == 1
    assert found[("petition_bot_api_calls_total", (("method", "sendMessage"), ("status", "429")))]
    assert found[("petition_bot_api_calls_total", (("method", "sendMessage"), ("status", "200")))]
    assert found[("petition_bot_api_flood_waits_total", ())] == 1
    assert found[("petition_bot_api_flood_wait_seconds_total", ())] == 1
    assert found[("petition_update_processing_seconds_count", ())] >= 7
    assert ("petition_updates_waiting", ()) in found
    assert not any("5001" in str(labels) for _, labels in found)  # nobody's id in a label
