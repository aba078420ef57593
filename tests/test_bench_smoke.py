"""The benchmarks still run against the current bot (tiny sizes; figures are never asserted).

`python -m bench` drives the real application through seams of its own (an in-process
transport, the bot in a child process, the broadcast sender on storage); when bot/ or storage/
change shape, these catch it here rather than on the next benchmark day.
"""

from __future__ import annotations

from bench import broadcast_bench, floor, journeys, limits, report, storage_bench


async def test_floor_runs_our_journeys_and_the_ptb_floors() -> None:
    result = await floor.run(3)
    assert result["ours"]["updates"] == 3 * 7
    assert result["ratio_vs_same_calls"] > 0


async def test_journeys_through_the_fake_server_in_its_own_process() -> None:
    row = await journeys.run(3, latency=0.0)
    assert row["completed"] == 3
    assert row["bot_cpu_ms_per_journey"] > 0


async def test_limits_scenarios_polling_webhook_flood_and_broadcast() -> None:
    rows = await limits.run(4, 3, 30, latency=0.0)
    assert [row["completed"] for row in rows] == [4, 4, 4, 3, 3]
    assert rows[1]["flooded_chats"] == 1  # one chat in 50: the first
    assert rows[-1]["recipient_sends_per_second"] > 0  # the broadcast was sending meanwhile
    assert {row["status"] for row in report.limit_verdicts(rows)} <= {"MET", "MISSED"}


async def test_storage_bench_at_a_tiny_size() -> None:
    rows = await storage_bench.run([200], None, sign_sample=40)
    assert rows[0]["signatures"] == 200


async def test_broadcast_scale_sends_each_recipient_once() -> None:
    row = await broadcast_bench.run_scale(300)
    assert row["sent"] == 300
    assert row["duplicate_sends"] == 0


def test_report_renders_every_section_and_the_readme() -> None:
    benchmarks = {
        "journeys": {
            "rows": [
                {
                    "backend": "sqlite",
                    "supporters": 10,
                    "arrival_rate": None,
                    "journeys_per_second": 5.0,
                    "step_p50_ms_above_floor": 1.0,
                    "step_p99_ms_above_floor": 2.0,
                    "bot_cpu_ms_per_journey": 3.0,
                }
            ]
        },
        "memory": {"error": "RuntimeError('x')"},
    }
    rows = report.verdicts(benchmarks)
    assert {row["status"] for row in rows} >= {"MET", "MISSED", "NOT RUN"}
    text = report.readme_section({"mode": "quick", "benchmarks": benchmarks}, rows)
    assert "## Performance" in text
    assert "FAILED" in report.section("memory", benchmarks["memory"])


def test_country_search_bench_runs_on_the_typed_table() -> None:
    from bench import countries_bench

    (row,) = countries_bench.run(rounds=1)
    assert row["queries"] >= 800 and row["top2_share"] >= 0.95
