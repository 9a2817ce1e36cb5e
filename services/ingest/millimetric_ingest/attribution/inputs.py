"""Reading the attribution inputs out of an event's properties (docs/attribution.md §2).

Contract: ``read_inputs`` accepts any JSON-like value and never raises. Property names are matched
case-insensitively (an exact lower-case key wins over other spellings of the same name); values
of the wrong type are treated as absent; for each input the first candidate that is present
after cleaning wins, and event properties beat values parsed from the landing URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, NamedTuple
from urllib.parse import unquote_plus

from .clean import clean_campaign_value, is_click_id_present
from .referrer import URL_MAX_CHARS, web_host
from .tables import CLICK_IDS, CLICK_IDS_BY_NAME, ClickId

_UTM_NAMES: Final = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")

# Segment puts UTM values in context.campaign; utm_campaign is called "name" there.
_SEGMENT_CAMPAIGN_KEYS: Final = {
    "utm_source": "source",
    "utm_medium": "medium",
    "utm_campaign": "name",
    "utm_content": "content",
    "utm_term": "term",
}
_CAMPAIGN_NAMES: Final = frozenset(_SEGMENT_CAMPAIGN_KEYS.values())
_PAGE_NAMES: Final = frozenset({"referrer", "url"})
_CONTEXT_NAMES: Final = frozenset({"campaign", "page"})

_DOTTED_CAMPAIGN: Final = {
    utm: f"context.campaign.{key}" for utm, key in _SEGMENT_CAMPAIGN_KEYS.items()
}
_DOTTED_PAGE_REFERRER: Final = "context.page.referrer"
_DOTTED_PAGE_URL: Final = "context.page.url"

# Top-level property names we read; everything else in the event is skipped cheaply.
_PROPERTY_NAMES: Final = frozenset(
    {
        *_UTM_NAMES,
        "url",
        "referrer",
        "$referrer",
        "context",
        *_DOTTED_CAMPAIGN.values(),
        _DOTTED_PAGE_REFERRER,
        _DOTTED_PAGE_URL,
        *CLICK_IDS_BY_NAME,
    }
)
# Query parameters of `url` we read: ref and source are Plausible's fallbacks for utm_source.
_QUERY_NAMES: Final = frozenset({*_UTM_NAMES, "ref", "source", *CLICK_IDS_BY_NAME})
_UTM_SOURCE_QUERY_FALLBACKS: Final = ("utm_source", "ref", "source")

_MAX_NAME_CHARS: Final = max(len(name) for name in _PROPERTY_NAMES | _QUERY_NAMES)


class Inputs(NamedTuple):
    """The §2 inputs of one event, utm values already cleaned (§3)."""

    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    utm_content: str | None
    utm_term: str | None
    click_ids: tuple[ClickId, ...]  # ids present, in §6 table order
    referrer: str | None  # raw referrer URL, unparsed
    page_host: str | None  # normalised host of the landing page, when the event says

    @property
    def has_campaign_values(self) -> bool:
        """Whether any utm value survived cleaning ("any UTM value present", §4 and §5 A5)."""
        return any(
            value is not None
            for value in (
                self.utm_source,
                self.utm_medium,
                self.utm_campaign,
                self.utm_content,
                self.utm_term,
            )
        )


def _pick(container: object, names: frozenset[str]) -> dict[str, object]:
    """The entries of ``container`` whose lower-cased key is in ``names``, keyed by that name.

    Anything that is not a mapping has no entries. One pass over the keys, so a property bag with
    thousands of keys costs one cheap loop rather than one scan per name we look for.
    """
    if not isinstance(container, Mapping):
        return {}
    found: dict[str, object] = {}
    for key, value in container.items():
        if not isinstance(key, str) or len(key) > _MAX_NAME_CHARS:
            continue
        name = key.lower()
        # An exact lower-case key beats "UTM_Source"-style spellings, whatever the key order.
        if name in names and (key == name or name not in found):
            found[name] = value
    return found


def _query_params(url: str) -> dict[str, str]:
    """Raw (still percent-encoded) values of the query parameters we read from ``url``.

    Names are decoded and matched case-insensitively; per name the first non-blank value wins.
    Values stay encoded so that §3 cleaning decodes them exactly once.
    """
    url = url[:URL_MAX_CHARS]
    start = url.find("?")
    if start < 0:
        return {}
    end = url.find("#", start)
    query = url[start + 1 : end] if end >= 0 else url[start + 1 :]
    params: dict[str, str] = {}
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        if len(name) > 3 * _MAX_NAME_CHARS:  # too long to be ours even when fully encoded
            continue
        if "%" in name or "+" in name:
            name = unquote_plus(name)
        name = name.strip().lower()
        if name in _QUERY_NAMES and name not in params and value.strip():
            params[name] = value
    return params


def _first_text(*candidates: object) -> str | None:
    """The first candidate that is a non-blank string."""
    for candidate in candidates:
        if isinstance(candidate, str) and candidate and not candidate.isspace():
            return candidate
    return None


def _utm(
    name: str,
    props: dict[str, object],
    campaign: dict[str, object],
    query: dict[str, str],
    query_names: tuple[str, ...],
) -> str | None:
    """One cleaned utm value: the first candidate still present after §3 cleaning.

    Candidates: the property, Segment's nested context.campaign value, its literal dotted key,
    then the URL's query parameters in the order given.
    """
    for candidate in (
        props.get(name),
        campaign.get(_SEGMENT_CAMPAIGN_KEYS[name]),
        props.get(_DOTTED_CAMPAIGN[name]),
    ):
        if candidate is not None:
            cleaned = clean_campaign_value(candidate)
            if cleaned is not None:
                return cleaned
    for query_name in query_names if query else ():
        cleaned = clean_campaign_value(query.get(query_name))
        if cleaned is not None:
            return cleaned
    return None


def _present_click_ids(props: dict[str, object], query: dict[str, str]) -> tuple[ClickId, ...]:
    """Click ids present as a property or a query parameter, in table order (§6 rule 4)."""
    present: set[ClickId] = set()
    # props and query hold only names we read, so this loops over a handful of entries at most.
    for name, value in props.items():
        click_id = CLICK_IDS_BY_NAME.get(name)
        if click_id is not None and is_click_id_present(value, url_encoded=False):
            present.add(click_id)
    for name, raw in query.items():
        click_id = CLICK_IDS_BY_NAME.get(name)
        if click_id is not None and is_click_id_present(raw, url_encoded=True):
            present.add(click_id)
    if not present:
        return ()
    return tuple(click_id for click_id in CLICK_IDS if click_id in present)


def _page_host(*urls: object) -> str | None:
    """Host of the first candidate that is an http(s) URL with a usable host."""
    for url in urls:
        if isinstance(url, str):
            host = web_host(url)
            if host is not None:
                return host
    return None


def read_inputs(properties: object) -> Inputs:
    """Collect the §2 inputs from an event's properties; never raises."""
    props = _pick(properties, _PROPERTY_NAMES)
    context = _pick(props.get("context"), _CONTEXT_NAMES)
    campaign = _pick(context.get("campaign"), _CAMPAIGN_NAMES)
    page = _pick(context.get("page"), _PAGE_NAMES)
    url = props.get("url")
    query = _query_params(url) if isinstance(url, str) else {}

    return Inputs(
        utm_source=_utm("utm_source", props, campaign, query, _UTM_SOURCE_QUERY_FALLBACKS),
        utm_medium=_utm("utm_medium", props, campaign, query, ("utm_medium",)),
        utm_campaign=_utm("utm_campaign", props, campaign, query, ("utm_campaign",)),
        utm_content=_utm("utm_content", props, campaign, query, ("utm_content",)),
        utm_term=_utm("utm_term", props, campaign, query, ("utm_term",)),
        click_ids=_present_click_ids(props, query),
        referrer=_first_text(
            props.get("referrer"),
            page.get("referrer"),
            props.get(_DOTTED_PAGE_REFERRER),
            props.get("$referrer"),
        ),
        page_host=_page_host(url, page.get("url"), props.get(_DOTTED_PAGE_URL)),
    )
