"""Buckets in a time zone, across daylight-saving changes (Europe/Berlin: 2026-03-29 spring forward,
2026-10-25 fall back)."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from millimetric_protocol.errors import InvalidArguments
from millimetric_query.buckets import buckets
from millimetric_query.window import Window, resolve_window

UTC = timezone.utc


def window(start: str, end: str, tz: str) -> Window:
    return Window(datetime.fromisoformat(start), datetime.fromisoformat(end), tz)


def test_day_buckets_are_labelled_by_local_midnight_with_offset_across_fall_back() -> None:
    got = buckets(window("2026-10-24T00:00:00+00:00", "2026-10-27T00:00:00+00:00", "Europe/Berlin"), "day")
    assert [b.label for b in got] == [
        "2026-10-24T00:00:00+02:00", "2026-10-25T00:00:00+02:00", "2026-10-26T00:00:00+01:00", "2026-10-27T00:00:00+01:00",
    ]
    assert got[0].key == date(2026, 10, 24)


def test_repeated_hour_at_fall_back_is_two_buckets() -> None:
    got = buckets(window("2026-10-25T00:00:00+00:00", "2026-10-25T02:00:00+00:00", "Europe/Berlin"), "hour")
    assert [b.label for b in got] == ["2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00"]
    assert [b.key for b in got] == [datetime(2026, 10, 25, h, tzinfo=UTC) for h in (0, 1)]


def test_skipped_hour_at_spring_forward_has_no_bucket() -> None:
    got = buckets(window("2026-03-29T00:00:00+00:00", "2026-03-29T02:00:00+00:00", "Europe/Berlin"), "hour")
    assert [b.label for b in got] == ["2026-03-29T01:00:00+01:00", "2026-03-29T03:00:00+02:00"]


def test_half_hour_zones_align_hours_locally() -> None:
    got = buckets(window("2026-05-01T00:00:00+00:00", "2026-05-01T01:00:00+00:00", "Asia/Kolkata"), "hour")
    assert [b.label for b in got] == ["2026-05-01T05:00:00+05:30", "2026-05-01T06:00:00+05:30"]


def test_weeks_start_on_monday_and_months_on_the_first() -> None:
    w = window("2026-11-04T12:00:00+00:00", "2026-12-02T00:00:00+00:00", "UTC")
    assert [b.label[:10] for b in buckets(w, "week")] == ["2026-11-02", "2026-11-09", "2026-11-16", "2026-11-23", "2026-11-30"]
    assert [b.label[:10] for b in buckets(w, "month")] == ["2026-11-01", "2026-12-01"]


def test_too_many_buckets_is_an_argument_error() -> None:
    with pytest.raises(InvalidArguments):
        buckets(window("2025-01-01T00:00:00+00:00", "2026-01-01T00:00:00+00:00", "UTC"), "hour")


def test_default_window_is_seven_local_days_ending_today() -> None:
    now = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)  # still Nov 23 in New York
    w = resolve_window(None, None, "America/New_York", now=now)
    assert w.start == datetime(2026, 11, 17, 5, 0, tzinfo=UTC)
    assert w.end == datetime(2026, 11, 24, 5, 0, tzinfo=UTC)
    assert w.previous().end == w.start
