"""The demo traffic generator: deterministic, bounded, valid track_event arguments."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import msgspec
from millimetric.demodata import generate
from millimetric_protocol.methods import TrackEventArgs

NOW = datetime(2026, 11, 24, 12, tzinfo=timezone.utc)


def test_generates_exactly_the_requested_count_inside_the_window_deterministically() -> None:
    first = list(generate(days=10, events=500, domain="shop.test", seed=3, now=NOW))
    again = list(generate(days=10, events=500, domain="shop.test", seed=3, now=NOW))
    assert first == again and len(first) == 500
    stamps = [datetime.fromisoformat(e["timestamp"]) for e in first]
    assert all(NOW - timedelta(days=10) <= t < NOW for t in stamps)
    assert len({e["event_id"] for e in first}) == 500


def test_every_event_is_a_valid_track_event_call_and_visitors_return() -> None:
    events = list(generate(days=30, events=2000, domain="shop.test", now=NOW))
    for e in events:
        msgspec.convert(e, TrackEventArgs, strict=False)
    names = {e["event"] for e in events}
    assert {"page_view", "signup", "purchase"} <= names
    days_per_visitor: dict[str, set[str]] = {}
    for e in events:
        days_per_visitor.setdefault(e["anonymous_id"], set()).add(e["timestamp"][:10])
    assert any(len(days) > 1 for days in days_per_visitor.values())
