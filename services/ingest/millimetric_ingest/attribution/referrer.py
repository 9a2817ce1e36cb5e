"""Referrer parsing, host normalisation, host -> source resolution (docs/attribution.md §4, §5.3).

Every function here is total over strings: unparsable input yields None, never an exception.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final, NamedTuple
from urllib.parse import urlsplit

from .tables import ANDROID_PACKAGES, HOST_PATTERNS, SOURCE_HOSTS

# URLs longer than this are cut before parsing. Hosts sit at the start and are at most 253
# characters, and query parameters we read are normally near the start too; the cap only bounds
# the parsing work a hostile multi-megabyte value can cause.
URL_MAX_CHARS: Final = 16384
_HOST_MAX_CHARS: Final = 253  # DNS limit

_WEB_SCHEMES: Final = frozenset({"http", "https"})
_ANDROID_SCHEME: Final = "android-app"
ANDROID_SOURCE_PREFIX: Final = "android-app:"
"""Prefix of the source (A3) and referrer_host given to an Android package (§5 A3)."""

# A usable host: no whitespace, control or URL-delimiter characters (urlsplit does not validate
# the netloc, so e.g. "https://a b/" would otherwise yield the host "a b"). Non-ASCII letters
# are allowed (IDN hosts), and ':' for IPv6 literals, which urlsplit returns without brackets.
# Lone surrogates (legal in decoded JSON) are refused so the host can always be UTF-8 encoded.
_HOST_RE: Final = re.compile(r"[^\s\x00-\x1f\x7f\ud800-\udfff/\\?#@%<>\"'`{}|^\[\],;=*!$&()+~]+")
_ANDROID_PACKAGE_RE: Final = re.compile(r"[a-z0-9_]+(?:\.[a-z0-9_]+)+")


class ReferrerHost(NamedTuple):
    """A parsed referrer: a normalised web host, or an Android package name when ``is_app``."""

    host: str
    is_app: bool

    @property
    def display(self) -> str:
        """Value reported as ``referrer_host``: the host, or ``android-app:<package>``."""
        return ANDROID_SOURCE_PREFIX + self.host if self.is_app else self.host


class HostMatch(NamedTuple):
    """Outcome of resolving a referrer to a §5.1 source."""

    source: str  # canonical source, or the host / android-app:<package> itself when unknown
    known: bool  # True when source is a canonical §5.1 key
    rule: str  # which table decided: "host", "pattern", "package" or "unknown"
    referrer: str  # the referrer as reported in referrer_host, for the explain trail


def normalise_host(host: str) -> str | None:
    """§4 step 2 on a host without port: lowercase, drop a trailing dot and one leading 'www.'.

    Returns None when nothing usable is left or the host contains characters no host can have.
    """
    host = host.lower()
    if host.endswith("."):
        host = host[:-1]
    if host.startswith("www."):
        host = host[4:]
    if not host or len(host) > _HOST_MAX_CHARS or not _HOST_RE.fullmatch(host):
        return None
    return host


def _split_scheme(url: str) -> str | None:
    """Lower-cased scheme of ``url`` when it has the form ``scheme://…``, else None."""
    # Schemes we care about are short; looking only at the head avoids scanning huge values.
    end = url.find("://", 0, 16)
    return url[:end].lower() if end > 0 else None


def _hostname(url: str) -> str | None:
    try:
        return urlsplit(url).hostname  # lower-cased, without userinfo, port or IPv6 brackets
    except ValueError:  # e.g. an unbalanced '[' in the netloc
        return None


def parse_referrer(raw: str) -> ReferrerHost | None:
    """§4 steps 1-2: the referrer's normalised host (http/https) or package (android-app).

    Any other scheme, a scheme-less value, or anything unparsable is "no referrer" (None).
    """
    url = raw[:URL_MAX_CHARS].strip()
    scheme = _split_scheme(url)
    if scheme in _WEB_SCHEMES:
        hostname = _hostname(url)
        host = normalise_host(hostname) if hostname else None
        return ReferrerHost(host, is_app=False) if host else None
    if scheme == _ANDROID_SCHEME:
        package = _hostname(url)
        if package and _ANDROID_PACKAGE_RE.fullmatch(package):
            return ReferrerHost(package, is_app=True)
    return None


def web_host(url: str) -> str | None:
    """Normalised host of an http(s) URL (used for the page host of §2), else None."""
    parsed = parse_referrer(url)
    return parsed.host if parsed is not None and not parsed.is_app else None


def normalise_domain(domain: str) -> str | None:
    """Normalise a configured project domain or ignored referrer like a referrer host.

    Accepts a bare host (``example.com``, ``www.example.com:8080``) or a URL.
    """
    domain = domain.strip()
    if "://" in domain:
        return web_host(domain)
    host, _, port = domain.rpartition(":")
    if host and port.isdigit() and ":" not in host:  # a port, not part of an IPv6 literal
        domain = host
    return normalise_host(domain)


def normalise_domains(domains: Iterable[object]) -> tuple[str, ...]:
    """Normalise a configured domain list, silently skipping entries that are not usable hosts."""
    if isinstance(domains, str):  # a lone "example.com" passed where a list was meant
        domains = (domains,)
    out: list[str] = []
    for domain in domains:
        if isinstance(domain, str):
            host = normalise_domain(domain)
            if host is not None:
                out.append(host)
    return tuple(out)


def is_same_site(host: str, site_domains: Iterable[str]) -> bool:
    """§4 step 4: ``host`` equals one of ``site_domains`` or is a subdomain of one."""
    # Checking the character before the suffix avoids building "." + domain for every event.
    return any(
        host == domain or (host.endswith(domain) and host[-len(domain) - 1] == ".")
        for domain in site_domains
    )


def resolve_web_host(host: str) -> tuple[str, str] | None:
    """Canonical source for a normalised web host: exact table first, then §5.3 patterns.

    Returns ``(source, rule)`` with rule "host" or "pattern", or None when the host is unknown.
    Exact hosts win, so mail.google.com is gmail although it also looks like Google.
    """
    source = SOURCE_HOSTS.get(host)
    if source is not None:
        return source, "host"
    for pattern, pattern_source in HOST_PATTERNS:
        if pattern.fullmatch(host):
            return pattern_source, "pattern"
    return None


def resolve_referrer(referrer: ReferrerHost) -> HostMatch:
    """§5 A3: the source of an external referrer, falling back to the host or android-app:<pkg>."""
    if referrer.is_app:
        source = ANDROID_PACKAGES.get(referrer.host)
        if source is not None:
            return HostMatch(source, known=True, rule="package", referrer=referrer.display)
        return HostMatch(referrer.display, known=False, rule="unknown", referrer=referrer.display)
    match = resolve_web_host(referrer.host)
    if match is not None:
        return HostMatch(match[0], known=True, rule=match[1], referrer=referrer.host)
    return HostMatch(referrer.host, known=False, rule="unknown", referrer=referrer.host)
