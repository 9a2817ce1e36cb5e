"""Lookup tables for attribution (docs/attribution.md §13), loaded once at import from the
versioned ``data/*.json`` files.

Contract: importing this module either yields immutable, validated lookups or raises
``ValueError`` naming the bad file or entry. A broken table is a bug, so it
must stop the worker at start-up rather than misclassify events silently. Nothing here is mutated
after import.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from importlib import resources
from types import MappingProxyType
from typing import Final, Literal, TypeVar

import msgspec

from .model import ATTRIBUTION_VERSION

Category = Literal["search", "social", "video", "shopping", "email", "ai_assistant", "none"]
"""§5.1 source category; ``"none"`` also stands for every unknown source."""

# What a table host may look like: already normalised as §4 step 2 does it (lowercase, no
# 'www.' prefix, no trailing dot), so a lookup never needs to normalise twice.
_TABLE_HOST_RE: Final = re.compile(r"[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?(?:\.[a-z0-9_-]+)+")


class _DataFile(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    attribution_version: int
    description: str


class _SourceRow(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    source: str
    category: Category
    aliases: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    android_packages: tuple[str, ...] = ()


class _SourcesFile(_DataFile, forbid_unknown_fields=True, frozen=True):
    sources: tuple[_SourceRow, ...]


class _HostPatternRow(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    pattern: str
    source: str


class _HostPatternsFile(_DataFile, forbid_unknown_fields=True, frozen=True):
    patterns: tuple[_HostPatternRow, ...]


class _GenericPaidRule(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    separators: tuple[str, ...]
    suffixes: frozenset[str]


class _PaidAliasesFile(_DataFile, forbid_unknown_fields=True, frozen=True):
    explicit: dict[str, str]
    generic: _GenericPaidRule


class ClickId(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One §6 click identifier. ``names[0]`` is canonical; ``medium_token`` is None iff not paid."""

    names: tuple[str, ...]
    platform: str
    medium_token: str | None

    @property
    def name(self) -> str:
        """Canonical name, as reported in ``Attribution.click_ids``."""
        return self.names[0]

    @property
    def is_paid(self) -> bool:
        """Whether this id alone may make a visit paid (§6 'Makes the visit paid?')."""
        return self.medium_token is not None


class _ClickIdsFile(_DataFile, forbid_unknown_fields=True, frozen=True):
    stale_guard_categories: frozenset[Category]
    click_ids: tuple[ClickId, ...]


class _TokensFile(_DataFile, forbid_unknown_fields=True, frozen=True):
    absent_values: frozenset[str]
    paid_medium_regex: str
    paid_media: frozenset[str]
    display_media: frozenset[str]
    social_media: frozenset[str]
    video_medium_substrings: tuple[str, ...]
    organic_media: frozenset[str]
    email_tokens: frozenset[str]
    affiliate_media: frozenset[str]
    audio_media: frozenset[str]
    sms_tokens: frozenset[str]
    push_medium_suffixes: tuple[str, ...]
    push_medium_substrings: tuple[str, ...]
    push_sources: frozenset[str]
    referral_media: frozenset[str]
    shop_campaign_regex: str
    cross_network_campaign_substrings: tuple[str, ...]


class _ReferrersFile(_DataFile, forbid_unknown_fields=True, frozen=True):
    local_hosts: frozenset[str]
    default_ignored_referrers: frozenset[str]


_F = TypeVar("_F", bound=_DataFile)


def _load(name: str, file_type: type[_F]) -> _F:
    """Decode ``data/<name>`` strictly and check it belongs to this ATTRIBUTION_VERSION."""
    raw = resources.files(__package__).joinpath("data", name).read_bytes()
    try:
        data = msgspec.json.decode(raw, type=file_type)
    except msgspec.DecodeError as exc:  # malformed JSON or a schema violation
        raise ValueError(f"attribution table data/{name} is malformed: {exc}") from exc
    if data.attribution_version != ATTRIBUTION_VERSION:
        raise ValueError(
            f"attribution table data/{name} is version {data.attribution_version}, "
            f"code expects ATTRIBUTION_VERSION={ATTRIBUTION_VERSION}; bump both together"
        )
    return data


def _index_unique(pairs: Iterable[tuple[str, str]], what: str) -> Mapping[str, str]:
    """Build a read-only key -> value map, refusing a key that maps to two values."""
    out: dict[str, str] = {}
    for key, value in pairs:
        previous = out.setdefault(key, value)
        if previous != value:
            raise ValueError(f"{what} {key!r} maps to both {previous!r} and {value!r}")
    return MappingProxyType(out)


def _check_hosts(hosts: Iterable[str], what: str) -> None:
    for host in hosts:
        if host.startswith("www.") or not _TABLE_HOST_RE.fullmatch(host):
            raise ValueError(f"{what} {host!r} is not a normalised host (§4 step 2)")


def _check_cleaned(values: Iterable[str], what: str) -> None:
    # Aliases and tokens are compared with §3-cleaned values, so they must look cleaned already.
    for value in values:
        if value != " ".join(value.split()).casefold():
            raise ValueError(f"{what} {value!r} is not a cleaned (trimmed, case-folded) value")


_sources_file: Final = _load("sources.json", _SourcesFile)
_patterns_file: Final = _load("host_patterns.json", _HostPatternsFile)
_paid_file: Final = _load("paid_aliases.json", _PaidAliasesFile)
_click_file: Final = _load("click_ids.json", _ClickIdsFile)
_tokens_file: Final = _load("tokens.json", _TokensFile)
_referrers_file: Final = _load("referrers.json", _ReferrersFile)

# ---- §5.1 canonical sources -------------------------------------------------------------------

