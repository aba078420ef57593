"""Tests of the fake Bot API itself, driven by the real PTB client.

If PTB accepts the fake's answers and raises the same exceptions Telegram's answers would
cause, end-to-end tests built on the fake exercise the bot's real error handling.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import socket
import struct
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllPrivateChats,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

from tests.fakes import FakeBotAPI, FakeUser
from tests.fakes.bot_api import html_to_text, utf16_length

ALICE_ID = 42


@pytest.fixture
async def bot(server: FakeBotAPI) -> AsyncIterator[Bot]:
    async with Bot(server.token, base_url=f"{server.url}/bot") as client:
        yield client


@pytest.fixture
def alice(server: FakeBotAPI) -> FakeUser:
    """Alice, whose chat the bot knows about (she has written to it once)."""
    user = server.user(ALICE_ID, "Alice", username="alice")
    user.push_text("hi")
    return user


def keyboard(*labels_and_data: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data)] for label, data in labels_and_data]
    )


def tiny_png(width: int = 3, height: int = 2) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height)))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


# ---- basics -----------------------------------------------------------------------------


async def test_get_me_and_initialize(server: FakeBotAPI, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == server.bot_id
    assert me.is_bot
    assert me.username == "petition_test_bot"
    assert me.first_name == "Petition Test Bot"
    assert me.supports_inline_queries
    assert not me.can_read_all_group_messages
    # Bot.initialize() (the fixture's `async with`) already called getMe once.
    assert len(server.calls_for("getMe")) == 2
    assert server.calls_for("getme") == server.calls_for("getMe")


async def test_wrong_token_is_unauthorized(server: FakeBotAPI) -> None:
    intruder = Bot("999:WRONG", base_url=f"{server.url}/bot")
    try:
        with pytest.raises(InvalidToken):
            await intruder.initialize()
    finally:
        await intruder.shutdown()  # initialize() opened the HTTP clients before failing
    assert server.calls[-1].response == {
        "ok": False,
        "error_code": 401,
        "description": "Unauthorized",
    }


async def test_plain_http_clients_json_form_and_query(server: FakeBotAPI) -> None:
    """Non-PTB clients: JSON bodies, GET query strings, case-insensitive method names."""
    server.user(7).push_text("hi")
    base = f"{server.url}/bot{server.token}"
    async with aiohttp.ClientSession() as session:
        markup = {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}
        async with session.post(
            f"{base}/SENDMESSAGE", json={"chat_id": "7", "text": "json", "reply_markup": markup}
        ) as response:
            body = await response.json()
            assert response.status == 200
            assert body["result"]["reply_markup"] == markup
        async with session.get(f"{base}/sendMessage", params={"chat_id": "7", "text": "q"}) as r:
            assert (await r.json())["result"]["text"] == "q"
        async with session.post(f"{base}/noSuchMethod") as response:
            assert response.status == 404
            assert await response.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found",
            }
    first, second = server.calls_for("sendMessage")
    assert first.params == {"chat_id": 7, "text": "json", "reply_markup": markup}
    assert second.params == {"chat_id": 7, "text": "q"}


async def test_ptb_form_encoding_is_decoded(server: FakeBotAPI, bot: Bot, alice: FakeUser) -> None:
    await bot.send_message(
        ALICE_ID,
        "true",  # free text that looks like JSON must stay a string
        reply_markup=keyboard(("Yes", "y")),
        disable_notification=True,
    )
    params = server.calls_for("sendMessage")[-1].params
    assert params["chat_id"] == ALICE_ID
    assert params["text"] == "true"
    assert params["disable_notification"] is True
    assert params["reply_markup"] == {"inline_keyboard": [[{"text": "Yes", "callback_data": "y"}]]}


# ---- messages ---------------------------------------------------------------------------


async def test_send_message_html_round_trip(server: FakeBotAPI, bot: Bot, alice: FakeUser) -> None:
    html = "<b>Sign</b> the <i>petition</i> &amp; share &lt;3 &#128512;"
    message = await bot.send_message(
        ALICE_ID, html, parse_mode=ParseMode.HTML, reply_markup=keyboard(("Sign", "sign"))
    )
    assert message.text == "Sign the petition & share <3 😀"
    assert message.message_id == 2  # Alice's "hi" was message 1 in this chat
    assert message.chat.type == "private"
    assert message.chat.first_name == "Alice"
    assert message.from_user is not None and message.from_user.id == server.bot_id
    assert message.reply_markup == keyboard(("Sign", "sign"))

    assert alice.last == "Sign the petition & share <3 😀"
    assert alice.last_html == html
    assert alice.buttons == [["Sign"]]
    assert [m["message_id"] for m in alice.messages] == [2]
    # The next message from Alice shares the chat's counter.
    alice.push_text("next")
    assert server.chat_history(ALICE_ID)[-1].message_id == 3


async def test_unknown_chat_is_not_found(bot: Bot) -> None:
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(999, "hello")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("<div>x</div>", 'Unsupported start tag "div"'),
        ("<br>", 'Unsupported start tag "br"'),
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", "Unmatched end tag"),
        ("x</b>", "Unexpected end tag"),
        ("1 < 2", 'Unsupported start tag ""'),
        ("AT&T", "must be escaped as &amp;"),
        ("&nbsp;", "must be escaped as &amp;"),
        ("<span>x</span>", "tg-spoiler"),
        ('<a href="https://x.org', "Unclosed start tag"),
    ],
)
async def test_html_errors_are_bad_requests(
    bot: Bot, alice: FakeUser, text: str, error: str
) -> None:
    with pytest.raises(BadRequest, match="Can't parse entities") as caught:
        await bot.send_message(ALICE_ID, text, parse_mode=ParseMode.HTML)
    # PTB str.capitalize()s descriptions, which lower-cases everything after the first letter.
    assert error.lower() in caught.value.message.lower()


def test_html_accepts_everything_telegram_supports() -> None:
    html = (
        "<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>n</ins><s>s</s>"
        "<strike>k</strike><del>d</del>"
        '<a href="https://example.org/?a=1&b=2">link</a>'
        '<code>c</code><pre><code class="language-python">p</code></pre>'
        '<span class="tg-spoiler">x</span><tg-spoiler>y</tg-spoiler>'
        "<blockquote>q</blockquote><blockquote expandable>e</blockquote>"
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>'
        "&lt;&gt;&amp;&quot;&#39;&#x27;"
    )
    assert html_to_text(html) == "bsieunskdlinkcpxyqe👍<>&\"''"
    assert html_to_text("a > b") == "a > b"


async def test_text_length_and_emptiness(bot: Bot, alice: FakeUser) -> None:
    # Telegram counts UTF-16 code units: 😀 is two of them.
    assert utf16_length("😀") == 2
    await bot.send_message(ALICE_ID, "😀" * 2048)
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(ALICE_ID, "😀" * 2048 + "x")
    # Tags do not count, only what the user sees.
    await bot.send_message(ALICE_ID, "<b>" + "x" * 4096 + "</b>", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(ALICE_ID, "<b>  </b>", parse_mode=ParseMode.HTML)


async def test_edit_message(server: FakeBotAPI, bot: Bot, alice: FakeUser) -> None:
    sent = await bot.send_message(ALICE_ID, "Sign?", reply_markup=keyboard(("Yes", "yes")))

    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text(
            "Sign?",
            chat_id=ALICE_ID,
            message_id=sent.message_id,
            reply_markup=keyboard(("Yes", "yes")),
        )

    # Same text, but no reply_markup: Telegram removes the keyboard, so this is a change.
    edited = await bot.edit_message_text("Sign?", chat_id=ALICE_ID, message_id=sent.message_id)
    assert not isinstance(edited, bool)
    assert edited.reply_markup is None
    assert alice.buttons == []

    edited = await bot.edit_message_text(
        "<i>Signed</i>", chat_id=ALICE_ID, message_id=sent.message_id, parse_mode=ParseMode.HTML
    )
    assert not isinstance(edited, bool)
    assert edited.text == "Signed"
    assert edited.edit_date is not None
    stored = server.chat_history(ALICE_ID)[-1]
    assert stored.edit_count == 2
    assert stored.raw_text == "<i>Signed</i>"
    assert alice.last == "Signed"

    await bot.edit_message_reply_markup(
        chat_id=ALICE_ID, message_id=sent.message_id, reply_markup=keyboard(("Undo", "undo"))
    )
    assert alice.button_texts == ["Undo"]
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_reply_markup(
            chat_id=ALICE_ID, message_id=sent.message_id, reply_markup=keyboard(("Undo", "undo"))
        )

    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", chat_id=ALICE_ID, message_id=999)
    with pytest.raises(BadRequest, match="Message can't be edited"):
        await bot.edit_message_text("x", chat_id=ALICE_ID, message_id=1)  # Alice's own

    assert await bot.delete_message(ALICE_ID, sent.message_id)
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("gone", chat_id=ALICE_ID, message_id=sent.message_id)


@pytest.mark.parametrize(
    ("data", "valid"),
    [("x" * 64, True), ("x" * 65, False), ("é" * 32, True), ("é" * 33, False)],
)
async def test_callback_data_is_limited_to_64_bytes(
    bot: Bot, alice: FakeUser, data: str, valid: bool
) -> None:
    markup = keyboard(("Press", data))
    if valid:
        await bot.send_message(ALICE_ID, "ok", reply_markup=markup)
    else:
        with pytest.raises(BadRequest, match="Button_data_invalid"):
            await bot.send_message(ALICE_ID, "too long", reply_markup=markup)


async def test_text_only_inline_button_is_rejected(server: FakeBotAPI, alice: FakeUser) -> None:
    async with aiohttp.ClientSession() as session:
        markup = {"inline_keyboard": [[{"text": "just text"}]]}
        async with session.post(
            f"{server.url}/bot{server.token}/sendMessage",
            json={"chat_id": ALICE_ID, "text": "x", "reply_markup": markup},
        ) as response:
            assert response.status == 400
            body = await response.json()
    assert body["description"] == "Bad Request: text buttons are unallowed in the inline keyboard"


async def test_answer_callback_query_once(server: FakeBotAPI, bot: Bot) -> None:
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query("123", text="hi")
    alice = server.user(ALICE_ID)
    server.push_update(
        {"callback_query": {"id": "77", "from": alice.user, "chat_instance": "1", "data": "x"}}
    )
    assert await bot.answer_callback_query("77", text="Done", show_alert=True)
    assert alice.last_answer == {"callback_query_id": "77", "text": "Done", "show_alert": True}
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query("77")


async def test_answer_inline_query(server: FakeBotAPI, bot: Bot) -> None:
    alice = server.user(ALICE_ID)
    server.push_update(
        {"inline_query": {"id": "99", "from": alice.user, "query": "share", "offset": ""}}
    )
    result = InlineQueryResultArticle("1", "Petition", InputTextMessageContent("Sign it!"))
    assert await bot.answer_inline_query("99", [result], cache_time=0, is_personal=True)
    answer = server.inline_answers["99"]
    assert answer["results"][0]["title"] == "Petition"
    assert (answer["cache_time"], answer["is_personal"]) == (0, True)


async def test_send_document_and_photo(server: FakeBotAPI, bot: Bot, alice: FakeUser) -> None:
    content = "name,country\nZoë,GB\n".encode()
    message = await bot.send_document(
        ALICE_ID,
        document=content,
        filename="signatures.csv",
        caption="<b>Export</b>",
        parse_mode=ParseMode.HTML,
    )
    assert message.document is not None
    assert message.document.file_name == "signatures.csv"
    assert message.document.file_size == len(content)
    assert message.caption == "Export"
    assert server.files[message.document.file_id] == content
    upload = server.calls_for("sendDocument")[-1].params["document"]
    assert (upload.filename, upload.data) == ("signatures.csv", content)
    assert alice.documents[-1].data == content
    assert alice.documents[-1].file_name == "signatures.csv"

    # Re-sending by file_id needs no upload.
    again = await bot.send_document(ALICE_ID, document=message.document.file_id)
    assert again.document is not None and again.document.file_id == message.document.file_id

    photo = await bot.send_photo(ALICE_ID, photo=tiny_png(3, 2), caption="chart")
    assert (photo.photo[-1].width, photo.photo[-1].height) == (3, 2)
    assert alice.photos[-1].data == tiny_png(3, 2)
    with pytest.raises(BadRequest, match="Image_process_failed"):
        await bot.send_photo(ALICE_ID, photo=b"not an image")
    with pytest.raises(BadRequest, match="Message caption is too long"):
        await bot.send_document(ALICE_ID, document=b"x", caption="x" * 1025)


async def test_commands_descriptions_and_setup_calls(server: FakeBotAPI, bot: Bot) -> None:
    await bot.set_my_commands([BotCommand("start", "Start"), BotCommand("sign", "Sign")])
    await bot.set_my_commands(
        [BotCommand("start", "Начать")],
        scope=BotCommandScopeAllPrivateChats(),
        language_code="ru",
    )
    assert server.commands[("default", "")] == [
        {"command": "start", "description": "Start"},
        {"command": "sign", "description": "Sign"},
    ]
    assert server.commands[("all_private_chats", "ru")] == [
        {"command": "start", "description": "Начать"}
    ]
    assert [c.command for c in await bot.get_my_commands()] == ["start", "sign"]
    await bot.delete_my_commands()
    assert ("default", "") not in server.commands
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Start", "uppercase is invalid")])

    await bot.set_my_description("Long description")
    await bot.set_my_description("Описание", language_code="ru")
    await bot.set_my_short_description("Short")
    await bot.set_my_name("Petition")
    await bot.set_chat_menu_button()
    assert server.descriptions == {"": "Long description", "ru": "Описание"}
    assert server.short_descriptions == {"": "Short"}
    assert server.names == {"": "Petition"}


async def test_get_chat(bot: Bot, alice: FakeUser) -> None:
    chat = await bot.get_chat(ALICE_ID)
    assert chat.type == "private"
    assert chat.username == "alice"


# ---- getUpdates -------------------------------------------------------------------------


async def test_long_poll_wakes_when_an_update_arrives(server: FakeBotAPI, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await server.wait_until(lambda: server.active_polls == 1)
    update_id = server.user(5).push_text("/start")
    # Without the wake-up this would wait 30 s; the guard only catches that failure.
    async with asyncio.timeout(5):
        updates = await poll
    assert [u.update_id for u in updates] == [update_id]
    message = updates[0].message
    assert message is not None and message.text == "/start"
    assert message.entities[0].type == "bot_command"
    await server.wait_delivered(update_id, timeout=1)


async def test_long_poll_times_out_empty(bot: Bot) -> None:
    assert await bot.get_updates(timeout=dtm.timedelta(seconds=0.05)) == ()


async def test_offset_confirms_earlier_updates(server: FakeBotAPI, bot: Bot) -> None:
    first, second, third = (server.user(5).push_text(text) for text in ("a", "b", "c"))
    assert [u.update_id for u in await bot.get_updates()] == [first, second, third]
    # Not confirmed yet: fetched again.
    assert server.pending_updates == 3
    assert [u.update_id for u in await bot.get_updates(limit=1)] == [first]
    assert [u.update_id for u in await bot.get_updates(offset=second)] == [second, third]
    assert server.pending_updates == 2
    assert await bot.get_updates(offset=third + 1) == ()
    assert server.pending_updates == 0


async def test_allowed_updates_filter(server: FakeBotAPI, bot: Bot) -> None:
    alice = server.user(5)
    alice.push_text("text")
    server.push_update({"inline_query": {"id": "1", "from": alice.user, "query": "", "offset": ""}})
    updates = await bot.get_updates(allowed_updates=[Update.INLINE_QUERY])
    assert [u.inline_query is not None for u in updates] == [True]


async def test_newer_poll_terminates_older_one_and_stop_is_prompt(
    server: FakeBotAPI, bot: Bot
) -> None:
    # PTB gives getUpdates its own one-connection pool, so a second poller needs its own Bot.
    async with Bot(server.token, base_url=f"{server.url}/bot") as other_instance:
        older = asyncio.create_task(other_instance.get_updates(timeout=30))
        await server.wait_until(lambda: server.active_polls == 1)
        assert await bot.get_updates(timeout=0) == ()
        with pytest.raises(Conflict, match="terminated by other getUpdates request"):
            await older

    # A client that gives up on its long poll must not hold the server up.
    abandoned = asyncio.create_task(bot.get_updates(timeout=30))
    await server.wait_until(lambda: server.active_polls == 1)
    abandoned.cancel()
    with pytest.raises(asyncio.CancelledError):
        await abandoned
    async with asyncio.timeout(5):
        await server.stop()


# ---- fault injection --------------------------------------------------------------------


async def test_flood_limit_raises_retry_after(
    server: FakeBotAPI, bot: Bot, alice: FakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PTB 22 warns on RetryAfter.retry_after unless opted in to timedelta values.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    server.fail_next("sendMessage", status=429, retry_after=7)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(ALICE_ID, "flood")
    assert caught.value.retry_after == dtm.timedelta(seconds=7)
    assert server.calls[-1].response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }
    assert not alice.messages  # a failed call has no effect
    await bot.send_message(ALICE_ID, "fine again")


async def test_faults_by_chat_and_count(server: FakeBotAPI, bot: Bot, alice: FakeUser) -> None:
    server.user(7).push_text("hi")
    server.fail_next("sendMessage", chat_id=7, times=2)
    await bot.send_message(ALICE_ID, "other chats are unaffected")
    for _ in range(2):
        with pytest.raises(NetworkError, match="Internal Server Error"):
            await bot.send_message(7, "fails")
    await bot.send_message(7, "third time lucky")


async def test_blocked_user_is_forbidden(server: FakeBotAPI, bot: Bot, alice: FakeUser) -> None:
    sent = await bot.send_message(ALICE_ID, "before")
    server.block(ALICE_ID)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(ALICE_ID, "after")
    with pytest.raises(Forbidden):
        await bot.edit_message_text("edit", chat_id=ALICE_ID, message_id=sent.message_id)
    server.unblock(ALICE_ID)
    await bot.send_message(ALICE_ID, "again")


async def test_latency_delays_answers(server: FakeBotAPI, bot: Bot, alice: FakeUser) -> None:
    server.latency = 0.05
    await bot.send_message(ALICE_ID, "slow")
    server.latency = 0.0
    assert alice.last == "slow"


# ---- a conversation with a real Application ----------------------------------------------


async def start_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_html(
        "<b>Sign</b> the petition?",
        reply_markup=keyboard(("✍️ Sign", "sign"), ("Not now", "later")),
    )


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer("Thanks!" if query.data == "sign" else None)
    if query.data in ("sign", "later"):
        await query.edit_message_text(f"You chose {query.data}")


@pytest.fixture
async def application(server: FakeBotAPI) -> AsyncIterator[Application]:
    app = ApplicationBuilder().token(server.token).base_url(f"{server.url}/bot").build()
    app.add_handler(CommandHandler("start", start_command))
    app.add_handler(CallbackQueryHandler(on_button))
    async with app:
        assert app.updater is not None
        await app.updater.start_polling(timeout=5, allowed_updates=Update.ALL_TYPES)
        await app.start()
        yield app
        await app.updater.stop()
        await app.stop()


async def test_conversation_with_application(server: FakeBotAPI, application: Application) -> None:
    alice = server.user(ALICE_ID, "Alice")
    reply = await alice.send("/start")
    assert reply["text"] == "Sign the petition?"
    assert alice.last_html == "<b>Sign</b> the petition?"
    assert alice.buttons == [["✍️ Sign"], ["Not now"]]

    answer = await alice.press("sign")  # case-insensitive substring of "✍️ Sign"
    assert answer["text"] == "Thanks!"
    assert alice.last_answer == answer
    assert alice.last == "You chose sign"
    assert alice.buttons == []  # the edit had no reply_markup
    with pytest.raises(AssertionError, match="no message with an inline keyboard"):
        await alice.press("Not now")

    await alice.send("/start")
    with pytest.raises(AssertionError, match="no button matches 'Maybe'"):
        await alice.press("Maybe")
    # Forged data: the handler answers but does not reply.
    answer = await alice.press_data("forged", expect_reply=False)
    assert "text" not in answer
    await alice.expect_silence(0.05)

    # send_raw fills in the rest; CommandHandler also handles edited messages.
    edited = {"text": "/start", "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}
    reply = await alice.send_raw({"edited_message": edited})
    assert reply is not None and reply["text"] == "Sign the petition?"
    assert await alice.send_raw({"message": {"text": "no handler"}}, expect_reply=False) is None
    # An update from another chat waits for the reply there.
    group = {"id": -100123, "type": "supergroup", "title": "Friends"}
    reply = await alice.send_raw({"message": {"chat": group, **edited}})
    assert reply is not None and reply["chat"]["id"] == -100123

    assert reply.get("reply_to_message", {}).get("message_id") == 1  # first in the group
    everything = await alice.wait_for_replies(4)
    assert [m["text"] for m in everything] == server.replies_to(ALICE_ID)
    assert server.replies_to(ALICE_ID)[:2] == ["Sign the petition?", "You chose sign"]

    # No handler for plain text: send() fails, naming what the bot did last.
    with pytest.raises(
        AssertionError,
        match="expected 1 visible reply in chat 42 after sending 'hello' \\(got 0\\)",
    ):
        await alice.send("hello", timeout=0.1)
    # PTB's initialize/start_polling: getMe, then deleteWebhook, then long polling.
    assert [c.method for c in server.calls[:2]] == ["getMe", "deleteWebhook"]
    assert server.calls_for("getUpdates")


# ---- webhook ----------------------------------------------------------------------------

SECRET = "s3cret_token-1"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
Answer = dict[str, Any] | web.StreamResponse | None


def chat_of(update: dict[str, Any]) -> int:
    body = update.get("message") or update["callback_query"]["message"]
    return int(body["chat"]["id"])


class WebhookReceiver:
    """A bot instance's webhook endpoint: checks the secret header, records what it accepts.

    ``status`` other than 200 refuses every POST; ``respond(update)`` runs for accepted ones
    and may return the answer body (a dict is sent as JSON: a method for the fake to run).
    """

    def __init__(self) -> None:
        self.url = ""
        self.status = 200
        self.respond: Callable[[dict[str, Any]], Awaitable[Answer]] | None = None
        self.updates: list[dict[str, Any]] = []  # accepted, in arrival order
        self.refused: list[int] = []  # update ids answered with a non-200 status
        self.bad_requests = 0  # wrong secret or content type
        self.active = 0
        self.max_active = 0
        self.overlaps: list[int] = []  # update ids that arrived while their chat had one open
        self._open_chats: set[int] = set()
        self.app = web.Application()
        self.app.router.add_post("/hook", self._handle)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get(SECRET_HEADER) != SECRET or request.content_type != (
            "application/json"
        ):
            self.bad_requests += 1
            return web.Response(status=403)
        update = await request.json()
        chat = chat_of(update)
        if chat in self._open_chats:
            self.overlaps.append(update["update_id"])
        self._open_chats.add(chat)
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            if self.status != 200:
                self.refused.append(update["update_id"])
                return web.Response(status=self.status)
            self.updates.append(update)
            answer = await self.respond(update) if self.respond is not None else None
        finally:
            self.active -= 1
            self._open_chats.discard(chat)
        if isinstance(answer, web.StreamResponse):
            return answer
        return web.Response() if answer is None else web.json_response(answer)

    def texts_by_chat(self) -> dict[int, list[str]]:
        by_chat: dict[int, list[str]] = {}
        for update in self.updates:
            by_chat.setdefault(chat_of(update), []).append(update["message"]["text"])
        return by_chat


@pytest.fixture
async def webhook() -> AsyncIterator[Callable[[], Awaitable[WebhookReceiver]]]:
    """Start webhook receivers on demand: ``receiver = await webhook()``."""
    runners: list[web.AppRunner] = []

    async def start() -> WebhookReceiver:
        receiver = WebhookReceiver()
        runner = web.AppRunner(receiver.app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        receiver.url = f"http://{host}:{port}/hook"
        return receiver

    yield start
    for runner in runners:
        await runner.cleanup()


def ids_of(updates: list[dict[str, Any]]) -> list[int]:
    return sorted(update["update_id"] for update in updates)


async def test_webhook_delivers_each_chat_in_order_and_chats_concurrently(
    server: FakeBotAPI, bot: Bot, webhook: Callable[[], Awaitable[WebhookReceiver]]
) -> None:
    receiver = await webhook()
    users = [server.user(user_id) for user_id in (1, 2, 3)]
    early = [user.push_text("0") for user in users]  # pending before the webhook is set
    chat_2_arrived = asyncio.Event()

    async def respond(update: dict[str, Any]) -> None:
        # Chat 1's first update is held until chat 2's arrives: were chats not delivered
        # concurrently, this would never happen and wait_idle would time out.
        if update["update_id"] == early[0]:
            await chat_2_arrived.wait()
        if chat_of(update) == 2:
            chat_2_arrived.set()
        for _ in range(update["update_id"] % 3):
            await asyncio.sleep(0)  # stir the interleaving

    receiver.respond = respond
    assert await bot.set_webhook(receiver.url, secret_token=SECRET)
    for text in ("1", "2", "3"):
        for user in users:
            user.push_text(text)
    await server.wait_idle()

    assert receiver.texts_by_chat() == {chat: ["0", "1", "2", "3"] for chat in (1, 2, 3)}
    assert receiver.overlaps == []  # never two updates of one chat at once
    assert receiver.max_active >= 2
    assert receiver.bad_requests == 0
    for update_id in early:
        await server.wait_delivered(update_id, timeout=0)
    info = await bot.get_webhook_info()
    assert (info.url, info.pending_update_count, info.max_connections) == (receiver.url, 0, 40)
    assert info.last_error_message is None and info.last_error_date is None


async def test_webhook_max_connections_bounds_concurrency(
    server: FakeBotAPI, bot: Bot, webhook: Callable[[], Awaitable[WebhookReceiver]]
) -> None:
    receiver = await webhook()
    second_arrived = asyncio.Event()

    async def respond(update: dict[str, Any]) -> None:
        if len(receiver.updates) == 2:
            second_arrived.set()
        await second_arrived.wait()  # the first waits for the second: 2 at once for sure
        await asyncio.sleep(0)

    receiver.respond = respond
    await bot.set_webhook(receiver.url, secret_token=SECRET, max_connections=2)
    for user_id in range(1, 7):
        server.user(user_id).push_text("hi")
    await server.wait_idle()
    assert len(receiver.updates) == 6
    assert receiver.max_active == 2


async def test_webhook_retries_until_answered_2xx(
    server: FakeBotAPI, bot: Bot, webhook: Callable[[], Awaitable[WebhookReceiver]]
) -> None:
    receiver = await webhook()
    receiver.status = 500
    await bot.set_webhook(receiver.url, secret_token=SECRET)
    update_id = server.user(5).push_text("hi")
    await server.wait_until(lambda: len(receiver.refused) >= 2)

    info = await bot.get_webhook_info()
    assert info.pending_update_count == 1
    assert info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"
    assert info.last_error_date is not None
    assert server.pending_updates == 1 and receiver.updates == []

    receiver.status = 200
    await server.wait_delivered(update_id)
    assert ids_of(receiver.updates) == [update_id]
    assert set(receiver.refused) == {update_id}
    assert server.pending_updates == 0
    *failed, delivered = server.webhook_deliveries
    assert delivered.ok and delivered.status == 200
    assert [(d.ok, d.status) for d in failed] == [(False, 500)] * len(failed)
    # The last error is kept after a success, as Telegram does.
    assert (await bot.get_webhook_info()).last_error_message is not None


async def test_webhook_retries_after_connection_errors(
    server: FakeBotAPI, bot: Bot, webhook: Callable[[], Awaitable[WebhookReceiver]]
) -> None:
    with socket.socket() as probe:  # a port nobody listens on any more
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    await bot.set_webhook(f"http://127.0.0.1:{dead_port}/hook", secret_token=SECRET)
    update_id = server.user(5).push_text("hi")
    await server.wait_until(lambda: len(server.webhook_deliveries) >= 2)
    assert server.webhook_info["last_error_message"] == "Connection refused"
    assert server.pending_updates == 1

    receiver = await webhook()
    await bot.set_webhook(receiver.url, secret_token=SECRET)  # the bot came back elsewhere
    await server.wait_delivered(update_id)
    assert ids_of(receiver.updates) == [update_id]


async def test_get_updates_conflicts_with_webhook_and_delete_webhook_returns_to_polling(
    server: FakeBotAPI, bot: Bot, webhook: Callable[[], Awaitable[WebhookReceiver]]
) -> None:
    receiver = await webhook()
    await bot.set_webhook(receiver.url, secret_token=SECRET)
    user = server.user(5)
    await server.wait_delivered(user.push_text("by webhook"))
    with pytest.raises(Conflict, match="can't use getUpdates method while webhook is active"):
        await bot.get_updates()
    assert server.calls[-1].response["error_code"] == 409

    receiver.status = 503  # the next update cannot be delivered
    stuck = user.push_text("stuck")
    await server.wait_until(lambda: bool(receiver.refused))
    assert await bot.delete_webhook()
    info = await bot.get_webhook_info()
    assert (info.url, info.pending_update_count) == ("", 1)
    assert [update.update_id for update in await bot.get_updates()] == [stuck]
    # Polling again: nothing more goes to the webhook.
    polled = user.push_text("polled")
    assert [u.update_id for u in await bot.get_updates(offset=stuck + 1)] == [polled]
    assert ids_of(receiver.updates) == [stuck - 1]


async def test_set_webhook_validates_like_telegram(server: FakeBotAPI, bot: Bot) -> None:
    with pytest.raises(BadRequest, match="Secret token contains unallowed characters"):
        await bot.set_webhook("https://bot.example/hook", secret_token=server.token)
    with pytest.raises(BadRequest, match="an https url must be provided for webhook"):
        await bot.set_webhook("ftp://bot.example/hook")
    assert server.webhook_url is None
    server.user(5).push_text("dropped")
    await bot.set_webhook(
        "https://bot.example/hook", drop_pending_updates=True, allowed_updates=["message"]
    )
    info = await bot.get_webhook_info()
    assert (info.pending_update_count, info.allowed_updates) == (0, ("message",))


async def test_webhook_round_robin_keeps_each_chat_in_order(
    server: FakeBotAPI, bot: Bot, webhook: Callable[[], Awaitable[WebhookReceiver]]
) -> None:
    first, second = await webhook(), await webhook()
    server.webhook_targets = [first.url, second.url]
    # The load balancer's public address: never called while the targets are set.
    await bot.set_webhook("https://bot.example/hook", secret_token=SECRET)

    ids = [server.user(user_id).push_text("hi") for user_id in (1, 2, 3, 4)]
    await server.wait_idle()
    assert ids_of(first.updates) == ids[0::2]
    assert ids_of(second.updates) == ids[1::2]

    # One chat: strictly one update at a time, still alternating between the instances.
    user = server.user(9)
    ids = [user.push_text(str(n)) for n in range(4)]
    await server.wait_idle()
    deliveries = [d for d in server.webhook_deliveries if d.update_id in ids]
    assert [d.update_id for d in deliveries] == ids
    assert [d.url for d in deliveries] == [first.url, second.url] * 2
    assert first.bad_requests == second.bad_requests == 0
    assert not first.overlaps and not second.overlaps


async def test_webhook_duplicates_every_kth_update_to_the_next_target(
    server: FakeBotAPI, bot: Bot, webhook: Callable[[], Awaitable[WebhookReceiver]]
) -> None:
    first, second = await webhook(), await webhook()
    server.webhook_targets = [first.url, second.url]
    server.duplicate_delivery_every = 3
    await bot.set_webhook("https://bot.example/hook", secret_token=SECRET)
    ids = [server.user(user_id).push_text("hi") for user_id in range(1, 7)]
    await server.wait_idle()  # duplicates included

    # Round-robin 1→first 2→second 3→first(+second) 4→second 5→first 6→second(+first).
    assert ids_of(first.updates) == [ids[0], ids[2], ids[4], ids[5]]
    assert ids_of(second.updates) == [ids[1], ids[2], ids[3], ids[5]]
    duplicates = [d for d in server.webhook_deliveries if d.duplicate]
    assert sorted((d.update_id, d.url) for d in duplicates) == [
        (ids[2], second.url),
        (ids[5], first.url),
    ]
    assert first.bad_requests == second.bad_requests == 0  # the secret went to both
    assert server.pending_updates == 0


async def test_method_in_webhook_answer_is_executed(
    server: FakeBotAPI, bot: Bot, webhook: Callable[[], Awaitable[WebhookReceiver]]
) -> None:
    receiver = await webhook()

    async def respond(update: dict[str, Any]) -> Answer:
        if "callback_query" in update:
            query = update["callback_query"]
            return {
                "method": "answerCallbackQuery",
                "callback_query_id": query["id"],
                "text": "Went",
            }
        message = update["message"]
        if message["text"] == "form":
            fields = {"method": "sendMessage", "chat_id": str(message["chat"]["id"]), "text": "F"}
            return web.Response(
                text=urlencode(fields), content_type="application/x-www-form-urlencoded"
            )
        if message["text"] == "nowhere":
            return {"method": "sendMessage", "chat_id": 999, "text": "lost"}
        markup = {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}
        return {
            "method": "sendMessage",
            "chat_id": message["chat"]["id"],
            "text": f"Echo: <b>{message['text']}</b>",
            "parse_mode": "HTML",
            "reply_markup": markup,
        }

    receiver.respond = respond
    await bot.set_webhook(receiver.url, secret_token=SECRET)
    alice = server.user(ALICE_ID)

    reply = await alice.send("hello")
    assert reply["text"] == "Echo: hello"
    assert alice.buttons == [["Go"]]
    call = server.calls_for("sendMessage")[-1]
    assert call.via_webhook_response and call.ok
    assert call.params["chat_id"] == ALICE_ID
    assert "in a webhook response" in call.describe()

    answer = await alice.press("Go", expect_reply=False)
    assert answer["text"] == "Went"
    assert (await alice.send("form"))["text"] == "F"  # form-encoded answers work too

    # A failing method is recorded like any failed call; the update was delivered anyway.
    await alice.send_raw({"message": {"text": "nowhere"}}, expect_reply=False)
    failed = server.calls[-1]
    assert failed.via_webhook_response and not failed.ok
    assert failed.response["description"] == "Bad Request: chat not found"
    assert server.pending_updates == 0


async def test_application_in_webhook_mode(
    server: FakeBotAPI, webhook: Callable[[], Awaitable[WebhookReceiver]]
) -> None:
    """A real Application fed by a custom webhook: FakeUser reads the same as with polling."""
    receiver = await webhook()
    app = ApplicationBuilder().token(server.token).base_url(f"{server.url}/bot").updater(None)
    application = app.build()
    application.add_handler(CommandHandler("start", start_command))
    application.add_handler(CallbackQueryHandler(on_button))

    async def respond(update: dict[str, Any]) -> None:
        await application.update_queue.put(Update.de_json(update, application.bot))

    receiver.respond = respond
    async with application:
        await application.bot.set_webhook(receiver.url, secret_token=SECRET)
        await application.start()
        alice = server.user(ALICE_ID, "Alice")
        reply = await alice.send("/start")
        assert reply["text"] == "Sign the petition?"
        answer = await alice.press("Sign")
        assert answer["text"] == "Thanks!"
        assert alice.last == "You chose sign"
        await alice.expect_silence(0.05)
        await application.stop()
    assert not server.calls_for("getUpdates")
