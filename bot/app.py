"""Builds the PTB Application: the only place where the bot is wired together."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import logging
import os

from telegram import Bot, BotCommandScopeAllPrivateChats, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.ext import Application, ApplicationBuilder, Defaults

from bot import broadcasting, countries
from bot.clock import Clock, utc_now
from bot.context import CONTEXT_TYPES, Services
from bot.desk import PetitionDesk
from bot.embed import Embeds
from bot.features import (
    admin,
    broadcast,
    errors,
    exports,
    groups,
    once,
    share,
    signing,
    stats,
    throttle,
)
from bot.inbox import DoneMarks, Inbox, InboxRequest
from bot.menus import command_list, menu_languages
from bot.metrics import Metrics, metrics_app
from bot.miniapp import MiniApp, publish_menu_button
from bot.petition import Petition
from bot.petitions import Catalog
from bot.processing import PerUserUpdateProcessor
from bot.public import PublicCounts, serve_public_counts, stop_public_counts
from bot.ratelimit import Limits, PacingRateLimiter
from bot.reloading import reload_on_hangup
from bot.request import AiohttpRequest
from bot.retention import housekeeping_loop
from bot.screens import bot_descriptions
from bot.serving import serve
from bot.settings import Settings
from bot.telegram_io import set_pseudonym_key
from storage.base import Storage

log = logging.getLogger(__name__)
PSEUDONYM_SECRET = "log-pseudonym"


async def _publish_profile(bot: Bot, petition: Petition) -> None:
    """Command menus, description and short description, in every language we speak."""
    scope = BotCommandScopeAllPrivateChats()
    for code, language in menu_languages(petition).items():
        await bot.set_my_commands(command_list(language), scope=scope, language_code=code)
        description, short = bot_descriptions(petition, language)
        # Telegram rate-limits these setters hard: only write what changed.
        if (await bot.get_my_description(language_code=code)).description != description:
            await bot.set_my_description(description, language_code=code)
        current_short = await bot.get_my_short_description(language_code=code)
        if current_short.short_description != short:
            await bot.set_my_short_description(short, language_code=code)


async def _post_init(application: Application) -> None:
    services: Services = application.bot_data
    storage, desk = services.storage, services.desk
    await storage.open()
    # The country names of every language (about a second): now, not on the first search.
    await asyncio.to_thread(countries.warm_up)
    log_secret = services.settings.log_secret
    set_pseudonym_key(
        hashlib.sha256(log_secret.get_secret_value().encode()).digest()
        if log_secret is not None
        else await storage.shared_secret(PSEUDONYM_SECRET)
    )
    desk.bot_username = application.bot.username
    service = desk.default()
    await _publish_profile(application.bot, service.petition)
    await publish_menu_button(application.bot, desk.public_url, service.petition.default_language)
    await admin.publish_admin_menus(application, service.petition.default_language)
    if services.inbox is not None:  # polling: finish what a crash cut short
        replayed = await services.inbox.replay_unfinished(application)
        if replayed:
            log.info("replaying %d updates received before a restart", replayed)
    await broadcasting.start_sender(application)
    settings = services.settings
    if services.public_counts is not None and settings.public_port is not None:
        services.public_runner = await serve_public_counts(
            services.public_counts, settings.public_listen, settings.public_port
        )
    if services.metrics is not None and settings.metrics_port is not None:

        async def totals() -> dict[str, int]:
            return {p.id: await storage.total(p.id) for p in desk.catalog.petitions}

        services.metrics_runner = await serve(
            metrics_app(services.metrics, totals),
            settings.metrics_listen,
            settings.metrics_port,
            name="metrics",
        )
    services.housekeeping = asyncio.create_task(
        housekeeping_loop(storage, desk), name="housekeeping"
    )
    log.info(
        "bot @%s serving %s",
        application.bot.username,
        ", ".join(repr(p.id) for p in desk.catalog.petitions),
    )


async def _post_shutdown(application: Application) -> None:
    services: Services = application.bot_data
    await broadcasting.stop_sender(application)
    housekeeping, services.housekeeping = services.housekeeping, None
    if housekeeping is not None:
        housekeeping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await housekeeping
    public_runner, services.public_runner = services.public_runner, None
    if public_runner is not None:
        await stop_public_counts(public_runner)
    metrics_runner, services.metrics_runner = services.metrics_runner, None
    if metrics_runner is not None:
        await metrics_runner.cleanup()
    if services.inbox is not None:
        await services.inbox.close()
    if services.done_marks is not None:
        await services.done_marks.close()
    await services.storage.close()


class PetitionApplication(Application):  # type: ignore[type-arg]
    """PTB's Application, minus a leak: without persistence, PTB 22 still records the chat and
    user id of every update for a persistence flush that never comes, about 290 bytes per
    supporter for as long as the process runs (280 MB at a million supporters)."""

    def _mark_for_persistence_update(self, *, update: object = None, job: object = None) -> None:
        if self.persistence is not None:
            super()._mark_for_persistence_update(update=update, job=job)  # type: ignore[arg-type]


async def start_application(application: Application, *, polling_timeout: int | None) -> None:
    """What PTB's run_polling/run_webhook do on the way up, minus owning the event loop and
    the signals: initialize, post_init, long polling (unless `polling_timeout` is None),
    start. For the webhook server, the tests and the benchmarks."""
    await application.initialize()
    if application.post_init:
        await application.post_init(application)
    if polling_timeout is not None:
        assert application.updater is not None
        await application.updater.start_polling(
            timeout=polling_timeout, allowed_updates=Update.ALL_TYPES
        )
    await application.start()


async def stop_application(application: Application) -> None:
    """The way down, in PTB's order: polling, processing, shutdown, post_shutdown."""
    if application.updater is not None and application.updater.running:
        await application.updater.stop()
    if application.running:
        await application.stop()
    await application.shutdown()
    if application.post_shutdown:
        await application.post_shutdown(application)


