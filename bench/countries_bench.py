"""Country search: CPU per typed query, and how often the country meant is among the first two.

Runs on the first typed-name table of the tests (tests/data/typed_countries.tsv). Also times
the typo step alone with rapidfuzz (what the bot uses) against the standard library's difflib
over the same names, to show what the library buys.
"""

from __future__ import annotations

import csv
import difflib
import time
import tracemalloc
from pathlib import Path
from typing import Any

from rapidfuzz import process
from rapidfuzz.distance import OSA

from bot import countries
from bot.i18n import resolve_language

TABLE = Path(__file__).parent.parent / "tests" / "data" / "typed_countries.tsv"


def _rows() -> list[dict[str, str]]:
    with TABLE.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def run(rounds: int = 3) -> list[dict[str, Any]]:
    rows = _rows()
    countries._names.cache_clear()
    tracemalloc.start()
    started = time.perf_counter()
    countries.warm_up()
    build_seconds = time.perf_counter() - started
    index_mb = tracemalloc.get_traced_memory()[0] / 2**20
    tracemalloc.stop()
    asked = [(row["query"], resolve_language(None, row["language"], "en")) for row in rows]
    found = sum(
        row["expected"] in countries.search_countries(query, language)[:2]
        for row, (query, language) in zip(rows, asked, strict=True)
    )
    cpu = time.process_time()
    for _ in range(rounds):
        for query, language in asked:
            countries.search_countries(query, language)
    per_query = (time.process_time() - cpu) / (rounds * len(asked)) * 1000
    names = countries._names().every_name
    typos = [countries.fold(query) for query, _ in asked if len(countries.fold(query)) >= 4][:100]
    cpu = time.process_time()
    for typo in typos:
        process.extract(typo, names, scorer=OSA.distance, score_cutoff=2, limit=16)
    rapid = (time.process_time() - cpu) / len(typos) * 1000
    cpu = time.process_time()
    for typo in typos[:20]:
        difflib.get_close_matches(typo, names, n=16, cutoff=0.8)
    slow = (time.process_time() - cpu) / 20 * 1000
    return [
        {
            "queries": len(rows),
            "languages": len({row["language"] for row in rows}),
            "names_indexed": len(names),
            "index_build_s": round(build_seconds, 2),
            "index_mb": round(index_mb, 1),
            "top2_share": round(found / len(rows), 3),
            "cpu_ms_per_query": round(per_query, 3),
            "typo_step_rapidfuzz_ms": round(rapid, 2),
            "typo_step_difflib_ms": round(slow, 1),
        }
    ]
