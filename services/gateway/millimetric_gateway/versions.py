"""MCP protocol versions we serve and how a request's era is chosen (docs/mcp.md §2)."""

from __future__ import annotations

from typing import Final, Literal

HANDSHAKE_VERSIONS: Final = ("2025-03-26", "2025-06-18", "2025-11-25")
MODERN_VERSIONS: Final = ("2026-07-28",)
ALL_VERSIONS: Final = (*HANDSHAKE_VERSIONS, *MODERN_VERSIONS)
LATEST_HANDSHAKE: Final = HANDSHAKE_VERSIONS[-1]
DEFAULT_HEADERLESS: Final = "2025-03-26"
"""What a handshake request without `MCP-Protocol-Version` is taken to speak (the spec's SHOULD)."""

Era = Literal["handshake", "modern"]


def era_of(header: str | None) -> tuple[Era, str] | None:
    """(era, version) for the `MCP-Protocol-Version` header, or None when it names no version we serve."""
    if header is None:
        return "handshake", DEFAULT_HEADERLESS
    if header in HANDSHAKE_VERSIONS:
        return "handshake", header
    if header in MODERN_VERSIONS:
        return "modern", header
    return None


def negotiate(requested: str) -> str:
    """The version an `initialize` answer names: the client's if we serve it in the handshake era, else our newest."""
    return requested if requested in HANDSHAKE_VERSIONS else LATEST_HANDSHAKE


def has_structured_results(version: str) -> bool:
    """`structuredContent`, `outputSchema` and `title` exist from 2025-06-18 on."""
    return version >= "2025-06-18"
