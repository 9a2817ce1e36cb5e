"""Random (seeded, deterministic) analytics data, ingested through the real pipeline once per session.

- `generate_events` is pure: several projects, 50–200 visitors each (anonymous, identified and
  user-only visitors, plus a few ids shared between projects), sessions over weeks spanning the
  DST changes of Australia/Sydney (2026-10-04), Europe/Berlin (2026-10-25) and America/New_York
  (2026-11-01), events placed exactly on bucket edges, realistic attribution inputs (UTM tags and
  external referrers; never a same-site referrer, whose session inheritance the model leaves out).
- Every project has a marker (`mk…`) planted in its visitor ids and in the `site` property of
  each event, so isolation tests can search any answer for another project's marker.
- `load_dataset` creates the accounts, sends every event with `track_event` (explicit `timestamp`
  and `event_id`) through the gateway, waits until PostgreSQL holds all of them, and returns the
  model's view: projects and events with their attribution computed by the ingest worker's own
  `derive` (unit-tested against docs/attribution.md's vectors). The stored columns are read back
  too (`Dataset.stored`) so a test can check that ingest stored exactly what `derive` says.
- `McpRunner` keeps MCP clients open on a background event loop so that synchronous hypothesis
  tests reuse one client per key for hundreds of calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar
from zoneinfo import ZoneInfo

import asyncpg
from millimetric_ingest.attribution import derive

from tests.support.accounts import create_account
from tests.support.mcp_client import mcp_client
from tests.support.stack import Stack

T = TypeVar("T")

SEED: Final = 20261124
DOMAINS: Final = ("example.com",)
DATA_START: Final = datetime(2026, 9, 21, tzinfo=UTC)
DATA_END: Final = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)
"""Timestamps lie in [DATA_START, min(DATA_END, generation time − 2 min)]."""

ACCOUNT_PLANS: Final = (
    # (account key, plan, time zone of each project)
    ("A", "business", ("Europe/Berlin", "Europe/Berlin", "America/New_York")),
    ("B", "business", ("America/New_York", "America/New_York")),
    ("C", "pro", ("Australia/Sydney",)),
)
EVENT_NAMES: Final = ("page_view", "signup", "add_to_cart", "Checkout", "purchase", "refund")
PLANS: Final = ("free", "pro", "Team", "équipe")
PRICES: Final = (9.99, 19.5, 20, 20.0, 5, 0.1, 100)
ATTRIBUTION_INPUTS: Final[tuple[dict[str, str], ...]] = (
    {},
    {},
    {"utm_source": "facebook", "utm_medium": "cpc", "utm_campaign": "Black  Friday"},
    {"utm_source": "fb", "utm_medium": "social"},
    {"utm_source": " Facebook ", "utm_medium": "paid", "utm_campaign": "black friday"},
    {"referrer": "https://www.google.com/"},
    {"referrer": "https://www.google.com/"},
    {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "spring_sale"},
    {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "Weekly Digest"},
    {"referrer": "https://news.ycombinator.com/item?id=1"},
    {"referrer": "https://l.facebook.com/l.php"},
    {"referrer": "https://blog.somewhere-else.org/post/7"},
    {"utm_source": "bing"},
    {"utm_campaign": "orphan"},
)
EDGE_INSTANTS: Final = tuple(datetime.fromisoformat(t) for t in (
    # Australia/Sydney: midnight Oct 4 (AEST), just before / at the spring-forward, midnight Oct 5 (AEDT)
    "2026-10-03T14:00:00+00:00", "2026-10-04T15:59:59+00:00", "2026-10-04T16:00:00+00:00", "2026-10-04T13:00:00+00:00",
    # Europe/Berlin: midnight Oct 25, the repeated 02:30 (twice), 02:00+01:00, midnight Oct 26 (a Monday), midnight Nov 1
    "2026-10-24T22:00:00+00:00", "2026-10-25T00:30:00+00:00", "2026-10-25T01:30:00+00:00", "2026-10-25T01:00:00+00:00",
    "2026-10-25T23:00:00+00:00", "2026-10-31T23:00:00+00:00", "2026-10-25T00:59:59+00:00",
    # America/New_York: midnight Nov 1 (EDT), 01:30 twice, the fall-back instant, midnight Nov 2 (EST)
    "2026-11-01T04:00:00+00:00", "2026-11-01T05:30:00+00:00", "2026-11-01T06:30:00+00:00", "2026-11-01T06:00:00+00:00",
    "2026-11-02T05:00:00+00:00",
    # UTC: month and Monday boundaries; Asia/Kolkata midnight
    "2026-11-01T00:00:00+00:00", "2026-10-26T00:00:00+00:00", "2026-10-31T23:59:59+00:00", "2026-10-24T18:30:00+00:00",
    "2026-11-16T00:00:00+00:00", "2026-11-15T23:00:00+00:00",
))
GAPS_S: Final = (0, 0, 1, 5, 30, 90, 600, 1800, 3600, 4 * 3600, 86400, 3 * 86400, 8 * 86400)


@dataclass(frozen=True)
class PlannedProject:
    key: str
    """'A0', 'A1', … (account key + index)."""
    account: str
    time_zone: str
    marker: str


def plan_projects(rng: random.Random) -> list[PlannedProject]:
    return [PlannedProject(f"{acc}{i}", acc, tz, f"mk{rng.getrandbits(48):012x}")
            for acc, _, zones in ACCOUNT_PLANS for i, tz in enumerate(zones)]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _properties(rng: random.Random, name: str, marker: str) -> dict[str, Any]:
    props: dict[str, Any] = {"site": marker}
    if name == "page_view":
        props["path"] = rng.choice(["/", "/pricing", "/blog/launch", "/docs"])
        if rng.random() < 0.3:
            props["plan"] = rng.choice(PLANS)
        if rng.random() < 0.2:
            props["flag"] = rng.random() < 0.5
        if rng.random() < 0.9:
            props["sku"] = rng.randint(1, 20000)  # high cardinality: grouping by it passes 1 000 groups
    elif name == "signup":
        props["plan"] = rng.choice(PLANS)
    elif name in ("add_to_cart", "Checkout", "purchase", "refund"):
        props["price"] = rng.choice(PRICES)
        if name != "Checkout":
            props["sku"] = rng.randint(1, 20000)
        if rng.random() < 0.6:
            props["flag"] = rng.random() < 0.5
        if name in ("Checkout", "purchase") and rng.random() < 0.7:
            props["plan"] = rng.choice(PLANS)
        if name == "purchase" and rng.random() < 0.3:
            props["items"] = [rng.randint(1, 9), rng.randint(1, 9)]
            props["meta"] = {"coupon": rng.choice(["SAVE10", "none"]), "n": rng.randint(1, 3)}
    return props


def generate_events(rng: random.Random, projects: list[PlannedProject], *, start: datetime, end: datetime,
                    avoid: tuple[datetime, timedelta] | None = None) -> list[dict[str, Any]]:
    """Pure: the events to send, as dicts with `project` (its key), `event_id`, `timestamp` (UTC),
    `event`, `anonymous_id`, `user_id`, `properties`. `avoid` = (instant, margin): no timestamp lies
    within margin of instant (keeps the schema resource's 30-day edge away from the data)."""
    span_s = int((end - start).total_seconds())
    edges = [t.astimezone(UTC) for t in EDGE_INSTANTS if start <= t <= end]
    out: list[dict[str, Any]] = []
    for project in projects:
        for n in range(rng.randint(50, 160)):
            kind = rng.choices(("anon", "anon_user", "user", "shared"), weights=(55, 25, 15, 5))[0]
            anonymous_id: str | None = f"{project.marker}-a{n}"
            user_id = f"{project.marker}-u{n}"
            if kind == "user":
                anonymous_id = None
            elif kind == "shared":
                anonymous_id = f"shared-{rng.randint(0, 4)}"  # the same id in other projects: another visitor there
            identified = kind == "user"
            for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
                t = rng.choice(edges) if rng.random() < 0.08 else start + timedelta(seconds=rng.randrange(span_s))
                names = ["page_view"] * rng.randint(1, 3)
                for name, p in (("signup", 0.45), ("add_to_cart", 0.5), ("Checkout", 0.35), ("purchase", 0.4), ("refund", 0.05)):
                    if rng.random() < p:
                        names.append(name)
                if len(names) > 2 and rng.random() < 0.2:
                    i = rng.randrange(len(names) - 1)
                    names[i], names[i + 1] = names[i + 1], names[i]
                landing = rng.choice(ATTRIBUTION_INPUTS)
                for i, name in enumerate(names):
                    if i:
                        t += timedelta(seconds=rng.choice(GAPS_S))
                    if t > end:
                        break
                    if avoid is not None and abs(t - avoid[0]) < avoid[1]:
                        t += 2 * avoid[1]  # past the gap, without consuming randomness (the rest stays the same)
                        if t > end:
                            break
                    props = _properties(rng, name, project.marker)
                    if i == 0 or rng.random() < 0.25:
                        props.update(landing if i == 0 else rng.choice(ATTRIBUTION_INPUTS))
                    if kind == "anon_user" and name == "signup":
                        identified = True
                    out.append({
                        "project": project.key, "event_id": _uuid(rng), "timestamp": t, "event": name,
                        "anonymous_id": anonymous_id, "user_id": user_id if identified else None, "properties": props,
                    })
    return out


def track_arguments(event: dict[str, Any], time_zone: str) -> dict[str, Any]:
    """track_event arguments; the timestamp is written in the project's local offset."""
    args: dict[str, Any] = {
        "event": event["event"], "properties": event["properties"], "event_id": event["event_id"],
        "timestamp": event["timestamp"].astimezone(ZoneInfo(time_zone)).isoformat(),
    }
    for name in ("anonymous_id", "user_id"):
        if event[name] is not None:
            args[name] = event[name]
    return args


# --- the MCP clients on a background loop ----------------------------------------------------

class McpRunner:
    """A background event loop holding MCP clients open; synchronous code calls through it.

    Each client is entered and exited inside one holder task (anyio's cancel scopes require it).
    `close()` exits every client and stops the loop.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="mcp-runner", daemon=True)
        self._thread.start()
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._holders: list[tuple[asyncio.Task[None], asyncio.Event]] = []

    def __repr__(self) -> str:
        return f"<McpRunner: {len(self._clients)} clients>"

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 180) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def client(self, url: str, key: str, mode: str = "auto") -> Any:
        if (url, key, mode) not in self._clients:
            self._clients[(url, key, mode)] = self.run(self._open(url, key, mode))
        return self._clients[(url, key, mode)]

    async def _open(self, url: str, key: str, mode: str) -> Any:
        ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        stop = asyncio.Event()

        async def hold() -> None:
            try:
                async with mcp_client(url, key, mode=mode) as client:
                    ready.set_result(client)
                    await stop.wait()
            except BaseException as exc:
                if not ready.done():
                    ready.set_exception(exc)
                else:
                    raise

        self._holders.append((asyncio.create_task(hold()), stop))
        return await ready

    def call_tool(self, url: str, key: str, name: str, arguments: dict[str, Any]) -> Any:
        client = self.client(url, key)
        return self.run(client.call_tool(name, arguments))

    def read_resource(self, url: str, key: str, uri: str) -> Any:
        client = self.client(url, key)
        return self.run(client.read_resource(uri))

    def close(self) -> None:
        async def stop_all() -> None:
            for _, stop in self._holders:
                stop.set()
            for task, _ in self._holders:
                with contextlib.suppress(BaseException):
                    await task

        with contextlib.suppress(Exception):
            self.run(stop_all(), timeout_s=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


# --- the dataset ------------------------------------------------------------------------------

@dataclass
class ModelProject:
    key: str
    account: str
    project_id: str
    slug: str
    name: str
    time_zone: str
    created_at: datetime
    marker: str
    sk: str
    rk: str

    def as_model(self) -> dict[str, Any]:
        return {"project_id": self.project_id, "slug": self.slug, "name": self.name, "time_zone": self.time_zone,
                "created_at": self.created_at}


@dataclass
class Dataset:
    generated_at: datetime
    projects: list[ModelProject]
    account_keys: dict[str, str]
    """account key ('A', 'B', 'C') → ak_ key."""
    events: list[dict[str, Any]]
    """The model's events (attribution from `derive`)."""
    stored: dict[str, dict[str, Any]] = field(default_factory=dict)
    """event_id → the stored row's source/medium/campaign/channel."""
    ingest_s: float = 0.0

    def __repr__(self) -> str:  # hypothesis prints fixtures with a failing example: keep it short
        return f"<Dataset: {len(self.events)} events, projects {[p.key for p in self.projects]}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis' printer ignores a dataclass' __repr__
        printer.text(repr(self))

    def project(self, key: str) -> ModelProject:
        return next(p for p in self.projects if p.key == key)

    def account_projects(self, account: str) -> list[ModelProject]:
        return [p for p in self.projects if p.account == account]

    def model_projects(self, account: str | None = None, key: str | None = None) -> list[dict[str, Any]]:
        return [p.as_model() for p in self.projects if (account is None or p.account == account) and (key is None or p.key == key)]


def attributed(event: dict[str, Any], project_id: str) -> dict[str, Any]:
    a = derive(event["properties"], project_domains=DOMAINS)
    assert not a.inherit, "the generator must not produce same-site referrers"
    return {
        "project_id": project_id, "event_id": event["event_id"], "timestamp": event["timestamp"], "event": event["event"],
        "anonymous_id": event["anonymous_id"], "user_id": event["user_id"], "properties": event["properties"],
        "source": a.source, "medium": a.medium, "campaign": a.campaign, "channel": a.channel,
    }


async def _send_all(stack: Stack, runner: McpRunner, sends: list[tuple[str, dict[str, Any]]], concurrency: int = 24) -> None:
    semaphore = asyncio.Semaphore(concurrency)
    clients: dict[str, Any] = {}
    for key in {k for k, _ in sends}:
        clients[key] = await runner._open(stack.mcp_url, key, "auto")

    async def send(key: str, args: dict[str, Any]) -> None:
        async with semaphore:
            for attempt in range(5):
                result = await clients[key].call_tool("track_event", args)
                if not result.is_error:
                    return
                await asyncio.sleep(0.2 * (attempt + 1))
            raise AssertionError(f"track_event kept failing: {result.content}")

    await asyncio.gather(*(send(k, a) for k, a in sends))


async def _wait_stored(dsn: str, project_ids: list[uuid.UUID], expected: int, deadline_s: float = 120) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        end = time.monotonic() + deadline_s
        while True:
            count = await conn.fetchval("SELECT count(*) FROM events WHERE project_id = ANY($1)", project_ids)
            if count >= expected:
                assert count == expected, f"{count} stored, {expected} sent"
                return
            if time.monotonic() > end:
                raise AssertionError(f"only {count} of {expected} events stored within {deadline_s}s")
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


async def _build(stack: Stack, runner: McpRunner) -> Dataset:
    rng = random.Random(SEED)
    planned = plan_projects(rng)
    generated_at = datetime.now(UTC).replace(microsecond=0)
    projects: list[ModelProject] = []
    account_keys: dict[str, str] = {}
    conn = await asyncpg.connect(stack.dsn)
    try:
        for acc, plan, zones in ACCOUNT_PLANS:
            fixture = await create_account(stack.dsn, plan, projects=len(zones), time_zone=zones[0], domains=DOMAINS)
            account_keys[acc] = fixture.ak
            for i, (zone, p) in enumerate(zip(zones, fixture.projects, strict=True)):
                await conn.execute("UPDATE projects SET time_zone = $1 WHERE project_id = $2", zone, p.project_id)
                row = await conn.fetchrow("SELECT slug, name, time_zone, created_at FROM projects WHERE project_id = $1", p.project_id)
                marker = next(x.marker for x in planned if x.key == f"{acc}{i}")
                projects.append(ModelProject(f"{acc}{i}", acc, str(p.project_id), row["slug"], row["name"], row["time_zone"],
                                             row["created_at"].astimezone(UTC), marker, p.sk, p.rk))
    finally:
        await conn.close()
    end = min(DATA_END, generated_at - timedelta(minutes=2))
    raw = generate_events(rng, planned, start=DATA_START, end=end,
                          avoid=(generated_at - timedelta(days=30), timedelta(minutes=30)))
    by_key = {p.key: p for p in projects}
    sends = [(by_key[e["project"]].sk, track_arguments(e, by_key[e["project"]].time_zone)) for e in raw]
    began = time.monotonic()
    await _send_all(stack, runner, sends)
    ids = [uuid.UUID(p.project_id) for p in projects]
    await _wait_stored(stack.dsn, ids, len(raw))
    ingest_s = time.monotonic() - began
    conn = await asyncpg.connect(stack.dsn)
    try:
        stored_rows = await conn.fetch(
            "SELECT event_id, source, medium, campaign, channel FROM events WHERE project_id = ANY($1)", ids)
    finally:
        await conn.close()
    stored = {str(r["event_id"]): dict(r) | {"event_id": str(r["event_id"])} for r in stored_rows}
    events = [attributed(e, by_key[e["project"]].project_id) for e in raw]
    return Dataset(generated_at, projects, account_keys, events, stored, ingest_s)


_CACHE: dict[str, Dataset] = {}
_LOCK = threading.Lock()


def load_dataset(stack: Stack) -> Dataset:
    """The session's dataset (generated and ingested on first use, then shared by every module)."""
    with _LOCK:
        if stack.dsn not in _CACHE:
            runner = McpRunner()
            try:
                _CACHE[stack.dsn] = runner.run(_build(stack, runner), timeout_s=300)
            finally:
                runner.close()
        return _CACHE[stack.dsn]
