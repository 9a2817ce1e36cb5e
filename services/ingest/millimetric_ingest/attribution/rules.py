"""``derive``: one event's properties -> its traffic attribution (docs/attribution.md).

Stages, each leaving a short line in ``Attribution.explain``:

- inputs (§2, §3): read and clean utm values, click ids, referrer, page host;
- stage 0 (§4): drop unusable / same-site / ignored referrers; internal navigation inherits;
- stage A (§5): resolve ``source``; stage B (§7): the effective medium token;
- stage C (§8): the ordered channel rules give ``medium`` / ``channel`` / ``is_paid``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from .classify import DIRECT, DIRECT_SOURCE, NOT_SET_SOURCE, classify, facts
from .inputs import Inputs, read_inputs
from .model import ATTRIBUTION_VERSION, Attribution
from .referrer import (
    HostMatch,
    ReferrerHost,
    is_same_site,
    normalise_domains,
    parse_referrer,
    resolve_referrer,
)
from .sources import category_of, resolve_utm_source
from .tables import DEFAULT_IGNORED_REFERRERS, LOCAL_HOSTS, STALE_GUARD_CATEGORIES, ClickId

_NO_CLICK_IDS: Final[tuple[str, ...]] = ()


def _site_domains(project_domains: Sequence[str], page_host: str | None) -> tuple[str, ...]:
    """Domains whose hosts (and subdomains) count as same-site (§4 step 4).

    The project's configured domains plus the landing page's own host (§2 'page host': host of
    ``url``, else of ``context.page.url``, else the primary domain, which is already listed), so
    navigation within the page's own site is recognised even on a domain not configured yet.
    """
    domains = normalise_domains(project_domains)
    return domains if page_host is None or page_host in domains else (*domains, page_host)


def _ignored_hosts(ignored_referrers: Sequence[str] | None) -> frozenset[str]:
    if ignored_referrers is None:
        return DEFAULT_IGNORED_REFERRERS
    return frozenset(normalise_domains(ignored_referrers))


def _internal_reason(
    referrer: ReferrerHost, site_domains: tuple[str, ...], ignored: frozenset[str]
) -> str | None:
    """Why ``referrer`` is not external (§4 steps 4-5), or None when it is external."""
    if referrer.host in ignored:
        return f"ignored referrer {referrer.display}"
    if not referrer.is_app and is_same_site(referrer.host, site_domains):
        return f"same-site referrer {referrer.display}"
    return None


def _applicable_paid_click_id(
    inputs: Inputs, referrer: HostMatch | None, trail: list[str]
) -> ClickId | None:
    """The first paid click id (table order) not disabled by the stale click-id guard (§6 r.3-4).

    A paid id is stale when the external referrer resolves to a social, email or AI-assistant
    platform other than the id's own (a gclid link re-shared on LinkedIn). Search engines and
    unknown publishers never trigger the guard (Bing ads on DuckDuckGo, Google Display on news).
    """
    for click_id in inputs.click_ids:
        if not click_id.is_paid:
            continue
        if (
            referrer is not None
            and referrer.known
            and referrer.source != click_id.platform
            and category_of(referrer.source) in STALE_GUARD_CATEGORIES
        ):
            trail.append(
                f"A2 stale guard: {click_id.name} ignored, referrer is {referrer.source} "
                f"({category_of(referrer.source)})"
            )
            continue
        return click_id
    return None


def _inherit(inputs: Inputs, reason: str) -> Attribution:
    """§4 step 6 / §10: internal navigation takes the session's values; Direct is the fallback."""
    return Attribution(
        source=DIRECT_SOURCE,
        medium=DIRECT.medium,
        channel=DIRECT.channel,
        campaign=None,
        is_paid=False,
        inherit=True,
        utm_source=inputs.utm_source,
        utm_medium=inputs.utm_medium,
        utm_campaign=inputs.utm_campaign,
        utm_content=inputs.utm_content,
        utm_term=inputs.utm_term,
        referrer_host=None,
        click_ids=_NO_CLICK_IDS,
        explain=(f"0 {reason}, no campaign values or click ids -> inherit",),
        version=ATTRIBUTION_VERSION,
    )


