"""Stage C: the ordered channel rules (docs/attribution.md §8) and the §1.1 vocabulary.

``classify`` is a pure function of already-resolved facts; the first matching rule wins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, NamedTuple

from .tables import (
    AFFILIATE_MEDIA,
    AUDIO_MEDIA,
    CROSS_NETWORK_SUBSTRINGS,
    DISPLAY_MEDIA,
    EMAIL_TOKENS,
    ORGANIC_MEDIA,
    PAID_MEDIA,
    PAID_MEDIUM_RE,
    PUSH_MEDIUM_SUBSTRINGS,
    PUSH_MEDIUM_SUFFIXES,
    PUSH_SOURCES,
    REFERRAL_MEDIA,
    SHOP_CAMPAIGN_RE,
    SMS_TOKENS,
    SOCIAL_MEDIA,
    VIDEO_MEDIUM_SUBSTRINGS,
    Category,
)

DIRECT_SOURCE: Final = "(direct)"
NOT_SET_SOURCE: Final = "(not set)"


class ChannelClass(NamedTuple):
    """One row of the §1.1 table: internal class -> stored ``medium`` and ``channel``."""

    name: str
    medium: str
    channel: str

    @property
    def is_paid(self) -> bool:
        """§1: ``is_paid`` is exactly ``medium == "paid"``."""
        return self.medium == "paid"


DIRECT: Final = ChannelClass("direct", "(none)", "Direct")
ORGANIC_SEARCH: Final = ChannelClass("organic search", "organic", "Organic Search")
PAID_SEARCH: Final = ChannelClass("paid search", "paid", "Paid Search")
ORGANIC_SOCIAL: Final = ChannelClass("organic social", "social", "Organic Social")
PAID_SOCIAL: Final = ChannelClass("paid social", "paid", "Paid Social")
ORGANIC_VIDEO: Final = ChannelClass("organic video", "video", "Organic Video")
PAID_VIDEO: Final = ChannelClass("paid video", "paid", "Paid Video")
ORGANIC_SHOPPING: Final = ChannelClass("organic shopping", "shopping", "Organic Shopping")
PAID_SHOPPING: Final = ChannelClass("paid shopping", "paid", "Paid Shopping")
DISPLAY: Final = ChannelClass("display", "paid", "Display")
PAID_OTHER: Final = ChannelClass("other paid", "paid", "Paid Other")
CROSS_NETWORK: Final = ChannelClass("cross-network", "paid", "Cross-network")
REFERRAL: Final = ChannelClass("referral", "referral", "Referral")
EMAIL: Final = ChannelClass("email", "email", "Email")
AFFILIATE: Final = ChannelClass("affiliate", "affiliate", "Affiliates")
AUDIO: Final = ChannelClass("audio", "audio", "Audio")
SMS: Final = ChannelClass("SMS", "sms", "SMS")
PUSH: Final = ChannelClass("push", "push", "Mobile Push Notifications")
AI_ASSISTANT: Final = ChannelClass("AI assistant", "ai_assistant", "AI Assistants")
UNASSIGNED: Final = ChannelClass("unassigned", "unassigned", "Unassigned")

CHANNEL_CLASSES: Final[tuple[ChannelClass, ...]] = (
    DIRECT,
    ORGANIC_SEARCH,
    PAID_SEARCH,
    ORGANIC_SOCIAL,
    PAID_SOCIAL,
    ORGANIC_VIDEO,
    PAID_VIDEO,
    ORGANIC_SHOPPING,
    PAID_SHOPPING,
    DISPLAY,
    PAID_OTHER,
    CROSS_NETWORK,
    REFERRAL,
    EMAIL,
    AFFILIATE,
    AUDIO,
    SMS,
    PUSH,
    AI_ASSISTANT,
    UNASSIGNED,
)
"""Every §1.1 class; ``medium`` and ``channel`` of a result are always one of these pairs."""


# ---- §8.1 token predicates (all inputs are §3-cleaned) ----------------------------------------


def is_paid_medium(m: str) -> bool:
    """PAID(m): GA4's paid regex (contains 'cp', ppc, retargeting, paid…) or our extra tokens."""
    return m in PAID_MEDIA or PAID_MEDIUM_RE.fullmatch(m) is not None


