"""Acceptance tests for traffic attribution (docs/attribution.md).

Every §12 test vector is one parametrized case (id = vector number). §12's fixture: the project's
domain is example.com, the landing URL is https://www.example.com/landing unless the vector gives
``url``, and ignored referrers are the §4 defaults. Property tests cover §13's invariants.
"""

from __future__ import annotations

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

ORGANIC_SOCIAL: Final = ("social", "Organic Social")
PAID_SOCIAL: Final = ("paid", "Paid Social")
ORGANIC_SEARCH: Final = ("organic", "Organic Search")
PAID_SEARCH: Final = ("paid", "Paid Search")
EMAIL: Final = ("email", "Email")
REFERRAL: Final = ("referral", "Referral")


class Vector(NamedTuple):
    number: int
    properties: dict[str, Any]
    expected: tuple[str, str, str]  # (source, medium, channel), or INHERIT


def v(
    number: int, properties: dict[str, Any], source: str, medium_channel: tuple[str, str]
) -> Vector:
    return Vector(number, properties, (source, *medium_channel))


def direct(number: int, properties: dict[str, Any]) -> Vector:
    return Vector(number, properties, ("(direct)", "(none)", "Direct"))


def inherit(number: int, properties: dict[str, Any]) -> Vector:
    return Vector(number, properties, INHERIT)


def campaign(**values: str) -> dict[str, Any]:
    """A Segment-style nested ``context.campaign`` object."""
    return {"context": {"campaign": values}}


