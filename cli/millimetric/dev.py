"""`millimetric dev`: the whole stack on one machine, each service its own OS process.

Starts PostgreSQL and the broker (the embedded Tansu broker, or Apache Kafka with `--broker kafka`;
neither when MILLIMETRIC_PG_DSN / MILLIMETRIC_KAFKA_BOOTSTRAP name real ones), migrates, seeds demo
accounts and keys, creates the topics, then supervises the query service, the gateway and N ingest
workers (millimetric.stack, millimetric_runtime.processes): a service that dies is reported loudly
and restarted with backoff; one that keeps dying stops the stack with its error. Ctrl-C / SIGTERM
stop every process in order (gateway, ingest, query, broker, database).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from millimetric_protocol.topics import EVENTS
from millimetric_runtime.processes import Supervisor, wait_http_ready_async

from .embedded import Broker, ensure_topics, free_port, start_postgres
from .kafka import KafkaCluster, KafkaSetupError
from .migrate import migrate
from .seed import load_previous, seed
from .stack import STOP_ORDER, make_stack

logger = logging.getLogger("millimetric.dev")

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
        topic = environ.get("INGEST_EVENTS_TOPIC", EVENTS.name)
        await ensure_topics(bootstrap, topic, opts.partitions,
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

        stack = make_stack(dsn=dsn, bootstrap=bootstrap, topic=topic, log_dir=None, idempotence=idempotence,
                           host=opts.host, base_env=environ, gateway_port=opts.port, query_port=query_port)
        children = [stack.process("query"), stack.process("gateway")]
        children += [stack.process(f"ingest-{i + 1}") for i in range(opts.ingest_workers)]
        supervisor = Supervisor(children)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, supervisor.stopping.set)
        supervisor.start()
        ready = (await wait_http_ready_async(f"{stack.query_url}/readyz", 30, stop=supervisor.stopping)
                 and await wait_http_ready_async(f"http://127.0.0.1:{opts.port}/readyz", 30, stop=supervisor.stopping))
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
        await supervisor.stop_all(STOP_ORDER)
        return 1 if supervisor.failure else 0
    finally:
        if broker is not None:
            broker.stop()
        if cluster is not None:
            await asyncio.to_thread(cluster.stop)