def is_shop_campaign(campaign: str | None) -> bool:
    """SHOP_CAMPAIGN: GA4's shopping campaign regex."""
    return campaign is not None and SHOP_CAMPAIGN_RE.fullmatch(campaign) is not None


def is_cross_network_campaign(campaign: str | None) -> bool:
    """CROSS_NETWORK: the campaign name mentions cross-network."""
    return campaign is not None and any(part in campaign for part in CROSS_NETWORK_SUBSTRINGS)


def _is_video_medium(m: str | None) -> bool:
    return m is not None and any(part in m for part in VIDEO_MEDIUM_SUBSTRINGS)


def _is_push(source: str, m: str | None) -> bool:
    if source in PUSH_SOURCES:
        return True
    return m is not None and (
        m.endswith(PUSH_MEDIUM_SUFFIXES) or any(part in m for part in PUSH_MEDIUM_SUBSTRINGS)
    )


class Facts(NamedTuple):
    """Everything §8.2 looks at, resolved once per event."""

    source: str
    category: Category
    medium: str | None  # the effective medium token ``m`` of §7, None when there is none
    campaign: str | None
    has_external_referrer: bool
    paid: bool  # PAID(m)
    shop: bool  # cat = shopping or SHOP_CAMPAIGN


def facts(
    source: str,
    category: Category,
    medium: str | None,
    campaign: str | None,
    *,
    has_external_referrer: bool,
) -> Facts:
    """Bundle the classification inputs, precomputing the predicates several rules share."""
    return Facts(
        source=source,
        category=category,
        medium=medium,
        campaign=campaign,
        has_external_referrer=has_external_referrer,
        paid=medium is not None and is_paid_medium(medium),
        shop=category == "shopping" or is_shop_campaign(campaign),
    )


_Rule = tuple[int, Callable[[Facts], bool], ChannelClass]

# §8.2 in order. GA4's precedence as Plausible implements it, with AI Assistants before Organic
# Search. The order is the whole point (e.g. a social source beats an email medium), so keep it.
RULES: Final[tuple[_Rule, ...]] = (
    (1, lambda f: f.source == DIRECT_SOURCE and f.medium is None, DIRECT),
    (2, lambda f: is_cross_network_campaign(f.campaign), CROSS_NETWORK),
    (3, lambda f: f.paid and f.shop, PAID_SHOPPING),
    (4, lambda f: f.paid and f.category == "search", PAID_SEARCH),
    (5, lambda f: f.paid and f.category == "social", PAID_SOCIAL),
    (6, lambda f: f.paid and f.category == "video", PAID_VIDEO),
    (7, lambda f: f.medium in DISPLAY_MEDIA, DISPLAY),
    (8, lambda f: f.paid, PAID_OTHER),
    (9, lambda f: f.shop, ORGANIC_SHOPPING),
    (10, lambda f: f.category == "social" or f.medium in SOCIAL_MEDIA, ORGANIC_SOCIAL),
    (11, lambda f: f.category == "video" or _is_video_medium(f.medium), ORGANIC_VIDEO),
    (12, lambda f: f.category == "ai_assistant", AI_ASSISTANT),
    (13, lambda f: f.category == "search" or f.medium in ORGANIC_MEDIA, ORGANIC_SEARCH),
    (
        14,
        lambda f: f.category == "email" or f.source in EMAIL_TOKENS or f.medium in EMAIL_TOKENS,
        EMAIL,
    ),
    (15, lambda f: f.medium in AFFILIATE_MEDIA, AFFILIATE),
    (16, lambda f: f.medium in AUDIO_MEDIA, AUDIO),
    (17, lambda f: f.source in SMS_TOKENS or f.medium in SMS_TOKENS, SMS),
    (18, lambda f: _is_push(f.source, f.medium), PUSH),
    (19, lambda f: f.medium in REFERRAL_MEDIA, REFERRAL),
    (20, lambda f: f.medium is None and f.has_external_referrer, REFERRAL),
    (21, lambda f: True, UNASSIGNED),
)


def classify(f: Facts) -> tuple[int, ChannelClass]:
    """Return the number of the first §8.2 rule that matches and its class."""
    for number, condition, channel_class in RULES:
        if condition(f):
            return number, channel_class
    raise AssertionError("unreachable: rule 21 always matches")
