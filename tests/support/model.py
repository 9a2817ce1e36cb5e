"""The reference model: every definition of docs/analytics.md again, in plain Python.

Independent of the query service on purpose (written from the document only, never from
services/query): property-based tests run the same random arguments through the real tools and
through these functions and compare the whole answers.

Inputs are plain data:

- an *event* is a dict with ``project_id`` (str), ``event_id`` (str, lowercase UUID), ``timestamp``
  (aware ``datetime`` in UTC), ``event``, ``anonymous_id``, ``user_id`` (str or None),
  ``properties`` (dict) and its stored attribution ``source``, ``medium``, ``campaign``,
  ``channel``;
- a *project* is a dict with ``project_id``, ``slug``, ``name``, ``time_zone``, ``created_at``
  (aware ``datetime``).

Each read takes every event known (of every project; the model itself keeps only the selected
projects' events, so isolation holds by construction), the projects the key can see (one project on
the project endpoint, the account's projects on the account endpoint), the tool's arguments exactly
as sent to the tool, and ``now``. It returns ``{"rows": [...], "meta": {...}}`` with the meta fields
the definitions fix (``from``, ``to``, ``timezone``, ``truncated``, …).

Pure functions only: no I/O, no clock (``now`` is an argument).

Readings chosen where docs/analytics.md leaves room (each is repeated where it is implemented):

- default window: ``[local midnight 6 days before today, local midnight tomorrow)``;
  only ``to``: ``[to - 7×24 h, to)``;
- bucket labels in UTC read ``+00:00`` (the label is "the local start with its UTC offset");
- the previous period's bucket list may be shorter than the current one (months, DST): a position
  with no previous bucket has ``previous`` 0;
- ``any`` funnels count a visitor in every step up to the longest prefix of steps reachable from
  one anchor (so steps are monotone), see ``_any_reach``.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

Event = Mapping[str, Any]
Project = Mapping[str, Any]
Row = dict[str, Any]

DEFAULT_WINDOW_DAYS: Final = 7
MAX_GROUP_ROWS: Final = 1000
MAX_BUCKETS: Final = 2000
RECENT_EVENTS: Final = 100
SCHEMA_DAYS: Final = 30
SCHEMA_MAX_NAMES: Final = 200
SCHEMA_MAX_KEYS: Final = 10
ATTRIBUTE_FIELDS: Final = ("event", "source", "medium", "campaign", "channel")
_WINDOW_UNIT_S: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_MISSING: Final = object()


class ModelError(ValueError):
    """An argument the definitions refuse (the tool must refuse it too)."""


# --- small helpers --------------------------------------------------------------------------

def parse_instant(text: str) -> datetime:
    """ISO 8601 with an offset ('Z' allowed) → aware datetime in UTC."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ModelError(f"{text!r} has no offset")
    return value.astimezone(UTC)


def format_utc(instant: datetime) -> str:
    """'2026-05-01T10:00:00Z' (microseconds only when there are any)."""
    instant = instant.astimezone(UTC)
    spec = "microseconds" if instant.microsecond else "seconds"
    return instant.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def visitor_of(event: Event) -> str:
    """The anonymous_id, or the user_id when there is no anonymous_id."""
    return event["anonymous_id"] if event["anonymous_id"] is not None else event["user_id"]


def text_form(properties: Mapping[str, Any], key: str) -> str | None:
    """A property's group value: strings as they are, everything else as JSON text; missing → None."""
    value = properties.get(key, _MISSING)
    if value is _MISSING or value is None:
        # NOTE: a JSON null property has no text either (the data generator never sends one).
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def value_matches(actual: Any, wanted: Any) -> bool:
    """Property equality: numbers numerically (1 matches 1.0), booleans and strings exactly."""
    if isinstance(wanted, bool) or isinstance(actual, bool):
        return isinstance(wanted, bool) and isinstance(actual, bool) and actual == wanted
    if isinstance(wanted, int | float):
        return isinstance(actual, int | float) and actual == wanted
    if isinstance(wanted, str):
        return isinstance(actual, str) and actual == wanted
    return False


def properties_match(properties: Mapping[str, Any], wanted: Mapping[str, Any] | None) -> bool:
    return all(key in properties and value_matches(properties[key], value) for key, value in (wanted or {}).items())


