"""What each endpoint offers: tools (with schemas generated from the protocol structs),
resources and prompts, and which key scope each tool needs.

Tool listings are computed once per (endpoint, scope, protocol generation) and reused.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, Literal

import msgspec
from millimetric_protocol import limits
from millimetric_protocol.methods import ACCOUNT_TOOL_ARGS, PROJECT_TOOL_ARGS

Endpoint = Literal["project", "account"]
Scope = Literal["ingest", "read"]

_WINDOW = "Window: `from` (inclusive) / `to` (exclusive), ISO 8601 with offset; default the last 7 days. `timezone`: IANA name (default: the project's). Filters: event, source, medium, campaign, properties {key: value}."
_SELECT = " Account endpoint: optional project_id / project_slug / project_ids (omit for every project); rows then carry project_id and slug."

DESCRIPTIONS: Final[dict[str, tuple[str, str]]] = {
    "track_event": (
        "Track an event",
        "Record one event. Needs an sk_ key. Give `event` and `anonymous_id` and/or `user_id`; optional `properties` "
        "(object), `timestamp` (ISO 8601 with offset; default: now) and `event_id` (a UUID you choose: retrying with "
        "the same id never stores a second event). Returns {event_id, status:'accepted'} once the event is durably queued; "
        "it is queryable within about a second. Example: {\"event\":\"signup\",\"anonymous_id\":\"a1\",\"properties\":{\"plan\":\"pro\"}}",
    ),
    "query_events": (
        "Query raw events",
        f"Raw events, newest first (timestamp, then event_id). {_WINDOW} Also anonymous_id, user_id. `limit` default "
        f"{limits.DEFAULT_QUERY_LIMIT}, max {limits.MAX_QUERY_LIMIT}; pass meta.next_cursor as `cursor` for the next page. "
        "Rows: event_id, timestamp, event, anonymous_id, user_id, source, medium, campaign, properties." + _SELECT,
    ),
    "get_stats": (
        "Aggregate events",
        f"A metric over the window: count = events, uniques = distinct visitors (anonymous_id, else user_id), users = distinct "
        f"user_id. `group_by`: comma list of event, source, medium, campaign, channel, property:<key>. `interval`: hour, day, "
        f"week (Monday), month, bucketed in `timezone` and zero-filled; omit for totals. compare='previous_period' adds "
        f"previous and change (fraction; null if previous is 0). {_WINDOW} Example: {{\"metric\":\"uniques\",\"group_by\":\"source,medium\",\"interval\":\"day\"}}" + _SELECT,
    ),
    "top_sources": (
        "Top traffic sources",
        f"Traffic by source (breakdown='source') or source and medium (breakdown='source_medium'; medium is e.g. social, "
        f"paid, organic, email, referral, (none)), sorted by events descending. Rows: source, medium, events, uniques, "
        f"share (fraction of all events in the window). `limit` default {limits.DEFAULT_TOP_SOURCES_LIMIT}, max "
        f"{limits.MAX_TOP_SOURCES_LIMIT}. Facebook paid vs organic is medium paid vs social. {_WINDOW}" + _SELECT,
    ),
    "funnel": (
        "Conversion funnel",
        "Visitors converting through 2-10 `steps` (event names or {event, properties}) in order, each within `window` "
        "(e.g. '30m', '24h', '7d'; default 7d) of the first step, which must fall in [from, to). `order`: ordered (default; "
        "other events may happen between steps), strict (no other event between steps) or any (steps in any order). "
        "Optional group_by source, medium or channel (of the first step). Per step: visitors, conversion_from_previous, "
        "conversion_from_start, dropoff, median_seconds_from_previous. " + _WINDOW + _SELECT,
    ),
    "list_projects": (
        "List projects",
        "Every project this account key can read: project_id, slug, name, time_zone, created_at.",
    ),
    "compare_projects": (
        "Rank projects",
        "Rank every visible project by one metric (count, uniques, users) over the window (default last 7 days); "
        "compare='previous_period' adds previous and change. Rows: project_id, slug, name, value, rank (1 = highest).",
    ),
}

READ_ONLY: Final = {"readOnlyHint": True, "openWorldHint": False}
ANNOTATIONS: Final[dict[str, dict[str, bool]]] = {
    "track_event": {"readOnlyHint": False, "destructiveHint": False, "idempotentHint": True, "openWorldHint": False},
}

PROJECT_TOOLS_BY_SCOPE: Final[dict[Scope, tuple[str, ...]]] = {
    "ingest": ("track_event", "query_events", "get_stats", "top_sources", "funnel"),
    "read": ("query_events", "get_stats", "top_sources", "funnel"),
}
ACCOUNT_TOOLS: Final = ("list_projects", "query_events", "get_stats", "top_sources", "funnel", "compare_projects")

JSON_SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
"""Stated on every inputSchema/outputSchema: 2020-12 is MCP 2025-11-25's default dialect, and naming
it keeps older clients (whose default was unspecified) from guessing."""

_NULLABLE_TEXT: Final = {"type": ["string", "null"]}
_EVENT_ROW: Final = {
    "type": "object",
    "properties": {
        "event_id": {"type": "string", "format": "uuid"},
        "timestamp": {"type": "string", "format": "date-time"},
        "event": {"type": "string"},
        "anonymous_id": _NULLABLE_TEXT,
        "user_id": _NULLABLE_TEXT,
        "source": _NULLABLE_TEXT,
        "medium": _NULLABLE_TEXT,
        "campaign": _NULLABLE_TEXT,
        "properties": {"type": "object"},
        "project_id": {"type": "string", "format": "uuid", "description": "Only when the call spans several projects."},
        "slug": {"type": "string", "description": "Only when the call spans several projects."},
    },
    "required": ["event_id", "timestamp", "event", "anonymous_id", "user_id", "source", "medium", "campaign", "properties"],
}
_PROJECT_ROW: Final = {
    "type": "object",
    "properties": {
        "project_id": {"type": "string", "format": "uuid"},
        "slug": {"type": "string"},
        "name": {"type": "string"},
        "time_zone": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
    },
    "required": ["project_id", "slug", "name", "time_zone", "created_at"],
}
# NOTE: the aggregate reads' row shapes belong to the analytics issue; their rows are only typed as
# objects here so a client that validates structuredContent never rejects a correct answer.
_ROW_SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    "query_events": _EVENT_ROW,
    "list_projects": _PROJECT_ROW,
    "get_stats": {"type": "object", "description": "Group columns (as in group_by), bucket (with interval), value; previous and change with compare."},
    "top_sources": {"type": "object", "description": "source, medium (breakdown source_medium), events, uniques, share."},
    "funnel": {"type": "object", "description": "Per step (and group, with group_by): visitors, conversion_from_previous, conversion_from_start, dropoff, median_seconds_from_previous."},
    "compare_projects": {"type": "object", "description": "project_id, slug, name, value, rank (1 = highest); previous and change with compare."},
}
_META_SCHEMA: Final = {
    "type": "object",
    "description": "How the answer was computed: the resolved window (from, to, timezone), ordering, truncated, next_cursor …",
    "properties": {
        "truncated": {"type": "boolean"},
        "next_cursor": {"type": ["string", "null"], "description": "Pass as `cursor` to get the next page."},
    },
}
_TRACK_SCHEMA: Final = {
    "$schema": JSON_SCHEMA_DIALECT,
    "type": "object",
    "properties": {"event_id": {"type": "string", "format": "uuid"}, "status": {"type": "string", "enum": ["accepted"]}},
    "required": ["event_id", "status"],
}


def output_schema(name: str) -> dict[str, Any]:
    """The outputSchema of a tool: what its `structuredContent` always conforms to."""
    if name == "track_event":
        return _TRACK_SCHEMA
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "type": "object",
        "properties": {"rows": {"type": "array", "items": _ROW_SCHEMAS[name]}, "meta": _META_SCHEMA},
        "required": ["rows", "meta"],
    }


def input_schema(struct: type[msgspec.Struct]) -> dict[str, Any]:
    """JSON Schema (2020-12) with the tool's object at the root, as MCP requires."""
    schema = msgspec.json.schema(struct)
    defs: dict[str, Any] = dict(schema.get("$defs", {}))
    name = schema["$ref"].rsplit("/", 1)[-1]
    root = dict(defs.pop(name))
    root.pop("title", None)
    root.pop("description", None)
    if defs:
        root["$defs"] = defs
    return {"$schema": JSON_SCHEMA_DIALECT, **root}  # `#/$defs/…` references stay valid: $defs stays at the root


