"""Every tool schema in tools/list travels to every client: 0 errors and 0 warnings under the MCP
Inspector's "Schema portability" check, for every key kind and every protocol version we serve.

The rules below are our own implementation of the ones the Inspector applies, read from
`@modelcontextprotocol/inspector` 2.12.0 (npm; `core/json/schemaLint.ts`, bundled in
`clients/cli/build/index.js`). It walks every subschema of `inputSchema` and `outputSchema` and
reports:
- boolean-schema (error): a bare `true`/`false` where a schema object is expected (allowed only as
  the value of additionalProperties, unevaluatedProperties, additionalItems, unevaluatedItems);
- type-union (warning): `type` is an array of distinct JSON Schema type names, e.g.
  `["string", "null"]`, which single-type dialects (the OpenAPI subset of Gemini function
  declarations) reject; write `anyOf` branches with one `type` each instead;
- remote-ref (warning): a `$ref` that does not start with `#` (clients fetch no remote schemas),
  unless the document declares an `$id` somewhere;
- untyped-schema (warning): a schema object with no validation keyword at all (it accepts
  anything), except directly under `not`; `if` counts only together with `then` or `else`.
Subschemas are found under properties, patternProperties, dependentSchemas, dependencies, $defs,
definitions (maps), allOf, anyOf, oneOf, prefixItems (arrays) and items (schema or array),
contains, not, propertyNames, if, then, else, additionalProperties, unevaluatedProperties,
additionalItems, unevaluatedItems, contentSchema; the walk stops 64 levels deep.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Final

import pytest
from millimetric_gateway import rpc
from millimetric_gateway.auth import KeyInfo
from millimetric_gateway.context import CallContext
from millimetric_gateway.versions import HANDSHAKE_VERSIONS, MODERN_VERSIONS

from tests.unit.gateway.test_rpc import META, services

BOOLEAN_VALUED: Final = frozenset({"additionalProperties", "unevaluatedProperties", "additionalItems", "unevaluatedItems"})
MAP_KEYWORDS: Final = ("properties", "patternProperties", "dependentSchemas", "dependencies", "$defs", "definitions")
ARRAY_KEYWORDS: Final = ("allOf", "anyOf", "oneOf", "prefixItems")
SINGLE_KEYWORDS: Final = ("items", "contains", "not", "propertyNames", "if", "then", "else", "additionalProperties",
                          "unevaluatedProperties", "additionalItems", "unevaluatedItems", "contentSchema")
CONSTRAINING: Final = frozenset({
    "type", "enum", "const", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength",
    "minLength", "pattern", "format", "contentMediaType", "contentEncoding", "contentSchema", "maxItems", "minItems",
    "uniqueItems", "maxContains", "minContains", "maxProperties", "minProperties", "required", "dependentRequired",
    "allOf", "anyOf", "oneOf", "not", "items", "prefixItems", "contains", "additionalItems", "unevaluatedItems",
    "properties", "patternProperties", "additionalProperties", "unevaluatedProperties", "propertyNames",
    "dependentSchemas", "dependencies", "$ref", "$dynamicRef", "$recursiveRef",
})
TYPE_NAMES: Final = frozenset({"null", "boolean", "object", "array", "number", "string", "integer"})
MAX_DEPTH: Final = 64

Finding = tuple[str, str, str]
"""(severity, rule, path)"""


def _children(node: dict[str, Any], path: str) -> list[tuple[Any, str, str]]:
    """(subschema, its path, the keyword it sits under) for every subschema position of `node`."""
    found: list[tuple[Any, str, str]] = []
    for key in MAP_KEYWORDS:
        if isinstance(node.get(key), dict):
            found += [(sub, f"{path}/{key}/{name}", key) for name, sub in node[key].items()]
    for key in ARRAY_KEYWORDS:
        if isinstance(node.get(key), list):
            found += [(sub, f"{path}/{key}/{i}", key) for i, sub in enumerate(node[key])]
    for key in SINGLE_KEYWORDS:
        if key not in node:
            continue
        if key == "items" and isinstance(node[key], list):
            found += [(sub, f"{path}/items/{i}", key) for i, sub in enumerate(node[key])]
        else:
            found.append((node[key], f"{path}/{key}", key))
    return found


def _declares_id(node: Any, depth: int = 0) -> bool:
    if depth > MAX_DEPTH or not isinstance(node, dict):
        return False
    if isinstance(node.get("$id"), str) and node["$id"]:
        return True
    return any(_declares_id(sub, depth + 1) for sub, _, _ in _children(node, ""))


def portability_findings(schema: Any) -> list[Finding]:
    """What the Inspector 2.12.0 portability check reports for one schema."""
    findings: list[Finding] = []
    has_ids = _declares_id(schema)

    def walk(node: Any, path: str, keyword: str | None, depth: int) -> None:
        if depth > MAX_DEPTH:
            return
        if isinstance(node, bool):
            if keyword not in BOOLEAN_VALUED:
                findings.append(("error", "boolean-schema", path))
            return
        if not isinstance(node, dict):
            return
        kind = node.get("type")
        if (isinstance(kind, list) and kind and all(isinstance(t, str) and t in TYPE_NAMES for t in kind)
                and len(set(kind)) == len(kind)):
            findings.append(("warning", "type-union", path))
        ref = node.get("$ref")
        if isinstance(ref, str) and ref and not ref.startswith("#") and not has_ids:
            findings.append(("warning", "remote-ref", path))
        constrains = bool(CONSTRAINING & set(node)) or ("if" in node and ("then" in node or "else" in node))
        if not constrains and keyword != "not":
            findings.append(("warning", "untyped-schema", path))
        for sub, sub_path, sub_keyword in _children(node, path):
            walk(sub, sub_path, sub_keyword, depth + 1)

    walk(schema, "", None, 0)
    return findings


# --- the rules themselves: each one fires on what the Inspector flags, and not otherwise ------------

@pytest.mark.parametrize(("schema", "expected"), [
    ({"type": ["string", "null"]}, [("warning", "type-union", "")]),
    ({"type": "object", "properties": {"a": {"type": ["integer", "null"]}}}, [("warning", "type-union", "/properties/a")]),
    ({"type": ["string", "string"]}, []),  # not a union of distinct names: the Inspector leaves it alone
    ({"anyOf": [{"type": "string"}, {"type": "null"}]}, []),
    ({"type": "object", "properties": {"a": {}}}, [("warning", "untyped-schema", "/properties/a")]),
    ({"type": "object", "properties": {"a": {"description": "anything"}}}, [("warning", "untyped-schema", "/properties/a")]),
    ({"not": {}}, []),
    ({"if": {"const": 1}}, [("warning", "untyped-schema", "")]),  # `if` alone accepts every value
    ({"if": {"const": 1}, "then": {"type": "integer"}}, []),
    ({"type": "array", "items": True}, [("error", "boolean-schema", "/items")]),
    ({"type": "object", "additionalProperties": False}, []),
    ({"type": "object", "properties": {"a": False}}, [("error", "boolean-schema", "/properties/a")]),
    ({"$ref": "https://example.com/s.json"}, [("warning", "remote-ref", "")]),
    ({"$ref": "#/$defs/a", "$defs": {"a": {"type": "string"}}}, []),
    ({"type": "object", "$defs": {"a": {"type": ["null", "boolean"]}}}, [("warning", "type-union", "/$defs/a")]),
])
def test_the_rules_report_what_the_inspector_reports(schema: dict[str, Any], expected: list[Finding]) -> None:
    assert portability_findings(schema) == expected


# --- what we serve ----------------------------------------------------------------------------------

KEYS: Final = {
    "sk": ("project", KeyInfo(uuid.uuid4(), "sk", uuid.uuid4(), uuid.uuid4(), "pro")),
    "rk": ("project", KeyInfo(uuid.uuid4(), "rk", uuid.uuid4(), uuid.uuid4(), "pro")),
    "ak": ("account", KeyInfo(uuid.uuid4(), "ak", uuid.uuid4(), None, "business")),
}


async def _tools_list(kind: str, version: str) -> list[dict[str, Any]]:
    endpoint, key = KEYS[kind]
    modern = version in MODERN_VERSIONS
    ctx = CallContext(endpoint=endpoint, key=key, era="modern" if modern else "handshake",  # type: ignore[arg-type]
                      version=version, request_id="req-1")
    svc = services(RuntimeError("tools/list reads nothing"))
    if modern:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": META}}).encode()
        status, out = await rpc.handle_modern(svc, ctx, body, {"mcp-protocol-version": [version], "mcp-method": ["tools/list"]})
    else:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode()
        status, out = await rpc.handle_handshake(svc, ctx, body)
    assert status == 200 and out is not None
    return json.loads(out)["result"]["tools"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("version", [*HANDSHAKE_VERSIONS, *MODERN_VERSIONS])
@pytest.mark.parametrize("kind", sorted(KEYS))
async def test_every_tool_schema_is_portable(kind: str, version: str) -> None:
    tools = await _tools_list(kind, version)
    assert tools
    report = {
        f"{tool['name']}.{which}": findings
        for tool in tools
        for which in ("inputSchema", "outputSchema")
        if which in tool and (findings := portability_findings(tool[which]))
    }
    assert report == {}
