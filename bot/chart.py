"""The admin /stats chart: signatures per day, the running total and the goal, as PNG bytes.

Pure on purpose: no Telegram, no storage, no clock. The caller passes the daily counts, the goal
and "today", so the chart is trivially testable and the same input always gives the same bytes.

Layout: one bar per UTC day on the left axis (scaled to that window's busiest day, so quiet days
still show), and the cumulative total as a line plus the goal as a dashed line on the right axis
(scaled to the larger of the goal and the total, so "how far to go" reads at a glance). Both axes
have the same number of intervals, so they share one set of grid lines. The image holds only ASCII
digits and dates: Pillow's built-in font covers Latin only, and every translated word belongs in
the photo caption, not here. Tick labels are therefore coloured like the series they measure.

The plotted numbers ride along as PNG text metadata (`METADATA_KEY`) so tests and tools can check
what was drawn without reading pixels.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from functools import cache
from io import BytesIO
from typing import Any

from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

WIDTH = 1000
HEIGHT = 560
MIN_DAYS = 1
MAX_DAYS = 366

# Plot box in pixels: bars stand on row PLOT_BOTTOM (the x axis), values map linearly onto
# rows PLOT_BOTTOM (zero) .. PLOT_TOP (the axis maximum).
PLOT_LEFT = 72
PLOT_RIGHT = 920
PLOT_TOP = 48
PLOT_BOTTOM = 500

METADATA_KEY = "petition-bot:chart"

# Colours are exact RGB tuples so tests can find each series in the pixels. Only the bars are
# drawn in BAR_COLOR and only the goal line in GOAL_COLOR; the cumulative line is antialiased, but
# its centre is always exactly CUMULATIVE_COLOR.
BACKGROUND = (255, 255, 255)
BAR_COLOR = (91, 155, 213)
CUMULATIVE_COLOR = (230, 97, 1)
GOAL_COLOR = (26, 152, 80)
GRID_COLOR = (229, 229, 229)
AXIS_COLOR = (120, 120, 120)
TEXT_COLOR = (60, 60, 60)
BAR_LABEL_COLOR = (40, 100, 160)
CUMULATIVE_LABEL_COLOR = (170, 70, 0)

TICKS = 5  # intervals on each y axis; shared so the grid lines serve both
RIGHT_HEADROOM = 1.05  # keep the goal/total off the frame, where it would hide in the border
LINE_WIDTH = 3
GOAL_WIDTH = 2
GOAL_DASH = (10, 6)
SUPERSAMPLE = 4  # the cumulative line is drawn this much larger, then shrunk: cheap antialiasing
# Step mantissas (tenths) for "nice" axis maxima. Finer than 1-2-5 so the goal does not end up
# halfway up an axis that was rounded far past it.
_MANTISSAS = (10, 12, 15, 20, 25, 30, 40, 50, 60, 80)


def signatures_chart(daily: Mapping[date, int], goal: int, *, today: date, days: int = 30) -> bytes:
    """Draw the last `days` days ending `today` (inclusive) and return the chart as PNG bytes.

    `daily` holds net signatures per UTC day; days without any may be absent, and days before the
    window count towards the starting level of the cumulative line so it matches the live total.
    Bars never go below zero (a net-negative day shows no bar); the cumulative total is the true
    running net sum, floored at zero. Days after `today` are ignored. `days` is clamped to 1..366.
    """
    data = chart_data(daily, goal, today=today, days=days)
    bars: list[int] = data["daily"]
    cumulative: list[int] = data["cumulative"]
    n = len(bars)
    left_max: int = data["left_max"]
    right_max: int = data["right_max"]

    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    small = _font(13)
    big = _font(16)

    # Grid and y-axis tick labels, left for the bars, right for the total.
    for i in range(TICKS + 1):
        y = value_to_row(i, TICKS)
        if i:
            draw.line([(PLOT_LEFT, y), (PLOT_RIGHT, y)], fill=GRID_COLOR)
        draw.text(
            (PLOT_LEFT - 8, y),
            compact_number(left_max * i // TICKS),
            font=small,
            fill=BAR_LABEL_COLOR,
            anchor="rm",
        )
        draw.text(
            (PLOT_RIGHT + 8, y),
            compact_number(right_max * i // TICKS),
            font=small,
            fill=CUMULATIVE_LABEL_COLOR,
            anchor="lm",
        )

    # Bars, with at least one pixel of white between neighbours so each day stays distinct.
    for i, value in enumerate(bars):
        if value <= 0:
            continue
        x0, x1 = bar_span(i, n)
        height = max(1, PLOT_BOTTOM - value_to_row(value, left_max))
        draw.rectangle([(x0, PLOT_BOTTOM - height), (x1, PLOT_BOTTOM - 1)], fill=BAR_COLOR)

    # Goal: a crisp dashed line (rows goal_row-1 and goal_row), under the cumulative line.
    if data["goal"] > 0:
        goal_row = value_to_row(data["goal"], right_max)
        dash, gap = GOAL_DASH
        for x in range(PLOT_LEFT, PLOT_RIGHT, dash + gap):
            x_end = min(x + dash - 1, PLOT_RIGHT - 1)
            draw.rectangle([(x, goal_row - GOAL_WIDTH + 1), (x_end, goal_row)], fill=GOAL_COLOR)

    _draw_cumulative(image, [bar_center(i, n) for i in range(n)], cumulative, right_max)

    # Frame: the x axis and both y axes.
    draw.line([(PLOT_LEFT, PLOT_BOTTOM), (PLOT_RIGHT, PLOT_BOTTOM)], fill=AXIS_COLOR)
    draw.line([(PLOT_LEFT, PLOT_TOP), (PLOT_LEFT, PLOT_BOTTOM)], fill=AXIS_COLOR)
    draw.line([(PLOT_RIGHT, PLOT_TOP), (PLOT_RIGHT, PLOT_BOTTOM)], fill=AXIS_COLOR)

    # X-axis date labels, anchored on today so the newest day is always labelled.
    step = _label_step(n)
    for i in range(n - 1, -1, -step):
        x = bar_center(i, n)
        draw.line([(x, PLOT_BOTTOM), (x, PLOT_BOTTOM + 4)], fill=AXIS_COLOR)
        draw.text(
            (x, PLOT_BOTTOM + 8), data["days"][i][5:], font=small, fill=TEXT_COLOR, anchor="mt"
        )

    # Header: the window on the left, "total / goal  pct" on the right. Digits only.
    first, last = data["days"][0], data["days"][-1]
    draw.text(
        (PLOT_LEFT, PLOT_TOP - 16),
        first if first == last else f"{first} .. {last}",
        font=big,
        fill=TEXT_COLOR,
        anchor="ls",
    )
    total = cumulative[-1]
    header = f"{total:,} / {data['goal']:,}"
    if data["goal"] > 0:
        header += f"  {total * 100 // data['goal']}%"
    draw.text(
        (PLOT_RIGHT, PLOT_TOP - 16), header, font=big, fill=CUMULATIVE_LABEL_COLOR, anchor="rs"
    )

    info = PngImagePlugin.PngInfo()
    info.add_text(METADATA_KEY, json.dumps(data, separators=(",", ":")))
    out = BytesIO()
    image.save(out, format="PNG", pnginfo=info, optimize=False, compress_level=6)
    return out.getvalue()


def chart_data(
    daily: Mapping[date, int], goal: int, *, today: date, days: int = 30
) -> dict[str, Any]:
    """The numbers the chart plots (also its PNG metadata), apart from the drawing.

    Split out so the arithmetic (window, clamping, cumulative start, axis scales) can be reasoned
    about and tested without pixels.
    """
    today = _as_date(today)
    days = max(MIN_DAYS, min(MAX_DAYS, int(days)))
    start = today - timedelta(days=days - 1)
    window = [start + timedelta(days=i) for i in range(days)]

    per_day: dict[date, int] = {}
    before = 0
    for key, value in daily.items():
        day = _as_date(key)
        if day < start:
            before += int(value)
        elif day <= today:
            per_day[day] = per_day.get(day, 0) + int(value)

    bars: list[int] = []
    cumulative: list[int] = []
    running = before
    for day in window:
        net = per_day.get(day, 0)
        running += net
        bars.append(max(0, net))
        cumulative.append(max(0, running))

    goal = max(0, int(goal))
    return {
        "days": [day.isoformat() for day in window],
        "daily": bars,
        "cumulative": cumulative,
        "goal": goal,
        "left_max": nice_max(max(bars)),
        "right_max": nice_max(int(max(goal, *cumulative) * RIGHT_HEADROOM)),
        "plot": [PLOT_LEFT, PLOT_TOP, PLOT_RIGHT, PLOT_BOTTOM],
    }


def nice_max(value: int, intervals: int = TICKS) -> int:
    """The smallest "round" axis maximum >= value that splits into `intervals` integer steps.

    Integer steps keep the tick labels exact; a floor of one step per interval keeps an empty
    chart from dividing by zero.
    """
    target = max(1, -(-max(0, value) // intervals))  # ceil(value / intervals), at least 1
    scale = 1
    while True:
        for mantissa in _MANTISSAS:
            tenths = mantissa * scale
            if tenths % 10 == 0 and tenths // 10 >= target:
                return tenths // 10 * intervals
        scale *= 10


def value_to_row(value: int, axis_max: int) -> int:
    """The pixel row for `value` on an axis whose top (PLOT_TOP) is `axis_max`; integer-exact."""
    height = PLOT_BOTTOM - PLOT_TOP
    return PLOT_BOTTOM - (2 * value * height + axis_max) // (2 * axis_max)


def bar_span(index: int, count: int) -> tuple[int, int]:
    """First and last pixel column of the bar for day `index` of `count`.

    Every bar is narrower than its slot, so neighbouring bars never touch, even at 366 days.
    """
    slot = (PLOT_RIGHT - PLOT_LEFT) / count
    left = PLOT_LEFT + int(index * slot)
    next_left = PLOT_LEFT + int((index + 1) * slot)
    width = max(1, min(next_left - left - 1, round(slot * 0.7)))
    left += max(1, (next_left - left - width) // 2)
    return left, min(left + width - 1, next_left - 1)


def bar_center(index: int, count: int) -> int:
    """The pixel column of day `index`: the middle of its bar, where the total line has a point."""
    x0, x1 = bar_span(index, count)
    return (x0 + x1) // 2


def compact_number(value: int) -> str:
    """An ASCII tick label that fits the narrow axis margins: 950, 12k, 12.5k, 1.25M."""
    for divisor, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if value >= divisor:
            text = f"{value / divisor:.2f}".rstrip("0").rstrip(".")
            return text + suffix
    return str(value)


def _draw_cumulative(image: Image.Image, xs: list[int], values: list[int], axis_max: int) -> None:
    """Draw the running total as an antialiased line with a dot on today's value.

    ImageDraw lines are aliased, so the line is drawn as a mask SUPERSAMPLE times larger and
    shrunk with a box filter; pixels fully under the line keep exactly CUMULATIVE_COLOR.
    """
    pad = LINE_WIDTH * 3
    box = (PLOT_LEFT - pad, PLOT_TOP - pad, PLOT_RIGHT + pad, PLOT_BOTTOM + pad)
    width, height = box[2] - box[0], box[3] - box[1]
    s = SUPERSAMPLE
    mask = Image.new("L", (width * s, height * s), 0)
    draw = ImageDraw.Draw(mask)

    def scaled(x: int, value: int) -> tuple[float, float]:
        # The +0.5 puts the point at the pixel's centre, so it lands on that row and column.
        return ((x - box[0] + 0.5) * s, (value_to_row(value, axis_max) - box[1] + 0.5) * s)

    points = [scaled(x, v) for x, v in zip(xs, values, strict=True)]
    if len(points) > 1:
        draw.line(points, fill=255, width=LINE_WIDTH * s, joint="curve")
    cx, cy = points[-1]
    r = (LINE_WIDTH + 1.5) * s
    draw.ellipse([(cx - r, cy - r), (cx + r, cy + r)], fill=255)

    small_mask = mask.resize((width, height), Image.Resampling.BOX)
    image.paste(CUMULATIVE_COLOR, box, small_mask)


def _label_step(count: int) -> int:
    """Label every day when they fit, else every k-th day so labels (~40 px) never overlap."""
    slot = (PLOT_RIGHT - PLOT_LEFT) / count
    step = 1
    while step * slot < 56:
        step += 1
    # Prefer a week multiple once labels get sparse, so weekdays line up.
    if step > 4:
        step = -(-step // 7) * 7
    return step


def _as_date(value: date) -> date:
    """Accept datetimes too (they are dates in Python's eyes but do not compare with them)."""
    return value.date() if isinstance(value, datetime) else value


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled scalable font (Latin only; needs FreeType, which Pillow wheels ship)."""
    return ImageFont.load_default(size=size)
