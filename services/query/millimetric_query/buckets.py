"""Time buckets in a time zone, in Python (labels, zero-fill) and in SQL (grouping keys).

Both sides agree on the key of a bucket:
- hour: the UTC instant the local hour starts (unambiguous across daylight-saving changes: the
  repeated hour is two buckets, the skipped hour none);
- day / week (Monday) / month: the local calendar date the bucket starts on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Final
from zoneinfo import ZoneInfo

from millimetric_protocol import limits
from millimetric_protocol.errors import InvalidArguments

from .window import Window

_HOUR: Final = timedelta(hours=1)


@dataclass(frozen=True)
class Bucket:
    key: Any
    """datetime (UTC) for hour buckets, date for the others — what the SQL key expression yields."""
    label: str
    """The local start with its UTC offset, e.g. 2026-10-25T00:00:00+02:00."""
    start: datetime
    """The instant the bucket starts (UTC)."""


def sql_key(interval: str, tz_param: str, column: str = "timestamp") -> str:
    """SQL for a row's bucket key; `tz_param` is the placeholder holding the zone name."""
    local = f"({column} AT TIME ZONE {tz_param})"
    if interval == "hour":
        return f"({column} - ({local} - date_trunc('hour', {local})))"
    return f"date_trunc('{interval}', {local})::date"


def _hour_floor(instant: datetime, zone: ZoneInfo) -> datetime:
    local = instant.astimezone(zone)
    return instant - timedelta(minutes=local.minute, seconds=local.second, microseconds=local.microsecond)


def _local_start(day: date, zone: ZoneInfo) -> datetime:
    """The instant a local date starts (the first existing local time on a day whose midnight is skipped)."""
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(timezone.utc)


def _period_start(day: date, interval: str) -> date:
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day


def _next_period(day: date, interval: str) -> date:
    if interval == "week":
        return day + timedelta(days=7)
    if interval == "month":
        return date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    return day + timedelta(days=1)


def buckets(window: Window, interval: str) -> list[Bucket]:
    """Every bucket overlapping [start, end), in order. Raises InvalidArguments past MAX_BUCKETS."""
    zone = window.zone
    found: list[Bucket] = []

    def add(key: Any, start: datetime) -> None:
        if len(found) >= limits.MAX_BUCKETS:
            raise InvalidArguments(f"more than {limits.MAX_BUCKETS} {interval} buckets; use a larger interval or a shorter window",
                                   "arguments.interval")
        found.append(Bucket(key, start.astimezone(zone).isoformat(), start))

    if interval == "hour":
        t = _hour_floor(window.start, zone)
        while t < window.end:
            add(t, t)
            nxt = _hour_floor(t + _HOUR, zone)
            t = nxt if nxt > t else t + _HOUR
        return found
    last = (window.end - timedelta(microseconds=1)).astimezone(zone).date()
    d = _period_start(window.start.astimezone(zone).date(), interval)
    while d <= last:
        add(d, _local_start(d, zone))
        d = _next_period(d, interval)
    return found
