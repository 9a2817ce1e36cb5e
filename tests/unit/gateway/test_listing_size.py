"""tools/list stays compact: an agent pays for every byte of it in context on every connection.

The bounds are today's sizes plus a little headroom; growing past them should be a decision
(shorter descriptions, shared $defs), not an accident. Roughly 4 bytes per token."""

from __future__ import annotations

import json

import pytest
from millimetric_gateway.catalog import tool_listing

BOUNDS_BYTES = {
    ("project", "ingest"): 14_000,
    ("project", "read"): 12_500,
    ("account", "read"): 17_500,
}


@pytest.mark.parametrize(("endpoint", "scope"), sorted(BOUNDS_BYTES))
def test_tools_list_fits_its_byte_budget(endpoint: str, scope: str) -> None:
    tools = list(tool_listing(endpoint, scope, True))  # type: ignore[arg-type]
    size = len(json.dumps({"tools": tools}, separators=(",", ":")))
    assert size <= BOUNDS_BYTES[(endpoint, scope)], f"tools/list is {size} bytes (~{size // 4} tokens)"


def test_every_tool_description_is_short_enough_to_read() -> None:
    for endpoint, scope in BOUNDS_BYTES:
        for tool in tool_listing(endpoint, scope, True):  # type: ignore[arg-type]
            assert len(tool["description"]) <= 1200, tool["name"]
