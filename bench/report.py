"""Tables, verdicts against the issue's targets, and the README section, from the results.

Kept apart from the runners so the README text can be regenerated from a results file
(`python -m bench.report bench/results/latest.json`) without running anything again.
"""

from __future__ import annotations

import json
import pstats
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

# (benchmark, columns shown) for the simple row tables.
COLUMNS: dict[str, list[str]] = {
    "journeys": [
        "backend",
        "supporters",
        "arrival_rate",
        "journeys_per_second",
        "step_p50_ms_above_floor",
        "step_p99_ms_above_floor",
        "bot_cpu_ms_per_journey",
        "bot_cpu_utilisation",
        "bot_peak_rss_mb",
        "server_cpu_utilisation",
        "postgres_cpu_utilisation",
    ],
    "storage": [
        "backend",
        "signatures",
        "count_read_p50_ms",
        "count_read_p99_ms",
        "naive_count_ms",
        "sign_per_second",
        "sign_p99_ms",
        "bulk_load_rows_per_second",
        "database_mb",
        "mb_per_million",
    ],
    "broadcast": [
        "run",
        "recipients",
        "latency_ms",
        "configured_rate",
        "achieved_rate",
        "seconds",
        "sent",
        "unknown",
        "rate_limited_answers",
        "duplicate_sends",
        "chats_never_received",
    ],
}
COLUMNS["countries"] = [
    "queries",
    "languages",
    "names_indexed",
    "index_build_s",
    "index_mb",
    "top2_share",
    "cpu_ms_per_query",
    "typo_step_rapidfuzz_ms",
    "typo_step_difflib_ms",
]
COLUMNS["baseline"] = [column for column in COLUMNS["journeys"][:9] if column != "arrival_rate"]
COLUMNS["limits"] = [
    "scenario",
    "supporters",
    "arrival_rate",
    "journeys_per_second",
    "others_journeys_per_second",
    "step_p50_ms_above_floor",
    "step_p99_ms_above_floor",
    "bot_cpu_ms_per_journey",
    "bot_cpu_utilisation",
    "recipient_sends_per_second",
]


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A plain aligned table (also valid Markdown)."""
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    numeric = [
        all(isinstance(row.get(column), int | float | None) for row in rows) for column in columns
    ]
    widths = [
        max(len(column), *(len(line[index]) for line in cells))
        for index, column in enumerate(columns)
    ]
    lines = [
        "| "
        + " | ".join(column.ljust(width) for column, width in zip(columns, widths, strict=True))
        + " |",
        "|" + "|".join("-" * (width + 2) for width in widths) + "|",
    ]
    for line in cells:
        shown = [
            value.rjust(width) if is_number else value.ljust(width)
            for value, width, is_number in zip(line, widths, numeric, strict=True)
        ]
        lines.append("| " + " | ".join(shown) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def section(name: str, data: dict[str, Any]) -> str:
    """One benchmark's figures as text."""
    head = f"\n## {name}  ({data.get('run_seconds', '?')} s)"
    if "error" in data:
        return f"{head}\nFAILED: {data['error']}"
    if name in COLUMNS:
        return f"{head}\n{table(data['rows'], COLUMNS[name])}"
    if name == "floor":
        rows = [
            {"application": key, **data[key]} for key in ("ptb_no_work", "ptb_same_calls", "ours")
        ]
        columns = ["application", "updates", "updates_per_second", "cpu_us_per_update"]
        text = (
            f"{head}  in-process, instant transport, backend {data['backend']}, "
            f"{data['supporters']} supporters' journeys\n"
            f"{table(rows, columns)}\n"
            f"ours / PTB making the same calls: {data['ratio_vs_same_calls']}×   "
            f"ours / PTB doing nothing: {data['ratio_vs_no_work']}×"
        )
        bare = data.get("bare_over_http")
        if bare:
            text += "\nover HTTP (journey set-up, bare PTB answering fixed screens):\n" + table(
                [bare], COLUMNS["baseline"]
            )
        return text
    if name == "memory":
        columns = ["supporters", "rss_mb", "seconds"]
        extra = {
            key: value
            for key, value in data.items()
            if key not in ("readings", "taken", "run_seconds")
        }
        return f"{head}\n{table(data['readings'], columns)}\n{json.dumps(extra)}"
    if name == "profile":
        columns = ["function", "own_share", "with_callees_share", "calls"]
        return (
            f"{head}  (bot process under cProfile, {data['run']['supporters']} journeys, "
            f"{data['run']['journeys_per_second']} journeys/s under the profiler)\n"
            f"{table(data['top'], columns)}\nfull listing: {', '.join(data['files'])}"
        )
    return f"{head}\n{json.dumps(data, indent=1)}"


