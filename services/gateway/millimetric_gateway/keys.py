"""Every object the gateway app stores, as typed AppKeys."""

from __future__ import annotations

from aiohttp import web

from .auth import KeyStore
from .metrics import GatewayMetrics
from .producer import EventProducer
from .query_client import QueryClient
from .ratelimit import RateLimiter
from .settings import Settings
from .snippet import Snippet

SETTINGS = web.AppKey("settings", Settings)
KEY_STORE = web.AppKey("key_store", KeyStore)
PRODUCER = web.AppKey("producer", EventProducer)
QUERY = web.AppKey("query_client", QueryClient)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
METRICS = web.AppKey("metrics", GatewayMetrics)
SNIPPET = web.AppKey("snippet", Snippet)
