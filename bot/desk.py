"""Which petition a supporter's event is for, when one bot serves several.

A button names its petition (its callback data carries the petition's tag); `/start <id>` and
a share link name theirs; everything else (typed answers, commands) goes to the petition the
supporter opened last, kept in storage so every instance agrees. Plain `/start` with several
open petitions shows the chooser. With one petition the desk is a pass-through: no tag, no
extra read, the journey exactly as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot import flow
from bot.chooser import (
    CHOOSE_PREFIX,
    SHOW_CLOSED,
    SHOW_OPEN,
    Choice,
    chooser,
    my_data_everywhere,
    tagged,
    untagged,
)
from bot.clock import Clock, utc_now
from bot.flow import Command, Event, Pressed
from bot.i18n import resolve_language, translator
from bot.petition import Petition
from bot.petitions import Catalog, tag_of
from bot.screens import Screen, View
from bot.service import JourneyService, Supporter
from storage.base import Storage

if TYPE_CHECKING:
    from bot.metrics import Metrics

MilestoneHook = Callable[[JourneyService], Callable[[int, int], Awaitable[None]]]


@dataclass(frozen=True, slots=True)
class Routed:
    """The petition an event goes to, the event as its journey sees it, and whether the
    supporter just chose it (their focus moves there)."""

    petition_id: str
    event: Event
    chosen: bool = False


class PetitionDesk:
    def __init__(
        self,
        storage: Storage,
        catalog: Catalog,
        *,
        clock: Clock = utc_now,
        retention_days: int | None = None,
        bot_username: str = "",
        public_url: str | None = None,
    ) -> None:
        self.storage = storage
        self.public_url = public_url  # set: every petition offers the Mini App form there
        self.clock = clock
        self.retention_days = retention_days
        self.milestone_hook: MilestoneHook | None = None
        self.metrics: Metrics | None = None
        self.services: dict[str, JourneyService] = {}
        self._bot_username = bot_username
        self.catalog = catalog
        self.replace_catalog(catalog)

    @property
    def bot_username(self) -> str:
        return self._bot_username

    @bot_username.setter
    def bot_username(self, username: str) -> None:
        self._bot_username = username
        for service in self.services.values():
            service.bot_username = username

    def replace_catalog(self, catalog: Catalog) -> list[JourneyService]:
        """Serve `catalog` from now on (a reload); returns the services of new petitions."""
        self.catalog = catalog
        added: list[JourneyService] = []
        for petition in catalog.petitions:
            service = self.services.get(petition.id)
            if service is not None:
                service.petition = petition
                continue
            service = JourneyService(
                self.storage,
                petition,
                bot_username=self._bot_username,
                clock=self.clock,
                retention_days=self.retention_days,
                public_url=self.public_url,
            )
            if self.milestone_hook is not None:
                service.on_milestone = self.milestone_hook(service)
            service.metrics = self.metrics
            self.services[petition.id] = service
            added.append(service)
        return added

    def set_metrics(self, metrics: Metrics | None) -> None:
        """Every petition's journeys count into `metrics` (new ones on a reload too)."""
        self.metrics = metrics
        for service in self.services.values():
            service.metrics = metrics

    def set_milestone_hook(self, hook: MilestoneHook) -> None:
        self.milestone_hook = hook
        for service in self.services.values():
            service.on_milestone = hook(service)

    def default(self) -> JourneyService:
        """The only petition's journeys, else the newest open one's."""
        if not self.catalog.several:  # every step of a one-petition bot asks: no clock read
            return self.services[self.catalog.petitions[0].id]
        return self.services[self.catalog.default(self.clock()).id]

    def service(self, petition_id: str) -> JourneyService | None:
        return self.services.get(petition_id) if self.catalog.get(petition_id) else None

    async def focused(self, user_id: int) -> JourneyService:
        """The petition this user opened last (their typed answers and commands go there)."""
        if not self.catalog.several:
            return self.default()
        focus = await self.storage.focus(user_id)
        return (self.service(focus) if focus else None) or self.default()

    async def mark_blocked(self, user_id: int) -> None:
        """A message failed with 403: the supporter blocked the bot, for every petition."""
        for service in self.services.values():
            await service.mark_blocked(user_id)

    async def choose(self, user_id: int, petition_id: str) -> None:
        await self.storage.set_focus(user_id, petition_id, now=self.clock())

    async def handle(
        self, supporter: Supporter, event: Event, *, message_id: int | None = None
    ) -> Screen:
        if not self.catalog.several:
            return await self.default().handle(supporter, event, message_id=message_id)
        routed = await self._route(supporter, event)
        if isinstance(routed, Screen):
            return routed
        service = self.services[routed.petition_id]
        if routed.chosen:
            await self.choose(supporter.user_id, routed.petition_id)
        if isinstance(routed.event, Command) and routed.event.name == "mydata":
            mine = await self._my_data(supporter, routed.petition_id)
            if mine is not None:
                return mine
        screen = await service.handle(supporter, routed.event, message_id=message_id)
        return tagged(screen, tag_of(routed.petition_id))

    async def _route(self, supporter: Supporter, event: Event) -> Routed | Screen:
        user_id = supporter.user_id
        if isinstance(event, Pressed):
            if event.data in (SHOW_CLOSED, SHOW_OPEN):
                return await self._chooser(supporter, closed=event.data == SHOW_CLOSED)
            if event.data.startswith(CHOOSE_PREFIX):
                petition = self.catalog.by_tag(event.data.removeprefix(CHOOSE_PREFIX))
                if petition is None:  # a chooser from before a reload, or forged
                    return await self._chooser(supporter, stale=True)
                return Routed(petition.id, Command("start"), chosen=True)
            tag, data = untagged(event.data)
            petition = self.catalog.by_tag(tag) if tag else None
            if petition is not None:
                focus = await self.storage.focus(user_id)
                return Routed(petition.id, Pressed(data), chosen=focus != petition.id)
            # No tag (a button from before several petitions) or an unknown one: the
            # focused petition's journey answers it as a stale button.
            return Routed((await self.focused(user_id)).petition.id, event)
        if isinstance(event, Command) and event.name == "start":
            return await self._route_start(supporter, event)
        return Routed((await self.focused(user_id)).petition.id, event)

    async def _route_start(self, supporter: Supporter, event: Command) -> Routed | Screen:
        payload = event.payload.strip()
        named = self.catalog.get(payload)
        if named is not None:
            return Routed(named.id, Command("start"), chosen=True)
        code = flow.referral_code(payload)
        if code is not None:
            owner = await self.storage.referral_owner(code)
            if owner is not None and self.catalog.get(owner.petition_id) is not None:
                return Routed(owner.petition_id, event, chosen=True)
        open_now = self.catalog.open_at(self.clock())
        if len(open_now) == 1:
            return Routed(open_now[0].id, Command("start"), chosen=True)
        return await self._chooser(supporter)

    async def language_of(self, supporter: Supporter) -> str:
        """Their /language choice in the petition they have open, else Telegram's language."""
        focused = await self.focused(supporter.user_id)
        record = await self.storage.load(focused.petition.id, supporter.user_id)
        return resolve_language(
            record.language, supporter.language_code, focused.petition.default_language
        )

    async def _chooser(
        self, supporter: Supporter, *, closed: bool = False, stale: bool = False
    ) -> Screen:
        language = await self.language_of(supporter)
        now = self.clock()
        choices = []
        for petition in self.catalog.petitions:
            service = self.services[petition.id]
            # Nobody's record (Telegram ids are positive): the count and live settings only.
            counts = await self.storage.load(petition.id, 0)
            live = service.live_petition(counts)
            choices.append(
                Choice(live, tag_of(petition.id), counts.total, live.closed_reason(now) is None)
            )
        return chooser(choices, translator(language), closed=closed, stale=stale)

    async def _my_data(self, supporter: Supporter, open_id: str) -> Screen | None:
        """/mydata over every petition they are in; None: only in the one they have open, or
        in none (that petition's usual screen says so)."""
        ids = [
            pid for pid in await self.storage.petitions_of(supporter.user_id) if self.service(pid)
        ]
        if not ids or ids == [open_id]:
            return None
        t = translator(await self.language_of(supporter))
        views = []
        for petition_id in ids:
            petition: Petition = self.services[petition_id].petition
            views.append(
                View(
                    petition=petition,
                    t=t,
                    total=0,
                    now=self.clock(),
                    bot_username=self._bot_username,
                    personal_data=await self.storage.personal_data(petition_id, supporter.user_id),
                )
            )
        return my_data_everywhere(views, t)
