"""Cleaning of campaign values (docs/attribution.md §3) and click-id presence (§6).

Both functions accept any JSON value and never raise: anything that is not a ``str`` is absent.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import unquote_plus

from .tables import ABSENT_VALUES

CLEAN_MAX_CHARS: Final = 200
"""§3 step 4: cleaned values are cut to this many characters."""

# Only this much raw text (after leading whitespace) is looked at. A cleaned value keeps at most
# 200 characters, and even a fully percent-encoded 4-byte UTF-8 character takes 12 raw ones, so
# 4096 leaves ample room while bounding the work a multi-megabyte hostile value can cause.
RAW_MAX_CHARS: Final = 4096

_WHITESPACE_RUN_RE: Final = re.compile(r"\s+")
_NON_WHITESPACE_RE: Final = re.compile(r"\S")


def _bounded(raw: str) -> str:
    """Return at most RAW_MAX_CHARS of ``raw`` starting at its first non-whitespace character."""
    if len(raw) <= RAW_MAX_CHARS:
        return raw
    # Skip leading whitespace without copying the (possibly huge) rest of the string.
    first = _NON_WHITESPACE_RE.search(raw)
    if first is None:
        return ""
    start = first.start()
    return raw[start : start + RAW_MAX_CHARS]


def _scrub_surrogates(text: str) -> str:
    """Replace lone UTF-16 surrogates (legal in decoded JSON) so the value can be encoded later."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def clean_campaign_value(raw: object) -> str | None:
    """Clean one utm_* value as §3 says; return None when it is absent.

    Steps: percent-decode exactly once (``+`` is a space), collapse whitespace runs and trim,
    case-fold, cut to CLEAN_MAX_CHARS, then treat placeholders (``null``, ``(direct)``…) as absent.
    Values read from a URL query string must be passed still encoded, so they too are decoded once.
    """
    if not isinstance(raw, str):
        return None
    text = _bounded(raw)
    if "%" in text or "+" in text:
        text = unquote_plus(text)  # errors="replace": invalid UTF-8 becomes U+FFFD, never raises
    text = _WHITESPACE_RUN_RE.sub(" ", text).strip().casefold()
    # The cut can end on the single space of a collapsed run; drop it so the value stays trimmed.
    text = _scrub_surrogates(text[:CLEAN_MAX_CHARS].rstrip())
    if text in ABSENT_VALUES:
        return None
    return text


def is_click_id_present(raw: object, *, url_encoded: bool) -> bool:
    """Whether a click-id value counts as present: a string that is non-empty after trimming.

    ``url_encoded`` values (from a query string) are percent-decoded first, so ``gclid=%20`` is
    absent like ``gclid=`` is. Only presence is reported; the value itself is never kept (§6).
    """
    if not isinstance(raw, str) or not raw:
        return False
    if url_encoded and ("%" in raw or "+" in raw):
        raw = unquote_plus(_bounded(raw))
    # isspace() is False for "" as well, hence the explicit emptiness checks around it.
    return bool(raw) and not raw.isspace()