def _resolve_source(
    inputs: Inputs,
    paid_click: ClickId | None,
    referrer: HostMatch | None,
    trail: list[str],
) -> tuple[str, bool]:
    """Stage A (§5): the source, and whether it came from a paid-flavoured alias (§5.2)."""
    if inputs.utm_source is not None:
        match = resolve_utm_source(inputs.utm_source)
        trail.append(match.explain)
        return match.source, match.paid_flavoured
    if paid_click is not None:
        trail.append(f"A2 click id {paid_click.name}->{paid_click.platform}")
        return paid_click.platform, False
    if referrer is not None:
        trail.append(f"A3 referrer {referrer.referrer}->{referrer.source} ({referrer.rule})")
        return referrer.source, False
    for click_id in inputs.click_ids:  # only non-paid ids can be left here (fbclid, igshid, epik)
        if not click_id.is_paid:
            trail.append(f"A4 click id {click_id.name}->{click_id.platform}")
            return click_id.platform, False
    if inputs.has_campaign_values:
        trail.append(f"A5 campaign values without source -> {NOT_SET_SOURCE}")
        return NOT_SET_SOURCE, False
    trail.append(f"A6 nothing -> {DIRECT_SOURCE}")
    return DIRECT_SOURCE, False


def _effective_medium(
    inputs: Inputs, paid_click: ClickId | None, paid_flavoured: bool, trail: list[str]
) -> str | None:
    """Stage B (§7): the medium token ``m`` fed to §8, or None."""
    if inputs.utm_medium is not None:
        trail.append(f"B1 m={inputs.utm_medium}")
        return inputs.utm_medium
    if paid_click is not None:  # explicit UTMs win; the id fills in only a missing medium
        trail.append(f"B2 {paid_click.name} m={paid_click.medium_token}")
        return paid_click.medium_token
    if paid_flavoured:
        trail.append("B3 paid-flavoured source m=paid")
        return "paid"
    trail.append("B4 no medium")
    return None


def derive(
    properties: Mapping[str, Any],
    *,
    project_domains: Sequence[str] = (),
    ignored_referrers: Sequence[str] | None = None,
) -> Attribution:
    """Derive source / medium / channel for one event, as docs/attribution.md specifies.

    ``properties`` is the event's JSON-decoded properties object and may be hostile: wrong types
    are treated as absent and this function never raises for JSON-like input. ``project_domains``
    are the project's own domains (same-site detection, the first is the primary domain);
    ``ignored_referrers=None`` means the default list of §4 step 5.

    Pure and deterministic: no I/O, no shared mutable state; safe to call concurrently.
    """
    inputs = read_inputs(properties)
    trail: list[str] = []

    referrer = parse_referrer(inputs.referrer) if inputs.referrer is not None else None
    if referrer is not None and not referrer.is_app and referrer.host in LOCAL_HOSTS:
        trail.append(f"0 local referrer {referrer.host} dropped")
        referrer = None
    if referrer is not None:
        reason = _internal_reason(
            referrer,
            _site_domains(project_domains, inputs.page_host),
            _ignored_hosts(ignored_referrers),
        )
        if reason is not None:
            if not inputs.has_campaign_values and not inputs.click_ids:
                return _inherit(inputs, reason)
            trail.append(f"0 {reason} dropped, campaign values or click ids decide")
            referrer = None

    referrer_match = resolve_referrer(referrer) if referrer is not None else None
    paid_click = _applicable_paid_click_id(inputs, referrer_match, trail)
    source, paid_flavoured = _resolve_source(inputs, paid_click, referrer_match, trail)
    medium_token = _effective_medium(inputs, paid_click, paid_flavoured, trail)

    rule, channel_class = classify(
        facts(
            source,
            category_of(source),
            medium_token,
            inputs.utm_campaign,
            has_external_referrer=referrer is not None,
        )
    )
    trail.append(f"C{rule} {channel_class.name}")

    return Attribution(
        source=source,
        medium=channel_class.medium,
        channel=channel_class.channel,
        campaign=inputs.utm_campaign,
        is_paid=channel_class.is_paid,
        inherit=False,
        utm_source=inputs.utm_source,
        utm_medium=inputs.utm_medium,
        utm_campaign=inputs.utm_campaign,
        utm_content=inputs.utm_content,
        utm_term=inputs.utm_term,
        referrer_host=referrer.display if referrer is not None else None,
        click_ids=tuple(sorted(click_id.name for click_id in inputs.click_ids)),
        explain=tuple(trail),
        version=ATTRIBUTION_VERSION,
    )
