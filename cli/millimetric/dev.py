"""`millimetric dev`: the whole stack on one machine, each service its own OS process.

Starts PostgreSQL and the broker (the embedded Tansu broker, or Apache Kafka with `--broker kafka`;
neither when MILLIMETRIC_PG_DSN / MILLIMETRIC_KAFKA_BOOTSTRAP name real ones), migrates, seeds demo
accounts and keys, creates the topics, then supervises the
query service, the gateway and N ingest workers: a service that dies is reported loudly and
restarted with backoff; one that keeps dying stops the stack with its error. Ctrl-C / SIGTERM stop
every process in order (gateway, ingest, query, broker, database).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from millimetric_protocol.events import EVENTS_TOPIC

from .embedded import Broker, ensure_topics, free_port, start_postgres
from .kafka import KafkaCluster, KafkaSetupError
from .migrate import migrate
from .seed import load_previous, seed

logger = logging.getLogger("millimetric.dev")

MAX_RESTARTS = 5
"""More than this many restarts of one service within RESTART_WINDOW_S stops the stack."""
RESTART_WINDOW_S = 60.0


@dataclass
class DevOptions:
    data_dir: Path
    port: int = 8787
    ingest_workers: int = 1
    partitions: int = 6
    fresh: bool = False
    host: str = "127.0.0.1"
    quiet: bool = False
    broker: str = "tansu"
    """'tansu' (embedded, memory storage, starts in a second) or 'kafka' (Apache Kafka, millimetric.kafka)."""
    brokers: int = 1
    """Apache Kafka nodes with --broker kafka; from 3 on, topics get 3 replicas and min ISR 2."""


@dataclass
class Child:
    name: str
    env: dict[str, str]
    process: asyncio.subprocess.Process | None = None
    restarts: list[float] = field(default_factory=list)


class Supervisor:
    def __init__(self, children: list[Child]) -> None:
        self.children = children
        self.stopping = asyncio.Event()
        self.failure: str | None = None

    async def spawn(self, child: Child) -> None:
        child.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "millimetric", child.name.split("-")[0],
            env=child.env, start_new_session=True,  # our own Ctrl-C handling stops children in order
        )

    async def watch(self, child: Child) -> None:
        while not self.stopping.is_set():
            assert child.process is not None
            code = await child.process.wait()
            if self.stopping.is_set():
                return
            now = time.monotonic()
            child.restarts = [t for t in child.restarts if now - t < RESTART_WINDOW_S] + [now]
            if len(child.restarts) > MAX_RESTARTS:
                self.failure = f"{child.name} exited with code {code} {len(child.restarts)} times within {RESTART_WINDOW_S:.0f}s"
                logger.error("!!! %s; stopping the stack (see its log lines above)", self.failure)
                self.stopping.set()
                return
            delay = min(0.5 * 2 ** (len(child.restarts) - 1), 10.0)
            logger.error("!!! %s exited unexpectedly with code %s; restarting in %.1fs (restart %d)",
                         child.name, code, delay, len(child.restarts))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)
            if not self.stopping.is_set():
                await self.spawn(child)

    async def stop_all(self, order: list[str]) -> None:
        by_name = sorted(self.children, key=lambda c: next(i for i, p in enumerate(order) if c.name.startswith(p)))
        for child in by_name:
            proc = child.process
            if proc is None or proc.returncode is not None:
                continue
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 25)
            except TimeoutError:
                logger.error("%s did not stop within 25s; killing it", child.name)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()


async def _wait_ready(url: str, timeout_s: float, supervisor: Supervisor) -> bool:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while time.monotonic() < deadline and not supervisor.stopping.is_set():
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                async with http.get(url) as resp:
                    if resp.status == 200:
                        return True
            await asyncio.sleep(0.1)
    return False


def service_env(base: Mapping[str, str], *, dsn: str, bootstrap: str, idempotence: bool, gateway_port: int,
                query_port: int, host: str) -> dict[str, str]:
    """Environment for the children: every service's settings, pointing at this stack."""
    env = dict(base)
    env.update({
        "GATEWAY_HOST": host, "GATEWAY_PORT": str(gateway_port), "GATEWAY_PG_DSN": dsn,
        "GATEWAY_KAFKA_BOOTSTRAP": bootstrap, "GATEWAY_KAFKA_IDEMPOTENCE": str(idempotence).lower(),
        "GATEWAY_QUERY_URL": f"http://127.0.0.1:{query_port}",
        "INGEST_HTTP_PORT": "0",  # several workers share this machine; containers keep the default 8789
        "INGEST_PG_DSN": dsn, "INGEST_KAFKA_BOOTSTRAP": bootstrap, "INGEST_KAFKA_IDEMPOTENCE": str(idempotence).lower(),
        "QUERY_HOST": "127.0.0.1", "QUERY_PORT": str(query_port), "QUERY_PG_DSN": dsn,
    })
    for name in ("GATEWAY_EVENTS_TOPIC", "INGEST_EVENTS_TOPIC"):
        env.setdefault(name, EVENTS_TOPIC)
    return env


