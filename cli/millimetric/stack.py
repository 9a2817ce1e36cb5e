"""The services of one Millimetric stack as OS processes: what `millimetric dev`, the tests and the
benchmarks start (each through `millimetric_runtime.processes`).

`service_env` gives every service its settings pointing at one database and one broker; `Stack`
starts `millimetric gateway|query|ingest` processes with it (as containers run them), waits for them
to be ready and stops them in order: gateway first (no new events), then ingest (flush and commit),
then query.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from millimetric_protocol.topics import EVENTS
from millimetric_runtime.processes import READY_TIMEOUT_S, STOP_TIMEOUT_S, ServiceProcess, millimetric_command, wait_http_ready

from .embedded import free_port

STOP_ORDER: Final = ("gateway", "ingest", "query")


def service_env(base: Mapping[str, str], *, dsn: str, bootstrap: str, idempotence: bool, gateway_port: int,
                query_port: int, host: str, topic: str = EVENTS.name) -> dict[str, str]:
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
        env.setdefault(name, topic)
    return env


@dataclass
class Stack:
    """One stack's services. `log_dir` None: the children write to this process's terminal."""

    dsn: str
    bootstrap: str
    topic: str
    env: dict[str, str]
    gateway_port: int
    query_port: int
    log_dir: Path | None = None
    services: list[ServiceProcess] = field(default_factory=list)

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def mcp_url(self) -> str:
        return self.gateway_url + "/mcp"

    @property
    def mcp_account_url(self) -> str:
        return self.gateway_url + "/mcp/account"

    @property
    def query_url(self) -> str:
        return f"http://127.0.0.1:{self.query_port}"

    def process(self, name: str, extra_env: Mapping[str, str] | None = None) -> ServiceProcess:
        """One service ('gateway', 'query', 'ingest' or 'ingest-2' …), not started yet."""
        log_path = self.log_dir / f"{name}.log" if self.log_dir is not None else None
        service = ServiceProcess(name, millimetric_command(name.split("-")[0]), {**self.env, **(extra_env or {})}, log_path)
        self.services.append(service)
        return service

    def start(self, name: str, extra_env: Mapping[str, str] | None = None) -> ServiceProcess:
        return self.process(name, extra_env).start()

    def start_serving(self, ingest_workers: int = 1, extra_env: Mapping[str, str] | None = None,
                      timeout_s: float = READY_TIMEOUT_S) -> None:
        """query, gateway and N ingest workers, waiting until query and gateway are ready."""
        query = self.start("query", extra_env)
        gateway = self.start("gateway", extra_env)
        for i in range(ingest_workers):
            self.start(f"ingest-{i + 1}", extra_env)
        wait_http_ready(self.query_url + "/readyz", timeout_s, process=query)
        wait_http_ready(self.gateway_url + "/readyz", timeout_s, process=gateway)

    def stop(self, service: ServiceProcess, sig: int = signal.SIGTERM, timeout_s: float = STOP_TIMEOUT_S) -> int | None:
        code = service.stop(sig, timeout_s)
        if service in self.services:
            self.services.remove(service)
        return code

    def stop_all(self) -> None:
        def rank(service: ServiceProcess) -> int:
            kind = service.name.split("-")[0]
            return STOP_ORDER.index(kind) if kind in STOP_ORDER else len(STOP_ORDER)

        for service in sorted(self.services, key=rank):
            service.stop()
        self.services.clear()

    def pids(self) -> dict[str, int]:
        return {s.name: s.pid for s in self.services}

    def logs(self, chars: int = 4000) -> str:
        return "\n".join(f"--- {s.name}\n{s.log_tail(chars)}" for s in self.services)


def make_stack(*, dsn: str, bootstrap: str, topic: str = EVENTS.name, log_dir: Path | None, idempotence: bool = False,
               host: str = "127.0.0.1", base_env: Mapping[str, str], gateway_port: int = 0, query_port: int = 0,
               extra_env: Mapping[str, str] | None = None) -> Stack:
    """A stack on free ports (or the ones given) with every service pointed at `dsn` and `bootstrap`."""
    gateway_port = gateway_port or free_port()
    query_port = query_port or free_port()
    env = service_env(base_env, dsn=dsn, bootstrap=bootstrap, idempotence=idempotence, gateway_port=gateway_port,
                      query_port=query_port, host=host, topic=topic)
    env.update({"GATEWAY_EVENTS_TOPIC": topic, "INGEST_EVENTS_TOPIC": topic, "PYTHONUNBUFFERED": "1", **(extra_env or {})})
    return Stack(dsn, bootstrap, topic, env, gateway_port, query_port, log_dir)
