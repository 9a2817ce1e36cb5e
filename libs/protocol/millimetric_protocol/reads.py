"""The query service's internal HTTP API: request and response types shared with the gateway.

The gateway has already authenticated the key and validated the arguments with the structs in
`methods`; it forwards the raw argument bytes so the query service decodes them with the very same
struct (the contract tests check both ends agree).
"""

from __future__ import annotations

import uuid
from typing import Any, Final, Literal

import msgspec
from msgspec import UNSET, Struct, UnsetType, field

READ_PATH: Final = "/v1/read"

ReadName = Literal[
    "query_events", "get_stats", "top_sources", "funnel", "list_projects", "compare_projects",
    "events_recent", "events_schema",
]
"""Tools plus the resources that are answered by the query service."""


class ReadScope(Struct, forbid_unknown_fields=True):
    """Who asks: the key's account, and its project for project keys (None on the account endpoint)."""

    account_id: uuid.UUID
    project_id: uuid.UUID | None = None


class ReadRequest(Struct, forbid_unknown_fields=True):
    read: ReadName
    scope: ReadScope
    arguments: msgspec.Raw = field(default_factory=lambda: msgspec.Raw(b"{}"))
    request_id: str = ""


class ReadError(Struct, forbid_unknown_fields=True):
    name: str
    """An `ErrorName` value."""
    detail: str | None = None
    data: dict[str, Any] | None = None


class ReadResult(Struct, omit_defaults=True):
    rows: list[dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict)


class ReadResponse(Struct, omit_defaults=True):
    """Exactly one of `result` / `error`."""

    result: ReadResult | UnsetType = UNSET
    error: ReadError | UnsetType = UNSET
