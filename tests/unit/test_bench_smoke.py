"""The benchmark suite's pure parts: sizes, statistics, the RESULTS.md table writer, the wrk script
and the dataset generator. Nothing here starts a server (the suite itself is `make bench`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from bench.config import PRESETS, scale_for
from bench.dataset import ProjectSpec, _Attributions, rows_for, share_out
from bench.ingest_http import track_bodies
from bench.loadgen import VISITOR_MARK, lua_script
from bench.results import add_row
from bench.stats import fmt_ms, fmt_ratio, percentile, ratio


def test_percentile_interpolates_between_closest_ranks() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([5], 99) == 5
    assert percentile([3, 1, 2], 0) == 1 and percentile([3, 1, 2], 100) == 3
    assert percentile([], 50) != percentile([], 50)  # NaN


def test_ratio_and_formats_say_n_a_when_there_is_no_reference() -> None:
    assert ratio(5, 10) == 0.5
    assert fmt_ratio(ratio(5, 0)) == "n/a"
    assert fmt_ratio(0.5) == "0.50×" and fmt_ratio(0.0013) == "0.0013×"
    assert fmt_ms(0.0123) == "12.3 ms" and fmt_ms(1.5) == "1,500 ms"


def test_scale_takes_the_preset_then_environment_then_flags() -> None:
    assert scale_for("default", {}, {}) is PRESETS["default"]
    scale = scale_for("quick", {"reads_events": 1234, "drain_events": None}, {"BENCH_READS_EVENTS": "99", "BENCH_HTTP_RUNS": "4"})
    assert scale.reads_events == 1234 and scale.http_runs == 4 and scale.drain_events == PRESETS["quick"].drain_events


def test_scale_rejects_a_non_number() -> None:
    with pytest.raises(SystemExit, match="reads_events"):
        scale_for("quick", {}, {"BENCH_READS_EVENTS": "lots"})


def test_full_preset_is_the_issue_size() -> None:
    full = PRESETS["full"]
    assert full.reads_events == 10_000_000 and full.reads_projects == 100 and full.drain_events == 1_000_000
    assert int(full.reads_events * full.reads_big_share) == 3_000_000


def test_add_row_creates_a_section_then_appends_rows_to_its_table() -> None:
    text = add_row("", "drain", "What drain measures.", ["date", "ev/s"], ["d1", "100"])
    text = add_row(text, "peer", "", ["date", "ratio"], ["d1", "6×"])
    text = add_row(text, "drain", "ignored", ["date", "ev/s"], ["d2", "1|2"])
    lines = text.splitlines()
    assert lines[0] == "# Benchmark results"
    drain = lines.index("## drain")
    assert lines[drain + 2] == "What drain measures."
    assert lines[drain + 4: drain + 8] == ["| date | ev/s |", "|---|---|", "| d1 | 100 |", "| d2 | 1\\|2 |"]
    assert lines.index("## peer") > drain + 7
    assert text.count("What drain measures.") == 1


def test_add_row_starts_a_new_table_when_the_columns_change() -> None:
    text = add_row("", "reads", "", ["date", "a"], ["d1", "1"])
    text = add_row(text, "reads", "", ["date", "a", "b"], ["d2", "1", "2"])
    lines = text.splitlines()
    assert "| date | a | b |" in lines and "| d2 | 1 | 2 |" in lines
    assert lines.index("| date | a | b |") > lines.index("| d1 | 1 |")


def test_wrk_script_splits_bodies_at_the_visitor_mark_and_sets_headers() -> None:
    script = lua_script(['{"a":"' + VISITOR_MARK + '"}', "static ]=] body"], {"Authorization": "Bearer x"}, "accepted")
    assert '[=[{"a":"]=], [=["}]=], true' in script
    assert "[==[static ]=] body]==], [=[]=], false" in script
    assert "wrk.headers[ [=[Authorization]=] ] = [=[Bearer x]=]" in script
    assert 'wrk.method = "POST"' in script and "function done(" in script


def test_track_bodies_carry_no_event_id_and_a_visitor_mark() -> None:
    bodies = track_bodies("shop.example", count=20)
    assert len(bodies) == 20
    assert all(VISITOR_MARK in b and "event_id" not in b and "timestamp" not in b for b in bodies)


def test_dataset_rows_are_realistic_and_attributed_like_ingest() -> None:
    spec = ProjectSpec(uuid.uuid4(), "shop.example", 3000, seed=3)
    end = datetime(2026, 11, 24, tzinfo=UTC)
    rows = list(rows_for(spec, days=30, end=end, attributions=_Attributions()))
    assert len(rows) == 3000
    assert len({r.message.event_id for r in rows}) == 3000
    assert all(end - timedelta(days=30) <= r.message.timestamp < end for r in rows)
    names = {r.message.event for r in rows}
    assert {"page_view", "signup", "purchase"} <= names
    sources = {r.attribution.source for r in rows}
    assert {"google", "facebook", "(direct)"} <= sources
    # Internal navigation carries its visit's attribution, as the worker's session resolution does.
    internal = [r for r in rows if r.attribution.inherit]
    assert internal and any(r.attribution.source != "(direct)" for r in internal)


def test_parts_share_one_visitor_pool_and_split_evenly() -> None:
    big = ProjectSpec(uuid.uuid4(), "a.example", 600_001, seed=1)
    small = ProjectSpec(uuid.uuid4(), "b.example", 1000, seed=2)
    parts = big.parts()
    assert sum(p.events for p in parts) == 600_001 and len(parts) == 3
    assert len({(p.visitors, p.visitor_prefix) for p in parts}) == 1 and len({p.seed for p in parts}) == 3
    shares = share_out([big, small], 2)
    sizes = sorted(sum(p.events for p in s) for s in shares)
    assert sum(sizes) == 601_001 and sizes[1] - sizes[0] <= 200_001
