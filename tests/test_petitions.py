"""Several petitions: loading a folder or a list, the catalog, tags, the chooser (pure code)."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from bot.chooser import Choice, chooser, tagged, untagged
from bot.i18n import translator
from bot.petition import PetitionFileError, load_petition
from bot.petitions import Catalog, load_petitions, petition_paths, tag_of
from bot.screens import Button, Screen, View, render
from bot.settings import PROJECT_ROOT
from storage.records import Journey, Step
from tests.bidi import unisolated
from tests.clock import NOW
from tests.conftest import make_petition

SHIPPED = PROJECT_ROOT / "petitions"
FIVE_EYES = SHIPPED / "five_eyes.toml"
G7 = SHIPPED / "g7_dafoh.toml"


def test_one_file_a_folder_or_a_comma_list(tmp_path: Path) -> None:
    assert petition_paths(FIVE_EYES) == [FIVE_EYES]
    assert petition_paths(SHIPPED) == [FIVE_EYES, G7]  # sorted by file name
    assert petition_paths(Path(f"{G7}, {FIVE_EYES}")) == [G7, FIVE_EYES]
    ids = [petition.id for petition in load_petitions(SHIPPED)]
    assert ids == [load_petition(FIVE_EYES).id, load_petition(G7).id]


def test_an_empty_folder_or_a_repeated_id_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PetitionFileError, match="holds no"):
        load_petitions(tmp_path)
    shutil.copy(FIVE_EYES, tmp_path / "a.toml")
    shutil.copy(FIVE_EYES, tmp_path / "b.toml")
    with pytest.raises(PetitionFileError, match="both use id"):
        load_petitions(tmp_path)


@pytest.mark.parametrize("bad_id", ["Upper", "with_underscore", "-lead", "x" * 64, "r_abcd", ""])
def test_ids_must_fit_a_start_link(bad_id: str) -> None:
    with pytest.raises(ValueError, match="start=<id>"):
        make_petition(id=bad_id)


def test_catalog_default_is_the_newest_open_petition() -> None:
    ended = (NOW - timedelta(days=1)).date().isoformat()
    first, second = make_petition(id="first"), make_petition(id="second")
    closed = make_petition(id="closed", deadline=ended)
    assert Catalog((first, second, closed)).default(NOW).id == "second"
    assert Catalog((closed,)).default(NOW).id == "closed"
    catalog = Catalog((first, second))
    assert catalog.several and not Catalog((first,)).several
    assert catalog.by_tag(tag_of("second")) == second and catalog.by_tag("nope") is None


def test_a_reload_retires_what_is_gone_and_keeps_its_text() -> None:
    first, second = make_petition(id="first"), make_petition(id="second")
    catalog = Catalog((first, second)).reloaded([second, make_petition(id="third")], NOW)
    assert [p.id for p in catalog.petitions] == ["second", "third", "first"]
    assert catalog.retired == {"first"}
    retired = catalog.get("first")
    assert retired is not None and retired.closed_reason(NOW) is None
    assert retired.closed_reason(NOW + timedelta(seconds=1)) == "ended"
    assert retired.text_for("en") == first.text_for("en")
    back = catalog.reloaded([first, second, make_petition(id="third")], NOW)
    assert back.retired == frozenset() and back.get("first") == first


def _every_button(screen: Screen) -> list[Button]:
    return [button for row in screen.buttons for button in row]


def test_tagged_buttons_fit_telegrams_64_bytes_and_untag_exactly() -> None:
    petition = make_petition(id="x" * 63)
    tag = tag_of(petition.id)
    view = View(petition=petition, t=translator("zh_Hant"), total=0, now=NOW, bot_username="b")
    for step in Step:
        journey = Journey(step=step, country_matches=("CD", "CG"), country="CD", name="N")
        for button in _every_button(tagged(render(journey, view), tag)):
            if button.data is not None:
                assert len(button.data.encode()) <= 64, button.data
                found, data = untagged(button.data)
                assert found == tag and "|" not in data
    assert untagged("intro:sign") == (None, "intro:sign")  # a button from before


def test_chooser_lists_open_petitions_and_puts_closed_ones_behind_a_button() -> None:
    t = translator("en")
    long_title = "A very long petition title that would not fit on one button at all"
    text = make_petition().model_dump()["text"]
    text["en"]["title"] = long_title
    open_one = make_petition(id="open-one", text=text)
    closed_one = make_petition(id="closed-one", paused=True)
    choices = [
        Choice(open_one, tag_of(open_one.id), 1234, open=True),
        Choice(closed_one, tag_of(closed_one.id), 5, open=False),
    ]
    screen = chooser(choices, t)
    labels = [unisolated(button.text) for button in _every_button(screen)]
    assert labels[0].endswith("… · 1,234") and len(labels[0]) < 50
    assert labels[1] == "Closed petitions (1)"
    assert f"• \u2068{long_title}\u2069" in screen.text  # isolated in any language
    assert "1,234 people have signed" in unisolated(screen.text)
    closed = chooser(choices, t, closed=True)
    assert "no longer accept signatures" in closed.text
    assert [b.text for b in _every_button(closed)][-1] == "« Open petitions"
    nothing_open = chooser(choices[1:], t)
    assert "No petition is collecting signatures right now." in nothing_open.text
    arabic = translator("ar")
    heading = arabic.gettext("Which petition would you like to read?")
    assert heading != "Which petition would you like to read?"
    assert heading in chooser(choices, arabic).text
    assert chooser(choices, arabic).text.startswith("\u200f")  # right to left