# One row per §12 vector, mirroring the spec's table, is easier to check than wrapped rows.
# fmt: off
VECTORS: Final[tuple[Vector, ...]] = (
    direct(1, {}),
    direct(2, {"url": "https://www.example.com/landing"}),
    direct(3, {"utm_source": "direct"}),
    direct(4, {"utm_source": "(direct)", "utm_medium": "(none)"}),
    direct(5, {"utm_source": "null", "utm_medium": "undefined"}),
    direct(6, {"referrer": "http://localhost:3000/"}),
    inherit(7, {"referrer": "https://www.example.com/pricing"}),
    inherit(8, {"referrer": "https://app.example.com/settings"}),
    inherit(9, {"referrer": "https://checkout.stripe.com/c/pay/cs_123"}),
    v(10, {"utm_source": "newsletter", "utm_medium": "email", "referrer": "https://checkout.stripe.com/"}, "newsletter", EMAIL),
    v(11, {"referrer": "https://l.facebook.com/l.php?u=https%3A%2F%2Fexample.com"}, "facebook", ORGANIC_SOCIAL),
    v(12, {"referrer": "https://lm.facebook.com/"}, "facebook", ORGANIC_SOCIAL),
    v(13, {"referrer": "https://m.facebook.com/story.php"}, "facebook", ORGANIC_SOCIAL),
    v(14, {"referrer": "https://www.facebook.com/"}, "facebook", ORGANIC_SOCIAL),
    v(15, {"referrer": "android-app://com.facebook.katana"}, "facebook", ORGANIC_SOCIAL),
    v(16, {"url": "https://www.example.com/landing?fbclid=IwAR0abc"}, "facebook", ORGANIC_SOCIAL),
    v(17, {"fbclid": "IwAR0abc", "referrer": "https://l.facebook.com/"}, "facebook", ORGANIC_SOCIAL),
    v(18, {"fbclid": "IwAR0abc", "referrer": "https://l.instagram.com/"}, "instagram", ORGANIC_SOCIAL),
    v(19, {"fbclid": "IwAR0abc", "utm_source": "facebook", "utm_medium": "paid_social"}, "facebook", PAID_SOCIAL),
    v(20, {"url": "https://www.example.com/landing?utm_source=fb&utm_medium=cpc&fbclid=IwAR0abc"}, "facebook", PAID_SOCIAL),
    v(21, {"utm_source": "FaceBook", "utm_medium": "Paid_Social"}, "facebook", PAID_SOCIAL),
    v(22, {"utm_source": "facebook.com", "utm_medium": "paidsocial"}, "facebook", PAID_SOCIAL),
    v(23, {"utm_source": "m.facebook.com", "utm_medium": "cpm"}, "facebook", PAID_SOCIAL),
    v(24, {"utm_source": "facebook", "utm_medium": "social_paid"}, "facebook", PAID_SOCIAL),
    v(25, {"utm_source": "facebook_ads"}, "facebook", PAID_SOCIAL),
    v(26, {"utm_source": "fb-ads"}, "facebook", PAID_SOCIAL),
    v(27, {"utm_source": "facebook_feed_ad"}, "facebook", PAID_SOCIAL),
    v(28, {"utm_source": "Facebook%20Ads"}, "facebook", PAID_SOCIAL),
    v(29, {"utm_source": "facebook", "utm_medium": "social"}, "facebook", ORGANIC_SOCIAL),
    v(30, {"utm_source": " facebook ", "utm_medium": "post"}, "facebook", ORGANIC_SOCIAL),
    v(31, {"utm_source": "facebook"}, "facebook", ORGANIC_SOCIAL),
    v(32, {"utm_source": "https://www.facebook.com/groups/x"}, "facebook", ORGANIC_SOCIAL),
    v(33, {"utm_source": "facebook", "utm_medium": "email"}, "facebook", ORGANIC_SOCIAL),
    v(34, {"utm_source": "facebook", "utm_medium": "display"}, "facebook", ("paid", "Display")),
    v(35, {"utm_source": "ig", "utm_medium": "social", "utm_content": "link_in_bio"}, "instagram", ORGANIC_SOCIAL),
    v(36, {"utm_source": "IG", "utm_medium": "paid"}, "instagram", PAID_SOCIAL),
    v(37, {"utm_source": "instagram", "utm_medium": "story"}, "instagram", ORGANIC_SOCIAL),
    v(38, {"referrer": "https://l.instagram.com/?u=x", "igshid": "abc"}, "instagram", ORGANIC_SOCIAL),
    v(39, {"url": "https://www.example.com/landing?igshid=abc"}, "instagram", ORGANIC_SOCIAL),
    v(40, {"referrer": "https://www.google.com/"}, "google", ORGANIC_SEARCH),
    v(41, {"referrer": "https://www.google.co.uk/search?q=x"}, "google", ORGANIC_SEARCH),
    v(42, {"referrer": "https://duckduckgo.com/"}, "duckduckgo", ORGANIC_SEARCH),
    v(43, {"referrer": "https://uk.search.yahoo.com/"}, "yahoo", ORGANIC_SEARCH),
    v(44, {"utm_source": "google"}, "google", ORGANIC_SEARCH),
    v(45, {"utm_source": "google", "utm_medium": "organic"}, "google", ORGANIC_SEARCH),
    v(46, {"utm_source": "google", "utm_medium": "email"}, "google", ORGANIC_SEARCH),
    v(47, {"url": "https://www.example.com/landing?gclid=Cj0KCQ"}, "google", PAID_SEARCH),
    v(48, {"gclid": "Cj0KCQ", "referrer": "https://www.google.com/"}, "google", PAID_SEARCH),
    v(49, {"url": "https://www.example.com/landing?gad_source=1"}, "google", PAID_SEARCH),
    v(50, {"utm_source": "google", "utm_medium": "cpc", "gclid": "Cj0KCQ"}, "google", PAID_SEARCH),
    v(51, {"utm_source": "Google", "utm_medium": "PPC"}, "google", PAID_SEARCH),
    v(52, {"utm_source": "google", "utm_medium": "paidsearch"}, "google", PAID_SEARCH),
    v(53, {"utm_source": "adwords"}, "google", PAID_SEARCH),
    v(54, {"gclid": "Cj0KCQ", "referrer": "https://www.linkedin.com/feed/"}, "linkedin", ORGANIC_SOCIAL),
    v(55, {"gclid": "x", "referrer": "https://mail.google.com/"}, "gmail", EMAIL),
    v(56, {"gclid": "Cj0KCQ", "referrer": "https://news.site-publisher.net/article"}, "google", PAID_SEARCH),
    v(57, {"gclid": "Cj0KCQ", "utm_source": "newsletter", "utm_medium": "email"}, "newsletter", EMAIL),
    v(58, {"url": "https://www.example.com/landing?msclkid=abc123"}, "bing", PAID_SEARCH),
    v(59, {"msclkid": "abc123", "referrer": "https://duckduckgo.com/"}, "bing", PAID_SEARCH),
    v(60, {"utm_source": "bing", "utm_medium": "ppc"}, "bing", PAID_SEARCH),
    v(61, {"utm_source": "google", "utm_medium": "display"}, "google", ("paid", "Display")),
    v(62, {"url": "https://www.example.com/landing?dclid=abc"}, "google", ("paid", "Display")),
    v(63, {"referrer": "https://t.co/AbCdE"}, "twitter", ORGANIC_SOCIAL),
    v(64, {"utm_source": "x", "utm_medium": "social"}, "twitter", ORGANIC_SOCIAL),
    v(65, {"utm_source": "twitter", "utm_medium": "sponsored"}, "twitter", PAID_SOCIAL),
    v(66, {"referrer": "https://lnkd.in/abc"}, "linkedin", ORGANIC_SOCIAL),
    v(67, {"utm_source": "linkedin", "utm_medium": "paid-social"}, "linkedin", PAID_SOCIAL),
    v(68, {"utm_source": "linkedin_ads"}, "linkedin", PAID_SOCIAL),
    v(69, {"url": "https://www.example.com/landing?ttclid=E.C.P.abc"}, "tiktok", PAID_SOCIAL),
    v(70, {"ttclid": "abc", "referrer": "https://www.facebook.com/"}, "facebook", ORGANIC_SOCIAL),
    v(71, {"epik": "x"}, "pinterest", ORGANIC_SOCIAL),
    v(72, {"referrer": "https://news.ycombinator.com/item?id=1"}, "hackernews", ORGANIC_SOCIAL),
    v(73, {"referrer": "https://out.reddit.com/t3_abc"}, "reddit", ORGANIC_SOCIAL),
    v(74, {"referrer": "android-app://com.reddit.frontpage"}, "reddit", ORGANIC_SOCIAL),
    v(75, {"url": "https://www.example.com/landing?ref=producthunt"}, "producthunt", ORGANIC_SOCIAL),
    v(76, {"utm_source": "youtube", "utm_medium": "cpv"}, "youtube", ("paid", "Paid Video")),
    v(77, {"utm_source": "yt"}, "youtube", ("video", "Organic Video")),
    v(78, {"utm_source": "yt-ads"}, "youtube", ("paid", "Paid Video")),
    v(79, {"utm_source": "youtube", "utm_medium": "social"}, "youtube", ORGANIC_SOCIAL),
    v(80, {"referrer": "https://www.youtube.com/"}, "youtube", ("video", "Organic Video")),
    v(81, {"utm_source": "amazon", "utm_medium": "cpc"}, "amazon", ("paid", "Paid Shopping")),
    v(82, {"utm_source": "partner", "utm_medium": "cpc", "utm_campaign": "summer-shop-sale"}, "partner", ("paid", "Paid Shopping")),
    v(83, {"referrer": "https://www.amazon.de/"}, "amazon", ("shopping", "Organic Shopping")),
    v(84, {"utm_source": "taboola", "utm_medium": "cpm"}, "taboola", ("paid", "Display")),
    v(85, {"utm_source": "criteo", "utm_medium": "retargeting"}, "criteo", ("paid", "Paid Other")),
    v(86, {"utm_medium": "cpc"}, "(not set)", ("paid", "Paid Other")),
    v(87, {"utm_source": "partner", "utm_medium": "mcp"}, "partner", ("paid", "Paid Other")),
    v(88, {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "PMax cross-network"}, "google", ("paid", "Cross-network")),
    v(89, {"utm_source": "Newsletter", "utm_medium": "E-Mail"}, "newsletter", EMAIL),
    v(90, {"utm_source": "mailchimp", "utm_medium": "email"}, "mailchimp", EMAIL),
    v(91, {"utm_source": "newsletter"}, "newsletter", EMAIL),
    v(92, {"utm_source": "email"}, "email", EMAIL),
    v(93, {"referrer": "https://mail.google.com/"}, "gmail", EMAIL),
    v(94, {"referrer": "android-app://com.google.android.gm"}, "gmail", EMAIL),
    v(95, {"referrer": "https://chatgpt.com/"}, "chatgpt", ("ai_assistant", "AI Assistants")),
    v(96, {"utm_source": "chatgpt.com"}, "chatgpt", ("ai_assistant", "AI Assistants")),
    v(97, {"referrer": "https://www.perplexity.ai/search/x"}, "perplexity", ("ai_assistant", "AI Assistants")),
    v(98, {"referrer": "https://gemini.google.com/app"}, "gemini", ("ai_assistant", "AI Assistants")),
    v(99, {"referrer": "https://blog.partner.org/post/1"}, "blog.partner.org", REFERRAL),
    v(100, {"referrer": "https://www.partner.org/"}, "partner.org", REFERRAL),
    v(101, {"referrer": "https://en.m.wikipedia.org/wiki/X"}, "wikipedia", REFERRAL),
    v(102, {"referrer": "https://github.com/acme/repo"}, "github.com", REFERRAL),
    v(103, {"referrer": "android-app://com.example.someapp"}, "android-app:com.example.someapp", REFERRAL),
    v(104, {"utm_source": "partnerblog"}, "partnerblog", ("unassigned", "Unassigned")),
    v(105, {"utm_source": "partnerblog", "referrer": "https://partnerblog.com/x"}, "partnerblog", REFERRAL),
    v(106, {"utm_source": "partnerblog", "utm_medium": "qr"}, "partnerblog", ("unassigned", "Unassigned")),
    v(107, {"utm_campaign": "spring"}, "(not set)", ("unassigned", "Unassigned")),
    v(108, {"utm_source": "partner", "utm_medium": "referral"}, "partner", REFERRAL),
    v(109, {"utm_source": "partner", "utm_medium": "affiliate"}, "partner", ("affiliate", "Affiliates")),
    v(110, {"utm_source": "podcast", "utm_medium": "audio"}, "podcast", ("audio", "Audio")),
    v(111, {"utm_source": "sms"}, "sms", ("sms", "SMS")),
    v(112, {"utm_source": "firebase", "utm_medium": "notification"}, "firebase", ("push", "Mobile Push Notifications")),
    v(113, {"utm_source": "app", "utm_medium": "web-push"}, "app", ("push", "Mobile Push Notifications")),
    v(114, campaign(source="Facebook", medium="cpc", name="spring"), "facebook", PAID_SOCIAL),
    v(115, {"context": {"page": {"referrer": "https://www.bing.com/"}}}, "bing", ORGANIC_SEARCH),
    v(116, {"utm_source": "newsletter", **campaign(source="facebook", medium="email")}, "newsletter", EMAIL),
)
# fmt: on

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
