"""Readiness facts that are not read live from a dependency."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Readiness:
    shutting_down: bool = False
    """Set first on shutdown (before anything is closed), so /readyz answers 503 from then on."""
    database: bool = True
    """The last key database check (what the `millimetric_gateway_ready` gauge reads between checks)."""
