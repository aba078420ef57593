"""The fake Bot API and the simulated supporters, in a process of their own.

`python -m bench.fake_server --latency 0.05` serves the test suite's fake Telegram
(tests/fakes/bot_api.py) on 127.0.0.1 and prints one JSON line with its URL. The bot under
test runs in another process, so its CPU time and memory are measured alone.

The supporters are driven from here, on the server side, through a small control API:
`POST /bench/journeys {"supporters": N, "first_user": ID, "arrival_rate": R}` makes N
supporters walk the whole journey, all at once or arriving R per second, and answers with the
time each step took. Waiting is per chat: the test
fake's own `wait_until` wakes every waiter on every change, which is right for a test with
three users but quadratic with thousands.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import resource
import signal
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.fakes.bot_api import (
    _VISIBLE_REPLY_METHODS,
    ApiError,
    Call,
    FakeBotAPI,
    FakeUser,
    _pick_button,
)

STEPS = ("Sign the petition", "Canada", "or older", "I agree", "Use this name", "Sign now")
DONE_TEXT = "You are signer #"
STEP_TIMEOUT = 300.0


class BenchBotAPI(FakeBotAPI):
    """The test fake, with per-chat wake-ups and no ever-growing call log."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._chat_events: dict[int, asyncio.Event] = {}
        self.call_count = 0
        self.sends: Counter[int] = Counter()  # successful sendMessage calls per chat
        self.rate_limited = 0  # 429 answers given
        # Flood control for one chat in `flood_every` (by user id): its first send or edit
        # is answered 429 with this retry_after. 0: off.
        self.flood_every = 0
        self.flood_seconds = 5
        self._flooded: set[int] = set()
        self._first_user = 0  # of the journeys running: the first of every `flood_every`
        self.recipients: set[int] = set()  # chats whose successful sends are counted apart
        self.recipient_sends = 0
        self._silent_until = 0.0
        self.silence_asked = 0.0  # seconds covered by the 429s' retry_after, overlaps once
        self.app.router.add_post("/bench/journeys", self._bench_journeys)
        self.app.router.add_post("/bench/fail", self._bench_fail)
        self.app.router.add_post("/bench/chats", self._bench_chats)
        self.app.router.add_post("/bench/sends", self._bench_sends)
        self.app.router.add_post("/bench/flood", self._bench_flood)
        self.app.router.add_post("/bench/webhook", self._bench_webhook)
        self.app.router.add_post("/bench/recipients", self._bench_recipients)

    def _record(self, call: Call) -> None:
        # Not kept in self.calls: a benchmark makes hundreds of thousands of calls.
        sequence = self._call_seq
        self._call_seq += 1
        self.call_count += 1
        if call.response.get("error_code") == 429:
            self.rate_limited += 1
            retry_after = (call.response.get("parameters") or {}).get("retry_after", 0)
            now = time.monotonic()
            end = now + retry_after
            if end > self._silent_until:
                self.silence_asked += end - max(now, self._silent_until)
                self._silent_until = end
        touched: int | None = None
        if call.method in _VISIBLE_REPLY_METHODS and call.ok and isinstance(call.result, dict):
            touched = call.result.get("chat", {}).get("id")
            if call.method == "sendMessage" and touched is not None:
                self.sends[touched] += 1
                if touched in self.recipients:
                    self.recipient_sends += 1
            self._replies.setdefault(touched, []).append((sequence, call.result))
        elif call.method == "answerCallbackQuery":
            query = self._callback_queries.get(str(call.params.get("callback_query_id")))
            touched = query.user_id if query else None
        if touched is not None:
            event = self._chat_events.get(touched)
            if event is not None:
                event.set()
        self._notifier.notify()  # the long poll waits on it

    def _raise_injected_fault(self, method: str, params: dict[str, Any]) -> None:
        super()._raise_injected_fault(method, params)
        chat_id = params.get("chat_id")
        if (
            self.flood_every
            and method in ("sendMessage", "editMessageText")
            and isinstance(chat_id, int)
            and (chat_id - self._first_user) % self.flood_every == 0
            and chat_id not in self._flooded
        ):
            self._flooded.add(chat_id)
            raise ApiError(
                429,
                f"Too Many Requests: retry after {self.flood_seconds}",
                {"retry_after": self.flood_seconds},
            )

    async def wait_chat(self, chat_id: int, predicate: Callable[[], bool]) -> None:
        """Until `predicate()` holds, re-checked only when this chat changes."""
        async with asyncio.timeout(STEP_TIMEOUT):
            while not predicate():
                event = self._chat_events[chat_id] = asyncio.Event()
                await event.wait()

    # ---- the supporters -----------------------------------------------------------------

    async def send(self, user: FakeUser, text: str) -> None:
        since = self._call_seq
        user.push_text(text)
        await self.wait_chat(user.chat_id, lambda: bool(self._visible_replies(user.chat_id, since)))

    async def press(self, user: FakeUser, label: str) -> None:
        stored = user._latest_keyboard_message()
        data = _pick_button(stored.inline_keyboard, label)["callback_data"]
        query_id = self._new_id()
        since = self._call_seq
        self.push_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": user.user,
                    "message": copy.deepcopy(stored.message),
                    "chat_instance": user._chat_instance,
                    "data": data,
                }
            }
        )
        query = self._callback_queries[query_id]
        await self.wait_chat(
            user.chat_id,
            lambda: query.answer is not None and bool(self._visible_replies(user.chat_id, since)),
        )

    async def walk(
        self, user: FakeUser, step_times: list[float], delay: float = 0.0, ends: Any = None
    ) -> bool:
        """One supporter's whole journey (after `delay` s); True if it ended signed. `ends`
        gets the time it ended, by user id."""
        if delay:
            await asyncio.sleep(delay)
        started = time.perf_counter()
        await self.send(user, "/start")
        step_times.append(time.perf_counter() - started)
        for label in STEPS:
            started = time.perf_counter()
            await self.press(user, label)
            step_times.append(time.perf_counter() - started)
        done = DONE_TEXT in user.last
        if ends is not None:
            ends[user.user_id] = time.perf_counter()
        # Forget the chat: a long run must not keep every supporter's history here.
        self.chats.pop(user.chat_id, None)
        self._replies.pop(user.chat_id, None)
        self._chat_events.pop(user.chat_id, None)
        self._users.pop(user.user_id, None)
        return done

    async def _bench_journeys(self, request: web.Request) -> web.Response:
        body = await request.json()
        supporters, first = int(body["supporters"]), int(body.get("first_user", 1_000_000))
        self._first_user = first
        # None: everyone starts at once (throughput); else supporters arrive at this rate per
        # second (latency at a load the bot can sustain).
        rate = body.get("arrival_rate")
        users = [self.user(first + index, f"Bench {index}") for index in range(supporters)]
        step_times: list[float] = []
        ends: dict[int, float] = {}
        usage = resource.getrusage(resource.RUSAGE_SELF)
        calls = self.call_count
        recipient_sends = self.recipient_sends
        started = time.perf_counter()
        outcomes = await asyncio.gather(
            *(
                self.walk(user, step_times, index / rate if rate else 0.0, ends)
                for index, user in enumerate(users)
            ),
            return_exceptions=True,
        )
        seconds = time.perf_counter() - started
        flooded = {user.user_id for user in users if user.user_id in self._flooded}
        others = [at - started for user_id, at in ends.items() if user_id not in flooded]
        after = resource.getrusage(resource.RUSAGE_SELF)
        self._callback_queries.clear()
        errors = [repr(outcome) for outcome in outcomes if isinstance(outcome, BaseException)]
        return web.json_response(
            {
                "seconds": seconds,
                "completed": sum(outcome is True for outcome in outcomes),
                "errors": errors[:5],
                "error_count": len(errors),
                "step_times": step_times,
                "bot_api_calls": self.call_count - calls,
                "flooded": len(flooded),
                # Journeys of the supporters Telegram did not slow down, and when the last
                # of them ended: their throughput, whatever the flooded ones did.
                "others_completed": len(others),
                "others_seconds": max(others, default=seconds),
                "recipient_sends": self.recipient_sends - recipient_sends,
                "server_cpu": (after.ru_utime + after.ru_stime) - (usage.ru_utime + usage.ru_stime),
            }
        )

    async def _bench_chats(self, request: web.Request) -> web.Response:
        """Make private chats known, as if these users had written to the bot once."""
        body = await request.json()
        for user_id in body["user_ids"]:
            self.register_chat({"id": user_id, "type": "private", "first_name": "Signer"})
        return web.json_response({"ok": True})

    async def _bench_sends(self, request: web.Request) -> web.Response:
        """Successful sendMessage calls to these chats: how many chats got 0, 1 or more."""
        body = await request.json()
        counts = Counter(self.sends.get(user_id, 0) for user_id in body["user_ids"])
        return web.json_response(
            {
                "received_once": counts.get(1, 0),
                "received_never": counts.get(0, 0),
                "received_more_than_once": sum(n for k, n in counts.items() if k > 1),
                "rate_limited_answers": self.rate_limited,
                "silence_asked_seconds": round(self.silence_asked, 3),
                "recipient_sends": self.recipient_sends,
            }
        )

    async def _bench_flood(self, request: web.Request) -> web.Response:
        """{"every": 50, "retry_after": 5}: one chat in 50 gets a 429 on its first write."""
        body = await request.json()
        self.flood_every = int(body.get("every", 0))
        self.flood_seconds = int(body.get("retry_after", 5))
        return web.json_response({"ok": True})

    async def _bench_webhook(self, request: web.Request) -> web.Response:
        """{"targets": [url, ...]}: where webhook updates go (the bot's real address)."""
        body = await request.json()
        self.webhook_targets = list(body["targets"]) or None
        self._schedule_webhook_dispatch()
        return web.json_response({"ok": True})

    async def _bench_recipients(self, request: web.Request) -> web.Response:
        """{"user_ids": [...]}: a broadcast's recipients, whose sends are counted apart."""
        body = await request.json()
        self.recipients = set(body["user_ids"])
        for user_id in self.recipients:
            self.register_chat({"id": user_id, "type": "private", "first_name": "Signer"})
        return web.json_response({"ok": True, "sends": self.recipient_sends})

    async def _bench_fail(self, request: web.Request) -> web.Response:
        """Inject Bot API failures, e.g. {"method": "sendMessage", "status": 429, "times": 5}."""
        body = await request.json()
        self.fail_next(
            body["method"],
            status=int(body.get("status", 500)),
            retry_after=body.get("retry_after"),
            times=int(body.get("times", 1)),
        )
        return web.json_response({"ok": True})


async def serve(latency: float) -> None:
    server = BenchBotAPI(latency=latency)
    url = await server.start()
    print(json.dumps({"url": url, "token": server.token, "pid": os.getpid()}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per Bot API call")
    arguments = parser.parse_args()
    asyncio.run(serve(arguments.latency))


if __name__ == "__main__":
    main()
