"""Every object the query app stores, as typed AppKeys."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from .metrics import QueryMetrics
from .settings import Settings

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
METRICS = web.AppKey("metrics", QueryMetrics)
