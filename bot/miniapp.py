"""The Mini App signing form over HTTP, on the public server (PUBLIC_PORT, behind PUBLIC_URL).

    GET  /app?petition=<id>        the page: bot/web/app.html, app.js and app.css
    POST /app/api/form             {init_data, petition?}: the page's words, and whether they signed
    GET  /app/api/countries?q=&lang=   the chat's own country search
    POST /app/api/sign             {init_data, petition, country, age_confirmed, guardian_consent,
                                    consent, wants_updates, name}

Every supporter request carries Telegram's init data (bot.init_data), so a signature from the
form belongs to a Telegram account exactly as one from the chat does, and goes through the
same rules and the same storage call (`JourneyService.sign_form`). Answers of /app/api/sign:
200 {number, total}; 409 {number, total} for someone who had signed; 422 {field, error}; 401
without valid init data; 404 for an unknown petition; 400 for anything that is not the JSON
above. The page loads Telegram's script and nothing else from elsewhere (see POLICY).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError
from telegram import Bot, MenuButtonDefault, MenuButtonWebApp, WebAppInfo

from bot import form_texts
from bot.countries import search_countries
from bot.desk import PetitionDesk
from bot.flow import search_query
from bot.form import Form
from bot.i18n import (
    SOURCE_LANGUAGE,
    available_languages,
    match_language,
    requested_language,
    translator,
)
from bot.init_data import InitData, InitDataError, check_init_data
from bot.public import etag_matches, etag_of
from bot.service import JourneyService, Supporter

log = logging.getLogger(__name__)

WEB = Path(__file__).resolve().parent / "web"
APP_PATH = "/app"
MAX_BODY = 16 * 1024
COUNTRY_CACHE_SECONDS = 3600
# Telegram's script is the only thing from elsewhere; Telegram Web shows Mini Apps in a frame.
POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self' https://telegram.org",
        "style-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors https://web.telegram.org",
    ]
)
PAGE_HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # revalidated (ETag) each time: a new release shows at once
}
API_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
ASSETS = {
    "app.html": "text/html",
    "app.js": "text/javascript",
    "app.css": "text/css",
}


class OpenBody(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")
    init_data: str
    petition: str | None = None  # none: the petition the supporter opened last in the chat


class SignBody(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")
    init_data: str
    petition: str
    country: str
    age_confirmed: bool
    guardian_consent: bool
    consent: bool
    wants_updates: bool
    name: str

    def form(self) -> Form:
        return Form(
            country=self.country,
            age_confirmed=self.age_confirmed,
            guardian_consent=self.guardian_consent,
            consent=self.consent,
            wants_updates=self.wants_updates,
            name=self.name,
        )


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


@cache
def asset(name: str) -> Asset:
    body = (WEB / name).read_bytes()
    return Asset(body, ASSETS[name], etag_of(body))


class Refused(Exception):
    """An API request answered with an error before it reaches the journey."""

    def __init__(self, status: int, body: dict[str, str]) -> None:
        super().__init__(status)
        self.response = web.json_response(body, status=status, headers=API_HEADERS)


class MiniApp:
    """The form's routes, on the public server's application."""

    def __init__(self, app: web.Application, desk: PetitionDesk, bot_token: str) -> None:
        self.desk = desk
        self.bot_token = bot_token
        app.router.add_get(APP_PATH, self.on_page)
        for name in ("app.js", "app.css"):
            app.router.add_get(f"{APP_PATH}/{name}", self._static(name))
        app.router.add_post(f"{APP_PATH}/api/form", self.on_form)
        app.router.add_get(f"{APP_PATH}/api/countries", self.on_countries)
        app.router.add_post(f"{APP_PATH}/api/sign", self.on_sign)

    async def on_page(self, request: web.Request) -> web.StreamResponse:
        wanted = request.query.get("petition")
        if wanted is not None and self.desk.service(wanted) is None:
            raise web.HTTPNotFound(text="no such petition")
        return _asset_response(request, asset("app.html"))

    def _static(self, name: str) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            return _asset_response(request, asset(name))

        return handler

    async def on_countries(self, request: web.Request) -> web.Response:
        """The chat's search (bot.countries, through the chat's query clean-up), as JSON."""
        language = match_language(request.query.get("lang"), available_languages())
        language = language or SOURCE_LANGUAGE
        codes = search_countries(search_query(request.query.get("q", "")), language)
        countries = [form_texts.country_entry(code, language) for code in codes]
        headers = {"Cache-Control": f"public, max-age={COUNTRY_CACHE_SECONDS}"}
        return web.json_response({"countries": countries}, headers=headers)

    async def on_form(self, request: web.Request) -> web.Response:
        try:
            body = OpenBody.model_validate_json(await self._read(request))
            supporter = _supporter(self._verify(request, body.init_data))
            if body.petition:
                service = self._service(body.petition, supporter)
            else:  # the menu button names none: the petition they have open in the chat
                service = await self.desk.focused(supporter.user_id)
        except ValidationError:
            return self._bad_request(request).response
        except Refused as refused:
            return refused.response
        state = await service.form_state(supporter)
        page = form_texts.form_page(state, supporter.profile_name)
        return web.json_response(page, headers=API_HEADERS)

    async def on_sign(self, request: web.Request) -> web.Response:
        try:
            body = SignBody.model_validate_json(await self._read(request))
            supporter = _supporter(self._verify(request, body.init_data))
            service = self._service(body.petition, supporter)
        except ValidationError:
            return self._bad_request(request).response
        except Refused as refused:
            return refused.response
        state = await service.sign_form(supporter, body.form())
        filled = state.filled
        if state.created and state.signature is not None:
            if self.desk.catalog.several:  # their commands in the chat now act on this one
                await self.desk.choose(supporter.user_id, service.petition.id)
            answer = {"number": state.signature.number, "total": state.total}
            return web.json_response(answer, headers=API_HEADERS)
        if state.signature is not None:  # signed before, or a moment ago in another tab
            answer = {"number": state.signature.number, "total": state.total}
            return web.json_response(answer, status=409, headers=API_HEADERS)
        assert filled is not None
        error = form_texts.field_error(state, filled)
        return web.json_response(error, status=422, headers=API_HEADERS)

    async def _read(self, request: web.Request) -> bytes:
        if (request.content_length or 0) > MAX_BODY:
            raise self._bad_request(request)
        body = await request.read()
        if len(body) > MAX_BODY:
            raise self._bad_request(request)
        return body

    def _verify(self, request: web.Request, init_data: str) -> InitData:
        try:
            return check_init_data(init_data, self.bot_token, self.desk.clock())
        except InitDataError as error:
            log.debug("mini app: init data refused (%s)", error)
            language = requested_language(
                None, request.headers.get("Accept-Language"), self._default_language()
            )
            raise Refused(401, form_texts.api_error(language, "unauthorized")) from None

    def _service(self, petition_id: str, supporter: Supporter) -> JourneyService:
        service = self.desk.service(petition_id)
        if service is None:
            language = match_language(supporter.language_code, available_languages())
            body = form_texts.api_error(language or self._default_language(), "unknown_petition")
            raise Refused(404, body)
        return service

    def _bad_request(self, request: web.Request) -> Refused:
        language = requested_language(
            None, request.headers.get("Accept-Language"), self._default_language()
        )
        return Refused(400, form_texts.api_error(language, "bad_request"))

    def _default_language(self) -> str:
        return self.desk.default().petition.default_language


def _supporter(init_data: InitData) -> Supporter:
    user = init_data.user
    return Supporter(user.id, user.full_name, user.language_code)


def _asset_response(request: web.Request, file: Asset) -> web.Response:
    headers = {**PAGE_HEADERS, "ETag": file.etag}
    if etag_matches(request, file.etag):
        return web.Response(status=304, headers=headers)
    return web.Response(
        body=file.body, content_type=file.content_type, charset="utf-8", headers=headers
    )


async def publish_menu_button(bot: Bot, public_url: str | None, language: str) -> None:
    """The chat's menu button opens the form when it is offered. Without it, a button left
    over from a run that offered it is taken away (one set up by hand in @BotFather, for
    another page, stays). Written only on a change: Telegram rate-limits these setters."""
    current = await bot.get_chat_menu_button()
    if public_url is None:
        if isinstance(current, MenuButtonWebApp) and urlsplit(current.web_app.url).path == APP_PATH:
            await bot.set_chat_menu_button(menu_button=MenuButtonDefault())
        return
    text = translator(language).gettext("Sign in a form")
    wanted = MenuButtonWebApp(text, WebAppInfo(f"{public_url}{APP_PATH}"))
    if current != wanted:
        await bot.set_chat_menu_button(menu_button=wanted)
