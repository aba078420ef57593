"""Prometheus metrics: what an operator watches (`METRICS_PORT`: `/metrics`, `/healthz`).

Each application has its own registry, so several bots in one process (the tests) never mix
their figures. Counters count what this instance did since it started; the signature count
itself is read from the database at scrape time (one counter row per petition), so every
instance reports the same, exact figure. No label ever holds a person: only petitions, Bot
API methods, statuses and states.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

# Update handling takes milliseconds; a slow database or a flood wait, seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.signatures = Counter(
            "petition_signatures",  # exposed as petition_signatures_total
            "Signatures recorded by this instance since it started",
            ["petition"],
            registry=registry,
        )
        self.withdrawals = Counter(
            "petition_withdrawals",
            "Signatures withdrawn through this instance",
            ["petition"],
            registry=registry,
        )
        self.journey_stages = Counter(
            "petition_journey_stages",
            "Supporters reaching a stage of the journey for the first time (started, "
            "demands, country, age, consent, signed)",
            ["petition", "stage"],
            registry=registry,
        )
        self.api_calls = Counter(
            "petition_bot_api_calls",
            "Bot API calls by method and HTTP status (0: no answer)",
            ["method", "status"],
            registry=registry,
        )
        self.flood_waits = Counter(
            "petition_bot_api_flood_waits",
            "429 answers (flood control) from the Bot API",
            registry=registry,
        )
        self.flood_wait_seconds = Counter(
            "petition_bot_api_flood_wait_seconds",
            "Seconds Telegram asked the bot to wait, summed",
            registry=registry,
        )
        self.update_seconds = Histogram(
            "petition_update_processing_seconds",
            "Time to handle one update, from its turn to its answer",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.failed_updates = Counter(
            "petition_failed_updates",
            "Updates whose handling raised an error",
            ["kind"],
            registry=registry,
        )
        self.database_errors = Counter(
            "petition_database_errors",
            "Database errors met while handling updates",
            registry=registry,
        )
        self.broadcast_deliveries = Counter(
            "petition_broadcast_deliveries",
            "Broadcast messages by outcome (sent, blocked, failed)",
            ["petition", "state"],
            registry=registry,
        )
        self.backlog = Gauge(
            "petition_updates_waiting",
            "Updates received and not yet handled",
            registry=registry,
        )
        self._totals: Callable[[], Awaitable[dict[str, int]]] | None = None

    def count_backlog(self, waiting: Callable[[], int]) -> None:
        self.backlog.set_function(waiting)

    def read_totals(self, totals: Callable[[], Awaitable[dict[str, int]]]) -> None:
        """Signature totals from the database, read at each scrape (see `scrape`)."""
        self._totals = totals

    @contextmanager
    def timing_update(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.update_seconds.observe(time.perf_counter() - started)

    async def scrape(self) -> tuple[bytes, str]:
        """The exposition text, with the database's current totals."""
        totals = await self._totals() if self._totals is not None else {}
        family = GaugeMetricFamily(
            "petition_signatures_current",
            "Signatures in the database now, per petition (withdrawn ones removed)",
            labels=["petition"],
        )
        for petition_id, total in totals.items():
            family.add_metric([petition_id], total)
        current = CollectorRegistry(auto_describe=False)
        current.register(_Fixed(family))
        return generate_latest(self.registry) + generate_latest(current), CONTENT_TYPE_LATEST


class _Fixed:
    """A collector of one already-read metric family, for one scrape."""

    def __init__(self, family: GaugeMetricFamily) -> None:
        self.family = family

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield self.family

    def describe(self) -> list[GaugeMetricFamily]:
        return []


def metrics_app(
    metrics: Metrics, totals: Callable[[], Awaitable[dict[str, int]]]
) -> web.Application:
    """`/metrics` for Prometheus, `/healthz` for a load balancer or systemd's watchdog."""
    metrics.read_totals(totals)

    async def on_metrics(_: web.Request) -> web.Response:
        try:
            body, content_type = await metrics.scrape()
        except Exception:  # the database is down: say so, with what this instance counted
            metrics.database_errors.inc()
            body, content_type = generate_latest(metrics.registry), CONTENT_TYPE_LATEST
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def on_health(_: web.Request) -> web.Response:
        try:
            petitions = await totals()
        except Exception as error:
            return web.json_response(
                {"status": "database unavailable", "error": type(error).__name__}, status=503
            )
        return web.json_response({"status": "ok", "petitions": petitions})

    app = web.Application()
    app.router.add_get("/metrics", on_metrics)
    app.router.add_get("/healthz", on_health)
    return app
