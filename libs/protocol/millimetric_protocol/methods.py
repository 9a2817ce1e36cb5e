"""Tool argument structs: strict (unknown fields refused), constrained, tz-aware.

Decoding a tool's arguments with `codec.decode_arguments` either yields one of these structs or
raises `InvalidArguments` naming the field path. Cross-field rules live in `__post_init__`, whose
ValueErrors msgspec reports with the struct's path.

Project-endpoint tools take the base structs; the account endpoint's variants (`Account…`) add the
project-selection arguments `project_id` / `project_slug` / `project_ids`.
"""

from __future__ import annotations

import re
import uuid
import zoneinfo
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, Final, Literal

import msgspec
from msgspec import Meta, Struct, field

from . import limits
from .validate import check_properties, check_text

EventName = Annotated[str, Meta(min_length=1, max_length=limits.MAX_EVENT_NAME_CHARS)]
VisitorId = Annotated[str, Meta(min_length=1, max_length=limits.MAX_ID_CHARS)]
FilterText = Annotated[str, Meta(min_length=1, max_length=limits.MAX_FILTER_STRING_CHARS)]
AwareDatetime = Annotated[datetime, Meta(tz=True)]
Slug = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")]
FilterScalar = str | int | float | bool

Metric = Literal["count", "uniques", "users"]
Interval = Literal["hour", "day", "week", "month"]
Compare = Literal["previous_period"]
FunnelOrder = Literal["ordered", "strict", "any"]
FunnelGroupBy = Literal["source", "medium", "channel"]
Breakdown = Literal["source", "source_medium"]

GROUP_BY_FIELDS: Final = ("event", "source", "medium", "campaign", "channel")
ACCOUNT_GROUP_BY_FIELDS: Final = (*GROUP_BY_FIELDS, "project_id")
PROPERTY_PREFIX: Final = "property:"
_WINDOW_RE: Final = re.compile(r"^([1-9][0-9]{0,6})([smhdw])$")
_WINDOW_UNIT_S: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@lru_cache(maxsize=1024)
def is_time_zone(name: str) -> bool:
    """True for an IANA zone name this machine's tz database knows (tzdata ships as a dependency)."""
    if not name or len(name) > 64 or "\x00" in name or name.startswith("/") or ".." in name:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def parse_window(text: str) -> int:
    """'30m' / '24h' / '7d' / '2w' / '90s' → seconds. Raises ValueError with the valid forms."""
    match = _WINDOW_RE.match(text)
    if not match:
        raise ValueError(f"window: {text[:40]!r} is not a duration; use a number and a unit s, m, h, d or w, e.g. '30m', '24h', '7d'")
    seconds = int(match.group(1)) * _WINDOW_UNIT_S[match.group(2)]
    if seconds > limits.MAX_FUNNEL_WINDOW_S:
        raise ValueError(f"window: at most {limits.MAX_FUNNEL_WINDOW_S // 86400} days")
    return seconds


