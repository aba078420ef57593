"""Every use of python-telegram-bot's private API, in one place, and why.

PTB's public API is stable across 22.x; what it keeps private may change in any release. The
bot leans on a few private pieces for speed or for types PTB does not export, all here, so an
upgrade checks this one module (and `tests/test_ptb_seam.py`, which fails if one is gone):

- `Bot._post(endpoint, data, api_kwargs=...)`: what every typed method calls underneath, with
  the Defaults (HTML, no link previews), the rate limiter and PTB's error mapping applied, but
  without parsing Telegram's reply into objects. Screens go this way: parsing each reply into a
  `Message` was the largest single CPU cost of a step, for a reply nothing reads.
- `ExtBot._merge_api_rl_kwargs`: how a typed method hands its `rate_limit_args` to the rate
  limiter; `_post` takes them the same way.
- `DEFAULT_NONE` / `DefaultValue`: "use the Defaults" markers (a parameter left to the bot's
  Defaults, and how a request tells a default timeout from a given one).
- `JSONDict`, `ODVInput`: type aliases of PTB's request layer, for our `BaseRequest` and
  `BaseRateLimiter` implementations.
- `Bot._request`: the benchmarks' in-process transport swaps the bot's request objects
  (`swap_requests`), where a test would use PTB's builder.
"""

from __future__ import annotations

from typing import Any

from telegram import Bot
from telegram._utils.defaultvalue import DEFAULT_NONE, DefaultValue
from telegram._utils.types import JSONDict, ODVInput
from telegram.ext import ExtBot
from telegram.request import BaseRequest

__all__ = [
    "DEFAULT_NONE",
    "DefaultValue",
    "JSONDict",
    "ODVInput",
    "post_without_parsing",
    "swap_requests",
]


async def post_without_parsing(
    bot: Bot, endpoint: str, data: dict[str, object], *, rate_limit_args: object = None
) -> Any:
    """Call a Bot API method as the typed methods do, minus parsing the reply into objects.

    `rate_limit_args` reaches the rate limiter as a typed method's would (only with one set).
    """
    api_kwargs = None
    if rate_limit_args is not None and isinstance(bot, ExtBot) and bot.rate_limiter is not None:
        api_kwargs = ExtBot._merge_api_rl_kwargs({}, rate_limit_args)
    return await bot._post(endpoint, data, api_kwargs=api_kwargs)


def swap_requests(bot: Bot, request: BaseRequest) -> None:
    """Make every call of `bot`, getUpdates included, go through `request` (before initialize)."""
    bot._request = (request, request)  # type: ignore[attr-defined]
