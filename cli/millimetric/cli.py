"""The `millimetric` command line.

  millimetric dev [--data-dir D] [--port P] [--ingest-workers N] [--fresh]   the whole stack
                  [--broker tansu|kafka [--brokers 1|3]]
  millimetric gateway | ingest | query                                         one service (env-configured)
  millimetric ingest --replay [--group-id G]                                   rebuild the projection from the topic
  millimetric migrate                                                          apply SQL migrations
  millimetric admin account|project|key …                                      manage accounts and keys (JSON out)

migrate and admin read MILLIMETRIC_PG_DSN.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import asyncpg
from millimetric_runtime.logs import setup_logging

from . import admin
from .migrate import migrate

DEFAULT_DSN = "postgresql://millimetric:millimetric@postgres:5432/millimetric"


def _dsn() -> str:
    return os.environ.get("MILLIMETRIC_PG_DSN", DEFAULT_DSN)


def _uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a UUID: {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="millimetric", description="Product analytics over MCP.")
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="run the whole stack on this machine (embedded PostgreSQL and broker)")
    dev.add_argument("--data-dir", type=Path, default=Path(".millimetric"), help="where data lives (default .millimetric)")
    dev.add_argument("--port", type=int, default=8787, help="gateway port (default 8787)")
    dev.add_argument("--ingest-workers", type=int, default=1, help="ingest worker processes (default 1)")
    dev.add_argument("--partitions", type=int, default=6, help="partitions of the events topic (default 6)")
    dev.add_argument("--fresh", action="store_true", help="wipe the data dir first")
    dev.add_argument("--quiet", action="store_true", help="do not print the banner")
    dev.add_argument("--broker", choices=("tansu", "kafka"), default="tansu",
                     help="tansu: the embedded broker, memory storage (default); kafka: Apache Kafka 4.1.0 with the "
                          "idempotent producer, data kept in DATA_DIR/kafka (needs Java 17+ and Maven; downloaded once)")
    dev.add_argument("--brokers", type=int, choices=(1, 3), default=1,
                     help="Apache Kafka nodes with --broker kafka (default 1; 3: topics at 3 replicas, min ISR 2)")

    for name in ("gateway", "ingest", "query"):
        service = sub.add_parser(name, help=f"run the {name} service alone, configured from {name.upper()}_* variables")
        if name == "ingest":
            service.add_argument("--replay", action="store_true",
                                 help="rebuild the projection from the beginning of the topic into INGEST_PG_DSN "
                                      "under a new consumer group; exit 0 when caught up")
            service.add_argument("--group-id", help="consumer group (default INGEST_GROUP_ID; with --replay a new one)")
    sub.add_parser("migrate", help="apply database migrations (MILLIMETRIC_PG_DSN)")

    demo = sub.add_parser("demo-data", help="send realistic synthetic traffic through the gateway (track_event)")
    demo.add_argument("--project", required=True, help="project slug (looked up in dev.json)")
    demo.add_argument("--days", type=int, default=30, help="spread events over the last N days (default 30)")
    demo.add_argument("--events", type=int, default=10_000, help="how many events (default 10000)")
    demo.add_argument("--dev-json", type=Path, default=Path(".millimetric/dev.json"), help="where `millimetric dev` wrote its keys")
    demo.add_argument("--url", help="MCP URL (instead of dev.json)")
    demo.add_argument("--key", help="sk_ key (instead of dev.json)")
    demo.add_argument("--domain", default="example.com", help="the site's domain, with --url/--key")
    demo.add_argument("--concurrency", type=int, default=32)
    demo.add_argument("--seed", type=int, default=7)

    adm = sub.add_parser("admin", help="manage accounts, projects and keys (MILLIMETRIC_PG_DSN); prints JSON")
    objects = adm.add_subparsers(dest="object", required=True)
    account = objects.add_parser("account").add_subparsers(dest="action", required=True)
    a_create = account.add_parser("create")
    a_create.add_argument("--name", required=True)
    a_create.add_argument("--plan", choices=admin.PLANS, default="free")
    account.add_parser("list")
    a_plan = account.add_parser("set-plan")
    a_plan.add_argument("account_id", type=_uuid)
    a_plan.add_argument("--plan", choices=admin.PLANS, required=True)

    project = objects.add_parser("project").add_subparsers(dest="action", required=True)
    p_create = project.add_parser("create")
    p_create.add_argument("--account", type=_uuid, required=True)
    p_create.add_argument("--slug", required=True)
    p_create.add_argument("--name", required=True)
    p_create.add_argument("--time-zone", default="UTC")
    p_create.add_argument("--domain", action="append", default=[], help="the site's domain (repeatable)")
    p_list = project.add_parser("list")
    p_list.add_argument("--account", type=_uuid)

    key = objects.add_parser("key").add_subparsers(dest="action", required=True)
    k_create = key.add_parser("create")
    k_create.add_argument("--kind", choices=("pk", "sk", "rk", "ak"), required=True)
    k_create.add_argument("--project", type=_uuid)
    k_create.add_argument("--account", type=_uuid)
    k_list = key.add_parser("list")
    k_list.add_argument("--project", type=_uuid)
    k_list.add_argument("--account", type=_uuid)
    k_revoke = key.add_parser("revoke")
    k_revoke.add_argument("key_id", type=_uuid)
    k_rotate = key.add_parser("rotate", help="new key of the same kind and owner (printed once); the old one is revoked "
                                              "now, or after --overlap-s seconds")
    k_rotate.add_argument("key_id", type=_uuid)
    k_rotate.add_argument("--overlap-s", type=float, default=0.0,
                          help="seconds the old key keeps working (default 0: revoked now)")
    return parser


async def _with_conn(fn: Callable[[asyncpg.Connection], Awaitable[Any]]) -> Any:
    conn = await asyncpg.connect(_dsn())
    try:
        return await fn(conn)
    finally:
        await conn.close()


def _admin(args: argparse.Namespace) -> Any:
    o, a = args.object, args.action
    table: dict[tuple[str, str], Callable[[asyncpg.Connection], Awaitable[Any]]] = {
        ("account", "create"): lambda c: admin.create_account(c, args.name, args.plan),
        ("account", "list"): admin.list_accounts,
        ("account", "set-plan"): lambda c: admin.set_plan(c, args.account_id, args.plan),
        ("project", "create"): lambda c: admin.create_project(c, args.account, args.slug, args.name, args.time_zone, args.domain),
        ("project", "list"): lambda c: admin.list_projects(c, args.account),
        ("key", "create"): lambda c: admin.create_key(c, args.kind, project_id=args.project, account_id=args.account),
        ("key", "list"): lambda c: admin.list_keys(c, account_id=args.account, project_id=args.project),
        ("key", "revoke"): lambda c: admin.revoke_key(c, args.key_id),
        ("key", "rotate"): lambda c: admin.rotate_key(c, args.key_id, args.overlap_s),
    }
    return asyncio.run(_with_conn(table[(o, a)]))


def _demo_data(args: argparse.Namespace) -> None:
    from .demodata import Target, generate, send, target_from_dev_json

    if args.url and args.key:
        target = Target(args.url, args.key, args.domain)
    else:
        target = target_from_dev_json(args.dev_json, args.project)
    events = generate(days=args.days, events=args.events, domain=target.domain, seed=args.seed)
    sent, seconds = asyncio.run(send(target, events, args.events, concurrency=args.concurrency))
    print(json.dumps({"project": args.project, "events": sent, "seconds": round(seconds, 2),
                      "events_per_s": round(sent / max(seconds, 1e-9), 1)}))


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.command == "gateway":
        from millimetric_gateway.__main__ import main as run_gateway
        run_gateway()
        return
    if args.command == "ingest":
        from millimetric_ingest.__main__ import main as run_ingest
        run_ingest((["--replay"] if args.replay else []) + (["--group-id", args.group_id] if args.group_id else []))
        return
    if args.command == "query":
        from millimetric_query.__main__ import main as run_query
        run_query()
        return
    setup_logging("cli", json_lines=False, level=logging.INFO if args.command == "dev" else logging.WARNING)
    if args.command == "dev":
        from .dev import DevOptions, run_dev
        if args.brokers > 1 and args.broker != "kafka":
            build_parser().error("--brokers needs --broker kafka")
        opts = DevOptions(args.data_dir, args.port, args.ingest_workers, args.partitions, args.fresh, quiet=args.quiet,
                          broker=args.broker, brokers=args.brokers)
        sys.exit(asyncio.run(run_dev(opts, os.environ)))
    if args.command == "demo-data":
        return _demo_data(args)
    if args.command == "migrate":
        applied = asyncio.run(migrate(_dsn()))
        print(json.dumps({"applied": applied}))
        return None
    try:
        print(json.dumps(_admin(args), indent=2, default=str))
    except admin.AdminError as exc:
        print(json.dumps({"error": str(exc)}), file=sys.stderr)
        sys.exit(2)
    return None
