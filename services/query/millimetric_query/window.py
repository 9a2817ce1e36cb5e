"""The time window of a read: explicit `from`/`to`, or the default 7 local days ending today."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from millimetric_protocol import limits


@dataclass(frozen=True)
class Window:
    start: datetime
    """Inclusive, UTC."""
    end: datetime
    """Exclusive, UTC."""
    time_zone: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def previous(self) -> Window:
        """The period of equal length just before this one (for compare='previous_period')."""
        span = self.end - self.start
        return Window(self.start - span, self.start, self.time_zone)

    def meta(self) -> dict[str, Any]:
        return {"from": self.start, "to": self.end, "timezone": self.time_zone}


def resolve_window(start: datetime | None, end: datetime | None, time_zone: str, now: datetime | None = None) -> Window:
    """Default: the DEFAULT_WINDOW_DAYS local calendar days ending with today (today included), so day
    buckets align; a lone `from` runs to now, a lone `to` looks back DEFAULT_WINDOW_DAYS days."""
    zone = ZoneInfo(time_zone)
    now = now or datetime.now(timezone.utc)
    span = timedelta(days=limits.DEFAULT_WINDOW_DAYS)
    if start is None and end is None:
        today = now.astimezone(zone).date()
        end_local = datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=zone)
        start_local = datetime.combine(today - timedelta(days=limits.DEFAULT_WINDOW_DAYS - 1), datetime.min.time(), tzinfo=zone)
        return Window(start_local.astimezone(timezone.utc), end_local.astimezone(timezone.utc), time_zone)
    if end is None:
        assert start is not None
        end = max(now, start + timedelta(seconds=1))
    if start is None:
        start = end - span
    return Window(start.astimezone(timezone.utc), end.astimezone(timezone.utc), time_zone)