def profile_top(stats: pstats.Stats, count: int) -> list[dict[str, Any]]:
    """The functions with the most own time, as shares of the profiled total."""
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in raw.values()) or 1.0
    ranked = sorted(raw.items(), key=lambda item: item[1][2], reverse=True)
    rows = []
    for (filename, line, function), (_, calls, own, cumulative, _) in ranked[:count]:
        short = "/".join(Path(filename).parts[-2:]) if filename != "~" else ""
        rows.append(
            {
                "function": f"{short}:{line}({function})" if short else function,
                "own_share": f"{own / total:.1%}",
                "with_callees_share": f"{cumulative / total:.1%}",
                "calls": calls,
            }
        )
    return rows


def _rows(benchmarks: dict[str, Any], name: str) -> list[dict[str, Any]]:
    section = benchmarks.get(name) or {}
    return section.get("rows", []) if "error" not in section else []


def verdicts(benchmarks: dict[str, Any]) -> list[dict[str, str]]:
    """Each target of the issue with the measured figure and MET / MISSED / NOT RUN."""
    out: list[dict[str, str]] = []

    def add(target: str, figure: str, met: bool | None) -> None:
        out.append(_verdict(target, figure, met))

    journey_rows = _rows(benchmarks, "journeys")
    for row in journey_rows:
        backend = row["backend"]
        figure = f"{row['step_p99_ms_above_floor']} ms (p50 {row['step_p50_ms_above_floor']})"
        if row.get("arrival_rate") is None:
            add(
                f"journeys/s ≥ 100 ({backend}, {row['supporters']:,} at once)",
                f"{row['journeys_per_second']}",
                row["journeys_per_second"] >= 100,
            )
            load = f"{row['supporters']:,} at once"
            steps = row.get("steps_per_journey")
            if steps and row["journeys_per_second"]:
                # Everyone always waiting: each step queues behind every other supporter's,
                # so the mean step takes supporters / steps-per-second (Little's law).
                queued = row["supporters"] / (row["journeys_per_second"] * steps) * 1000
                figure += f"; queueing alone: ≥ {queued - row['latency_ms']:,.0f} ms on average"
        else:
            load = f"arriving {row['arrival_rate']:g}/s"
        add(
            f"p99 step < 150 ms above the floor ({backend}, {load})",
            figure,
            row["step_p99_ms_above_floor"] < 150,
        )
    if not journey_rows:
        add("journeys/s ≥ 100", "-", None)
    out.extend(limit_verdicts(_rows(benchmarks, "limits")))
    baseline = _rows(benchmarks, "baseline")
    sqlite_rows = [
        row
        for row in journey_rows
        if row["backend"] == "sqlite" and row.get("arrival_rate") is None
    ]
    if baseline and sqlite_rows:
        ratio = sqlite_rows[0]["journeys_per_second"] / baseline[0]["journeys_per_second"]
        add(
            "ours ≥ 50× the naive baseline's journeys/s",
            f"{ratio:.1f}× ({sqlite_rows[0]['journeys_per_second']} vs "
            f"{baseline[0]['journeys_per_second']})",
            ratio >= 50,
        )
    else:
        add("ours ≥ 50× the naive baseline", "-", None)
    floor = benchmarks.get("floor") or {}
    if "ratio_vs_same_calls" in floor:
        add(
            "handler + storage overhead ≤ 1.5× the PTB floor",
            f"{floor['ratio_vs_same_calls']}× (vs PTB doing nothing: {floor['ratio_vs_no_work']}×)",
            floor["ratio_vs_same_calls"] <= 1.5,
        )
    else:
        add("overhead ≤ 1.5× the PTB floor", "-", None)
    bare = floor.get("bare_over_http")
    if bare and sqlite_rows:
        ratio = sqlite_rows[0]["bot_cpu_ms_per_journey"] / bare["bot_cpu_ms_per_journey"]
        add(
            "same, end to end over HTTP: bot CPU per journey vs bare PTB",
            f"{ratio:.2f}× ({sqlite_rows[0]['bot_cpu_ms_per_journey']} vs "
            f"{bare['bot_cpu_ms_per_journey']} ms; bare PTB {bare['journeys_per_second']} j/s)",
            ratio <= 1.5,
        )
    storage_rows = _rows(benchmarks, "storage")
    for backend in sorted({row["backend"] for row in storage_rows}):
        rows = [row for row in storage_rows if row["backend"] == backend]
        worst = max(row["count_read_p99_ms"] for row in rows)
        p50s = [row["count_read_p50_ms"] for row in rows]
        counted = ", ".join(f"{row['signatures']:,}" for row in rows)
        add(
            f"count read < 1 ms and flat ({backend}, {counted})",
            f"p50 {' / '.join(map(str, p50s))} ms, worst p99 {worst} ms",
            max(p50s) < 1,
        )
    if not storage_rows:
        add("count read < 1 ms and flat", "-", None)
    mem = benchmarks.get("memory") or {}
    if "readings" in mem:
        first, last = mem["readings"][1], mem["readings"][-1]
        figure = f"{mem['rss_growth_mb']:+} MB ({mem['bytes_per_supporter']} B/supporter)"
        growth = mem["rss_growth_mb"]
        judged: bool | None = True
        if first["supporters"] < 10_000:  # warm-up dominates: caches, allocator arenas
            judged = None
            figure += "; too few supporters to judge"
        elif last["supporters"] < 1_000_000:
            # Judged on a straight line to 1M: growth that is still linear at the last
            # checkpoint does not stop by itself.
            growth = mem["bytes_per_supporter"] * (1_000_000 - first["supporters"]) / 2**20
            figure += f"; straight line to 1M: {growth:+.0f} MB"
        add(
            f"RSS flat: < +50 MB from {first['supporters']:,} to 1,000,000 supporters "
            f"(measured to {last['supporters']:,})",
            figure,
            growth < 50 if judged else None,
        )
    else:
        add("RSS flat (< +50 MB)", "-", None)
    for row in _rows(benchmarks, "broadcast"):
        add(
            f"broadcast {row['run']}: 0 duplicate sends ({row['recipients']:,} recipients)",
            f"{row['duplicate_sends']} duplicates, {row['chats_never_received']} missed",
            row["duplicate_sends"] == 0 and row["chats_never_received"] == 0,
        )
        if row["configured_rate"]:
            # Judged outside the silences Telegram's 429s asked for: no sender may send then.
            paced = row.get("achieved_rate_outside_429_pauses", row["achieved_rate"])
            add(
                f"broadcast {row['run']}: at the configured rate ({row['configured_rate']:g}/s)",
                f"{row['achieved_rate']}/s overall, {paced}/s outside the pauses of "
                f"{row['rate_limited_answers']} 429s, at {row['latency_ms']} ms latency",
                paced >= 0.9 * row["configured_rate"],
            )
    if not _rows(benchmarks, "broadcast"):
        add("broadcast: 0 duplicates at the configured rate", "-", None)
    return out