def parse_group_by(text: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """'source,medium' → ('source', 'medium'); 'property:<key>' allowed too. ValueError lists the valid names."""
    parts = tuple(p.strip() for p in text.split(","))
    if not text.strip() or len(parts) > 3:
        raise ValueError(f"group_by: give 1 to 3 comma-separated names from {', '.join(allowed)} or property:<key>")
    for part in parts:
        if part.startswith(PROPERTY_PREFIX):
            key = part[len(PROPERTY_PREFIX):]
            if not key or len(key) > limits.MAX_PROPERTY_KEY_CHARS or "\x00" in key:
                raise ValueError("group_by: property:<key> needs a property key of 1 to 200 characters")
        elif part not in allowed:
            raise ValueError(f"group_by: {part[:40]!r} is not one of {', '.join(allowed)}, property:<key>")
    if len(set(parts)) != len(parts):
        raise ValueError("group_by: a name appears twice")
    return parts


class TrackEventArgs(Struct, forbid_unknown_fields=True, kw_only=True):
    """`track_event`: one event. At least one of `anonymous_id` / `user_id`."""

    event: EventName
    anonymous_id: VisitorId | None = None
    user_id: VisitorId | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    timestamp: AwareDatetime | None = None
    event_id: uuid.UUID | None = None

    def __post_init__(self) -> None:
        if self.anonymous_id is None and self.user_id is None:
            raise ValueError("give anonymous_id or user_id (or both)")
        check_text(self.event, "event", max_chars=limits.MAX_EVENT_NAME_CHARS)
        for name in ("anonymous_id", "user_id"):
            value = getattr(self, name)
            if value is not None:
                check_text(value, name, max_chars=limits.MAX_ID_CHARS)
        check_properties(self.properties)


class ReadArgs(Struct, forbid_unknown_fields=True, kw_only=True):
    """The vocabulary shared by every read tool: window, time zone and filters."""

    from_: AwareDatetime | None = field(name="from", default=None)
    to: AwareDatetime | None = None
    timezone: str | None = None
    event: FilterText | None = None
    source: FilterText | None = None
    medium: FilterText | None = None
    campaign: FilterText | None = None
    properties: dict[Annotated[str, Meta(min_length=1, max_length=limits.MAX_PROPERTY_KEY_CHARS)], FilterScalar] | None = None

    def __post_init__(self) -> None:
        if self.from_ is not None and self.to is not None:
            if self.from_ >= self.to:
                raise ValueError("from must be before to")
            if (self.to - self.from_).total_seconds() > limits.MAX_WINDOW_DAYS * 86400:
                raise ValueError(f"from..to spans more than {limits.MAX_WINDOW_DAYS} days")
        if self.timezone is not None and not is_time_zone(self.timezone):
            raise ValueError(f"timezone: {self.timezone[:64]!r} is not an IANA time zone name (e.g. 'Europe/Berlin', 'UTC')")
        if self.properties is not None and len(self.properties) > limits.MAX_FILTER_PROPERTIES:
            raise ValueError(f"properties: at most {limits.MAX_FILTER_PROPERTIES} property filters")
        for name in ("event", "source", "medium", "campaign"):
            value = getattr(self, name)
            if value is not None:
                check_text(value, name, max_chars=limits.MAX_FILTER_STRING_CHARS)
        for key, value in (self.properties or {}).items():
            check_text(key, "properties key", max_chars=limits.MAX_PROPERTY_KEY_CHARS)
            if isinstance(value, str):
                check_text(value, f"properties.{key[:40]}", max_chars=limits.MAX_FILTER_STRING_CHARS, allow_empty=True)
            elif isinstance(value, int) and not isinstance(value, bool) and not limits.MIN_INT <= value <= limits.MAX_INT:
                raise ValueError(f"properties.{key[:40]}: integer outside the signed 64-bit range")


class QueryEventsArgs(ReadArgs, kw_only=True):
    """`query_events`: raw events, newest first, keyset-paginated."""

    anonymous_id: VisitorId | None = None
    user_id: VisitorId | None = None
    limit: Annotated[int, Meta(ge=1, le=limits.MAX_QUERY_LIMIT)] = limits.DEFAULT_QUERY_LIMIT
    cursor: Annotated[str, Meta(min_length=1, max_length=limits.MAX_CURSOR_CHARS)] | None = None


class GetStatsArgs(ReadArgs, kw_only=True):
    """`get_stats`: a metric, optionally grouped, bucketed and compared with the previous period."""

    metric: Metric = "count"
    group_by: Annotated[str, Meta(max_length=400)] | None = None
    interval: Interval | None = None
    compare: Compare | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.group_by is not None:
            parse_group_by(self.group_by, self.group_by_fields())

    def group_by_fields(self) -> tuple[str, ...]:
        return GROUP_BY_FIELDS

    def group_by_parts(self) -> tuple[str, ...]:
        return parse_group_by(self.group_by, self.group_by_fields()) if self.group_by else ()


class TopSourcesArgs(ReadArgs, kw_only=True):
    """`top_sources`: traffic by source (or source + medium), events descending."""

    breakdown: Breakdown = "source"
    limit: Annotated[int, Meta(ge=1, le=limits.MAX_TOP_SOURCES_LIMIT)] = limits.DEFAULT_TOP_SOURCES_LIMIT


class FunnelStep(Struct, forbid_unknown_fields=True, kw_only=True):
    event: EventName
    properties: dict[Annotated[str, Meta(min_length=1, max_length=limits.MAX_PROPERTY_KEY_CHARS)], FilterScalar] | None = None

    def __post_init__(self) -> None:
        check_text(self.event, "event", max_chars=limits.MAX_EVENT_NAME_CHARS)
        if self.properties is not None and len(self.properties) > limits.MAX_FILTER_PROPERTIES:
            raise ValueError(f"properties: at most {limits.MAX_FILTER_PROPERTIES} property filters")


class FunnelArgs(ReadArgs, kw_only=True):
    """`funnel`: ordered conversion through 2–10 steps within a window."""

    steps: Annotated[list[EventName | FunnelStep], Meta(min_length=limits.MIN_FUNNEL_STEPS, max_length=limits.MAX_FUNNEL_STEPS)]
    window: Annotated[str, Meta(max_length=16)] = "7d"
    order: FunnelOrder = "ordered"
    group_by: FunnelGroupBy | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        parse_window(self.window)
        for i, step in enumerate(self.steps):
            if isinstance(step, str):
                check_text(step, f"steps[{i}]", max_chars=limits.MAX_EVENT_NAME_CHARS)

    def window_s(self) -> int:
        return parse_window(self.window)

    def normalized_steps(self) -> list[FunnelStep]:
        return [FunnelStep(event=s) if isinstance(s, str) else s for s in self.steps]


class ListProjectsArgs(Struct, forbid_unknown_fields=True, kw_only=True):
    """`list_projects`: no arguments."""


class ProjectSelection(Struct, forbid_unknown_fields=True, kw_only=True):
    """The account endpoint's project selection; omit all three for every visible project."""

    project_id: uuid.UUID | None = None
    project_slug: Slug | None = None
    project_ids: Annotated[list[uuid.UUID], Meta(min_length=1, max_length=limits.MAX_PROJECT_IDS)] | None = None

    def __post_init__(self) -> None:
        given = sum(x is not None for x in (self.project_id, self.project_slug, self.project_ids))
        if given > 1:
            raise ValueError("give at most one of project_id, project_slug, project_ids")


class CompareProjectsArgs(ProjectSelection, kw_only=True):
    """`compare_projects`: one metric per project, ranked descending."""

    metric: Metric = "count"
    from_: AwareDatetime | None = field(name="from", default=None)
    to: AwareDatetime | None = None
    compare: Compare | None = None
    event: FilterText | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.from_ is not None and self.to is not None and self.from_ >= self.to:
            raise ValueError("from must be before to")


def _account_variant(base: type[Struct]) -> type[Struct]:
    """The account-endpoint form of a read tool: the base arguments plus project selection."""
    selection = [
        ("project_id", uuid.UUID | None, None),
        ("project_slug", Slug | None, None),
        ("project_ids", Annotated[list[uuid.UUID], Meta(min_length=1, max_length=limits.MAX_PROJECT_IDS)] | None, None),
    ]
    namespace: dict[str, Any] = {"__doc__": base.__doc__, "__post_init__": _account_post_init}
    if base is GetStatsArgs:
        namespace["group_by_fields"] = lambda self: ACCOUNT_GROUP_BY_FIELDS
    return msgspec.defstruct(f"Account{base.__name__}", selection, bases=(base,), kw_only=True, namespace=namespace)


def _account_post_init(self: Any) -> None:
    base: Any = type(self).__mro__[1]
    base.__post_init__(self)  # the base tool's own checks
    ProjectSelection.__post_init__(self)


AccountQueryEventsArgs: Final = _account_variant(QueryEventsArgs)
AccountGetStatsArgs: Final = _account_variant(GetStatsArgs)
AccountTopSourcesArgs: Final = _account_variant(TopSourcesArgs)
AccountFunnelArgs: Final = _account_variant(FunnelArgs)

ToolName = Literal[
    "track_event", "query_events", "get_stats", "top_sources", "funnel", "list_projects", "compare_projects"
]

PROJECT_TOOL_ARGS: Final[dict[str, type[Struct]]] = {
    "track_event": TrackEventArgs,
    "query_events": QueryEventsArgs,
    "get_stats": GetStatsArgs,
    "top_sources": TopSourcesArgs,
    "funnel": FunnelArgs,
}
ACCOUNT_TOOL_ARGS: Final[dict[str, type[Struct]]] = {
    "list_projects": ListProjectsArgs,
    "query_events": AccountQueryEventsArgs,
    "get_stats": AccountGetStatsArgs,
    "top_sources": AccountTopSourcesArgs,
    "funnel": AccountFunnelArgs,
    "compare_projects": CompareProjectsArgs,
}


def selection_of(args: Any) -> ProjectSelection:
    """The project selection carried by an account-endpoint argument struct (empty if none)."""
    return ProjectSelection(
        project_id=getattr(args, "project_id", None),
        project_slug=getattr(args, "project_slug", None),
        project_ids=getattr(args, "project_ids", None),
    )
