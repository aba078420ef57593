"""One supporter event in, one screen out: load → flow → persist → render.

Shared by the Telegram handlers and the terminal sandbox, so both play exactly the same journey
on the same storage. Knows nothing about Telegram.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from bot import flow, form
from bot.clock import Clock, utc_now
from bot.flow import Event, Facts, Info
from bot.form import Form, FormState
from bot.i18n import available_languages, resolve_language, translator
from bot.petition import Petition, milestones_reached
from bot.screens import Screen, View, render, render_info
from storage.base import Storage
from storage.records import Journey, SignatureRequest, Step, UserRecord

if TYPE_CHECKING:
    from bot.metrics import Metrics


@dataclass(frozen=True, slots=True)
class Supporter:
    user_id: int
    profile_name: str = ""
    language_code: str | None = None  # as Telegram reports it, e.g. "pt-br"


class JourneyService:
    def __init__(
        self,
        storage: Storage,
        petition: Petition,
        *,
        bot_username: str = "",
        clock: Clock = utc_now,
        retention_days: int | None = None,
        on_milestone: Callable[[int, int], Awaitable[None]] | None = None,
        public_url: str | None = None,
    ) -> None:
        # Where the public server answers (PUBLIC_URL), when it offers the Mini App form.
        self.public_url = public_url
        self.metrics: Metrics | None = None  # METRICS_PORT set: signatures and stages
        # Told (mark, total) once per mark across all instances; must return quickly.
        self.on_milestone = on_milestone
        self.retention_days = retention_days
        self.storage = storage
        self.petition = petition
        self.bot_username = bot_username
        self.clock = clock

    async def handle(
        self, supporter: Supporter, event: Event, *, message_id: int | None = None
    ) -> Screen:
        """Apply the supporter's event to their journey and say what to show them."""
        record = await self.storage.load(self.petition.id, supporter.user_id)
        facts = self._facts(record, supporter)
        petition, language, now = facts.petition, facts.language, facts.now
        if record.blocked:  # they are writing to us, so they no longer block the bot
            await self.storage.set_blocked(petition.id, supporter.user_id, None)
        journey = record.journey or Journey()
        outcome = flow.step(journey, event, facts)
        signature, total, new_journey = record.signature, record.total, outcome.journey
        language = outcome.language or language
        reached: tuple[str, ...] = ()
        if outcome.info is None:  # /help or /mydata on first contact stores nothing
            new_journey, reached = flow.track_progress(journey, new_journey)
        if outcome.sign:
            result = await self.storage.sign(
                await self._signature_request(supporter, new_journey, language, now),
                new_journey,
                reached,
            )
            signature, total = result.signature, result.total
            if not result.created:  # a double tap or a race: show the first signature
                new_journey = replace(new_journey, step=Step.DONE)
            else:
                self._count(reached, signed=True)
                await self._announce_milestones(record.goal, total, now)
        else:
            if outcome.withdraw:
                remaining = await self.storage.withdraw(petition.id, supporter.user_id)
                if remaining is not None and self.metrics is not None:
                    self.metrics.withdrawals.labels(petition.id).inc()
                signature = None  # gone now, or already gone (a double tap)
                total = (
                    remaining if remaining is not None else await self.storage.total(petition.id)
                )
            if (
                outcome.withdraw
                or new_journey != journey
                or outcome.language is not None
                or (message_id is not None and message_id != record.message_id)
            ):
                await self.storage.save_journey(
                    petition.id,
                    supporter.user_id,
                    new_journey,
                    message_id=message_id or record.message_id,
                    language=outcome.language,
                    now=now,
                    reached=reached,
                )
                self._count(reached)
        view = View(
            petition=petition,
            t=translator(language),
            total=total,
            now=now,
            bot_username=self.bot_username,
            signature=signature,
            profile_name=supporter.profile_name,
            notice=outcome.notice,
            notice_args=outcome.notice_args,
            retention_days=self.retention_days,
            form_url=self.form_url,
        )
        if outcome.info is Info.STATUS:
            view = replace(view, country_counts=await self.storage.country_counts(petition.id))
        elif outcome.info is Info.MY_LINK and signature is not None:
            referred = await self.storage.referral_count(petition.id, signature.referral_code)
            view = replace(view, referred=referred)
        elif outcome.info is Info.MY_DATA:
            personal = await self.storage.personal_data(petition.id, supporter.user_id)
            view = replace(view, personal_data=personal)
        return render_info(outcome.info, view) if outcome.info else render(new_journey, view)

    def _facts(self, record: UserRecord, supporter: Supporter) -> Facts:
        """What the rules know of this supporter now: the live petition, their language."""
        petition = self.live_petition(record)
        return Facts(
            petition=petition,
            now=self.clock(),
            signature=record.signature,
            profile_name=supporter.profile_name,
            language=resolve_language(
                record.language, supporter.language_code, petition.default_language
            ),
            languages=available_languages(),
        )

    @property
    def form_url(self) -> str | None:
        """The Mini App signing form of this petition (None: not offered)."""
        if self.public_url is None:
            return None
        return f"{self.public_url}/app?petition={self.petition.id}"

    async def form_state(self, supporter: Supporter) -> FormState:
        """What the Mini App form shows when it opens: their language, the live petition, the
        count, and their signature if they have one."""
        record = await self.storage.load(self.petition.id, supporter.user_id)
        facts = self._facts(record, supporter)
        return FormState(facts.petition, facts.language, facts.now, record.signature, record.total)

    async def sign_form(self, supporter: Supporter, answers: Form) -> FormState:
        """The Mini App form: its answers go through the chat's rules (bot.form replays them
        through bot.flow) and, when the flow says sign, down the chat's signing path: the same
        signature request, storage.sign, funnel and milestones as `handle`."""
        record = await self.storage.load(self.petition.id, supporter.user_id)
        facts = self._facts(record, supporter)
        petition, language, now = facts.petition, facts.language, facts.now
        filled = form.fill(form.form_journey(record.journey), answers, facts)
        state = FormState(petition, language, now, record.signature, record.total, filled)
        if not filled.sign:
            return state
        journey, reached = flow.track_progress(record.journey or Journey(), filled.journey)
        result = await self.storage.sign(
            await self._signature_request(supporter, journey, language, now), journey, reached
        )
        if result.created:
            self._count(reached, signed=True)
            await self._announce_milestones(record.goal, result.total, now)
        return replace(
            state, signature=result.signature, total=result.total, created=result.created
        )

    def _count(self, reached: Sequence[str], *, signed: bool = False) -> None:
        """Funnel stages reached for the first time, and a new signature, for the metrics."""
        if self.metrics is None:
            return
        for stage in reached:
            self.metrics.journey_stages.labels(self.petition.id, stage).inc()
        if signed:
            self.metrics.signatures.labels(self.petition.id).inc()

    async def _announce_milestones(self, goal: int | None, total: int, now: datetime) -> None:
        for mark in milestones_reached(self.petition, goal, total):
            # Recorded once across instances: a withdrawal and a new signature at the same
            # count, or a second instance, do not repeat the news.
            reached_first = await self.storage.reach_milestone(self.petition.id, mark, now=now)
            if reached_first and self.on_milestone is not None:
                await self.on_milestone(mark, total)

    def live_petition(self, record: UserRecord) -> Petition:
        """The petition file, with the goal and pause admins set while it runs."""
        return self.petition.with_live(record.goal, record.paused)

    async def mark_blocked(self, user_id: int) -> None:
        """A message to this supporter failed with 403: skip them until they write again."""
        await self.storage.set_blocked(self.petition.id, user_id, self.clock())

    async def _signature_request(
        self, supporter: Supporter, journey: Journey, language: str, now: datetime
    ) -> SignatureRequest:
        assert journey.country and journey.name  # guaranteed by flow.ready_to_sign
        return SignatureRequest(
            petition_id=self.petition.id,
            user_id=supporter.user_id,
            name=journey.name,
            country=journey.country,
            language=language,
            wants_updates=journey.wants_updates,
            guardian_consent=journey.guardian_consent,
            text_version=self.petition.version,
            referred_by=await self._credited_referrer(journey.referrer, supporter.user_id),
            signed_at=now,
        )

    async def _credited_referrer(self, code: str | None, user_id: int) -> str | None:
        """The share code this signature counts for: only a current signer's of this petition,
        and never the signer's own (their old link, opened again after a /withdraw)."""
        if code is None:
            return None
        owner = await self.storage.referral_owner(code)
        if owner is None or owner.petition_id != self.petition.id or owner.user_id == user_id:
            return None
        return code
