"""Readiness facts that are not read live from a dependency."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Readiness:
    shutting_down: bool = False
    """Set first on shutdown (before the pool closes), so /readyz answers 503 from then on."""
    database: bool = True
    """The last database check (what the `millimetric_query_ready` gauge reads between checks)."""
