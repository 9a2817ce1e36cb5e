"""When a read may use the hourly rollups instead of raw events — only when they give the exact
answer (docs/analytics.md; migrations/0003_rollups.sql):

- the metric is `count` (event_counts_hourly: counts add up over hours) or `uniques`
  (visitor_hours: distinct visitors counted over the covered hours, never summed);
- filters and groups use only event, source, medium, campaign, channel (no properties, no visitor ids);
- the window and every bucket boundary inside it fall on whole UTC hours (true for every zone
  whose offset is a whole number of hours, e.g. not Asia/Kolkata's +05:30).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from millimetric_protocol.methods import PROPERTY_PREFIX

from .buckets import Bucket
from .window import Window

TABLES: Final = {"count": ("event_counts_hourly", "sum(events)::bigint"), "uniques": ("visitor_hours", "count(DISTINCT visitor_id)")}
ROLLUP_COLUMNS: Final = frozenset({"event", "source", "medium", "campaign", "channel", "project_id"})


def _on_hour(t: datetime) -> bool:
    return t.minute == 0 and t.second == 0 and t.microsecond == 0


def rollup_for(metric: str, args: Any, groups: Sequence[str], window: Window, bucket_list: Sequence[Bucket] = ()) -> tuple[str, str] | None:
    """(table, aggregate SQL) when the rollups answer this exactly, else None (read raw events)."""
    if metric not in TABLES:
        return None
    if getattr(args, "properties", None) or getattr(args, "anonymous_id", None) or getattr(args, "user_id", None):
        return None
    if any(g.startswith(PROPERTY_PREFIX) or g not in ROLLUP_COLUMNS for g in groups):
        return None
    if not (_on_hour(window.start) and _on_hour(window.end)):
        return None
    if not all(_on_hour(b.start) for b in bucket_list if window.start < b.start < window.end):
        return None
    return TABLES[metric]
