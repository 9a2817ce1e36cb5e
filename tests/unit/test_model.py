"""The reference model (tests/support/model.py) on tiny cases computed by hand from docs/analytics.md."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support import model

P1 = "11111111-1111-4111-8111-111111111111"
P2 = "22222222-2222-4222-8222-222222222222"
NOW = datetime(2026, 11, 24, 5, 56, tzinfo=UTC)
_ids = itertools.count(1)


def project(pid: str = P1, slug: str = "one", tz: str = "UTC") -> dict[str, Any]:
    return {"project_id": pid, "slug": slug, "name": slug.title(), "time_zone": tz, "created_at": NOW}


def ev(at: str, name: str = "page_view", anon: str | None = "a", user: str | None = None, pid: str = P1,
       source: str = "(direct)", medium: str = "(none)", campaign: str | None = None, channel: str = "Direct",
       event_id: str | None = None, **properties: Any) -> dict[str, Any]:
    return {"project_id": pid, "event_id": event_id or f"00000000-0000-4000-8000-{next(_ids):012d}",
            "timestamp": model.parse_instant(at), "event": name, "anonymous_id": anon, "user_id": user,
            "properties": properties, "source": source, "medium": medium, "campaign": campaign, "channel": channel}


def labels(start: str, end: str, tz: str, interval: str) -> list[str]:
    return [label for _, _, label in model.buckets(model.parse_instant(start), model.parse_instant(end), tz, interval)]


# --- buckets --------------------------------------------------------------------------------

def test_fall_back_repeats_the_local_hour_as_two_buckets_with_different_offsets() -> None:
    assert labels("2026-10-25T00:00:00+02:00", "2026-10-25T04:00:00+01:00", "Europe/Berlin", "hour") == [
        "2026-10-25T00:00:00+02:00", "2026-10-25T01:00:00+02:00", "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00", "2026-10-25T03:00:00+01:00",
    ]
    assert labels("2026-11-01T00:00:00-04:00", "2026-11-01T03:00:00-05:00", "America/New_York", "hour") == [
        "2026-11-01T00:00:00-04:00", "2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T02:00:00-05:00",
    ]


def test_spring_forward_skips_the_missing_local_hour() -> None:
    assert labels("2026-03-29T00:00:00+01:00", "2026-03-29T05:00:00+02:00", "Europe/Berlin", "hour") == [
        "2026-03-29T00:00:00+01:00", "2026-03-29T01:00:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-29T04:00:00+02:00",
    ]
    assert labels("2026-10-04T01:00:00+10:00", "2026-10-04T04:00:00+11:00", "Australia/Sydney", "hour") == [
        "2026-10-04T01:00:00+10:00", "2026-10-04T03:00:00+11:00",
    ]


def test_day_buckets_are_25_hours_when_clocks_go_back_and_23_when_they_go_forward() -> None:
    autumn = model.buckets(model.parse_instant("2026-10-25T00:00:00+02:00"), model.parse_instant("2026-10-26T00:00:00+01:00"),
                           "Europe/Berlin", "day")
    assert [(end - start, label) for start, end, label in autumn] == [(timedelta(hours=25), "2026-10-25T00:00:00+02:00")]
    spring = model.buckets(model.parse_instant("2026-03-29T12:00:00+02:00"), model.parse_instant("2026-03-30T00:00:00+02:00"),
                           "Europe/Berlin", "day")
    assert [(end - start, label) for start, end, label in spring] == [(timedelta(hours=23), "2026-03-29T00:00:00+01:00")]


def test_hour_buckets_of_a_half_hour_zone_start_at_half_past_utc() -> None:
    assert labels("2026-10-24T00:10:00Z", "2026-10-24T01:40:00Z", "Asia/Kolkata", "hour") == [
        "2026-10-24T05:00:00+05:30", "2026-10-24T06:00:00+05:30", "2026-10-24T07:00:00+05:30",
    ]


def test_weeks_start_on_monday_in_the_time_zone() -> None:
    # Wednesday 2026-10-28 → the week of Monday 2026-10-26; Monday 2026-11-02 starts the next one.
    assert labels("2026-10-28T12:00:00Z", "2026-11-02T00:30:00+01:00", "Europe/Berlin", "week") == [
        "2026-10-26T00:00:00+01:00", "2026-11-02T00:00:00+01:00",
    ]
    # The week of the Berlin change starts before it, with the summer offset.
    assert labels("2026-10-25T12:00:00Z", "2026-10-25T13:00:00Z", "Europe/Berlin", "week") == ["2026-10-19T00:00:00+02:00"]


def test_month_buckets_start_on_the_first_at_local_midnight() -> None:
    assert labels("2026-10-15T00:00:00Z", "2026-12-02T00:00:00Z", "Europe/Berlin", "month") == [
        "2026-10-01T00:00:00+02:00", "2026-11-01T00:00:00+01:00", "2026-12-01T00:00:00+01:00",
    ]
    assert labels("2026-12-31T23:30:00Z", "2027-01-01T00:30:00Z", "UTC", "month") == [
        "2026-12-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00",
    ]


def test_hourly_counts_split_the_repeated_hour_and_ignore_events_outside_the_window() -> None:
    events = [
        ev("2026-10-25T02:30:00+02:00"),                  # first 02:30 (00:30Z)
        ev("2026-10-25T02:30:00+01:00"),                  # second 02:30 (01:30Z)
        ev("2026-10-25T02:45:00+01:00"),
        ev("2026-10-25T01:59:59+02:00"),                  # before `from`, inside the first bucket: never counts
    ]
    result = model.get_stats(events, [project(tz="Europe/Berlin")],
                             {"from": "2026-10-25T02:00:01+02:00", "to": "2026-10-25T02:40:00+01:00", "interval": "hour"}, now=NOW)
    assert result["rows"] == [
        {"bucket": "2026-10-25T02:00:00+02:00", "count": 1},
        {"bucket": "2026-10-25T02:00:00+01:00", "count": 1},
    ]
    assert result["meta"]["from"] == "2026-10-25T00:00:01Z" and result["meta"]["to"] == "2026-10-25T01:40:00Z"


def test_day_buckets_follow_the_requested_time_zone_not_utc() -> None:
    events = [ev("2026-10-25T23:30:00Z"), ev("2026-10-26T00:30:00Z"), ev("2026-10-26T22:59:59Z")]
    args = {"from": "2026-10-25T00:00:00Z", "to": "2026-10-27T00:00:00Z", "interval": "day"}
    utc = model.get_stats(events, [project()], args, now=NOW)["rows"]
    berlin = model.get_stats(events, [project()], {**args, "timezone": "Europe/Berlin"}, now=NOW)["rows"]
    assert utc == [{"bucket": "2026-10-25T00:00:00+00:00", "count": 1}, {"bucket": "2026-10-26T00:00:00+00:00", "count": 2}]
    assert berlin == [{"bucket": "2026-10-25T00:00:00+02:00", "count": 0}, {"bucket": "2026-10-26T00:00:00+01:00", "count": 3},
                      {"bucket": "2026-10-27T00:00:00+01:00", "count": 0}]


# --- windows --------------------------------------------------------------------------------

def test_default_window_is_seven_local_days_ending_with_today() -> None:
    start, end = model.resolve_window({}, "Europe/Berlin", NOW)
    assert (model.format_utc(start), model.format_utc(end)) == ("2026-11-17T23:00:00Z", "2026-11-24T23:00:00Z")
    start, end = model.resolve_window({"to": "2026-11-01T12:00:00-05:00"}, "UTC", NOW)
    assert end - start == timedelta(days=7)
    start, end = model.resolve_window({"from": "2026-11-20T00:00:00Z"}, "UTC", NOW)
    assert end == NOW


def test_account_time_zone_is_the_common_zone_or_utc() -> None:
    berlin, ny = project(P1, "a", "Europe/Berlin"), project(P2, "b", "America/New_York")
    assert model.resolve_time_zone({}, [berlin]) == "Europe/Berlin"
    assert model.resolve_time_zone({}, [berlin, ny]) == "UTC"
    assert model.resolve_time_zone({"timezone": "Asia/Kolkata"}, [berlin, ny]) == "Asia/Kolkata"


# --- metrics, filters, groups ---------------------------------------------------------------

def test_uniques_count_visitors_per_project_and_users_ignore_events_without_one() -> None:
    events = [
        ev("2026-11-01T00:00:00Z", anon="x"), ev("2026-11-01T00:01:00Z", anon="x", user="u1"),
        ev("2026-11-01T00:02:00Z", anon=None, user="u1"),    # visitor u1 (no anonymous_id)
        ev("2026-11-01T00:03:00Z", anon="x", pid=P2),        # the same id in another project: another visitor
    ]
    assert model.metric_value(events, "count") == 4
    assert model.metric_value(events, "uniques") == 3
    assert model.metric_value(events, "users") == 1


def test_attribute_filters_are_case_folded_whitespace_collapsed_and_aliased() -> None:
    assert model.clean_filter("  Direct ") == "(direct)"
    assert model.clean_filter("NONE") == "(none)"
    assert model.clean_filter("not   Set") == "(not set)"
    assert model.clean_filter(" Black   FRIDAY ") == "black friday"


def test_property_filters_compare_numbers_numerically_but_not_booleans_or_strings() -> None:
    assert model.properties_match({"n": 1.0}, {"n": 1})
    assert model.properties_match({"n": 1}, {"n": 1.0})
    assert not model.properties_match({"n": True}, {"n": 1})
    assert not model.properties_match({"n": 1}, {"n": True})
    assert not model.properties_match({"n": "1"}, {"n": 1})
    assert not model.properties_match({}, {"n": 1})
    assert model.properties_match({"a": "x", "b": False}, {"a": "x", "b": False})


def test_property_groups_use_the_json_text_and_null_when_missing() -> None:
    props = {"s": "pro", "f": 1.5, "i": 20, "b": True, "l": [1, 2]}
    assert [model.text_form(props, k) for k in ("s", "f", "i", "b", "l", "missing")] == ["pro", "1.5", "20", "true", "[1, 2]", None]


def test_groups_order_by_value_then_code_point_with_null_last() -> None:
    events = [ev("2026-11-01T00:00:00Z", plan=p) for p in ("pro", "Team", "free")] + [ev("2026-11-01T00:00:00Z")]
    rows = model.get_stats(events, [project()], {"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z",
                                                 "group_by": "property:plan"}, now=NOW)["rows"]
    assert [r["property:plan"] for r in rows] == ["Team", "free", "pro", None]


def test_no_group_and_no_interval_is_one_row_even_when_nothing_matched() -> None:
    result = model.get_stats([], [project()], {"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z", "metric": "users"}, now=NOW)
    assert result["rows"] == [{"users": 0}]


# --- compare --------------------------------------------------------------------------------

def test_change_is_relative_and_null_when_previous_is_zero() -> None:
    assert model.change_of(3, 0) is None
    assert model.change_of(0, 0) is None
    assert model.change_of(3, 2) == 0.5
    assert model.change_of(0, 4) == -1.0


def test_compare_uses_the_period_of_the_same_length_before_from_and_lists_vanished_groups() -> None:
    events = [
        ev("2026-11-02T12:00:00Z", "signup"), ev("2026-11-02T13:00:00Z", "signup"), ev("2026-11-03T12:00:00Z", "signup"),
        ev("2026-11-01T12:00:00Z", "signup"), ev("2026-11-01T13:00:00Z", "refund"),   # previous period
        ev("2026-10-30T23:59:59Z", "refund"),                                          # before the previous period
    ]
    rows = model.get_stats(events, [project()], {"from": "2026-11-02T00:00:00Z", "to": "2026-11-04T00:00:00Z",
                                                 "group_by": "event", "compare": "previous_period"}, now=NOW)["rows"]
    assert rows == [
        {"event": "signup", "count": 3, "previous": 1, "change": 2.0},
        {"event": "refund", "count": 0, "previous": 1, "change": -1.0},
    ]


def test_compare_with_an_interval_pairs_buckets_by_position() -> None:
    events = [ev("2026-11-03T01:00:00Z"), ev("2026-11-01T05:00:00Z"), ev("2026-11-01T06:00:00Z")]
    rows = model.get_stats(events, [project()], {"from": "2026-11-02T00:00:00Z", "to": "2026-11-04T00:00:00Z",
                                                 "interval": "day", "compare": "previous_period"}, now=NOW)["rows"]
    assert rows == [
        {"bucket": "2026-11-02T00:00:00+00:00", "count": 0, "previous": 0, "change": None},   # ↔ Oct 31
        {"bucket": "2026-11-03T00:00:00+00:00", "count": 1, "previous": 2, "change": -0.5},   # ↔ Nov 1
    ]


# --- top_sources ----------------------------------------------------------------------------

def test_top_sources_share_is_of_all_filtered_events() -> None:
    events = [ev("2026-11-01T00:00:00Z", source="google", anon="a"), ev("2026-11-01T00:01:00Z", source="google", anon="a"),
              ev("2026-11-01T00:02:00Z", source="facebook", anon="b")]
    result = model.top_sources(events, [project()], {"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z", "limit": 1}, now=NOW)
    assert result["rows"] == [{"source": "google", "events": 2, "uniques": 1, "share": 2 / 3}]
    assert result["meta"]["truncated"] is True and result["meta"]["total_events"] == 3


# --- query_events ---------------------------------------------------------------------------

def test_query_events_orders_by_timestamp_then_event_id_descending() -> None:
    a = ev("2026-11-01T00:00:00Z", event_id="00000000-0000-4000-8000-00000000000a")
    b = ev("2026-11-01T00:00:00Z", event_id="00000000-0000-4000-8000-00000000000b")
    c = ev("2026-11-01T00:00:01Z", event_id="00000000-0000-4000-8000-000000000001")
    rows = model.query_events([a, b, c], [project()], {"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"}, now=NOW)["rows"]
    assert [r["event_id"][-1] for r in rows] == ["1", "b", "a"]
    assert rows[0]["timestamp"] == "2026-11-01T00:00:01Z" and "project_id" not in rows[0]


# --- funnels --------------------------------------------------------------------------------

FUNNEL_WINDOW = {"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"}


def visitors(rows: list[dict[str, Any]]) -> list[int]:
    return [r["visitors"] for r in rows]


def crafted() -> list[dict[str, Any]]:
    return [
        # v1: A, X, B, C — another event between A and B
        ev("2026-11-01T10:00:00Z", "A", anon="v1"), ev("2026-11-01T10:01:00Z", "X", anon="v1"),
        ev("2026-11-01T10:02:00Z", "B", anon="v1"), ev("2026-11-01T10:03:00Z", "C", anon="v1"),
        # v2: B, A, C — B before A
        ev("2026-11-01T11:00:00Z", "B", anon="v2"), ev("2026-11-01T11:01:00Z", "A", anon="v2"),
        ev("2026-11-01T11:02:00Z", "C", anon="v2"),
        # v3: A, B, C back to back
        ev("2026-11-01T12:00:00Z", "A", anon="v3"), ev("2026-11-01T12:00:10Z", "B", anon="v3"),
        ev("2026-11-01T12:00:40Z", "C", anon="v3"),
    ]


@pytest.mark.parametrize(("order", "expected"), [("ordered", [3, 2, 2]), ("strict", [3, 1, 1]), ("any", [3, 3, 3])])
def test_funnel_orders_on_a_crafted_sequence(order: str, expected: list[int]) -> None:
    rows = model.funnel(crafted(), [project()], {**FUNNEL_WINDOW, "steps": ["A", "B", "C"], "order": order}, now=NOW)["rows"]
    assert visitors(rows) == expected


def test_funnel_rows_carry_conversions_dropoff_and_medians() -> None:
    rows = model.funnel(crafted(), [project()], {**FUNNEL_WINDOW, "steps": ["A", "B", "C"]}, now=NOW)["rows"]
    assert rows == [
        {"step": 1, "event": "A", "visitors": 3, "conversion_from_previous": None, "conversion_from_start": 1.0,
         "dropoff": 0, "median_seconds_from_previous": None},
        {"step": 2, "event": "B", "visitors": 2, "conversion_from_previous": 2 / 3, "conversion_from_start": 2 / 3,
         "dropoff": 1, "median_seconds_from_previous": 65.0},   # v1 120 s, v3 10 s: an even count → the mean of the two
        {"step": 3, "event": "C", "visitors": 2, "conversion_from_previous": 1.0, "conversion_from_start": 2 / 3,
         "dropoff": 0, "median_seconds_from_previous": 45.0},   # v1 60 s, v3 30 s
    ]
    any_rows = model.funnel(crafted(), [project()], {**FUNNEL_WINDOW, "steps": ["A", "B", "C"], "order": "any"}, now=NOW)["rows"]
    assert all(r["median_seconds_from_previous"] is None for r in any_rows)


def test_funnel_median_of_an_odd_count_is_the_middle_value() -> None:
    events = []
    for i, gap in enumerate((10, 50, 30)):
        events += [ev("2026-11-01T10:00:00Z", "A", anon=f"w{i}"), ev(f"2026-11-01T10:00:{gap:02d}Z", "B", anon=f"w{i}")]
    rows = model.funnel(events, [project()], {**FUNNEL_WINDOW, "steps": ["A", "B"]}, now=NOW)["rows"]
    assert rows[1]["median_seconds_from_previous"] == 30


def test_funnel_window_end_is_inclusive_and_only_the_first_step_must_be_in_from_to() -> None:
    events = [ev("2026-11-01T23:00:00Z", "A", anon="v"), ev("2026-11-01T23:30:00Z", "B", anon="v"),   # B exactly at first + 30m
              ev("2026-11-02T00:00:01Z", "C", anon="v")]                                                   # C after `to`, too late
    args = {**FUNNEL_WINDOW, "steps": ["A", "B", "C"], "window": "30m"}
    assert visitors(model.funnel(events, [project()], args, now=NOW)["rows"]) == [1, 1, 0]
    args["window"] = "2h"
    assert visitors(model.funnel(events, [project()], args, now=NOW)["rows"]) == [1, 1, 1]


def test_funnel_ties_on_timestamp_follow_event_id() -> None:
    b = ev("2026-11-01T10:00:00Z", "B", anon="v", event_id="00000000-0000-4000-8000-00000000000a")
    a = ev("2026-11-01T10:00:00Z", "A", anon="v", event_id="00000000-0000-4000-8000-00000000000b", source="facebook")
    args = {**FUNNEL_WINDOW, "steps": ["A", "B"]}
    assert visitors(model.funnel([a, b], [project()], args, now=NOW)["rows"]) == [1, 0]   # B's id sorts first: B is before A
    # In `any` order the earliest matched event (B, by event_id) must pass the filters: with source=facebook it does not.
    assert visitors(model.funnel([a, b], [project()], {**args, "order": "any"}, now=NOW)["rows"]) == [1, 1]
    assert visitors(model.funnel([a, b], [project()], {**args, "order": "any", "source": "facebook"}, now=NOW)["rows"]) == [1, 0]


def test_funnel_path_is_the_start_reaching_most_steps_and_groups_by_its_first_event() -> None:
    events = [
        ev("2026-11-01T01:00:00Z", "A", anon="v", source="google"),       # reaches only A (B is 2 days later)
        ev("2026-11-01T20:00:00Z", "A", anon="v", source="facebook"),     # reaches A, B
        ev("2026-11-02T19:00:00Z", "B", anon="v"),
        ev("2026-11-01T02:00:00Z", "A", anon="w", source="google"),
    ]
    args = {**FUNNEL_WINDOW, "steps": ["A", "B"], "window": "1d", "group_by": "source"}
    rows = model.funnel(events, [project()], args, now=NOW)["rows"]
    assert [(r["source"], r["step"], r["visitors"]) for r in rows] == [
        ("facebook", 1, 1), ("facebook", 2, 1), ("google", 1, 1), ("google", 2, 0),   # tie on step-1 visitors → source ascending
    ]


def test_funnel_filters_apply_to_the_first_event_only() -> None:
    events = [ev("2026-11-01T10:00:00Z", "A", anon="v", plan="pro"), ev("2026-11-01T10:01:00Z", "B", anon="v", plan="free")]
    args = {**FUNNEL_WINDOW, "steps": ["A", "B"], "properties": {"plan": "pro"}}
    assert visitors(model.funnel(events, [project()], args, now=NOW)["rows"]) == [1, 1]


def test_funnel_property_steps_need_equal_properties_and_distinct_events() -> None:
    events = [ev("2026-11-01T10:00:00Z", "A", anon="v", price=20.0)]
    steps: list[Any] = [{"event": "A", "properties": {"price": 20}}, "A"]
    assert visitors(model.funnel(events, [project()], {**FUNNEL_WINDOW, "steps": steps}, now=NOW)["rows"]) == [1, 0]
    assert visitors(model.funnel(events, [project()], {**FUNNEL_WINDOW, "steps": steps, "order": "any"}, now=NOW)["rows"]) == [1, 0]


def test_funnel_over_two_projects_counts_the_same_id_twice() -> None:
    events = [ev("2026-11-01T10:00:00Z", "A", anon="v"), ev("2026-11-01T10:00:00Z", "A", anon="v", pid=P2)]
    projects = [project(), project(P2, "two")]
    assert visitors(model.funnel(events, projects, {**FUNNEL_WINDOW, "steps": ["A", "B"]}, now=NOW)["rows"]) == [2, 0]


# --- compare_projects / list_projects / resources ------------------------------------------

def test_compare_projects_ranks_by_value_then_slug_and_keeps_empty_projects() -> None:
    events = [ev("2026-11-01T10:00:00Z", pid=P2), ev("2026-11-01T10:00:00Z", pid=P2)]
    projects = [project(P1, "zeta"), project(P2, "alpha"), project("33333333-3333-4333-8333-333333333333", "beta")]
    rows = model.compare_projects(events, projects, {"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"}, now=NOW)["rows"]
    assert [(r["slug"], r["value"], r["rank"]) for r in rows] == [("alpha", 2, 1), ("beta", 0, 2), ("zeta", 0, 3)]


def test_recent_events_are_the_hundred_newest_with_project_columns_over_several_projects() -> None:
    events = [ev(f"2026-11-01T10:{i // 60:02d}:{i % 60:02d}Z", pid=P1 if i % 2 else P2) for i in range(150)]
    rows = model.events_recent(events, [project(), project(P2, "two")])
    assert len(rows) == 100 and rows[0]["timestamp"] == "2026-11-01T10:02:29Z" and list(rows[0])[:2] == ["project_id", "slug"]


def test_schema_counts_names_of_the_last_30_days_and_their_common_keys() -> None:
    events = [ev("2026-11-20T00:00:00Z", "A", plan="pro", n=1), ev("2026-11-21T00:00:00Z", "A", plan="free"),
              ev("2026-10-01T00:00:00Z", "B", plan="pro")]
    rows = model.events_schema(events, [project()], now=NOW)
    assert [(r["event"], r["events"], r["last_seen"], [(p["key"], p["seen"]) for p in r["properties"]]) for r in rows] == [
        ("A", 2, "2026-11-21T00:00:00Z", [("plan", 2), ("n", 1)]),
    ]
