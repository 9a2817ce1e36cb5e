"""Every size, count and time limit of the public surface, as named constants.

Validators, tests (both sides of each bound) and the README refer to these names; change a
number here and everything that enforces or documents it follows.
"""

from __future__ import annotations

from typing import Final

# --- HTTP -------------------------------------------------------------------------------
MAX_BODY_BYTES: Final = 1 << 20
"""Largest request body the gateway reads (after decompression); larger → HTTP 413."""

MAX_JSON_DEPTH: Final = 32
"""Deepest nesting of arrays/objects accepted anywhere in a request body."""

MAX_RPC_BATCH_CALLS: Final = 20
"""Most messages in one JSON-RPC batch (MCP 2025-03-26 only); more → HTTP 400 `invalid_request`.
Bounds the work one POST (one rate-limit token) can ask for."""

# --- events -----------------------------------------------------------------------------
MAX_EVENT_NAME_CHARS: Final = 200
MAX_ID_CHARS: Final = 200
"""Longest `anonymous_id` / `user_id`."""

MAX_PROPERTIES: Final = 100
"""Most keys in an event's `properties` object, counted over every nesting level."""

MAX_PROPERTY_KEY_CHARS: Final = 200
MAX_PROPERTY_STRING_CHARS: Final = 8_192
MAX_PROPERTY_DEPTH: Final = 5
"""`properties` itself is depth 1; an object inside it is depth 2, and so on."""

MAX_EVENT_BYTES: Final = 32 * 1024
"""Largest encoded event (JSON) accepted by `track_event` and by the ingest worker."""

MIN_INT: Final = -(1 << 63)
MAX_INT: Final = (1 << 63) - 1
"""Integers in properties must fit in a signed 64-bit integer (what most consumers can read)."""

MIN_TIMESTAMP_YEAR: Final = 1970
MAX_TIMESTAMP_YEAR: Final = 9999
MAX_FUTURE_SKEW_S: Final = 24 * 3600
"""An event's `timestamp` may be at most this far ahead of the time it was received."""

# --- reads ------------------------------------------------------------------------------
DEFAULT_QUERY_LIMIT: Final = 50
MAX_QUERY_LIMIT: Final = 1000
DEFAULT_TOP_SOURCES_LIMIT: Final = 20
MAX_TOP_SOURCES_LIMIT: Final = 100
DEFAULT_WINDOW_DAYS: Final = 7
MAX_WINDOW_DAYS: Final = 400
"""Longest `from`..`to` span a read accepts."""
MAX_BUCKETS: Final = 2_000
"""Most time buckets a `get_stats` call may produce (e.g. hours over ~83 days)."""
MAX_GROUP_ROWS: Final = 1_000
"""Most rows a grouped `get_stats` returns; more → `meta.truncated = true`."""
MIN_FUNNEL_STEPS: Final = 2
MAX_FUNNEL_STEPS: Final = 10
MAX_FUNNEL_WINDOW_S: Final = 90 * 24 * 3600
MAX_PROJECT_IDS: Final = 100
"""Most projects one account-endpoint call may name in `project_ids`."""
RECENT_EVENTS: Final = 100
"""How many events `events://recent` returns."""
SCHEMA_DAYS: Final = 30
"""How far back `schema://events` looks."""
MAX_FILTER_PROPERTIES: Final = 10
MAX_FILTER_STRING_CHARS: Final = 500
MAX_CURSOR_CHARS: Final = 512

# --- tracking endpoints (POST /v1/track, POST /v1/batch) --------------------------------
MAX_TRACK_BODY_BYTES: Final = 64 * 1024
"""Largest `/v1/track` body (one event; after decompression); larger → HTTP 413."""
MAX_BATCH_BODY_BYTES: Final = 512 * 1024
"""Largest `/v1/batch` body (after decompression); larger → HTTP 413."""
MAX_BATCH_EVENTS: Final = 500
"""Most events in one `/v1/batch` body; more → HTTP 413 `too_many_events`."""
MAX_MESSAGE_ID_CHARS: Final = 200
"""Longest `messageId` (the idempotency key of a tracked event)."""
MAX_USER_AGENT_CHARS: Final = 512
"""User agents are stored cut to this length."""
MAX_LIBRARY_CHARS: Final = 100
"""`context.library.name` is stored cut to this length."""
