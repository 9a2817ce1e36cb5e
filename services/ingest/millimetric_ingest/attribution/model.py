"""The attribution result type and its version (docs/attribution.md §1, §13)."""

from __future__ import annotations

from typing import Final

import msgspec

# Bump whenever a data table (data/*.json) or a rule changes, so stored rows can be backfilled
# and explained. Every data file carries the same number; tables.py refuses to load a mismatch,
# which makes a table edit without a version bump fail at import time.
ATTRIBUTION_VERSION: Final[int] = 1


# gc=False: instances hold only str/bool/int/tuples of str, so they can never be part of a
# reference cycle; skipping GC tracking matters because one is built for every ingested event.
class Attribution(msgspec.Struct, frozen=True, gc=False):
    """Derived traffic attribution of one event.

    Guarantees: ``medium`` and ``channel`` are one of the §1.1 pairs; ``is_paid`` is
    ``medium == "paid"``; ``version == ATTRIBUTION_VERSION``. When ``inherit`` is true the event
    takes its session's values (§10) and ``source``/``medium``/``channel`` hold the Direct values
    only as a fallback for a session's first event.
    """

    source: str
    medium: str
    channel: str
    campaign: str | None
    is_paid: bool
    inherit: bool
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    utm_content: str | None
    utm_term: str | None
    referrer_host: str | None
    click_ids: tuple[str, ...]
    explain: tuple[str, ...]
    version: int
