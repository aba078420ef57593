"""The admin console's pure rules: funnel progress, milestones and the /stats text."""

from __future__ import annotations

from datetime import date

from bot.admin_screens.stats import funnel_lines, milestone_text, stats_text
from bot.flow import FUNNEL_STAGES, funnel_progress, track_progress
from bot.i18n import translator
from bot.petition import milestones_reached
from bot.screens import LEFT_TO_RIGHT_MARK, RIGHT_TO_LEFT_MARK
from storage.records import Journey, Overview, Step
from tests.bidi import unisolated
from tests.conftest import make_petition

EN = translator("en")


def test_progress_counts_each_stage_once_and_never_goes_back() -> None:
    fresh = Journey()
    started, reached = track_progress(fresh, Journey(step=Step.INTRO))
    assert (started.progress, reached) == (1, ("started",))
    at_age, reached = track_progress(started, Journey(step=Step.AGE, progress=1))
    assert (at_age.progress, reached) == (3, ("demands", "country"))
    back, reached = track_progress(at_age, Journey(step=Step.COUNTRY, progress=3))
    assert (back.progress, reached) == (3, ())
    again = at_age.restarted()
    assert again.progress == 3  # starting over is not un-reading the demands
    signed, reached = track_progress(again, Journey(step=Step.SIGNED, progress=3))
    assert (signed.progress, reached) == (6, ("age", "consent", "signed"))


def test_every_step_maps_to_a_stage() -> None:
    assert {funnel_progress(step) for step in Step} <= set(range(1, len(FUNNEL_STAGES) + 1))
    assert funnel_progress(Step.PREVIEW) == FUNNEL_STAGES.index("consent") + 1


def test_milestones_include_the_goal_reached() -> None:
    petition = make_petition(goal=100, milestones=[50, 1000])
    assert milestones_reached(petition, None, 49) == []
    assert milestones_reached(petition, None, 50) == [50]
    assert milestones_reached(petition, None, 100) == [100]  # the goal
    assert milestones_reached(petition, None, 250) == [250]  # the raised goal, reached too
    assert milestones_reached(petition, 500, 100) == []  # an admin set the goal to 500
    assert milestones_reached(petition, 500, 500) == [500]
    assert milestones_reached(petition, None, 1000) == [1000]  # a mark and the goal at once


def test_milestone_text_says_when_it_was_the_goal() -> None:
    assert "That was the goal" in milestone_text(EN, 100, 100, goal_before=100)
    assert "That was the goal" not in milestone_text(EN, 50, 50, goal_before=100)


def test_funnel_shows_the_drop_off_from_each_step() -> None:
    funnel = {"started": 200, "demands": 150, "country": 150, "signed": 0}
    lines = [unisolated(line) for line in funnel_lines(EN, funnel)]
    assert lines[0] == "Started: 200"
    assert lines[1] == "Read the demands: 150 (−25% from the step before)"
    assert lines[2] == "Chose a country: 150 (−0% from the step before)"
    assert lines[3] == "Confirmed their age: 0 (−100% from the step before)"
    assert lines[4] == "Gave consent: 0"  # nothing to lose from zero
    assert len(lines) == len(FUNNEL_STAGES)


def overview(**changes: object) -> Overview:
    base = {
        "total": 1200,
        "goal": None,
        "paused": None,
        "opted_in": 300,
        "referred": 120,
        "countries": {f"C{index}": 100 for index in range(12)},
        "languages": {"en": 1000, "fr": 200},
        "funnel": {},
    }
    return Overview(**{**base, **changes})  # type: ignore[arg-type]


def test_stats_text_summarises_the_top_ten_and_the_rest() -> None:
    petition = make_petition(goal=1000)
    countries = {"US": 500, "CA": 300, "GB": 100}
    countries |= {code: 40 for code in ("FR", "DE", "IT", "ES", "PT")}
    countries |= {code: 20 for code in ("JP", "KR", "IN", "BR", "MX")}
    daily = {date(2026, 11, 23): 12, date(2026, 11, 17): 8, date(2026, 11, 16): 1000}
    text = stats_text(
        EN,
        petition,
        overview(countries=countries),
        daily,
        [40, 12],
        today=date(2026, 11, 23),
        state=None,
    )
    text = unisolated(text)
    assert "Signatures: 1,200 of 2,500 (48%)" in text  # the goal rose past 1,000
    assert "Today: 12 · last 7 days: 20" in text
    assert "Asked for updates: 300 (25%)" in text
    assert "Came through a supporter's link: 120 (10%)" in text
    assert "🇺🇸 United States: 500 (42%)" in text
    assert "Others: 60 (5%)" in text  # three countries below the top ten
    assert "(13 countries)" in text
    assert "signers each brought, anonymised): 40 and 12" in text  # a list, as CLDR joins one
    assert "Signing is open." in text


def test_stats_text_for_a_paused_petition_in_arabic_reads_right_to_left() -> None:
    petition = make_petition(goal=1000)
    text = stats_text(
        translator("ar"), petition, overview(goal=5000), {}, [], today=date(2026, 11, 23),
        state="paused",
    )  # fmt: skip
    title, *lines = [line for line in text.split("\n") if line]
    assert title.startswith(LEFT_TO_RIGHT_MARK)  # the petition's title is English
    assert all(line.startswith(RIGHT_TO_LEFT_MARK) for line in lines)
    assert "/resume" in text