def banner(info: dict[str, Any]) -> str:
    business = next(a for a in info["accounts"] if a["plan"] == "business")
    pro = next(a for a in info["accounts"] if a["plan"] == "pro")
    project = business["projects"][0]
    config = {"mcpServers": {
        "millimetric": {"url": info["mcp_url"], "transport": "http", "headers": {"Authorization": f"Bearer {project['rk']}"}},
        "millimetric-account": {"url": info["mcp_account_url"], "transport": "http",
                                "headers": {"Authorization": f"Bearer {business['ak']}"}},
    }}
    lines = [
        "",
        "Millimetric is running.",
        f"  MCP (project keys):  {info['mcp_url']}",
        f"  MCP (account keys):  {info['mcp_account_url']}",
        "",
        f"Demo keys ({business['name']}, business plan, project {project['slug']}):",
        f"  sk (read + ingest):  {project['sk']}",
        f"  rk (read only):      {project['rk']}",
        f"  pk (browser only):   {project['pk']}",
        f"  ak (account):        {business['ak']}",
        f"Pro plan project {pro['projects'][0]['slug']}: sk {pro['projects'][0]['sk']}",
        "",
        "Website snippet (page views and millimetric.track(), written with the pk_ key):",
        f'  <script src="{info["gateway_url"]}/js/millimetric.js" data-key="{project["pk"]}" defer></script>',
        f"All accounts, projects and keys: {info['dev_json']}",
        "",
        "MCP client config (paste into your client's mcpServers):",
        json.dumps(config, indent=2),
        "",
        "Press Ctrl-C to stop.",
    ]
    return "\n".join(lines)


async def run_dev(opts: DevOptions, environ: Mapping[str, str]) -> int:
    data_dir = opts.data_dir.resolve()
    if opts.fresh and data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    dsn = environ.get("MILLIMETRIC_PG_DSN", "")
    if not dsn:
        dsn = await asyncio.to_thread(start_postgres, data_dir / "pg")
    broker: Broker | None = None
    cluster: KafkaCluster | None = None
    bootstrap = environ.get("MILLIMETRIC_KAFKA_BOOTSTRAP", "")
    if not bootstrap and opts.broker == "kafka":
        try:
            cluster = KafkaCluster(data_dir / "kafka", opts.brokers, environ=environ)
            await asyncio.to_thread(cluster.start)
        except KafkaSetupError as exc:
            logger.error("!!! %s", exc)
            return 1
        logger.info("Apache Kafka: %d node(s) at %s, data in %s", opts.brokers, cluster.bootstrap, cluster.base_dir)
        bootstrap = cluster.bootstrap
    elif not bootstrap:
        broker = Broker(free_port(19092), data_dir / "tansu.log")
        await asyncio.to_thread(broker.start)
        bootstrap = broker.bootstrap
    # The embedded broker has no idempotent producer; real Kafka does (and should use it).
    idempotence = environ.get("MILLIMETRIC_KAFKA_IDEMPOTENCE", "false" if broker else "true").lower() == "true"
    try:
        applied = await migrate(dsn)
        if applied:
            logger.info("migrations applied: %s", ", ".join(applied))
        dev_json = data_dir / "dev.json"
        conn = await asyncpg.connect(dsn)
        try:
            accounts = await seed(conn, load_previous(dev_json))
        finally:
            await conn.close()
        dev_json.unlink(missing_ok=True)  # reappears when this stack is ready
        await ensure_topics(bootstrap, environ.get("INGEST_EVENTS_TOPIC", EVENTS_TOPIC), opts.partitions,
                            replication_factor=cluster.replication_factor if cluster else 1,
                            min_insync_replicas=cluster.min_insync_replicas if cluster else None)
        if opts.ingest_workers > opts.partitions:
            # Workers of one group share partitions; each partition has one owner, so the rest sit idle.
            logger.warning("%d ingest workers but %d partitions: %d workers will be idle (raise --partitions)",
                           opts.ingest_workers, opts.partitions, opts.ingest_workers - opts.partitions)

        query_port = free_port(opts.port + 1)
        gateway_url = f"http://{opts.host}:{opts.port}"
        info = {
            "gateway_url": gateway_url, "mcp_url": f"{gateway_url}/mcp", "mcp_account_url": f"{gateway_url}/mcp/account",
            "database_url": dsn, "kafka_bootstrap": bootstrap, "accounts": accounts,
        }

        env = service_env(environ, dsn=dsn, bootstrap=bootstrap, idempotence=idempotence, gateway_port=opts.port,
                          query_port=query_port, host=opts.host)
        children = [Child("query", env), Child("gateway", env)]
        children += [Child(f"ingest-{i + 1}", env) for i in range(opts.ingest_workers)]
        supervisor = Supervisor(children)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, supervisor.stopping.set)
        for child in children:
            await supervisor.spawn(child)
        watchers = [asyncio.create_task(supervisor.watch(c)) for c in children]
        ready = (await _wait_ready(f"http://127.0.0.1:{query_port}/readyz", 30, supervisor)
                 and await _wait_ready(f"http://127.0.0.1:{opts.port}/readyz", 30, supervisor))
        if ready:
            # Written once the stack answers, so a script that waits for dev.json can use it at once.
            dev_json.write_text(json.dumps(info, indent=2) + "\n")
            os.chmod(dev_json, 0o600)  # it holds the demo keys
            info["dev_json"] = str(dev_json)
            if not opts.quiet:
                print(banner(info), flush=True)
            logger.info("stack ready in %.1fs", time.monotonic() - started)
        elif not supervisor.stopping.is_set():
            supervisor.failure = "services did not become ready within 30s"
            logger.error("!!! %s", supervisor.failure)
            supervisor.stopping.set()
        await supervisor.stopping.wait()
        logger.info("stopping: gateway, ingest, query, then the broker and the database")
        await supervisor.stop_all(["gateway", "ingest", "query"])
        for task in watchers:
            task.cancel()
        return 1 if supervisor.failure else 0
    finally:
        if broker is not None:
            broker.stop()
        if cluster is not None:
            await asyncio.to_thread(cluster.stop)