@dataclass(frozen=True)
class ToolSpec:
    name: str
    args: type[msgspec.Struct]
    scope: Scope


def tool_names(endpoint: Endpoint, scope: Scope) -> tuple[str, ...]:
    return ACCOUNT_TOOLS if endpoint == "account" else PROJECT_TOOLS_BY_SCOPE[scope]


def find_tool(endpoint: Endpoint, name: str) -> ToolSpec | None:
    """The tool of that name on the endpoint (regardless of the caller's scope), or None."""
    table = ACCOUNT_TOOL_ARGS if endpoint == "account" else PROJECT_TOOL_ARGS
    args = table.get(name)
    if args is None:
        return None
    return ToolSpec(name, args, "ingest" if name == "track_event" else "read")


@lru_cache(maxsize=16)
def tool_listing(endpoint: Endpoint, scope: Scope, structured: bool) -> tuple[dict[str, Any], ...]:
    """The `tools` array of tools/list. `structured` adds outputSchema (2025-06-18 and later)."""
    table = ACCOUNT_TOOL_ARGS if endpoint == "account" else PROJECT_TOOL_ARGS
    tools = []
    for name in tool_names(endpoint, scope):
        title, description = DESCRIPTIONS[name]
        if endpoint == "project":
            description = description.replace(_SELECT, "")
        tool: dict[str, Any] = {
            "name": name,
            "title": title,
            "description": description,
            "inputSchema": input_schema(table[name]),
            "annotations": {"title": title, **ANNOTATIONS.get(name, READ_ONLY)},
        }
        if structured:
            tool["outputSchema"] = output_schema(name)
        tools.append(tool)
    return tuple(tools)


