"""Every golden example decodes (or fails) as its file says, with the failing field named."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from millimetric_protocol import methods
from millimetric_protocol.codec import as_request, decode_arguments, decode_message
from millimetric_protocol.errors import ProtocolError
from millimetric_protocol.events import decode_event
from millimetric_protocol.examples import Example, load_examples
from millimetric_protocol.reads import ReadRequest, ReadResponse

EXAMPLES = load_examples()
ARGUMENT_TYPES: dict[str, Any] = {**methods.PROJECT_TOOL_ARGS, **{f"account.{k}": v for k, v in methods.ACCOUNT_TOOL_ARGS.items()},
                                  "compare_projects": methods.CompareProjectsArgs, "list_projects": methods.ListProjectsArgs}


def _decode(example: Example) -> Any:
    if example.kind == "jsonrpc":
        return as_request(decode_message(example.body))
    if example.kind == "event":
        try:
            return decode_event(example.body)
        except ValueError as exc:
            raise _Poison(str(exc)) from exc
    if example.kind == "read_request":
        return msgspec.json.decode(example.body, type=ReadRequest)
    if example.kind == "read_response":
        return msgspec.json.decode(example.body, type=ReadResponse)
    return decode_arguments(msgspec.Raw(example.body), ARGUMENT_TYPES[example.kind])


class _Poison(Exception):
    pass


def test_there_are_examples_of_every_kind() -> None:
    kinds = {e.kind for e in EXAMPLES}
    assert {"jsonrpc", "event", "read_request", "read_response", "track_event", "query_events", "get_stats",
            "top_sources", "funnel", "compare_projects", "list_projects"} <= kinds
    assert any(not e.valid for e in EXAMPLES) and any(e.valid for e in EXAMPLES)


@pytest.mark.parametrize("example", [e for e in EXAMPLES if e.valid], ids=lambda e: e.name)
def test_valid_example_decodes(example: Example) -> None:
    _decode(example)


@pytest.mark.parametrize("example", [e for e in EXAMPLES if not e.valid], ids=lambda e: e.name)
def test_invalid_example_fails_naming_the_field(example: Example) -> None:
    with pytest.raises((ProtocolError, _Poison, msgspec.ValidationError)) as info:
        _decode(example)
    err = info.value
    if isinstance(err, ProtocolError):
        assert err.name.value == example.error
        if example.path is not None:
            assert err.data.get("path") == example.path, err.data
    elif isinstance(err, msgspec.ValidationError):
        assert example.error == "invalid_request"
        assert example.path is None or f"$.{example.path}" in str(err)
    else:
        assert example.error == "poison"