def _verdict(target: str, figure: str, met: bool | None) -> dict[str, str]:
    status = "NOT RUN" if met is None else "MET" if met else "MISSED"
    return {"target": target, "figure": figure, "status": status}


def limit_verdicts(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Issue 15's targets: the defaults at full speed, and Telegram's limits kept apart."""
    if not rows:
        return [_verdict("journeys/s with the defaults (limits)", "-", None)]
    polling = _by(rows, scenario="polling")
    webhook = _by(rows, scenario="webhook")
    flooded = next((row for row in rows if "429" in row["scenario"]), {})
    arriving = _by(rows, scenario="polling, arriving")
    during = next((row for row in rows if "broadcast" in row["scenario"]), {})
    out = []
    for row, target in ((polling, 150), (webhook, 120)):
        if row:
            out.append(
                _verdict(
                    f"journeys/s ≥ {target} with the defaults ({row['scenario']}, "
                    f"{row['supporters']:,} at once)",
                    f"{row['journeys_per_second']} ({row['bot_cpu_ms_per_journey']} ms CPU each)",
                    row["journeys_per_second"] >= target,
                )
            )
    if polling and flooded:
        share = flooded["others_journeys_per_second"] / polling["journeys_per_second"]
        out.append(
            _verdict(
                f"{flooded['scenario']}: the others keep ≥ 90% of the journeys/s",
                f"{share:.0%} ({flooded['others_journeys_per_second']} vs "
                f"{polling['journeys_per_second']}; {flooded['flooded_chats']} chats paused)",
                share >= 0.9,
            )
        )
    if arriving and during:
        # The step time a supporter sees: the Bot API round trip plus the bot's part.
        without = arriving["step_p99_ms_above_floor"] + arriving["latency_ms"]
        with_broadcast = during["step_p99_ms_above_floor"] + during["latency_ms"]
        out.append(
            _verdict(
                f"{during['scenario']}: p99 step time within 20% of the run without",
                f"{with_broadcast:.1f} ms vs {without:.1f} ms "
                f"({with_broadcast / without - 1:+.0%})",
                with_broadcast <= 1.2 * without,
            )
        )
        configured = during.get("broadcast_rate_configured") or 0
        out.append(
            _verdict(
                "the broadcast keeps its configured rate while supporters sign",
                f"{during['recipient_sends_per_second']}/s (configured {configured:g}/s)",
                during["recipient_sends_per_second"] >= 0.9 * configured,
            )
        )
    return out


def verdict_table(rows: list[dict[str, str]]) -> str:
    return "\n## targets\n" + table(rows, ["target", "figure", "status"])


def _by(rows: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    """The first row whose fields equal `match` (empty when none)."""
    for row in rows:
        if all(row.get(key) == value for key, value in match.items()):
            return row
    return {}


def _fig(value: Any, unit: str = "") -> str:
    return "-" if value in (None, "") else f"{_cell(value)}{unit}"


_BACKEND_TITLES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
_Cell = Callable[[dict[str, Any]], str]


def _headline(
    label: str, by_backend: dict[str, dict[str, Any]], cell: _Cell, target: str = ""
) -> dict[str, str]:
    """A row of the README's headline table: one figure per backend."""
    cells = {title: cell(by_backend[backend]) for backend, title in _BACKEND_TITLES.items()}
    return {"": label, **cells, "target": target}


def _value(field: str, unit: str = "") -> _Cell:
    return lambda row: _fig(row.get(field), unit)


def _quantiles(p50: str, p99: str) -> _Cell:
    return lambda row: f"{_fig(row.get(p50))} / {_fig(row.get(p99), ' ms')}"


def _limits_part(rows: list[dict[str, Any]]) -> list[str]:
    """The scenarios of Telegram's limits (SQLite), as README lines."""
    if not rows:
        return []
    shown = [
        "scenario",
        "supporters",
        "journeys_per_second",
        "others_journeys_per_second",
        "step_p99_ms_above_floor",
        "bot_cpu_ms_per_journey",
        "recipient_sends_per_second",
    ]
    return [
        "Under Telegram's limits, with the defaults (SQLite; `others`: the journeys/s of the "
        "supporters Telegram did not slow down; the last column: broadcast messages a "
        "second meanwhile):",
        "",
        table(rows, shown),
        "",
    ]


def readme_section(document: dict[str, Any], rows: list[dict[str, str]]) -> str:
    """The README's "Performance" section: the headline figures, then the verdicts."""
    benchmarks = document.get("benchmarks", {})
    machine = document.get("machine", {})
    journey_rows = _rows(benchmarks, "journeys")
    flood = {
        backend: _by(journey_rows, backend=backend, arrival_rate=None)
        for backend in _BACKEND_TITLES
    }
    paced = {
        backend: next(
            (r for r in journey_rows if r["backend"] == backend and r.get("arrival_rate")), {}
        )
        for backend in _BACKEND_TITLES
    }
    baseline = (_rows(benchmarks, "baseline") or [{}])[0]
    floor = benchmarks.get("floor") or {}
    bare = floor.get("bare_over_http") or {}
    storage_rows = _rows(benchmarks, "storage")
    largest = max((row["signatures"] for row in storage_rows), default=0)
    big = {
        backend: _by(storage_rows, backend=backend, signatures=largest)
        for backend in _BACKEND_TITLES
    }
    memory = benchmarks.get("memory") or {}
    readings = memory.get("readings") or []
    broadcast = _rows(benchmarks, "broadcast")
    rate = paced["sqlite"].get("arrival_rate")
    headline = [
        _headline(
            f"complete journeys/s, {flood['sqlite'].get('supporters', 0):,} supporters at once",
            flood,
            _value("journeys_per_second"),
            "≥ 100",
        ),
        _headline(
            "bot CPU per journey (7 updates)", flood, _value("bot_cpu_ms_per_journey", " ms")
        ),
        _headline(
            f"step time above the 50 ms floor, p50 / p99, supporters arriving {rate:g}/s"
            if rate
            else "step time above the floor (paced)",
            paced,
            _quantiles("step_p50_ms_above_floor", "step_p99_ms_above_floor"),
            "p99 < 150 ms",
        ),
        _headline("bot peak RSS", flood, _value("bot_peak_rss_mb", " MB")),
        _headline(
            f"count read at {largest:,} signatures, p50 / p99",
            big,
            _quantiles("count_read_p50_ms", "count_read_p99_ms"),
            "< 1 ms, flat",
        ),
        _headline(f"the naive `COUNT(*)` at {largest:,}", big, _value("naive_count_ms", " ms")),
        _headline("signatures/s through `sign()` (32 at a time)", big, _value("sign_per_second")),
        _headline(
            "database size per million signatures (with journeys)",
            big,
            _value("mb_per_million", " MB"),
        ),
    ]
    others = []
    if baseline:
        others.append(
            f"- Naive baseline (updates one at a time, `ConversationHandler` + "
            f"`PicklePersistence`, `COUNT(*)`): {baseline.get('journeys_per_second')} "
            "journeys/s."
        )
    if "ours" in floor:
        others.append(
            f"- Framework floor, in-process: PTB making the same Bot API calls costs "
            f"{floor['ptb_same_calls']['cpu_us_per_update']:g} µs of CPU per update, ours "
            f"{floor['ours']['cpu_us_per_update']:g} µs ({floor['ratio_vs_same_calls']}×)."
            + (
                f" Over HTTP, bare PTB answering fixed screens does "
                f"{bare['journeys_per_second']} journeys/s at "
                f"{bare['bot_cpu_ms_per_journey']} ms of CPU per journey."
                if bare
                else ""
            )
        )
    if len(readings) > 1:
        others.append(
            f"- Memory: RSS {readings[1]['rss_mb']} MB after {readings[1]['supporters']:,} "
            f"distinct supporters, {readings[-1]['rss_mb']} MB after "
            f"{readings[-1]['supporters']:,} ("
            + (
                "`JourneyService.handle` driven directly"
                if memory.get("driver") == "service"
                else "the real application on an in-process transport"
            )
            + ")."
        )
    for row in broadcast:
        others.append(
            f"- Broadcast ({row['run']}): {row['recipients']:,} recipients, "
            f"{row['achieved_rate']} messages/s"
            + (
                f" ({row['achieved_rate_outside_429_pauses']}/s outside the 429 pauses; "
                f"configured {row['configured_rate']:g}/s)"
                if row["configured_rate"] and "achieved_rate_outside_429_pauses" in row
                else ""
            )
            + f", {row['rate_limited_answers']} × 429, {row['duplicate_sends']} duplicates."
        )
    parts = [
        "## Performance",
        "",
        f"Measured by `python -m bench` ({document.get('mode')} run, "
        f"{str(document.get('updated', ''))[:10]}) on {machine.get('cores')} shared cores "
        f"({machine.get('cpu')}), Python {machine.get('python')}, python-telegram-bot "
        f"{machine.get('python_telegram_bot')}, SQLite {machine.get('sqlite')}. The fake Bot "
        "API answers every call after 50 ms; it runs in its own process together with the "
        "simulated supporters, so the bot's CPU and memory are its own. Every run uses the "
        'default settings, the rate limiter included (see "Speed and Telegram\'s limits").',
        "",
        table(headline, ["", "SQLite", "PostgreSQL", "target"]),
        "",
        *others,
        "",
        *_limits_part(_rows(benchmarks, "limits")),
        "Against the targets:",
        "",
        table(rows, ["target", "figure", "status"]),
        "",
        "The step-time target is missed only where every supporter starts at once and presses "
        "again the instant an answer arrives: then each of the 2,000 always has one update "
        "waiting, and each step waits for everyone else's (Little's law: the mean wait is "
        "supporters ÷ updates per second, whatever the code does). The same 2,000 supporters "
        "arriving at the target rate of 100 journeys/s is the latency test that a bot can "
        "pass, and does.",
        "",
        "`python -m bench --quick` runs everything small in about a minute; `python -m bench` "
        "is the full run (about half an hour, most of it filling 10M signatures). Name "
        "benchmarks to run only those: `journeys limits baseline floor storage memory "
        "broadcast profile`; the memory figure to a million supporters is "
        "`python -m bench memory --memory-checkpoints 10000,250000,500000,1000000` (about "
        "35 minutes). Figures land in `bench/results/latest.json`.",
        "",
    ]
    return "\n".join(parts)


def main() -> None:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/results/latest.json")
    document = json.loads(path.read_text(encoding="utf-8"))
    rows = verdicts(document.get("benchmarks", {}))
    print(readme_section(document, rows))


if __name__ == "__main__":
    main()
