"""The /stats chart: valid PNG, honest metadata, and pixels that show what the metadata claims."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from io import BytesIO
from typing import Any

import pytest
from PIL import Image, ImageChops

from bot.chart import (
    BAR_COLOR,
    CUMULATIVE_COLOR,
    GOAL_COLOR,
    HEIGHT,
    METADATA_KEY,
    WIDTH,
    chart_data,
    compact_number,
    nice_max,
    signatures_chart,
)

TODAY = date(2026, 11, 23)


def day(offset: int) -> date:
    """The day `offset` days before TODAY."""
    return TODAY - timedelta(days=offset)


def open_png(data: bytes) -> Image.Image:
    image = Image.open(BytesIO(data))
    assert image.format == "PNG"
    assert image.size == (WIDTH, HEIGHT)
    image.load()
    return image


def metadata(image: Image.Image) -> dict[str, Any]:
    return json.loads(image.info[METADATA_KEY])


class ColorMask:
    """Where exactly one RGB colour appears, with fast per-column and per-row counts."""

    def __init__(self, image: Image.Image, color: tuple[int, int, int]) -> None:
        bands = image.convert("RGB").split()
        masks = [
            band.point(lambda v, want=want: 255 if v == want else 0)
            for band, want in zip(bands, color, strict=True)
        ]
        hit = ImageChops.multiply(ImageChops.multiply(masks[0], masks[1]), masks[2])
        self.bits = hit.tobytes()
        self.width = image.width

    def column(self, x: int) -> int:
        return self.bits[x :: self.width].count(0xFF)

    def row(self, y: int) -> int:
        return self.bits[y * self.width : (y + 1) * self.width].count(0xFF)

    def at(self, x: int, y: int) -> bool:
        return self.bits[y * self.width + x] == 0xFF

    def runs(self) -> list[tuple[int, int]]:
        """Maximal runs of adjacent columns that contain the colour: one per drawn bar."""
        found: list[tuple[int, int]] = []
        start = None
        for x in range(self.width + 1):
            present = x < self.width and self.column(x) > 0
            if present and start is None:
                start = x
            elif not present and start is not None:
                found.append((start, x - 1))
                start = None
        return found


def expected_row(value: int, axis_max: int, plot: list[int]) -> float:
    """Where a value should land, computed here from the geometry, not from the module."""
    _left, top, _right, bottom = plot
    return bottom - value * (bottom - top) / axis_max


def test_png_of_the_right_size_with_metadata() -> None:
    daily = {day(1): 12, day(3): 7}
    image = open_png(signatures_chart(daily, 100, today=TODAY, days=7))
    meta = metadata(image)
    assert meta["days"] == [day(i).isoformat() for i in range(6, -1, -1)]
    assert meta["daily"] == [0, 0, 0, 7, 0, 12, 0]
    assert meta["cumulative"] == [0, 0, 0, 7, 7, 19, 19]
    assert meta["goal"] == 100


def test_cumulative_starts_from_signatures_before_the_window() -> None:
    daily = {day(400): 1000, day(31): 500, day(30): 20, day(29): 3, day(0): 4, day(-1): 99}
    meta = metadata(open_png(signatures_chart(daily, 50_000, today=TODAY, days=30)))
    assert meta["days"][0] == day(29).isoformat()
    assert meta["days"][-1] == TODAY.isoformat()
    assert len(meta["days"]) == 30
    assert meta["daily"][0] == 3
    assert meta["daily"][-1] == 4
    assert sum(meta["daily"]) == 7
    # 1000 + 500 + 20 happened before the window; the future day is ignored.
    assert meta["cumulative"][0] == 1523
    assert meta["cumulative"][-1] == 1527
    assert meta["goal"] == 50_000
    assert meta["right_max"] >= 50_000


def test_one_bar_per_day_with_signatures_in_its_own_slot() -> None:
    values = {2: 40, 5: 10, 6: 25, 11: 33, 12: 17, 20: 40, 27: 22}
    daily = {day(29 - index): value for index, value in values.items()}
    image = open_png(signatures_chart(daily, 1_000, today=TODAY, days=30))
    meta = metadata(image)
    left, _top, right, _bottom = meta["plot"]
    runs = ColorMask(image, BAR_COLOR).runs()
    assert len(runs) == len(values)
    slot = (right - left) / 30
    for (x0, x1), index in zip(runs, sorted(values), strict=True):
        assert left + index * slot <= x0 <= x1 < left + (index + 1) * slot


def test_taller_value_gives_proportionally_taller_bar() -> None:
    daily = {day(4): 10, day(2): 40, day(1): 25}
    image = open_png(signatures_chart(daily, 10_000, today=TODAY, days=5))
    meta = metadata(image)
    mask = ColorMask(image, BAR_COLOR)
    runs = mask.runs()
    assert len(runs) == 3
    heights = [mask.column((x0 + x1) // 2) for x0, x1 in runs]
    assert heights[0] < heights[2] < heights[1]
    bottom = meta["plot"][3]
    for height, value in zip(heights, [10, 40, 25], strict=True):
        predicted = bottom - expected_row(value, meta["left_max"], meta["plot"])
        # The cumulative line may cover a few pixels of a bar where it crosses it.
        assert predicted - 12 <= height <= predicted + 1


def test_goal_line_is_drawn_at_the_goal_row() -> None:
    daily = {day(i): 30 + i for i in range(10)}
    image = open_png(signatures_chart(daily, 1_000, today=TODAY, days=10))
    meta = metadata(image)
    left, top, right, bottom = meta["plot"]
    mask = ColorMask(image, GOAL_COLOR)
    predicted = expected_row(1_000, meta["right_max"], meta["plot"])
    assert top <= predicted <= bottom
    goal_rows = [y for y in range(HEIGHT) if mask.row(y) > 0]
    assert goal_rows
    assert all(abs(y - predicted) <= 2 for y in goal_rows)
    # Dashed, but spanning the plot: well over half of the width at its row.
    assert max(mask.row(y) for y in goal_rows) > 0.5 * (right - left)


def test_goal_far_above_total_and_total_above_goal_both_fit() -> None:
    low = {day(i): 5 for i in range(10)}
    meta = metadata(open_png(signatures_chart(low, 1_000_000, today=TODAY, days=10)))
    assert meta["right_max"] >= 1_000_000
    high = {day(i): 5_000 for i in range(10)}
    image = open_png(signatures_chart(high, 100, today=TODAY, days=10))
    meta = metadata(image)
    assert meta["cumulative"][-1] == 50_000
    assert meta["right_max"] >= 50_000
    # The end of the total line (today's dot) is drawn where the total says, inside the plot.
    mask = ColorMask(image, CUMULATIVE_COLOR)
    last_bar = ColorMask(image, BAR_COLOR).runs()[-1]
    x = (last_bar[0] + last_bar[1]) // 2
    y = round(expected_row(50_000, meta["right_max"], meta["plot"]))
    assert meta["plot"][1] <= y
    assert any(mask.at(x + dx, y + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1))


def test_cumulative_line_follows_the_total() -> None:
    daily = {day(9): 100, day(0): 900}
    image = open_png(signatures_chart(daily, 1_000, today=TODAY, days=10))
    meta = metadata(image)
    mask = ColorMask(image, CUMULATIVE_COLOR)
    runs = ColorMask(image, BAR_COLOR).runs()
    assert len(runs) == 2
    (first, _), (last, _) = runs
    assert meta["cumulative"] == [100] * 9 + [1_000]
    # Over the flat middle stretch the line sits at the row of 100.
    left, _top, right, _bottom = meta["plot"]
    middle = (left + right) // 2
    column = [y for y in range(HEIGHT) if mask.at(middle, y)]
    assert column
    predicted = expected_row(100, meta["right_max"], meta["plot"])
    assert all(abs(y - predicted) <= 2 for y in column)
    assert first < middle < last


@pytest.mark.parametrize(
    ("daily", "goal", "days"),
    [
        ({}, 50_000, 30),
        ({day(i): 0 for i in range(30)}, 10, 30),
        ({day(3): 10_000_000}, 50, 30),
        ({day(5): -40, day(2): 3}, 100, 30),
        ({day(0): 7}, 100, 1),
        ({day(100): 5}, 100, 0),
        ({day(100): 5}, 100, 10_000),
        ({day(2): 5}, 0, 7),
    ],
)
def test_edge_cases_draw_a_chart(daily: dict[date, int], goal: int, days: int) -> None:
    image = open_png(signatures_chart(daily, goal, today=TODAY, days=days))
    meta = metadata(image)
    assert 1 <= len(meta["days"]) <= 366
    assert len(meta["daily"]) == len(meta["cumulative"]) == len(meta["days"])
    assert all(value >= 0 for value in meta["daily"] + meta["cumulative"])
    assert meta["right_max"] >= max([meta["goal"], *meta["cumulative"]])
    assert meta["left_max"] >= max(meta["daily"])
    assert len(ColorMask(image, BAR_COLOR).runs()) == sum(1 for v in meta["daily"] if v > 0)


def test_empty_and_all_zero_draw_no_bars() -> None:
    for daily in ({}, {day(i): 0 for i in range(30)}):
        image = open_png(signatures_chart(daily, 100, today=TODAY))
        assert ColorMask(image, BAR_COLOR).runs() == []
        assert metadata(image)["cumulative"] == [0] * 30


def test_negative_days_clamp_bars_but_keep_the_true_total() -> None:
    daily = {day(3): 10, day(2): -4, day(1): -50}
    meta = chart_data(daily, 100, today=TODAY, days=4)
    assert meta["daily"] == [10, 0, 0, 0]
    assert meta["cumulative"] == [10, 6, 0, 0]


def test_single_day_window() -> None:
    image = open_png(signatures_chart({day(0): 7, day(1): 3}, 100, today=TODAY, days=1))
    meta = metadata(image)
    assert meta["days"] == [TODAY.isoformat()]
    assert meta["daily"] == [7]
    assert meta["cumulative"] == [10]
    assert len(ColorMask(image, BAR_COLOR).runs()) == 1
    assert ColorMask(image, CUMULATIVE_COLOR).runs()


def test_full_year_keeps_bars_apart() -> None:
    daily = {day(i): 1 + i % 7 for i in range(366)}
    image = open_png(signatures_chart(daily, 5_000, today=TODAY, days=366))
    assert len(ColorMask(image, BAR_COLOR).runs()) == 366


def test_datetime_keys_count_as_their_day() -> None:
    moment = datetime(2026, 11, 22, 23, 59, tzinfo=UTC)
    meta = chart_data({moment: 5}, 10, today=TODAY, days=2)
    assert meta["daily"] == [5, 0]


def test_same_input_same_bytes() -> None:
    daily = {day(i): (i * 37) % 90 for i in range(60)}
    first = signatures_chart(daily, 12_000, today=TODAY, days=30)
    assert signatures_chart(dict(reversed(daily.items())), 12_000, today=TODAY) == first
    assert signatures_chart(daily, 12_001, today=TODAY) != first


@pytest.mark.parametrize("value", [0, 1, 4, 5, 6, 49, 50, 51, 99, 1_234, 12_600, 52_500, 10**9])
def test_nice_max_is_round_and_covers_the_value(value: int) -> None:
    top = nice_max(value)
    assert top >= max(value, 1)
    assert top % 5 == 0
    assert top <= max(5, value * 2)


def test_compact_numbers_are_ascii() -> None:
    assert compact_number(0) == "0"
    assert compact_number(950) == "950"
    assert compact_number(12_000) == "12k"
    assert compact_number(12_500) == "12.5k"
    assert compact_number(1_250_000) == "1.25M"
    assert all(compact_number(10**k * 7).isascii() for k in range(12))
