"""Webhook mode: Telegram posts each update to us; several instances can share the load.

An update is answered 200 only after it was processed (and its signature committed), so an
instance that dies mid-update leaves Telegram to deliver it again, to this or another instance;
signing is idempotent, so a redelivery changes nothing. Requests without the secret token get
403. `GET /healthz` says whether this instance can reach its database.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import signal
from urllib.parse import urlsplit

import orjson
from aiohttp import web
from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application

from bot.app import start_application, stop_application
from bot.context import Services
from bot.features import once
from bot.incoming import WebhookReplies, trim_update
from bot.request import AiohttpRequest
from bot.serving import bound_port, serve
from bot.settings import Settings

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
HEALTH_PATH = "/healthz"
MAX_UPDATE_BYTES = 1 << 20
DRAIN_SECONDS = 30  # how long updates in flight may take to finish after SIGTERM


def webhook_path(settings: Settings) -> str:
    return urlsplit(settings.webhook_url or "").path or "/"


class WebhookServer:
    def __init__(self, application: Application, settings: Settings) -> None:
        self.application = application
        self.settings = settings
        self.secret = settings.webhook_secret_or_raise()
        self.draining = False
        self.replies = WebhookReplies()
        self.services: Services = application.bot_data
        self.services.webhook_replies = self.replies
        self.web_app = web.Application(client_max_size=MAX_UPDATE_BYTES)
        self.web_app.router.add_post(webhook_path(settings), self.on_update)
        self.web_app.router.add_get(HEALTH_PATH, self.on_health)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def on_update(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            return web.Response(status=403, text="forbidden")
        if self.draining:  # shutting down: Telegram retries, another instance answers
            return web.Response(status=503, text="shutting down")
        try:
            data = AiohttpRequest.parse_json_payload(await request.read())
            if not isinstance(data, dict):  # [], null, "x": JSON, but no update
                raise TypeError("not a JSON object")
            update = Update.de_json(trim_update(data), self.application.bot)
        except (ValueError, TypeError, KeyError, TelegramError):
            return web.Response(status=400, text="not an update")
        application = self.application
        opened = self.replies.open(update.update_id)
        self._in_flight += 1
        self._idle.clear()
        try:
            # The handlers rate-limit, claim (once per update across instances) and handle it.
            await application.update_processor.process_update(
                update, application.process_update(update)
            )
        finally:
            method = self.replies.take(update.update_id) if opened else None
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()
        if once.was_busy(application, update):
            return web.Response(status=503, text="being processed elsewhere")
        if method is not None:  # Telegram makes this call for us
            return web.Response(body=orjson.dumps(method), content_type="application/json")
        return web.Response(status=200)

    async def on_health(self, request: web.Request) -> web.Response:
        service = self.services.journeys
        try:
            total = await self.services.storage.total(service.petition.id)
        except Exception as error:  # any database failure means "not healthy"
            log.warning("health check failed: %s", error)
            return web.json_response({"status": "database unavailable"}, status=503)
        status = "draining" if self.draining else "ok"
        return web.json_response(
            {"status": status, "petition": service.petition.id, "total": total},
            status=503 if self.draining else 200,
        )

    async def start(self) -> None:
        application = self.application
        await start_application(application, polling_timeout=None)
        # Through bot.serving: slow or idle clients are dropped in seconds and connections are
        # capped (issue #16).
        self._runner = await serve(
            self.web_app,
            self.settings.webhook_listen,
            self.settings.webhook_port,
            shutdown_timeout=DRAIN_SECONDS,
            name="webhook",
        )
        self.port = bound_port(self._runner)
        # Every instance registers the same public URL: doing it twice is harmless.
        await application.bot.set_webhook(
            self.settings.webhook_url or "",
            secret_token=self.secret,
            allowed_updates=Update.ALL_TYPES,
            max_connections=self.settings.webhook_max_connections,
        )
        log.info("webhook instance listening on %s:%s", self.settings.webhook_listen, self.port)

    async def stop(self) -> None:
        self.draining = True
        if self._runner is not None:
            # The port stays open and answers 503 (Telegram retries, another instance takes
            # it) until the updates in flight are done; closing it first would refuse them.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), timeout=DRAIN_SECONDS)
            await self._runner.cleanup()
            self._runner = None
        await stop_application(self.application)


async def serve_webhook(application: Application, settings: Settings) -> None:
    """Run until SIGINT or SIGTERM, then finish what is in flight and stop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    server = WebhookServer(application, settings)
    await server.start()
    try:
        await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            await server.stop()
