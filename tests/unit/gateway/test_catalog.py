"""What tools/list offers each key, and that its schemas are valid JSON Schema 2020-12 generated from
the protocol structs (so they carry the limits of limits.py)."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from millimetric_gateway.app import ROUTES
from millimetric_gateway.catalog import ENDPOINT_PATHS, JSON_SCHEMA_DIALECT, RESOURCES, portable, tool_listing
from millimetric_protocol import limits


@pytest.mark.parametrize(("endpoint", "scope", "names"), [
    ("project", "ingest", ["track_event", "query_events", "get_stats", "top_sources", "funnel"]),
    ("project", "read", ["query_events", "get_stats", "top_sources", "funnel"]),
    ("account", "read", ["list_projects", "query_events", "get_stats", "top_sources", "funnel", "compare_projects"]),
])
def test_each_key_sees_only_the_tools_it_can_call(endpoint: str, scope: str, names: list[str]) -> None:
    assert [t["name"] for t in tool_listing(endpoint, scope, True)] == names  # type: ignore[arg-type]


@pytest.mark.parametrize("endpoint", ["project", "account"])
@pytest.mark.parametrize("structured", [True, False])
def test_schemas_are_2020_12_objects(endpoint: str, structured: bool) -> None:
    for tool in tool_listing(endpoint, "ingest", structured):  # type: ignore[arg-type]
        schemas = [tool["inputSchema"], *([tool["outputSchema"]] if structured else [])]
        assert ("outputSchema" in tool) is structured
        for schema in schemas:
            assert schema["$schema"] == JSON_SCHEMA_DIALECT and schema["type"] == "object"
            jsonschema.Draft202012Validator.check_schema(schema)
        if endpoint == "project":
            assert "project_id" not in tool["inputSchema"]["properties"]
        elif tool["name"] not in ("list_projects",):
            assert {"project_id", "project_slug", "project_ids"} <= set(tool["inputSchema"]["properties"])


def test_input_schemas_carry_the_limits() -> None:
    track = next(t for t in tool_listing("project", "ingest", True) if t["name"] == "track_event")
    assert track["inputSchema"]["properties"]["event"]["maxLength"] == limits.MAX_EVENT_NAME_CHARS
    query = next(t for t in tool_listing("project", "read", True) if t["name"] == "query_events")
    limit = query["inputSchema"]["properties"]["limit"]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, limits.MAX_QUERY_LIMIT, limits.DEFAULT_QUERY_LIMIT)
    stats = next(t for t in tool_listing("project", "read", True) if t["name"] == "get_stats")
    assert stats["inputSchema"]["properties"]["metric"]["enum"] == ["count", "uniques", "users"]


def test_resources_have_uri_name_and_description() -> None:
    for resources in RESOURCES.values():
        for resource in resources:
            assert resource["uri"] and resource["name"] and resource["description"] and resource["mimeType"] == "application/json"


@pytest.mark.parametrize(("schema", "portable_form"), [
    ({"type": ["string", "null"], "maxLength": 3}, {"maxLength": 3, "anyOf": [{"type": "string"}, {"type": "null"}]}),
    ({"type": ["integer", "null"], "anyOf": [{"minimum": 1}, {"type": "null"}]},
     {"anyOf": [{"minimum": 1}, {"type": "null"}], "allOf": [{"anyOf": [{"type": "integer"}, {"type": "null"}]}]}),
    ({"type": "object", "properties": {"a": {"type": ["string", "null"], "default": None}}, "required": []},
     {"type": "object", "properties": {"a": {"anyOf": [{"type": "string"}, {"type": "null"}]}}}),
    ({"type": "array", "items": {"type": ["number", "boolean"]}, "default": []},
     {"type": "array", "items": {"anyOf": [{"type": "number"}, {"type": "boolean"}]}, "default": []}),
])
def test_portable_spells_type_unions_as_any_of_and_accepts_the_same_values(schema: dict[str, Any],
                                                                           portable_form: dict[str, Any]) -> None:
    assert portable(schema) == portable_form
    for value in (None, "ab", "abcd", 0, 2, 1.5, True, [], [1, True], ["x"], {}, {"a": None}, {"a": "x"}, {"a": 1}):
        same = jsonschema.Draft202012Validator(schema).is_valid(value)
        assert jsonschema.Draft202012Validator(portable_form).is_valid(value) is same, value


def test_the_endpoint_paths_tools_point_to_are_the_mounted_routes() -> None:
    """unhandled_tool names where a tool is served; that must be where app.py mounts the endpoint."""
    assert {endpoint: path for path, endpoint in ROUTES} == ENDPOINT_PATHS
