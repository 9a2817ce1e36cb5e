"""What a dispatched call knows about its caller."""

from __future__ import annotations

from dataclasses import dataclass, field

from .auth import KeyInfo
from .catalog import Endpoint, Scope
from .versions import Era, has_structured_results


@dataclass
class CallTrace:
    """What a dispatched call was, for metrics: filled in by the dispatcher and the tool handler.
    Only names we serve are recorded (`unknown` otherwise), so label values stay bounded."""

    method: str = "unknown"
    tool: str = ""
    outcome: str = "ok"
    """`ok`, an error name, or `invalid_arguments` for an `isError` tool result."""


@dataclass(frozen=True)
class CallContext:
    endpoint: Endpoint
    key: KeyInfo
    era: Era
    version: str
    request_id: str
    client_ip: str | None = None
    user_agent: str | None = None
    trace: CallTrace = field(default_factory=CallTrace)

    @property
    def scope(self) -> Scope:
        return "ingest" if self.key.kind == "sk" else "read"

    @property
    def structured(self) -> bool:
        return self.era == "modern" or has_structured_results(self.version)