def use_fast_event_loop() -> None:
    """Run on uvloop where it is installed: its event loop and sockets cost a fraction of
    asyncio's own CPU time per Bot API call, which is most of what the bot does."""
    try:
        import uvloop
    except ImportError:  # not built for this platform (Windows): asyncio's loop works too
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def bot_id_of(token: str) -> int:
    """A bot's id is the part of its token before the colon."""
    return int(token.split(":", 1)[0])


def limits_of(settings: Settings) -> Limits:
    return Limits(
        chat_rate=settings.chat_rate_limit,
        chat_burst=settings.chat_rate_burst,
        group_per_minute=settings.group_rate_limit,
        global_rate=settings.global_rate_limit,
    )


# Collections of the youngest generation happen after this many more allocations than
# deallocations (CPython's default is 700); the older generations' ratios as CPython's.
GC_YOUNG_THRESHOLD = 50_000


def tune_garbage_collection() -> None:
    """Make the cyclic garbage collector cheap for a long-running bot, once it has started.

    Profiles showed about 30% of the bot's CPU in the collector, which found nothing to free:
    it kept re-scanning the objects loaded at start-up (modules, PTB, catalogs, CLDR data) and
    the few thousand objects of the updates in flight. `gc.freeze()` sets the first aside for
    good; a higher threshold for the youngest generation scans the second far less often. The
    bot's own objects die by reference counting, which this does not touch; `python -m bench
    memory` shows memory stays flat.
    """
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, oldest)


def build_application(
    settings: Settings,
    storage: Storage,
    petitions: Petition | Catalog,
    *,
    clock: Clock = utc_now,
    tune_gc: bool = True,
    reload_on_sighup: bool = False,
) -> Application:
    """The bot, wired, serving one petition or a catalog of them. `clock` is the one source
    of "now" for every rule (tests fix the day).

    `tune_gc`: tune the garbage collector once the bot has started; `reload_on_sighup`:
    re-read the petition files on SIGHUP (process settings: test runs, which start hundreds
    of applications in one process, leave them off).
    """

    async def post_init(application: Application) -> None:
        await _post_init(application)
        if reload_on_sighup:
            reload_on_hangup(application)
        if tune_gc:
            tune_garbage_collection()

    # Opt in to PTB 22's timedelta durations: otherwise every 429 (RetryAfter) emits a
    # deprecation warning while the rate limiter reads its retry_after.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    api = settings.telegram_api_url
    token = settings.token_or_raise()
    polling = settings.webhook_url is None
    catalog = petitions if isinstance(petitions, Catalog) else Catalog((petitions,))
    # The Mini App form is offered where the public server runs and says where it is public.
    public_url = settings.public_url if settings.public_port is not None else None
    desk = PetitionDesk(
        storage,
        catalog,
        clock=clock,
        retention_days=settings.retention_days,
        public_url=public_url,
    )
    # getUpdates adds its long-polling timeout to this read timeout itself.
    inbox = Inbox(storage, bot_id_of(token), clock) if polling else None
    done_marks = None if polling else DoneMarks(storage, bot_id_of(token), clock)
    updates_request = (
        InboxRequest(inbox, connection_pool_size=2)
        if inbox is not None
        else AiohttpRequest(connection_pool_size=2)
    )
    limiter = PacingRateLimiter(limits_of(settings))
    processor = PerUserUpdateProcessor(settings.max_concurrent_updates)
    calls_request = AiohttpRequest(connection_pool_size=settings.max_concurrent_updates)
    application = (
        ApplicationBuilder()
        .application_class(PetitionApplication)
        .token(token)
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        .rate_limiter(limiter)
        .concurrent_updates(processor)
        .request(calls_request)
        .get_updates_request(updates_request)
        .post_init(post_init)
        .post_shutdown(_post_shutdown)
        .context_types(CONTEXT_TYPES)
        .build()
    )
    services: Services = application.bot_data
    if settings.metrics_port is not None:
        metrics = services.metrics = Metrics()
        for part in (limiter, processor, calls_request, updates_request):
            part.metrics = metrics
        desk.set_metrics(metrics)
        metrics.count_backlog(application.update_queue.qsize)
    services.settings = settings
    services.storage = storage
    services.desk = desk
    if settings.public_port is not None:
        services.public_counts = PublicCounts(
            storage,
            lambda: desk.catalog,
            refresh_seconds=settings.public_refresh_seconds,
            clock=clock,
        )
        Embeds(services.public_counts, lambda: desk.bot_username)  # /embed, /widget.js
        if public_url is not None:
            MiniApp(services.public_counts.app, desk, token)  # /app, the signing form
    desk.set_milestone_hook(lambda service: stats.milestone_notifier(application, service))
    admin_commands = {
        **stats.COMMANDS,
        **exports.admin_commands(settings),
        **broadcast.admin_commands(settings),
    }
    # Before signing: admins' commands and buttons must reach their handlers first.
    admin.register(application, settings.admin_ids, admin_commands)
    broadcast.register(application, settings)
    signing.register(application)
    share.register(application)
    throttle.register(
        application, per_second=settings.user_rate_limit, burst=settings.user_rate_burst
    )
    once.register(application, inbox=inbox, done_marks=done_marks)
    groups.register(application)
    errors.register(application, settings.admin_ids)
    return application