RESOURCES: Final[dict[Endpoint, tuple[dict[str, str], ...]]] = {
    "project": (
        {"uri": "events://recent", "name": "recent-events", "title": "Recent events",
         "description": f"The {limits.RECENT_EVENTS} newest events of this project, newest first.", "mimeType": "application/json"},
        {"uri": "schema://events", "name": "event-schema", "title": "Event schema",
         "description": f"Event names seen in the last {limits.SCHEMA_DAYS} days with counts, last seen, and common property keys with example values.",
         "mimeType": "application/json"},
    ),
    "account": (
        {"uri": "projects://all", "name": "projects", "title": "Projects",
         "description": "Every project this key can read: project_id, slug, name, time_zone, created_at.", "mimeType": "application/json"},
        {"uri": "events://recent", "name": "recent-events", "title": "Recent events",
         "description": f"The {limits.RECENT_EVENTS} newest events across every project, newest first.", "mimeType": "application/json"},
        {"uri": "schema://events", "name": "event-schema", "title": "Event schema",
         "description": f"Event names seen in the last {limits.SCHEMA_DAYS} days across every project, with counts and common property keys.",
         "mimeType": "application/json"},
    ),
}

RESOURCE_READS: Final[dict[str, str]] = {
    "events://recent": "events_recent",
    "schema://events": "events_schema",
    "projects://all": "list_projects",
}
"""Resource URI → the query service read that answers it."""


def find_resource(endpoint: Endpoint, uri: str) -> str | None:
    for resource in RESOURCES[endpoint]:
        if resource["uri"] == uri:
            return RESOURCE_READS[uri]
    return None
