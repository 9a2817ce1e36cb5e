"""Cursors of the list methods. Every list fits in one page, so we never hand out a cursor and
any cursor a client sends is invalid (-32602, as the MCP pagination rules ask)."""

from __future__ import annotations

from millimetric_protocol.envelope import BareParams
from millimetric_protocol.errors import ErrorName, ProtocolError


def check_cursor(params: BareParams) -> None:
    if isinstance(params.cursor, str):
        raise ProtocolError(ErrorName.INVALID_PARAMS, "unknown cursor: every list here fits in one page (no nextCursor is ever sent)",
                            {"path": "params.cursor"})
