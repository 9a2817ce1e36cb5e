"""Traffic attribution: derive ``source`` / ``medium`` / ``channel`` for one event.

Implements docs/attribution.md. ``derive`` is pure (no I/O after the data tables in ``data/``
are loaded at import) and never raises for JSON-like input; the ingest worker calls it once per
event and stores the result next to ``ATTRIBUTION_VERSION``.
"""

from __future__ import annotations

from .model import ATTRIBUTION_VERSION, Attribution
from .rules import derive

__all__ = ["ATTRIBUTION_VERSION", "Attribution", "derive"]
