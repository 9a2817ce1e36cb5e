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
ENDPOINT_PATHS: Final[dict[Endpoint, str]] = {"project": "/mcp", "account": "/mcp/account"}
"""Where each endpoint is served (app.ROUTES mounts these; a unit test keeps the two in step)."""
Scope = Literal["ingest", "read"]

_WINDOW = "Window: `from` (inclusive) / `to` (exclusive), ISO 8601 with offset; default the last 7 days. `timezone`: IANA name (default: the project's)."
_SELECT = " Optional project_id / project_slug / project_ids (omit for every project); rows then carry project_id and slug."

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
        f"Raw events, newest first (timestamp, then event_id). {_WINDOW} Pass meta.next_cursor as `cursor` for the next page. "
        "Rows: event_id, timestamp, event, anonymous_id, user_id, source, medium, campaign, properties." + _SELECT,
    ),
    "get_stats": (
        "Aggregate events",
        f"A metric over the window: count = events, uniques = distinct visitors (anonymous_id, else user_id), users = distinct "
        f"user_id. `group_by`: comma list of event, source, medium, campaign, channel, property:<key>. `interval`: hour, day, "
        f"week (Monday), month, bucketed in `timezone` and zero-filled; omit for totals. compare='previous_period' adds "
        f"previous and change (fraction; null if previous is 0). Rows: the group_by columns, bucket (with interval) and the "
        f"metric under its own name (count, uniques or users). {_WINDOW} Example: {{\"metric\":\"uniques\",\"group_by\":\"source,medium\",\"interval\":\"day\"}}" + _SELECT,
    ),
    "top_sources": (
        "Top traffic sources",
        f"Traffic by source (breakdown='source') or source and medium (breakdown='source_medium'; medium is e.g. social, "
        f"paid, organic, email, referral, (none)), sorted by events descending. Rows: source, medium, events, uniques, "
        f"share (fraction of all events in the window). Facebook paid vs organic is medium paid vs social. {_WINDOW}" + _SELECT,
    ),
    "funnel": (
        "Conversion funnel",
        "Visitors converting through 2-10 `steps` (event names or {event, properties}) in order, each within `window` "
        "(e.g. '30m', '24h', '7d') of the first step, which must fall in [from, to). `order`: ordered (default; "
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

# Output schemas say exactly which keys a result's rows and meta hold (tests/integration/test_mcp_tools.py
# validates every result against a copy with `additionalProperties: false` on every object that does
# not declare it). They stay open here so that a column added later breaks no client. Nullable values
# are `anyOf` branches with one `type` each, never `"type": [..., "null"]`: single-type dialects
# (the OpenAPI subset of Gemini function declarations) reject type arrays.
_TEXT: Final = {"type": "string"}
_INT: Final = {"type": "integer"}
_UUID: Final = {"type": "string", "format": "uuid"}
_TIME: Final = {"type": "string", "format": "date-time"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _object(properties: dict[str, Any], required: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return {**schema, **extra}


_NULLABLE_TEXT: Final = _nullable(_TEXT)
_CHANGE: Final = _nullable({"type": "number"})
_METRIC: Final = {"enum": ["count", "uniques", "users"]}
_EVENT_ROW: Final = _object({
    "event_id": _UUID, "timestamp": _TIME, "event": _TEXT, "anonymous_id": _NULLABLE_TEXT, "user_id": _NULLABLE_TEXT,
    "source": _NULLABLE_TEXT, "medium": _NULLABLE_TEXT, "campaign": _NULLABLE_TEXT,
    "properties": {"type": "object", "additionalProperties": True},
    "project_id": _UUID, "slug": _TEXT,  # account endpoint, when the call spans several projects
}, ("event_id", "timestamp", "event", "anonymous_id", "user_id", "source", "medium", "campaign", "properties"))
_PROJECT_ROW: Final = _object({"project_id": _UUID, "slug": _TEXT, "name": _TEXT, "time_zone": _TEXT, "created_at": _TIME},
                              ("project_id", "slug", "name", "time_zone", "created_at"))
_STATS_ROW: Final = _object(
    {
        "bucket": _TIME,
        "event": _TEXT, "source": _NULLABLE_TEXT, "medium": _NULLABLE_TEXT, "campaign": _NULLABLE_TEXT,
        "channel": _NULLABLE_TEXT, "project_id": _UUID, "slug": _TEXT,
        "count": _INT, "uniques": _INT, "users": _INT, "previous": _INT, "change": _CHANGE,
    },
    patternProperties={"^property:": _NULLABLE_TEXT},
    oneOf=[{"required": ["count"]}, {"required": ["uniques"]}, {"required": ["users"]}],
)
_SOURCES_ROW: Final = _object({
    "source": _NULLABLE_TEXT, "medium": _NULLABLE_TEXT,
    "events": _INT, "uniques": _INT, "share": {"type": "number"},
}, ("source", "events", "uniques", "share"))
_FUNNEL_ROW: Final = _object({
    "source": _NULLABLE_TEXT, "medium": _NULLABLE_TEXT, "channel": _NULLABLE_TEXT,  # the group_by column, if any
    "step": _INT, "event": _TEXT, "visitors": _INT, "conversion_from_previous": _nullable({"type": "number"}),
    "conversion_from_start": _nullable({"type": "number"}), "dropoff": _INT,
    "median_seconds_from_previous": _nullable({"type": "number"}),
}, ("step", "event", "visitors", "conversion_from_previous", "conversion_from_start", "dropoff",
    "median_seconds_from_previous"))
_COMPARE_ROW: Final = _object({
    "project_id": _UUID, "slug": _TEXT, "name": _TEXT, "value": _INT, "previous": _INT, "change": _CHANGE, "rank": _INT,
}, ("project_id", "slug", "name", "value", "rank"))

_ORDERED: Final = {"order": _TEXT, "truncated": {"type": "boolean"}}
_WINDOWED: Final = {"from": _TIME, "to": _TIME, "timezone": _TEXT, **_ORDERED}
_DEFINED: Final = {**_WINDOWED, "definition": _TEXT}
_META_SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    "query_events": _object({**_WINDOWED, "next_cursor": _NULLABLE_TEXT},
                            (*_WINDOWED, "next_cursor")),
    "list_projects": _object(_ORDERED, tuple(_ORDERED)),
    "get_stats": _object({**_DEFINED, "metric": _METRIC, "previous": _object({"from": _TIME, "to": _TIME}, ("from", "to"))},
                         (*_DEFINED, "metric")),
    "top_sources": _object({**_DEFINED, "breakdown": {"enum": ["source", "source_medium"]}, "total_events": _INT},
                           (*_DEFINED, "breakdown", "total_events")),
    "funnel": _object({**_DEFINED, "window": _TEXT, "window_seconds": _INT, "order_mode": {"enum": ["ordered", "strict", "any"]}},
                      (*_DEFINED, "window", "window_seconds", "order_mode")),
    "compare_projects": _object({**_DEFINED, "metric": _METRIC}, (*_DEFINED, "metric")),
}
_ROW_SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    "query_events": _EVENT_ROW,
    "list_projects": _PROJECT_ROW,
    "get_stats": _STATS_ROW,
    "top_sources": _SOURCES_ROW,
    "funnel": _FUNNEL_ROW,
    "compare_projects": _COMPARE_ROW,
}
_TRACK_SCHEMA: Final = {
    "$schema": JSON_SCHEMA_DIALECT,
    **_object({"event_id": _UUID, "status": {"enum": ["accepted"]}}, ("event_id", "status")),
}


_ACCOUNT_COLUMNS: Final = ("project_id", "slug")
"""Row columns only the account endpoint produces (query_events across projects, get_stats by project_id)."""


def output_schema(name: str, endpoint: Endpoint) -> dict[str, Any]:
    """The outputSchema of a tool on an endpoint: what its `structuredContent` always conforms to."""
    if name == "track_event":
        return _TRACK_SCHEMA
    row = _ROW_SCHEMAS[name]
    if endpoint == "project":
        row = {**row, "properties": {k: v for k, v in row["properties"].items() if k not in _ACCOUNT_COLUMNS}}
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        **_object({"rows": {"type": "array", "items": row}, "meta": _META_SCHEMAS[name]}, ("rows", "meta")),
    }