def clean_filter(text: str) -> str:
    """A source/medium/campaign filter as compared with the stored values."""
    folded = " ".join(text.casefold().split())
    return {"direct": "(direct)", "none": "(none)", "not set": "(not set)"}.get(folded, folded)


def parse_window_s(text: str) -> int:
    match = re.fullmatch(r"([1-9][0-9]{0,6})([smhdw])", text)
    if not match:
        raise ModelError(f"window {text!r}")
    seconds = int(match.group(1)) * _WINDOW_UNIT_S[match.group(2)]
    if seconds > 90 * 86400:
        raise ModelError("window over 90 days")
    return seconds


def ascending_key(value: Any) -> tuple[int, Any]:
    """Ascending by code point, null last."""
    return (1, "") if value is None else (0, value)


def _ratio(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else numerator / denominator


def change_of(value: int, previous: int) -> float | None:
    """(value − previous) / previous, or None when previous is 0."""
    return None if previous == 0 else (value - previous) / previous


# --- scope: projects and time zone -----------------------------------------------------------

def select_projects(visible: Sequence[Project], args: Mapping[str, Any]) -> list[Project]:
    """The account endpoint's selection (the project endpoint passes its one project)."""
    if args.get("project_id") is not None:
        chosen = [p for p in visible if p["project_id"] == str(args["project_id"])]
        if not chosen:
            raise ModelError("unknown_project_id")
        return chosen
    if args.get("project_slug") is not None:
        chosen = [p for p in visible if p["slug"] == args["project_slug"]]
        if not chosen:
            raise ModelError("unknown_project_slug")
        return chosen
    if args.get("project_ids") is not None:
        wanted = [str(x) for x in args["project_ids"]]
        by_id = {p["project_id"]: p for p in visible}
        if any(x not in by_id for x in wanted):
            raise ModelError("unknown_project_id")
        return [p for p in visible if p["project_id"] in set(wanted)]
    return list(visible)


def resolve_time_zone(args: Mapping[str, Any], selected: Sequence[Project]) -> str:
    """The `timezone` argument, else the projects' common zone, else UTC."""
    if args.get("timezone"):
        return str(args["timezone"])
    zones = {p["time_zone"] for p in selected}
    return zones.pop() if len(zones) == 1 else "UTC"


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def resolve_window(args: Mapping[str, Any], tz_name: str, now: datetime) -> tuple[datetime, datetime]:
    """[from, to) in UTC.

    Default: the 7 local calendar days ending with today → [midnight of today − 6, midnight of
    tomorrow). Only `from`: up to `now`. Only `to`: the 7 days (7 × 24 h) before it.
    """
    start = parse_instant(args["from"]) if args.get("from") else None
    end = parse_instant(args["to"]) if args.get("to") else None
    if start is None and end is None:
        tz = ZoneInfo(tz_name)
        today = now.astimezone(tz).date()
        start = local_midnight(today - timedelta(days=DEFAULT_WINDOW_DAYS - 1), tz)
        end = local_midnight(today + timedelta(days=1), tz)
    elif end is None:
        end = now
    elif start is None:
        start = end - timedelta(days=DEFAULT_WINDOW_DAYS)
    assert start is not None and end is not None
    if start >= end:
        raise ModelError("from must be before to")
    return start, end


def window_meta(start: datetime, end: datetime, tz_name: str) -> dict[str, Any]:
    return {"from": format_utc(start), "to": format_utc(end), "timezone": tz_name}


# --- filters ---------------------------------------------------------------------------------

def passes_filters(event: Event, args: Mapping[str, Any], *, with_event: bool = True, with_ids: bool = False) -> bool:
    """Every filter of the read tools, ANDed. `with_event` False for funnels (which refuse it);
    `with_ids` True for query_events (anonymous_id, user_id)."""
    if with_event and args.get("event") is not None and event["event"] != args["event"]:
        return False
    for name in ("source", "medium", "campaign"):
        if args.get(name) is not None and event[name] != clean_filter(args[name]):
            return False
    if with_ids:
        for name in ("anonymous_id", "user_id"):
            if args.get(name) is not None and event[name] != args[name]:
                return False
    return properties_match(event["properties"], args.get("properties"))


def in_window(event: Event, start: datetime, end: datetime) -> bool:
    return start <= event["timestamp"] < end


def scoped_events(events: Iterable[Event], selected: Sequence[Project]) -> list[Event]:
    ids = {p["project_id"] for p in selected}
    return [e for e in events if e["project_id"] in ids]


# --- metrics ---------------------------------------------------------------------------------

def metric_value(events: Iterable[Event], metric: str) -> int:
    """count: events; uniques: distinct visitors; users: distinct user_id — visitor and user
    identity are per project, so over several projects they are sums over projects."""
    if metric == "count":
        return sum(1 for _ in events)
    if metric == "uniques":
        return len({(e["project_id"], visitor_of(e)) for e in events})
    if metric == "users":
        return len({(e["project_id"], e["user_id"]) for e in events if e["user_id"] is not None})
    raise ModelError(f"metric {metric!r}")


# --- buckets ---------------------------------------------------------------------------------

def bucket_start(instant: datetime, tz: ZoneInfo, interval: str) -> datetime:
    """The UTC start of the local bucket holding `instant`.

    Hour: the local wall-clock hour, keeping the fold, so the repeated hour when clocks go back is
    two buckets (different offsets) and a skipped hour has none. Day/week/month: local midnight of
    the day / the Monday / the 1st.
    """
    local = instant.astimezone(tz)
    if interval == "hour":
        start = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        assert start <= instant and start.astimezone(tz).minute == 0, "zone changes offset inside an hour"
        return start
    day = local.date()
    if interval == "week":
        day -= timedelta(days=day.weekday())
    elif interval == "month":
        day = day.replace(day=1)
    elif interval != "day":
        raise ModelError(f"interval {interval!r}")
    return local_midnight(day, tz)


def next_bucket(start: datetime, tz: ZoneInfo, interval: str) -> datetime:
    if interval == "hour":
        return start + timedelta(hours=1)
    day = start.astimezone(tz).date()
    if interval == "day":
        day += timedelta(days=1)
    elif interval == "week":
        day += timedelta(days=7)
    else:
        day = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    return local_midnight(day, tz)


def bucket_label(start: datetime, tz: ZoneInfo) -> str:
    """Local start with its UTC offset: '2026-10-25T00:00:00+02:00' (UTC reads '+00:00')."""
    return start.astimezone(tz).isoformat(timespec="seconds")


def buckets(start: datetime, end: datetime, tz_name: str, interval: str) -> list[tuple[datetime, datetime, str]]:
    """Every bucket overlapping [start, end), in order: (utc_start, utc_end, label)."""
    tz = ZoneInfo(tz_name)
    out = []
    b = bucket_start(start, tz, interval)
    while b < end:
        n = next_bucket(b, tz, interval)
        assert n > b
        out.append((b, n, bucket_label(b, tz)))
        b = n
        if len(out) > MAX_BUCKETS:
            raise ModelError("more than 2000 buckets")
    return out


def _bucket_index(items: Sequence[tuple[datetime, datetime, str]]) -> Callable[[datetime], int]:
    starts = [b[0] for b in items]

    def index(instant: datetime) -> int:
        lo, hi = 0, len(starts)
        while lo < hi:
            mid = (lo + hi) // 2
            if starts[mid] <= instant:
                lo = mid + 1
            else:
                hi = mid
        return lo - 1

    return index


# --- query_events / events://recent ---------------------------------------------------------

def event_row(event: Event, slugs: Mapping[str, str] | None) -> Row:
    """A query_events row; `slugs` given (project_id → slug) when several projects are selected."""
    row: Row = {}
    if slugs is not None:
        row["project_id"] = event["project_id"]
        row["slug"] = slugs[event["project_id"]]
    row.update({
        "event_id": event["event_id"], "timestamp": format_utc(event["timestamp"]), "event": event["event"],
        "anonymous_id": event["anonymous_id"], "user_id": event["user_id"], "source": event["source"],
        "medium": event["medium"], "campaign": event["campaign"], "properties": event["properties"],
    })
    return row


def newest_first(events: Iterable[Event]) -> list[Event]:
    """timestamp descending, then event_id descending (UUIDs compare as their lowercase hex)."""
    return sorted(events, key=lambda e: (e["timestamp"], e["event_id"]), reverse=True)


def query_events(events: Sequence[Event], visible: Sequence[Project], args: Mapping[str, Any], *, now: datetime) -> dict[str, Any]:
    """Every matching row (all pages concatenated); meta without paging fields."""
    selected = select_projects(visible, args)
    tz_name = resolve_time_zone(args, selected)
    start, end = resolve_window(args, tz_name, now)
    chosen = [e for e in scoped_events(events, selected) if in_window(e, start, end) and passes_filters(e, args, with_ids=True)]
    slugs = {p["project_id"]: p["slug"] for p in selected} if len(selected) > 1 else None
    return {"rows": [event_row(e, slugs) for e in newest_first(chosen)], "meta": window_meta(start, end, tz_name)}


def events_recent(events: Sequence[Event], visible: Sequence[Project]) -> list[Row]:
    """The 100 newest events of every visible project (newest by timestamp, then event_id)."""
    slugs = {p["project_id"]: p["slug"] for p in visible} if len(visible) > 1 else None
    return [event_row(e, slugs) for e in newest_first(scoped_events(events, visible))[:RECENT_EVENTS]]


# --- get_stats -------------------------------------------------------------------------------

def parse_group_by(text: str | None, *, account: bool) -> list[str]:
    if not text:
        return []
    parts = [p.strip() for p in text.split(",")]
    allowed = (*ATTRIBUTE_FIELDS, "project_id") if account else ATTRIBUTE_FIELDS
    if len(parts) > 3 or len(set(parts)) != len(parts):
        raise ModelError("group_by")
    for part in parts:
        if not (part in allowed or (part.startswith("property:") and len(part) > len("property:"))):
            raise ModelError(f"group_by {part!r}")
    return parts


def group_value(event: Event, name: str) -> str | None:
    if name.startswith("property:"):
        return text_form(event["properties"], name[len("property:"):])
    return event[name]


def _group_columns(key: tuple[Any, ...], names: Sequence[str], slugs: Mapping[str, str]) -> Row:
    row: Row = dict(zip(names, key, strict=True))
    if "project_id" in names:
        row["slug"] = slugs[row["project_id"]]
    return row


def get_stats(events: Sequence[Event], visible: Sequence[Project], args: Mapping[str, Any], *, now: datetime,
              account: bool = False) -> dict[str, Any]:
    selected = select_projects(visible, args)
    tz_name = resolve_time_zone(args, selected)
    start, end = resolve_window(args, tz_name, now)
    metric = args.get("metric", "count")
    names = parse_group_by(args.get("group_by"), account=account)
    interval = args.get("interval")
    compare = args.get("compare") == "previous_period"
    slugs = {p["project_id"]: p["slug"] for p in selected}
    previous_start, previous_end = start - (end - start), start

    mine = [e for e in scoped_events(events, selected) if passes_filters(e, args)]
    current = [e for e in mine if in_window(e, start, end)]
    previous = [e for e in mine if in_window(e, previous_start, previous_end)] if compare else []

    def key_of(event: Event) -> tuple[Any, ...]:
        return tuple(group_value(event, n) for n in names)

    groups = {key_of(e) for e in current} | {key_of(e) for e in previous}
    if not names:
        groups = {()}

    def by_group(chosen: Iterable[Event]) -> dict[tuple[Any, ...], list[Event]]:
        out: dict[tuple[Any, ...], list[Event]] = defaultdict(list)
        for e in chosen:
            out[key_of(e)].append(e)
        return out

    def columns_sort_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(ascending_key(v) for v in key)

    rows: list[Row] = []
    truncated = False
    if interval is None:
        cur, prev = by_group(current), by_group(previous)
        for key in groups:
            row = _group_columns(key, names, slugs)
            value = metric_value(cur.get(key, []), metric)
            row[metric] = value
            if compare:
                before = metric_value(prev.get(key, []), metric)
                row["previous"] = before
                row["change"] = change_of(value, before)
            rows.append(row)
        rows.sort(key=lambda r: (-r[metric], columns_sort_key(tuple(r[n] for n in names))))
        if len(rows) > MAX_GROUP_ROWS:
            rows, truncated = rows[:MAX_GROUP_ROWS], True
    else:
        current_buckets = buckets(start, end, tz_name, interval)
        previous_buckets = buckets(previous_start, previous_end, tz_name, interval) if compare else []
        cur_index, prev_index = _bucket_index(current_buckets), _bucket_index(previous_buckets)
        cur: dict[tuple[Any, ...], list[Event]] = defaultdict(list)
        for e in current:
            cur[(cur_index(e["timestamp"]), key_of(e))].append(e)
        prev: dict[tuple[Any, ...], list[Event]] = defaultdict(list)
        for e in previous:
            prev[(prev_index(e["timestamp"]), key_of(e))].append(e)
        for position, (_, _, label) in enumerate(current_buckets):
            for key in sorted(groups, key=columns_sort_key):
                row = {"bucket": label, **_group_columns(key, names, slugs)}
                value = metric_value(cur.get((position, key), []), metric)
                row[metric] = value
                if compare:
                    # NOTE: no bucket at this position in the previous period → previous 0.
                    before = metric_value(prev.get((position, key), []), metric)
                    row["previous"] = before
                    row["change"] = change_of(value, before)
                rows.append(row)
    meta = {**window_meta(start, end, tz_name), "truncated": truncated}
    return {"rows": rows, "meta": meta}


# --- top_sources -----------------------------------------------------------------------------

def top_sources(events: Sequence[Event], visible: Sequence[Project], args: Mapping[str, Any], *, now: datetime) -> dict[str, Any]:
    selected = select_projects(visible, args)
    tz_name = resolve_time_zone(args, selected)
    start, end = resolve_window(args, tz_name, now)
    with_medium = args.get("breakdown", "source") == "source_medium"
    limit = args.get("limit", 20)
    chosen = [e for e in scoped_events(events, selected) if in_window(e, start, end) and passes_filters(e, args)]
    total = len(chosen)
    groups: dict[tuple[Any, ...], list[Event]] = defaultdict(list)
    for e in chosen:
        groups[(e["source"], e["medium"]) if with_medium else (e["source"],)].append(e)
    rows = []
    for key, members in groups.items():
        row: Row = {"source": key[0]}
        if with_medium:
            row["medium"] = key[1]
        row.update({"events": len(members), "uniques": metric_value(members, "uniques"), "share": len(members) / total})
        rows.append(row)
    rows.sort(key=lambda r: (-r["events"], ascending_key(r["source"]), ascending_key(r.get("medium"))))
    meta = {**window_meta(start, end, tz_name), "truncated": len(rows) > limit, "total_events": total}
    return {"rows": rows[:limit], "meta": meta}


# --- funnel ----------------------------------------------------------------------------------

def normalize_steps(steps: Sequence[Any]) -> list[dict[str, Any]]:
    out = [{"event": s, "properties": None} if isinstance(s, str) else {"event": s["event"], "properties": s.get("properties")}
           for s in steps]
    if not 2 <= len(out) <= 10:
        raise ModelError("2 to 10 steps")
    return out


def step_matches(step: Mapping[str, Any], event: Event) -> bool:
    return event["event"] == step["event"] and properties_match(event["properties"], step["properties"])


def _ordered_path(evs: Sequence[Event], steps: Sequence[Mapping[str, Any]], window: timedelta, strict: bool,
                  is_start: Callable[[Event], bool]) -> list[int]:
    """The visitor's path (indices into `evs`, sorted by (timestamp, event_id)): the candidate start
    reaching the most steps, the earliest on ties; [] when there is no candidate start."""
    best: list[int] = []
    for i, first in enumerate(evs):
        if not (step_matches(steps[0], first) and is_start(first)):
            continue
        limit = first["timestamp"] + window
        path = [i]
        for step in steps[1:]:
            last = path[-1]
            found = None
            if strict:
                nxt = last + 1
                if nxt < len(evs) and evs[nxt]["timestamp"] <= limit and step_matches(step, evs[nxt]):
                    found = nxt
            else:
                for m in range(last + 1, len(evs)):
                    if evs[m]["timestamp"] > limit:
                        break
                    if step_matches(step, evs[m]):
                        found = m
                        break
            if found is None:
                break
            path.append(found)
        if len(path) > len(best):
            best = path
        if len(best) == len(steps):
            break
    return best


def _perfect_matching(steps: Sequence[int], candidates: Mapping[int, list[int]]) -> bool:
    """Can every step in `steps` get its own event (Kuhn's augmenting paths)?"""
    owner: dict[int, int] = {}

    def assign(step: int, seen: set[int]) -> bool:
        for ev in candidates[step]:
            if ev in seen:
                continue
            seen.add(ev)
            if ev not in owner or assign(owner[ev], seen):
                owner[ev] = step
                return True
        return False

    return all(assign(s, set()) for s in steps)


def _any_reach(evs: Sequence[Event], steps: Sequence[Mapping[str, Any]], window: timedelta,
               is_start: Callable[[Event], bool]) -> tuple[int, int | None]:
    """`any` order: (steps reached, index of the path's first event).

    An anchor is an event in [from, to) that passes the filters and matches some step; from it,
    steps 1..k are reached when distinct events, all in [anchor, anchor + window] (anchor earliest
    in (timestamp, event_id) order), match them and the anchor is one of them. The visitor reaches
    every step up to the largest such k over all anchors (reading chosen: a funnel's counts never
    grow from one step to the next); the path is the anchor reaching most, the earliest on ties.
    """
    matching = [[j for j, s in enumerate(steps) if step_matches(s, e)] for e in evs]
    best, best_anchor = 0, None
    for i, anchor in enumerate(evs):
        if not matching[i] or not is_start(anchor):
            continue
        limit = anchor["timestamp"] + window
        pool = [m for m in range(i + 1, len(evs)) if evs[m]["timestamp"] <= limit and matching[m]]
        for k in range(len(steps), best, -1):
            reached = False
            for j in matching[i]:
                if j >= k:
                    continue
                rest = [s for s in range(k) if s != j]
                candidates = {s: [m for m in pool if s in matching[m]] for s in rest}
                if _perfect_matching(rest, candidates):
                    reached = True
                    break
            if reached:
                best, best_anchor = k, i
                break
        if best == len(steps):
            break
    return best, best_anchor


def funnel(events: Sequence[Event], visible: Sequence[Project], args: Mapping[str, Any], *, now: datetime) -> dict[str, Any]:
    if args.get("event") is not None:
        raise ModelError("funnel refuses event")
    selected = select_projects(visible, args)
    tz_name = resolve_time_zone(args, selected)
    start, end = resolve_window(args, tz_name, now)
    steps = normalize_steps(args["steps"])
    window = timedelta(seconds=parse_window_s(args.get("window", "7d")))
    order = args.get("order", "ordered")
    group_by = args.get("group_by")
    if group_by not in (None, "source", "medium", "channel"):
        raise ModelError("funnel group_by")

    visitors: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for e in scoped_events(events, selected):
        visitors[(e["project_id"], visitor_of(e))].append(e)

    def is_start(e: Event) -> bool:
        return in_window(e, start, end) and passes_filters(e, args, with_event=False)

    # per group: reached count per visitor and gaps (seconds) per step
    reached_by_group: dict[Any, list[int]] = defaultdict(list)
    gaps_by_group: dict[Any, list[list[float]]] = defaultdict(lambda: [[] for _ in steps])
    for evs in visitors.values():
        evs.sort(key=lambda e: (e["timestamp"], e["event_id"]))
        if order == "any":
            reached, first = _any_reach(evs, steps, window, is_start)
            path_gaps: list[float] = []
        else:
            path = _ordered_path(evs, steps, window, order == "strict", is_start)
            reached, first = len(path), (path[0] if path else None)
            path_gaps = [(evs[b]["timestamp"] - evs[a]["timestamp"]).total_seconds() for a, b in zip(path, path[1:], strict=False)]
        if reached == 0 or first is None:
            continue
        key = evs[first][group_by] if group_by else None
        reached_by_group[key].append(reached)
        for k, gap in enumerate(path_gaps, start=1):
            gaps_by_group[key][k].append(gap)

    def step_rows(reached: list[int], gaps: list[list[float]]) -> list[Row]:
        counts = [sum(1 for r in reached if r >= k) for k in range(1, len(steps) + 1)]
        rows = []
        for k, step in enumerate(steps):
            visitors_k = counts[k]
            previous = counts[k - 1] if k else None
            median = None
            if k and order != "any" and gaps[k]:
                median = statistics.median(gaps[k])
            rows.append({
                "step": k + 1, "event": step["event"], "visitors": visitors_k,
                "conversion_from_previous": None if previous is None else _ratio(visitors_k, previous),
                "conversion_from_start": _ratio(visitors_k, counts[0]),
                "dropoff": 0 if previous is None else previous - visitors_k,
                "median_seconds_from_previous": median,
            })
        return rows

    rows: list[Row] = []
    if group_by is None:
        rows = step_rows(reached_by_group.get(None, []), gaps_by_group[None])
    else:
        ordered_groups = sorted(reached_by_group, key=lambda g: (-len(reached_by_group[g]), ascending_key(g)))
        for g in ordered_groups:
            for row in step_rows(reached_by_group[g], gaps_by_group[g]):
                rows.append({group_by: g, **row})
    return {"rows": rows, "meta": {**window_meta(start, end, tz_name), "truncated": False}}


# --- account endpoint: compare_projects, list_projects ---------------------------------------

def compare_projects(events: Sequence[Event], visible: Sequence[Project], args: Mapping[str, Any], *, now: datetime) -> dict[str, Any]:
    selected = select_projects(visible, args)
    tz_name = resolve_time_zone({}, selected)
    start, end = resolve_window(args, tz_name, now)
    metric = args.get("metric", "count")
    compare = args.get("compare") == "previous_period"
    previous_start = start - (end - start)
    rows = []
    for p in selected:
        mine = [e for e in scoped_events(events, [p]) if args.get("event") is None or e["event"] == args["event"]]
        value = metric_value((e for e in mine if in_window(e, start, end)), metric)
        row: Row = {"project_id": p["project_id"], "slug": p["slug"], "name": p["name"], "value": value}
        if compare:
            before = metric_value((e for e in mine if in_window(e, previous_start, start)), metric)
            row["previous"] = before
            row["change"] = change_of(value, before)
        rows.append(row)
    rows.sort(key=lambda r: (-r["value"], r["slug"]))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return {"rows": rows, "meta": {**window_meta(start, end, tz_name), "truncated": False}}


def list_projects(visible: Sequence[Project]) -> list[Row]:
    return [{"project_id": p["project_id"], "slug": p["slug"], "name": p["name"], "time_zone": p["time_zone"],
             "created_at": format_utc(p["created_at"])} for p in sorted(visible, key=lambda p: p["slug"])]


# --- schema://events -------------------------------------------------------------------------

def events_schema(events: Sequence[Event], visible: Sequence[Project], *, now: datetime) -> list[Row]:
    """Event names seen in [now − 30 days, now], `events` descending then `event`.

    Each name's `properties`: its top-level keys by how many of its events carry them (`seen`
    descending, then key), at most 10. Example values are not modelled exactly (the document
    leaves their choice open): `examples` holds every value each key had, for a subset check.
    """
    since = now - timedelta(days=SCHEMA_DAYS)
    chosen = [e for e in scoped_events(events, visible) if since <= e["timestamp"] <= now]
    by_name: dict[str, list[Event]] = defaultdict(list)
    for e in chosen:
        by_name[e["event"]].append(e)
    rows = []
    for name, members in by_name.items():
        seen: dict[str, int] = defaultdict(int)
        values: dict[str, list[Any]] = defaultdict(list)
        for e in members:
            for key, value in e["properties"].items():
                seen[key] += 1
                values[key].append(value)
        keys = sorted(seen, key=lambda k: (-seen[k], k))[:SCHEMA_MAX_KEYS]
        rows.append({
            "event": name, "events": len(members), "last_seen": format_utc(max(e["timestamp"] for e in members)),
            "properties": [{"key": k, "seen": seen[k], "examples": values[k]} for k in keys],
        })
    rows.sort(key=lambda r: (-r["events"], r["event"]))
    return rows[:SCHEMA_MAX_NAMES]