SOURCE_CATEGORIES: Final[Mapping[str, Category]] = MappingProxyType(
    {row.source: row.category for row in _sources_file.sources}
)
if len(SOURCE_CATEGORIES) != len(_sources_file.sources):
    raise ValueError("data/sources.json lists a canonical source twice")

SOURCE_ALIASES: Final[Mapping[str, str]] = _index_unique(
    ((alias, row.source) for row in _sources_file.sources for alias in (row.source, *row.aliases)),
    "utm_source alias",
)
_check_cleaned(SOURCE_ALIASES, "utm_source alias")

SOURCE_HOSTS: Final[Mapping[str, str]] = _index_unique(
    ((host, row.source) for row in _sources_file.sources for host in row.hosts),
    "referrer host",
)
_check_hosts(SOURCE_HOSTS, "referrer host")

ANDROID_PACKAGES: Final[Mapping[str, str]] = _index_unique(
    ((pkg, row.source) for row in _sources_file.sources for pkg in row.android_packages),
    "android package",
)
_check_hosts(ANDROID_PACKAGES, "android package")


def _require_known_source(source: str, what: str) -> str:
    if source not in SOURCE_CATEGORIES:
        raise ValueError(f"{what} points at {source!r}, which is not a canonical source")
    return source


# ---- §5.3 host patterns -----------------------------------------------------------------------

HOST_PATTERNS: Final[tuple[tuple[re.Pattern[str], str], ...]] = tuple(
    (re.compile(row.pattern), _require_known_source(row.source, f"host pattern {row.pattern!r}"))
    for row in _patterns_file.patterns
)

# ---- §5.2 paid-flavoured aliases --------------------------------------------------------------

PAID_SOURCE_ALIASES: Final[Mapping[str, str]] = MappingProxyType(
    {
        alias: _require_known_source(source, f"paid alias {alias!r}")
        for alias, source in _paid_file.explicit.items()
    }
)
_check_cleaned(PAID_SOURCE_ALIASES, "paid alias")
if not PAID_SOURCE_ALIASES.keys().isdisjoint(SOURCE_ALIASES):
    raise ValueError("a paid alias in data/paid_aliases.json is also a plain §5.1 alias")

PAID_ALIAS_SPLIT_RE: Final[re.Pattern[str]] = re.compile(
    "[" + "".join(re.escape(sep) for sep in _paid_file.generic.separators) + "]"
)
PAID_ALIAS_SUFFIXES: Final[frozenset[str]] = _paid_file.generic.suffixes

# ---- §6 click identifiers ---------------------------------------------------------------------


def _checked_click_ids(click_ids: tuple[ClickId, ...]) -> tuple[ClickId, ...]:
    for click_id in click_ids:
        if not click_id.names:
            raise ValueError("data/click_ids.json has a click id without a name")
        _require_known_source(click_id.platform, f"click id {click_id.name!r}")
    return click_ids


CLICK_IDS: Final[tuple[ClickId, ...]] = _checked_click_ids(_click_file.click_ids)

# Lower-cased spelling -> click id; properties and query parameters are matched case-insensitively.
CLICK_IDS_BY_NAME: Final[Mapping[str, ClickId]] = MappingProxyType(
    {name.lower(): click_id for click_id in CLICK_IDS for name in click_id.names}
)
if len(CLICK_IDS_BY_NAME) != sum(len({n.lower() for n in c.names}) for c in CLICK_IDS):
    raise ValueError("data/click_ids.json lists a click id name twice")

STALE_GUARD_CATEGORIES: Final[frozenset[Category]] = _click_file.stale_guard_categories

# ---- §3 and §8.1 token sets -------------------------------------------------------------------

ABSENT_VALUES: Final[frozenset[str]] = _tokens_file.absent_values
PAID_MEDIUM_RE: Final[re.Pattern[str]] = re.compile(_tokens_file.paid_medium_regex)
PAID_MEDIA: Final[frozenset[str]] = _tokens_file.paid_media
DISPLAY_MEDIA: Final[frozenset[str]] = _tokens_file.display_media
SOCIAL_MEDIA: Final[frozenset[str]] = _tokens_file.social_media
VIDEO_MEDIUM_SUBSTRINGS: Final[tuple[str, ...]] = _tokens_file.video_medium_substrings
ORGANIC_MEDIA: Final[frozenset[str]] = _tokens_file.organic_media
EMAIL_TOKENS: Final[frozenset[str]] = _tokens_file.email_tokens
AFFILIATE_MEDIA: Final[frozenset[str]] = _tokens_file.affiliate_media
AUDIO_MEDIA: Final[frozenset[str]] = _tokens_file.audio_media
SMS_TOKENS: Final[frozenset[str]] = _tokens_file.sms_tokens
PUSH_MEDIUM_SUFFIXES: Final[tuple[str, ...]] = _tokens_file.push_medium_suffixes
PUSH_MEDIUM_SUBSTRINGS: Final[tuple[str, ...]] = _tokens_file.push_medium_substrings
PUSH_SOURCES: Final[frozenset[str]] = _tokens_file.push_sources
REFERRAL_MEDIA: Final[frozenset[str]] = _tokens_file.referral_media
SHOP_CAMPAIGN_RE: Final[re.Pattern[str]] = re.compile(_tokens_file.shop_campaign_regex)
CROSS_NETWORK_SUBSTRINGS: Final[tuple[str, ...]] = _tokens_file.cross_network_campaign_substrings

# ---- §4 referrer defaults ---------------------------------------------------------------------

LOCAL_HOSTS: Final[frozenset[str]] = _referrers_file.local_hosts
DEFAULT_IGNORED_REFERRERS: Final[frozenset[str]] = _referrers_file.default_ignored_referrers
_check_hosts(DEFAULT_IGNORED_REFERRERS, "default ignored referrer")
