"""Acceptance tests for traffic attribution (docs/attribution.md).

Every §12 test vector, read from the table in docs/attribution.md itself, is one parametrized case
(id = vector number). §12's fixture: the project's domain is example.com, the landing URL is
https://www.example.com/landing unless the vector gives ``url``, and ignored referrers are the §4
defaults. Property tests cover §13's invariants.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Final, NamedTuple, cast
from urllib.parse import quote, quote_plus

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from millimetric_ingest.attribution import ATTRIBUTION_VERSION, Attribution, derive
from millimetric_ingest.attribution.classify import CHANNEL_CLASSES

PROJECT_DOMAINS: Final = ("example.com",)
LANDING_URL: Final = "https://www.example.com/landing"
INHERIT: Final = ("inherit", "inherit", "inherit")

SPEC: Final = Path(__file__).resolve().parents[3] / "docs" / "attribution.md"
VECTOR_SECTION: Final = "## 12. Test vectors"
# One §12 row: | n | `{properties}` | `source` | `medium` | channel | why |, or *inherit* in all three.
VECTOR_ROW: Final = re.compile(
    r"\| (?P<number>\d+) \| `(?P<properties>\{.*\})` \| "
    r"(?:(?P<inherit>\*inherit\* \| \*inherit\* \| \*inherit\*)"
    r"|`(?P<source>[^`]+)` \| `(?P<medium>[^`]+)` \| (?P<channel>[^|`*]+?)) \| [^|]*\|"
)
NUMBERED_ROW: Final = re.compile(r"\|\s*\d+\s*\|")


class Vector(NamedTuple):
    number: int
    properties: dict[str, Any]
    expected: tuple[str, str, str]  # (source, medium, channel), or INHERIT


def vector_table_lines(spec: str) -> list[str]:
    """The lines of §12 (from its heading to the next section) that are numbered table rows."""
    section = spec.split(VECTOR_SECTION, 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if NUMBERED_ROW.match(line)]


def parse_vector(line: str) -> Vector:
    """One §12 row as a Vector; a row that does not follow the documented format is an error."""
    match = VECTOR_ROW.fullmatch(line.strip())
    if match is None:
        raise ValueError(f"docs/attribution.md §12 row does not follow the table's format: {line!r}")
    properties = json.loads(match["properties"])
    if match["inherit"]:
        return Vector(int(match["number"]), properties, INHERIT)
    return Vector(int(match["number"]), properties, (match["source"], match["medium"], match["channel"]))


# The vectors live in the spec itself, so the doc and the tests cannot disagree.
VECTORS: Final[tuple[Vector, ...]] = tuple(
    parse_vector(line) for line in vector_table_lines(SPEC.read_text(encoding="utf-8"))
)

def campaign(**values: str) -> dict[str, Any]:
    """A Segment-style nested ``context.campaign`` object."""
    return {"context": {"campaign": values}}


VALID_PAIRS: Final = {(c.medium, c.channel) for c in CHANNEL_CLASSES}


def derive_for_fixture(properties: Any) -> Attribution:
    """derive() with the §12 project configuration."""
    return derive(properties, project_domains=PROJECT_DOMAINS)


def on_landing_page(properties: dict[str, Any]) -> dict[str, Any]:
    """The vector's properties on §12's default landing URL unless it gives its own ``url``."""
    return properties if "url" in properties else {"url": LANDING_URL, **properties}


def assert_well_formed(result: Attribution) -> None:
    assert (result.medium, result.channel) in VALID_PAIRS
    assert result.is_paid is (result.medium == "paid")
    assert result.version == ATTRIBUTION_VERSION
    assert list(result.click_ids) == sorted(set(result.click_ids))
    msgspec.json.encode(result)  # storable: no lone surrogates or other unencodable text


def assert_matches(result: Attribution, expected: tuple[str, str, str]) -> None:
    if expected == INHERIT:
        assert result.inherit, result.explain
        # Inheriting events carry the Direct values as the fallback for a session's first event.
        assert (result.source, result.medium, result.channel) == ("(direct)", "(none)", "Direct")
    else:
        assert not result.inherit, result.explain
        assert (result.source, result.medium, result.channel) == expected, result.explain


@pytest.mark.parametrize("vector", VECTORS, ids=[str(vector.number) for vector in VECTORS])
def test_spec_vector(vector: Vector) -> None:
    result = derive_for_fixture(on_landing_page(vector.properties))
    assert_matches(result, vector.expected)
    assert_well_formed(result)


@pytest.mark.parametrize("vector", VECTORS, ids=[str(vector.number) for vector in VECTORS])
def test_spec_vector_without_landing_url_gives_the_same_result(vector: Vector) -> None:
    # Without a url the page host falls back to the project's primary domain (§2).
    assert_matches(derive_for_fixture(vector.properties), vector.expected)


def test_vector_numbers_cover_section_12_exactly_once() -> None:
    assert [vector.number for vector in VECTORS] == list(range(1, 117))


def test_every_row_of_the_section_12_table_is_a_vector_the_tests_run() -> None:
    # Read independently of the row parser: every table line of §12 but the header and the
    # separator, so a row the parser skipped or misread (a typo in its number, a lost cell) fails.
    section = SPEC.read_text(encoding="utf-8").split(VECTOR_SECTION, 1)[1].split("\n## ", 1)[0]
    table = [line.strip() for line in section.splitlines() if line.lstrip().startswith("|")]
    rows = [[cell.strip() for cell in line.strip("|").split(" | ")] for line in table[2:]]
    assert [row[0] for row in rows] == [str(vector.number) for vector in VECTORS]
    for row, vector in zip(rows, VECTORS, strict=True):
        assert json.loads(row[1].strip("`")) == vector.properties, row
        expected = ["inherit"] * 3 if vector.expected == INHERIT else list(vector.expected)
        assert [cell.strip("`*") for cell in row[2:5]] == expected, row


# ---- details of the API contract ----------------------------------------------------------


def test_reports_cleaned_raw_inputs_and_explains_the_rules_that_fired() -> None:
    result = derive_for_fixture(
        {"url": "https://www.example.com/landing?utm_source=fb&utm_medium=cpc&fbclid=IwAR0abc"}
    )
    assert result.utm_source == "fb"
    assert result.utm_medium == "cpc"
    assert result.click_ids == ("fbclid",)
    assert result.explain == ("A1 alias fb->facebook", "B1 m=cpc", "C5 paid social")


def test_click_ids_are_reported_sorted_by_canonical_name() -> None:
    result = derive_for_fixture({"ScCid": "a", "gclid": "b", "FBCLID": "c", "ttclid": "  "})
    assert result.click_ids == ("fbclid", "gclid", "sccid")
    assert (result.source, result.channel) == ("google", "Paid Search")  # table order: gclid first


def test_sccid_spelling_from_the_url_counts_as_snapchat() -> None:
    result = derive_for_fixture({"url": LANDING_URL + "?ScCid=abc"})
    assert (result.source, result.channel, result.click_ids) == (
        "snapchat",
        "Paid Social",
        ("sccid",),
    )


def test_property_names_are_case_insensitive_and_exact_lowercase_wins() -> None:
    assert derive_for_fixture({"UTM_Source": "fb", "Utm_Medium": "cpc"}).channel == "Paid Social"
    both = derive_for_fixture({"UTM_SOURCE": "google", "utm_source": "fb"})
    assert both.source == "facebook"


def test_literal_dotted_segment_keys_work_like_nested_ones() -> None:
    dotted = derive_for_fixture(
        {
            "context.campaign.source": "Facebook",
            "context.campaign.medium": "cpc",
            "context.campaign.name": "spring",
        }
    )
    nested = derive_for_fixture(campaign(source="Facebook", medium="cpc", name="spring"))
    assert dotted == nested
    assert dotted.campaign == "spring"
    referrer = derive_for_fixture({"context.page.referrer": "https://www.bing.com/"})
    assert (referrer.source, referrer.referrer_host) == ("bing", "bing.com")


def test_same_site_referrer_with_campaign_values_is_dropped_not_inherited() -> None:
    result = derive_for_fixture(
        {"utm_source": "newsletter", "referrer": "https://www.example.com/pricing"}
    )
    assert not result.inherit
    assert (result.source, result.channel, result.referrer_host) == ("newsletter", "Email", None)


def test_ignored_referrers_can_be_replaced_per_project() -> None:
    stripe = {"referrer": "https://checkout.stripe.com/c/pay/cs_123"}
    assert derive(stripe, project_domains=PROJECT_DOMAINS, ignored_referrers=()).source == (
        "checkout.stripe.com"
    )
    assert derive(
        {"referrer": "https://www.pay.example.net/x"},
        project_domains=PROJECT_DOMAINS,
        ignored_referrers=["pay.example.net"],
    ).inherit


def test_page_host_counts_as_same_site_when_no_project_domain_is_configured() -> None:
    result = derive({"url": "https://shop.acme.io/p", "referrer": "https://shop.acme.io/cart"})
    assert result.inherit


def test_referrer_host_reports_android_packages_with_their_scheme() -> None:
    result = derive_for_fixture({"referrer": "android-app://com.facebook.katana"})
    assert result.referrer_host == "android-app:com.facebook.katana"


@pytest.mark.parametrize(
    "properties",
    [
        {"utm_source": 7, "utm_medium": ["cpc"], "referrer": {"url": "x"}, "gclid": 1},
        {"context": "campaign", "url": None},
        {"context": {"campaign": ["facebook"], "page": 3}},
        {"referrer": "https://[::1/"},
        {"referrer": "javascript:alert(1)"},
        {"utm_source": "%E0%A4%A", "utm_medium": "%ZZ"},
        {"utm_source": "\ud800facebook"},
        {"referrer": "https://exa mple.com/"},
        {"utm_source": "x" * 1_000_000, "url": "https://www.example.com/?" + "a=b&" * 100_000},
        {"utm_source": " " * 100_000 + "facebook"},
    ],
)
def test_hostile_values_are_treated_as_absent_without_raising(properties: dict[str, Any]) -> None:
    assert_well_formed(derive_for_fixture(properties))


@pytest.mark.parametrize("properties", [None, [], "utm_source=fb", 3, {1: "x", None: "y"}])
def test_non_mapping_properties_are_an_empty_event(properties: object) -> None:
    result = derive_for_fixture(cast(Any, properties))
    assert (result.source, result.channel) == ("(direct)", "Direct")


# ---- §13 property tests -------------------------------------------------------------------

# Values worth varying: the spellings the rules know, plus arbitrary text. '%' and '+' are left
# out of the base text because they would themselves be decoded by §3's single decoding step.
KNOWN_SPELLINGS: Final = (
    "facebook",
    "fb",
    "FaceBook",
    "facebook ads",
    "fb-ads",
    "facebook_feed_ad",
    "google",
    "adwords",
    "yt-ads",
    "ig",
    "x",
    "hacker news",
    "yahoo mail",
    "newsletter",
    "email",
    "e mail",
    "sms",
    "firebase",
    "partnerblog",
    "https://www.facebook.com/groups/x",
    "www.reddit.com",
    "cpc",
    "ppc",
    "paid_social",
    "paid social",
    "social",
    "social media",
    "display",
    "cpm",
    "organic",
    "referral",
    "affiliate",
    "audio",
    "web-push",
    "video",
    "direct",
    "(none)",
    "null",
)
BASE_TEXT: Final = st.one_of(
    st.sampled_from(KNOWN_SPELLINGS),
    st.text(
        alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789 -_./:()$!?&=#"),
        max_size=60,
    ),
)
WHITESPACE: Final = st.text(alphabet=" \t\n\r\x0b\x0c\xa0\u2003\u3000", max_size=3)


def percent_encode_some(text: str, mask: list[bool]) -> str:
    """Percent-encode the characters of ``text`` whose mask entry is True."""
    return "".join(quote(ch, safe="") if enc else ch for ch, enc in zip(text, mask, strict=True))


class Variant(NamedTuple):
    plain: str  # case and surrounding whitespace varied
    encoded: str  # plain, with none, some or all characters percent-encoded


@st.composite
def spelling_variant(draw: st.DrawFn, base: str) -> Variant:
    """The same value with its case, surrounding whitespace and percent-encoding varied."""
    upper = draw(st.lists(st.booleans(), min_size=len(base), max_size=len(base)))
    plain = "".join(ch.upper() if up else ch.lower() for ch, up in zip(base, upper, strict=True))
    plain = draw(WHITESPACE) + plain + draw(WHITESPACE)
    encoding = draw(st.sampled_from(["none", "all", "plus", "some"]))
    if encoding == "all":
        return Variant(plain, quote(plain, safe=""))
    if encoding == "plus":
        return Variant(plain, quote_plus(plain, safe=""))
    if encoding == "some":
        mask = draw(st.lists(st.booleans(), min_size=len(plain), max_size=len(plain)))
        return Variant(plain, percent_encode_some(plain, mask))
    return Variant(plain, plain)


@settings(max_examples=300)
@given(source=BASE_TEXT, medium=st.none() | BASE_TEXT, data=st.data())
def test_case_whitespace_and_percent_encoding_variants_give_the_same_result(
    source: str, medium: str | None, data: st.DataObject
) -> None:
    variants = {"utm_source": data.draw(spelling_variant(source))}
    base_props = {"url": LANDING_URL, "utm_source": source}
    if medium is not None:
        variants["utm_medium"] = data.draw(spelling_variant(medium))
        base_props["utm_medium"] = medium
    expected = derive_for_fixture(base_props)

    as_properties = {name: variant.encoded for name, variant in variants.items()}
    assert derive_for_fixture({"url": LANDING_URL, **as_properties}) == expected
    # The same variants in the landing URL's query string, where they are always encoded once.
    query = "&".join(
        f"{name}={quote(variant.plain, safe='')}" for name, variant in variants.items()
    )
    assert derive_for_fixture({"url": f"{LANDING_URL}?{query}"}) == expected


JSON_SCALARS: Final = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)


@settings(max_examples=300)
@given(
    value=JSON_SCALARS,
    name=st.sampled_from(["fbclid", "FBCLID", "FbClid"]),
    where=st.sampled_from(["property", "url", "both"]),
    landing=st.sampled_from([LANDING_URL, "https://elsewhere.test/x", None]),
    domains=st.sampled_from([PROJECT_DOMAINS, ()]),
)
def test_fbclid_alone_never_makes_a_visit_paid(
    value: object, name: str, where: str, landing: str | None, domains: tuple[str, ...]
) -> None:
    properties: dict[str, Any] = {}
    if where in ("property", "both"):
        properties[name] = value
    if where in ("url", "both"):
        properties["url"] = f"{landing or LANDING_URL}?{name}={quote(str(value), safe='')}"
    elif landing is not None:
        properties["url"] = landing
    result = derive(properties, project_domains=domains)
    assert not result.is_paid, result.explain
    assert result.medium in {"social", "(none)"}, result.explain
    if result.click_ids:
        assert (result.source, result.channel) == ("facebook", "Organic Social")


KEYS: Final = st.sampled_from(
    [
        "utm_source",
        "UTM_MEDIUM",
        "utm_campaign",
        "utm_content",
        "utm_term",
        "url",
        "referrer",
        "$referrer",
        "context",
        "context.campaign.source",
        "context.page.referrer",
        "gclid",
        "fbclid",
        "ScCid",
        "ttclid",
        "epik",
    ]
) | st.text(max_size=12)
URLISH: Final = st.sampled_from(
    [
        "https://www.example.com/landing?utm_source=fb&gclid=1",
        "https://l.facebook.com/",
        "android-app://com.reddit.frontpage",
        "http://localhost:3000/",
        "https://[::1]:80/",
        "https://www.google.co.uk/search?q=x",
    ]
) | st.text(max_size=40).map(lambda tail: "https://" + tail)
JSON_VALUES: Final = st.recursive(
    JSON_SCALARS | URLISH,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            KEYS | st.sampled_from(["campaign", "page", "source", "name"]), children, max_size=4
        )
    ),
    max_leaves=12,
)


@settings(max_examples=300)
@given(properties=st.dictionaries(KEYS, JSON_VALUES, max_size=8))
def test_any_json_properties_give_a_well_formed_result(properties: dict[str, Any]) -> None:
    result = derive_for_fixture(properties)
    assert_well_formed(result)
    assert derive_for_fixture(properties) == result  # deterministic
