"""Resolving a cleaned ``utm_source`` to a source name (docs/attribution.md §5 A1, §5.1-§5.3)."""

from __future__ import annotations

import re
from typing import Final, NamedTuple

from .referrer import HostMatch, ReferrerHost, normalise_host, parse_referrer, resolve_referrer
from .tables import (
    PAID_ALIAS_SPLIT_RE,
    PAID_ALIAS_SUFFIXES,
    PAID_SOURCE_ALIASES,
    SOURCE_ALIASES,
    SOURCE_CATEGORIES,
    Category,
)

# "Looks like a URL": one of the referrer schemes we can parse.
_URL_RE: Final = re.compile(r"(?:https?|android-app)://")
# "Looks like a host name": dotted labels ending in an alphabetic (or IDNA) TLD, optionally
# followed by a port and a path/query/fragment. Requiring a real-looking TLD keeps values such
# as "v1.2" or "q3.2024" as they are.
_HOST_LIKE_RE: Final = re.compile(
    r"((?:[a-z0-9_-]+\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]+))(?::[0-9]{1,5})?(?:[/?#].*)?", re.DOTALL
)


class SourceMatch(NamedTuple):
    """Outcome of step A1."""

    source: str
    paid_flavoured: bool  # §5.2: the value itself says "paid" (feeds §7 B3)
    explain: str


def category_of(source: str) -> Category:
    """§5.1 category of a resolved source; ``"none"`` for anything not in the table."""
    return SOURCE_CATEGORIES.get(source, "none")


def _generic_paid_alias(value: str) -> str | None:
    """§5.2 generic rule: '<alias><sep>…<sep>ad(s)' names the alias's platform, else None."""
    parts = PAID_ALIAS_SPLIT_RE.split(value)
    if len(parts) >= 2 and parts[-1] in PAID_ALIAS_SUFFIXES:
        return SOURCE_ALIASES.get(parts[0])
    return None


def _host_shaped(value: str) -> ReferrerHost | None:
    """The host (or Android package) of a utm_source that looks like a URL or a host name."""
    if _URL_RE.match(value):
        return parse_referrer(value)
    shaped = _HOST_LIKE_RE.fullmatch(value)
    if shaped is None:
        return None
    host = normalise_host(shaped.group(1))
    return ReferrerHost(host, is_app=False) if host is not None else None


def resolve_utm_source(value: str) -> SourceMatch:
    """Step A1 for a cleaned, present ``utm_source``.

    Order: whole-value alias (§5.1), explicit paid alias, generic paid alias (§5.2); then, for
    URL- or host-shaped values, the host resolved like a referrer (exact host, §5.3 pattern, else
    the bare host); otherwise the cleaned value itself.
    """
    canonical = SOURCE_ALIASES.get(value)
    if canonical is not None:
        if canonical == value:
            return SourceMatch(canonical, False, f"A1 known source {value}")
        return SourceMatch(canonical, False, f"A1 alias {value}->{canonical}")
    canonical = PAID_SOURCE_ALIASES.get(value) or _generic_paid_alias(value)
    if canonical is not None:
        return SourceMatch(canonical, True, f"A1 paid alias {value}->{canonical}")
    host = _host_shaped(value)
    if host is not None:
        match: HostMatch = resolve_referrer(host)
        return SourceMatch(
            match.source, False, f"A1 utm_source host {host.display}->{match.source}"
        )
    return SourceMatch(value, False, f"A1 utm_source {value} (not in tables, kept)")