def input_schema(struct: type[msgspec.Struct]) -> dict[str, Any]:
    """JSON Schema (2020-12) with the tool's object at the root, as MCP requires, in the portable
    spelling `portable` produces."""
    schema = msgspec.json.schema(struct)
    defs: dict[str, Any] = dict(schema.get("$defs", {}))
    name = schema["$ref"].rsplit("/", 1)[-1]
    root = dict(defs.pop(name))
    root.pop("title", None)
    root.pop("description", None)
    if defs:
        root["$defs"] = {name: {k: v for k, v in sub.items() if k != "title"} for name, sub in defs.items()}
    return {"$schema": JSON_SCHEMA_DIALECT, **portable(root)}  # `#/$defs/…` references stay valid: $defs stays at the root


_SCHEMA_MAPS: Final = ("properties", "patternProperties", "$defs", "dependentSchemas")
_SCHEMA_LISTS: Final = ("anyOf", "allOf", "oneOf", "prefixItems")
_SCHEMA_VALUES: Final = ("items", "additionalProperties", "propertyNames", "contains", "not", "if", "then", "else")


def portable(schema: Any) -> Any:
    """An equivalent schema that single-type dialects accept: every `"type": [a, b]` becomes
    `anyOf` branches with one `type` each. `"default": null` (an annotation that only repeats
    "optional") and an empty `required` are dropped: every byte of tools/list costs an agent context. Applied to every subschema; other keywords are kept as they are."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: portable(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [portable(sub) for sub in value]
        elif key in _SCHEMA_VALUES:
            out[key] = portable(value)
        elif (key == "default" and value is None) or (key == "required" and value == []):
            continue
        else:
            out[key] = value
    types = out.get("type")
    if isinstance(types, list):
        del out["type"]
        branches = [{"type": t} for t in types]
        if "anyOf" in out:  # both must hold: keep the existing anyOf and add this one beside it
            out["allOf"] = [*out.get("allOf", []), {"anyOf": branches}]
        else:
            out["anyOf"] = branches
    return out


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


def serving_endpoint(name: str, asked: Endpoint) -> Endpoint | None:
    """The other endpoint, when it has a tool of that name that `asked` lacks (list_projects on
    /mcp, track_event on /mcp/account); None otherwise."""
    other: Endpoint = "account" if asked == "project" else "project"
    return other if find_tool(asked, name) is None and find_tool(other, name) is not None else None


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
            tool["outputSchema"] = output_schema(name, endpoint)
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
