"""The bot under test, alone in its process: `python -m bench.bot_process --api URL ...`.

Runs our bot (long polling as run_bot.py does, or with `--webhook` its webhook server), the
naive baseline or the bare PTB floor against the fake Bot API until SIGTERM. Prints one JSON
line once it is serving (with the webhook's address), so the orchestrator knows when to start
the clock; with `--profile`, cProfile records everything between that line and SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import signal
import tempfile
import warnings
from pathlib import Path
from typing import Any

from bench.inprocess import bench_settings
from bot.app import build_application, start_application, stop_application, use_fast_event_loop
from bot.petition import load_petition
from bot.settings import DEFAULT_PETITION_FILE
from bot.webhook import WebhookServer
from storage import open_storage

BENCH_WEBHOOK_PATH = "/telegram"


async def serve(arguments: argparse.Namespace) -> None:
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    with tempfile.TemporaryDirectory() as folder:
        if arguments.naive:
            from bench.naive_bot import build_naive_application

            application = build_naive_application(arguments.api, arguments.token, Path(folder))
        elif arguments.bare:
            from bench.naive_bot import build_bare_application

            application = build_bare_application(arguments.api, arguments.token)
        else:
            overrides: dict[str, Any] = json.loads(arguments.settings)
            if arguments.webhook:
                overrides.update(
                    webhook_url=f"https://bench.invalid{BENCH_WEBHOOK_PATH}",
                    webhook_secret="bench-secret",
                    webhook_listen="127.0.0.1",
                    webhook_port=0,
                )
            settings = bench_settings(
                arguments.database or f"sqlite:///{Path(folder) / 'bench.db'}",
                telegram_bot_token=arguments.token,
                telegram_api_url=arguments.api,
                polling_timeout=5,
                **overrides,
            )
            petition = load_petition(DEFAULT_PETITION_FILE)
            storage = open_storage(settings.database_url)
            application = build_application(settings, storage, petition)
        webhook: WebhookServer | None = None
        if arguments.webhook:
            webhook = WebhookServer(application, settings)
            await webhook.start()
        else:
            await start_application(application, polling_timeout=5)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        profiler = cProfile.Profile() if arguments.profile else None
        ready: dict[str, Any] = {"ready": True, "pid": os.getpid()}
        if webhook is not None:  # the fake Telegram is told where to post, as a proxy would be
            ready["webhook"] = f"http://127.0.0.1:{webhook.port}{BENCH_WEBHOOK_PATH}"
        print(json.dumps(ready), flush=True)
        if profiler is not None:
            profiler.enable()
        await stop.wait()
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(arguments.profile)
        if webhook is not None:
            await webhook.stop()
        else:
            await stop_application(application)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api", required=True, help="the fake Bot API's URL")
    parser.add_argument("--token", required=True)
    parser.add_argument("--database", help="DATABASE_URL (default: a temporary SQLite file)")
    parser.add_argument("--naive", action="store_true", help="run the naive baseline instead")
    parser.add_argument("--bare", action="store_true", help="run the bare PTB floor instead")
    parser.add_argument("--settings", default="{}", help="JSON of Settings overrides")
    parser.add_argument("--webhook", action="store_true", help="webhook mode (else polling)")
    parser.add_argument("--profile", help="write cProfile stats of the run to this file")
    arguments = parser.parse_args()
    warnings.simplefilter("ignore")  # the baseline's ConversationHandler warns, on purpose
    if not arguments.naive:  # ours runs on uvloop (run_bot.py); the floor is measured alike
        use_fast_event_loop()
    asyncio.run(serve(arguments))


if __name__ == "__main__":
    main()
