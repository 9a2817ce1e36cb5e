"""Start the three services as real OS processes (as `millimetric dev` does) and wait for them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from millimetric.dev import service_env
from millimetric.embedded import free_port


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path


@dataclass
class Stack:
    dsn: str
    bootstrap: str
    gateway_port: int
    query_port: int
    log_dir: Path
    env: dict[str, str]
    services: list[Service] = field(default_factory=list)

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

    def start(self, name: str, extra_env: dict[str, str] | None = None) -> Service:
        """Start one service (name 'gateway', 'query', 'ingest' or 'ingest-2' …)."""
        log_path = self.log_dir / f"{name}.log"
        log = open(log_path, "ab")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-m", "millimetric", name.split("-")[0]],
            env={**self.env, **(extra_env or {})}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        service = Service(name, process, log_path)
        self.services.append(service)
        return service

    def stop(self, service: Service, sig: int = signal.SIGTERM, timeout_s: float = 30) -> int:
        if service.process.poll() is None:
            service.process.send_signal(sig)
            try:
                service.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                service.process.kill()
                service.process.wait()
        if service in self.services:
            self.services.remove(service)
        return service.process.returncode

    def stop_all(self) -> None:
        for service in list(self.services):
            self.stop(service)

    def logs(self) -> str:
        return "\n".join(f"--- {s.name}\n{s.log_path.read_text(errors='replace')[-4000:]}" for s in self.services)


def wait_ready(url: str, timeout_s: float = 30, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} not ready within {timeout_s}s")


def make_stack(dsn: str, bootstrap: str, log_dir: Path, topic: str) -> Stack:
    gateway_port, query_port = free_port(), free_port()
    env = service_env(os.environ, dsn=dsn, bootstrap=bootstrap, idempotence=False, gateway_port=gateway_port,
                      query_port=query_port, host="127.0.0.1")
    env.update({
        "GATEWAY_EVENTS_TOPIC": topic, "INGEST_EVENTS_TOPIC": topic,
        "GATEWAY_KEY_CACHE_TTL_S": "1", "INGEST_BATCH_MAX_AGE_MS": "20",
        "PYTHONUNBUFFERED": "1",
    })
    return Stack(dsn, bootstrap, gateway_port, query_port, log_dir, env)
