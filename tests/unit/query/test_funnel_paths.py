"""The per-visitor path search of the funnel, on crafted sequences."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from millimetric_query.methods.funnel import Ev, any_order_level, ordered_path
from millimetric_query.window import Window

T0 = datetime(2026, 5, 1, tzinfo=timezone.utc)
WINDOW = Window(T0, T0 + timedelta(days=1), "UTC")
DAY = timedelta(days=1)


def seq(*steps: int, minutes: int = 1) -> list[Ev]:
    """Events one minute apart; each number is the 1-based step it matches (0: matches none)."""
    return [Ev(T0 + timedelta(minutes=i * minutes), (1 << (s - 1)) if s else 0, True, None) for i, s in enumerate(steps)]


def test_ordered_allows_other_events_between_steps() -> None:
    assert len(ordered_path(seq(1, 0, 2, 0, 3), 3, WINDOW, DAY, strict=False)) == 3


def test_strict_stops_at_an_event_between_steps() -> None:
    assert len(ordered_path(seq(1, 0, 2, 3), 3, WINDOW, DAY, strict=True)) == 1
    assert len(ordered_path(seq(1, 2, 0, 3), 3, WINDOW, DAY, strict=True)) == 2


def test_a_later_start_can_reach_further() -> None:
    # first start at 0 gets step 2 only after the window; the start at minute 600 converts in time
    events = seq(1, minutes=600) + [Ev(T0 + timedelta(minutes=600), 1, True, None), Ev(T0 + timedelta(minutes=601), 2, True, None)]
    events.sort(key=lambda e: e.ts)
    path = ordered_path(events, 2, WINDOW, timedelta(hours=2), strict=False)
    assert len(path) == 2 and events[path[0]].ts == T0 + timedelta(minutes=600)


def test_step_after_the_conversion_window_does_not_count() -> None:
    assert len(ordered_path(seq(1, 2, minutes=120), 2, WINDOW, timedelta(hours=1), strict=False)) == 1


def test_starts_outside_the_window_or_failing_filters_are_ignored() -> None:
    late = [Ev(T0 + DAY, 1, True, None), Ev(T0 + DAY + timedelta(minutes=1), 2, True, None)]
    assert ordered_path(late, 2, WINDOW, DAY, strict=False) == []
    filtered = [Ev(T0, 1, False, None), Ev(T0 + timedelta(minutes=1), 2, True, None)]
    assert ordered_path(filtered, 2, WINDOW, DAY, strict=False) == []


def test_any_order_counts_steps_in_reverse() -> None:
    level, anchor = any_order_level(seq(3, 2, 1), 3, WINDOW, DAY)
    assert (level, anchor) == (3, 0)
    assert len(ordered_path(seq(3, 2, 1), 3, WINDOW, DAY, strict=False)) == 1


def test_any_order_needs_distinct_events_for_repeated_steps() -> None:
    both = Ev(T0, 0b11, True, None)  # one event matching step 1 and step 2
    assert any_order_level([both], 2, WINDOW, DAY) == (1, 0)
    assert any_order_level([both, Ev(T0 + timedelta(minutes=1), 0b01, True, None)], 2, WINDOW, DAY)[0] == 2
