"""What a dispatched call knows about its caller."""

from __future__ import annotations

from dataclasses import dataclass

from .auth import KeyInfo
from .catalog import Endpoint, Scope
from .versions import Era, has_structured_results


@dataclass(frozen=True)
class CallContext:
    endpoint: Endpoint
    key: KeyInfo
    era: Era
    version: str
    request_id: str
    client_ip: str | None = None
    user_agent: str | None = None

    @property
    def scope(self) -> Scope:
        return "ingest" if self.key.kind == "sk" else "read"

    @property
    def structured(self) -> bool:
        return self.era == "modern" or has_structured_results(self.version)
