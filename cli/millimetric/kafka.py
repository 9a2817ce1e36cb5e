"""Apache Kafka on 127.0.0.1, configured as docker-compose.yml runs it: for `millimetric dev
--broker kafka`, for the tests that need what the embedded Tansu broker lacks (the idempotent
producer, replication, brokers that fail, TLS and SASL) and for the benchmarks.

The broker is Maven Central's `org.apache.kafka:kafka_2.13` with its runtime dependencies, fetched
once with `mvn` into a cache outside the repository and run with the machine's `java` (17+). Each
broker is its own JVM in KRaft combined mode (broker + controller; every node votes in the
controller quorum) with its own data dir and log file. Every process started here is stopped here,
by process id.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import contextlib
import datetime
import fcntl
import functools
import ipaddress
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError
from aiokafka.protocol.metadata import MetadataRequest

from .embedded import free_port

logger = logging.getLogger(__name__)

KAFKA_VERSION: Final = "4.1.0"
"""The broker docker-compose.yml runs (apache/kafka:4.1.0)."""
SCALA_VERSION: Final = "2.13"
LOG4J_VERSION: Final = "2.24.3"
"""The log4j-core that kafka_2.13 4.1.0 depends on; its SLF4J 1.x binding must be the same version."""
DEPENDENCY_PLUGIN_VERSION: Final = "3.8.1"
JAVA_MIN_VERSION: Final = 17
CACHE_ENV: Final = "MILLIMETRIC_KAFKA_CACHE"
"""Directory that holds the downloaded brokers (default $XDG_CACHE_HOME/millimetric, else ~/.cache/millimetric)."""
INSTALL_HINT: Final = "real Kafka needs Java 17+ and Maven: apt-get install default-jre-headless maven"
DOWNLOAD_TIMEOUT_S: Final = 900.0
FORMAT_TIMEOUT_S: Final = 120.0
SASL_MECHANISMS: Final = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
_MARKER: Final = "complete"
_SAFE: Final = re.compile(r"[A-Za-z0-9._-]{1,64}")
"""Names and passwords that need no quoting in JAAS, properties files or `--add-scram`."""


class KafkaSetupError(RuntimeError):
    """Java or Maven is missing, the download failed, or a broker did not come up. The message says
    what is wrong and what to do; it is meant to be shown to a person as it is."""


# --- the broker's jars ---------------------------------------------------------------------------


def cache_root(environ: Mapping[str, str] | None = None) -> Path:
    """Where downloaded brokers live: $MILLIMETRIC_KAFKA_CACHE, else $XDG_CACHE_HOME/millimetric,
    else ~/.cache/millimetric. Never inside the repository."""
    env = os.environ if environ is None else environ
    if env.get(CACHE_ENV):
        return Path(env[CACHE_ENV]).expanduser()
    base = Path(env["XDG_CACHE_HOME"]).expanduser() if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "millimetric"


def find_java(environ: Mapping[str, str] | None = None) -> str:
    """The `java` on PATH, checked to be 17 or newer; raises KafkaSetupError otherwise."""
    env = os.environ if environ is None else environ
    java = shutil.which("java", path=env.get("PATH", os.defpath))
    if java is None:
        raise KafkaSetupError(INSTALL_HINT)
    major = _java_major(java)
    if major < JAVA_MIN_VERSION:
        raise KafkaSetupError(f"{java} is Java {major}; {INSTALL_HINT}")
    return java


@functools.cache
def _java_major(java: str) -> int:
    out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    found = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not found:
        raise KafkaSetupError(f"cannot tell the version of {java} ({(out.stderr or out.stdout).strip()[:200]}); {INSTALL_HINT}")
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major  # "1.8.0_402" is Java 8


def _pom(version: str) -> str:
    dependencies = [("org.apache.kafka", f"kafka_{SCALA_VERSION}", version),
                    # kafka_2.13 logs through SLF4J 1.x and brings log4j-core without the bridge between them.
                    ("org.apache.logging.log4j", "log4j-slf4j-impl", LOG4J_VERSION)]
    deps = "\n".join(f"    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version></dependency>"
                     for g, a, v in dependencies)
    return f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.millimetric</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>{version}</version>
  <packaging>pom</packaging>
  <dependencies>
{deps}
  </dependencies>
  <build><plugins><plugin>
    <groupId>org.apache.maven.plugins</groupId>
    <artifactId>maven-dependency-plugin</artifactId>
    <version>{DEPENDENCY_PLUGIN_VERSION}</version>
  </plugin></plugins></build>
</project>
"""


def maven_error(output: str) -> str:
    """The line of Maven's output that says why it failed (its first [ERROR] line), without colours."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in output.splitlines()]
    errors = [line for line in lines if line.startswith("[ERROR]") and len(line) > len("[ERROR]")]
    return (errors or [line for line in lines if line] or ["(no output)"])[0]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes, also if this process dies
        yield


def fetch_kafka(version: str = KAFKA_VERSION, environ: Mapping[str, str] | None = None) -> Path:
    """The directory of the broker's jars (its classpath), downloading them with Maven on first use.

    A finished download is marked by a file written last; it is built in a private directory and
    renamed into place under a lock, so concurrent first runs download once and nobody sees a
    partial one. Raises KafkaSetupError naming the artifact and Maven's error when it fails.
    """
    env = os.environ if environ is None else environ
    root = cache_root(env)
    home = root / f"kafka-{version}"
    if (home / _MARKER).exists():
        return home / "libs"
    mvn = shutil.which("mvn", path=env.get("PATH", os.defpath))
    if mvn is None:
        raise KafkaSetupError(INSTALL_HINT)
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / f"kafka-{version}.lock"):
        if (home / _MARKER).exists():  # another process finished it while this one waited
            return home / "libs"
        artifact = f"org.apache.kafka:kafka_{SCALA_VERSION}:{version}"
        logger.info("downloading Apache Kafka %s (%s and its dependencies) with Maven into %s; once", version, artifact, home)
        staging = Path(tempfile.mkdtemp(prefix=f".kafka-{version}-", dir=root))
        try:
            (staging / "pom.xml").write_text(_pom(version))
            command = [mvn, "-q", "-B", "-Dstyle.color=never", "-f", str(staging / "pom.xml"),
                       "dependency:copy-dependencies", "-DincludeScope=runtime", f"-DoutputDirectory={staging / 'libs'}"]
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S, env=dict(env))
            except subprocess.TimeoutExpired as exc:
                raise KafkaSetupError(f"downloading {artifact} with Maven took more than {DOWNLOAD_TIMEOUT_S:.0f}s") from exc
            if done.returncode != 0:
                raise KafkaSetupError(f"cannot download {artifact} with Maven: {maven_error(done.stdout + done.stderr)}")
            (staging / _MARKER).write_text(f"{artifact}\n")
            shutil.rmtree(home, ignore_errors=True)  # a leftover without the marker
            staging.rename(home)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return home / "libs"


# --- TLS material --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tls:
    """Certificates made for one cluster, all PEM. `ca_file` is what clients trust; `foreign_ca_file`
    is an unrelated CA (a client trusting it must fail the handshake). The client pairs are for the
    SSL listener, which requires a certificate: the cluster CA's pair is accepted, the foreign one
    refused."""

    dir: Path

    @property
    def ca_file(self) -> Path:
        return self.dir / "ca.pem"

    @property
    def foreign_ca_file(self) -> Path:
        return self.dir / "foreign-ca.pem"

    @property
    def broker_cert_file(self) -> Path:
        """The broker's certificate followed by the CA's (its chain)."""
        return self.dir / "broker.pem"

    @property
    def broker_key_file(self) -> Path:
        return self.dir / "broker-key.pem"

    @property
    def client_cert_file(self) -> Path:
        return self.dir / "client.pem"

    @property
    def client_key_file(self) -> Path:
        return self.dir / "client-key.pem"

    @property
    def foreign_client_cert_file(self) -> Path:
        return self.dir / "foreign-client.pem"

    @property
    def foreign_client_key_file(self) -> Path:
        return self.dir / "foreign-client-key.pem"


def make_tls(directory: Path) -> Tls:
    """A throwaway CA, a broker certificate for 127.0.0.1 and localhost, a client certificate, and
    an unrelated CA with a client certificate of its own, written (private keys 0600) to `directory`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def certificate(cn: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name | None,
                    issuer_key: ec.EllipticCurvePrivateKey | None, *, ca: bool = False,
                    server: bool = False) -> x509.Certificate:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer or name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=365))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if ca:
            builder = builder.add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                                          content_commitment=False, key_encipherment=False,
                                                          data_encipherment=False, key_agreement=False,
                                                          encipher_only=False, decipher_only=False), critical=True)
        else:
            usage = [ExtendedKeyUsageOID.SERVER_AUTH] if server else [ExtendedKeyUsageOID.CLIENT_AUTH]
            builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
        return builder.sign(issuer_key or key, hashes.SHA256())

    def pem(cert: x509.Certificate) -> bytes:
        return cert.public_bytes(serialization.Encoding.PEM)

    def write(path: Path, data: bytes, private: bool = False) -> None:
        path.write_bytes(data)
        if private:
            path.chmod(0o600)

    def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())

    directory.mkdir(parents=True, exist_ok=True)
    tls = Tls(directory)
    for prefix, ca_name in (("", "millimetric test CA"), ("foreign-", "unrelated test CA")):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = certificate(ca_name, ca_key, None, None, ca=True)
        write(directory / f"{prefix}ca.pem", pem(ca_cert))
        client_key = ec.generate_private_key(ec.SECP256R1())
        write(directory / f"{prefix}client.pem", pem(certificate("millimetric-client", client_key, ca_cert.subject, ca_key)))
        write(directory / f"{prefix}client-key.pem", key_pem(client_key), private=True)
        if not prefix:
            broker_key = ec.generate_private_key(ec.SECP256R1())
            broker_cert = certificate("localhost", broker_key, ca_cert.subject, ca_key, server=True)
            write(tls.broker_cert_file, pem(broker_cert) + pem(ca_cert))
            write(tls.broker_key_file, key_pem(broker_key), private=True)
    return tls


# --- brokers -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Security:
    """Listeners beyond PLAINTEXT: SASL_SSL with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 for `users`
    (name → password; letters, digits, '.', '_' and '-' only), and with `ssl` also an SSL listener
    that requires a client certificate from the cluster's CA. SCRAM users are written when the
    storage is formatted, so they are fixed for the life of a data dir."""

    users: Mapping[str, str]
    ssl: bool = False

    def __post_init__(self) -> None:
        if not self.users:
            raise ValueError("Security needs at least one SASL user")
        for name, password in self.users.items():
            if not (_SAFE.fullmatch(name) and _SAFE.fullmatch(password)):
                raise ValueError(f"SASL user {name!r}: names and passwords are 1-64 of A-Z a-z 0-9 . _ -")


@dataclass(frozen=True)
class PartitionState:
    """One partition as the cluster's metadata describes it: `leader` is -1 while it has none, and
    the replicas are empty too while the node asked does not know the partition (yet)."""

    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


@dataclass
class KafkaBroker:
    """One node (broker + controller): its ports stay the same across restarts, and so does its data."""

    node_id: int
    dir: Path
    port: int
    controller_port: int
    sasl_ssl_port: int = 0
    ssl_port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.dir / "server.properties"

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    @property
    def log_path(self) -> Path:
        return self.dir / "broker.log"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


_LOG4J2: Final = """\
# Written by millimetric.kafka: the broker logs to stdout, which goes to broker.log.
status = warn
# Log4j's own shutdown hook would stop logging while Kafka's shutdown is still under way.
shutdownHook = disable
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = out
# As Kafka's own log4j2.yaml: one line per request is too much.
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.channel.name = kafka.network.RequestChannel$
logger.channel.level = warn
"""


def _properties(values: Mapping[str, str]) -> str:
    """A Java properties file: backslashes and line breaks in values escaped (PEM values span lines)."""
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")

    return "".join(f"{key}={escape(value)}\n" for key, value in values.items())


def _cluster_id() -> str:
    """A random Kafka cluster id (22 characters of URL-safe base64); never starting with '-', which
    the storage tool would read as an option."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


class KafkaCluster:
    """N Apache Kafka nodes on 127.0.0.1 under `base_dir`, as docker-compose.yml configures its broker
    (auto topic creation off, internal topics replicated), with internal topics at replication
    factor min(N, 3) and min ISR 2 from three nodes on.

    Layout: `base_dir/cluster.json` (cluster id, ports), `base_dir/broker-<id>/` (server.properties,
    data/, broker.log) and `base_dir/tls/` when `security` is given. A data dir that was formatted
    before is started as it is (topics and offsets survive). Each node is a JVM with a `heap_mb`
    heap; `quick_start` compiles with C1 only (faster start, lower peak throughput: benchmarks that
    load the broker pass False). The methods that start or stop processes block; from async code
    call them with `asyncio.to_thread`.
    """

    def __init__(self, base_dir: Path, brokers: int = 1, *, security: Security | None = None, heap_mb: int = 384,
                 quick_start: bool = True, version: str = KAFKA_VERSION, environ: Mapping[str, str] | None = None) -> None:
        if brokers < 1:
            raise ValueError("a cluster needs at least one broker")
        self.base_dir = base_dir.resolve()
        self.security = security
        self.heap_mb = heap_mb
        self.quick_start = quick_start
        self.version = version
        self.environ = dict(os.environ if environ is None else environ)
        self.replication_factor = min(brokers, 3)
        self.min_insync_replicas = 2 if self.replication_factor >= 3 else 1
        self.tls: Tls | None = None
        saved = self._saved()
        if saved and len(saved["brokers"]) != brokers:
            raise KafkaSetupError(f"{self.base_dir} holds a {len(saved['brokers'])}-broker cluster, not {brokers}: "
                                  "ask for the same number of brokers, or remove that directory")
        self.cluster_id: str = saved["cluster_id"] if saved else _cluster_id()
        taken: set[int] = set()

        def port(preferred: int = 0) -> int:
            while True:
                chosen = free_port(preferred) if preferred not in taken else free_port()
                if chosen not in taken:
                    taken.add(chosen)
                    return chosen
                preferred = 0

        previous = {b["node_id"]: b for b in saved["brokers"]} if saved else {}
        self.brokers: list[KafkaBroker] = []
        for node_id in range(1, brokers + 1):
            old = previous.get(node_id, {})
            self.brokers.append(KafkaBroker(
                node_id, self.base_dir / f"broker-{node_id}", port(old.get("port", 0)), port(old.get("controller_port", 0)),
                port(old.get("sasl_ssl_port", 0)) if security else 0,
                port(old.get("ssl_port", 0)) if security and security.ssl else 0))
        self._java = ""
        self._classpath = ""

    # --- addresses ---

    @property
    def bootstrap(self) -> str:
        """PLAINTEXT addresses of every node, comma-separated (what the services are given)."""
        return ",".join(b.bootstrap for b in self.brokers)

    @property
    def sasl_ssl_bootstrap(self) -> str:
        if self.security is None:
            raise RuntimeError("this cluster has no SASL_SSL listener (no `security` given)")
        return ",".join(f"127.0.0.1:{b.sasl_ssl_port}" for b in self.brokers)

    @property
    def ssl_bootstrap(self) -> str:
        if self.security is None or not self.security.ssl:
            raise RuntimeError("this cluster has no SSL listener (`Security(ssl=True)` not given)")
        return ",".join(f"127.0.0.1:{b.ssl_port}" for b in self.brokers)

    def broker(self, node_id: int) -> KafkaBroker:
        return next(b for b in self.brokers if b.node_id == node_id)

    # --- configuration ---

    def _saved(self) -> dict[str, Any] | None:
        path = self.base_dir / "cluster.json"
        return json.loads(path.read_text()) if path.exists() else None  # type: ignore[no-any-return]

    def _save(self) -> None:
        brokers = [{"node_id": b.node_id, "port": b.port, "controller_port": b.controller_port,
                    "sasl_ssl_port": b.sasl_ssl_port, "ssl_port": b.ssl_port} for b in self.brokers]
        (self.base_dir / "cluster.json").write_text(json.dumps({"cluster_id": self.cluster_id, "brokers": brokers}, indent=2))

    def broker_settings(self, broker: KafkaBroker) -> dict[str, str]:
        """server.properties of `broker`: compose's settings, then what makes a small machine start
        fast and fail over quickly, then the security listeners."""
        rf, min_isr = str(self.replication_factor), str(self.min_insync_replicas)
        listeners = {"PLAINTEXT": broker.port, "CONTROLLER": broker.controller_port}
        if self.security:
            listeners["SASL_SSL"] = broker.sasl_ssl_port
            if self.security.ssl:
                listeners["SSL"] = broker.ssl_port
        settings = {
            "process.roles": "broker,controller",
            "node.id": str(broker.node_id),
            "controller.quorum.voters": ",".join(f"{b.node_id}@127.0.0.1:{b.controller_port}" for b in self.brokers),
            "listeners": ",".join(f"{name}://127.0.0.1:{p}" for name, p in listeners.items()),
            "advertised.listeners": ",".join(f"{name}://127.0.0.1:{p}" for name, p in listeners.items() if name != "CONTROLLER"),
            "listener.security.protocol.map": ",".join(f"{name}:{'PLAINTEXT' if name == 'CONTROLLER' else name}"
                                                       for name in listeners),
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(broker.data_dir),
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": rf,
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": min_isr,
            "share.coordinator.state.topic.replication.factor": rf,
            "share.coordinator.state.topic.min.isr": min_isr,
            "default.replication.factor": rf,
            "min.insync.replicas": min_isr,
            # A consumer group forms at once instead of waiting 3 s for more members.
            "group.initial.rebalance.delay.ms": "0",
            # 50 partitions by default: creating them (x3 replicas) delays the first group by seconds here.
            "offsets.topic.num.partitions": "10",
            # A killed node is fenced (and its partitions get new leaders) after 6 s instead of 9 s.
            "broker.heartbeat.interval.ms": "1000",
            "broker.session.timeout.ms": "6000",
            # Two cores: fewer threads than the defaults (3 network, 8 I/O) are plenty.
            "num.network.threads": "2",
            "num.io.threads": "4",
        }
        if self.security and self.tls:
            users = " ".join(f'user_{name}="{password}"' for name, password in self.security.users.items())
            settings.update({
                "sasl.enabled.mechanisms": ",".join(SASL_MECHANISMS),
                "listener.name.sasl_ssl.plain.sasl.jaas.config":
                    f"org.apache.kafka.common.security.plain.PlainLoginModule required {users};",
                "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config":
                    "org.apache.kafka.common.security.scram.ScramLoginModule required;",
                "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config":
                    "org.apache.kafka.common.security.scram.ScramLoginModule required;",
                # Inline PEM: Kafka reads a key file only if it is encrypted, and only with a cipher
                # Java 17 lacks for what `cryptography` writes (PBES2); an inline key may be plain.
                "ssl.keystore.type": "PEM",
                "ssl.keystore.key": self.tls.broker_key_file.read_text(),
                "ssl.keystore.certificate.chain": self.tls.broker_cert_file.read_text(),
                "ssl.truststore.type": "PEM",
                "ssl.truststore.location": str(self.tls.ca_file),
            })
            if self.security.ssl:
                settings["listener.name.ssl.ssl.client.auth"] = "required"
        return settings

    def _jvm(self, heap_mb: int) -> list[str]:
        # The serial collector: a small heap on two shared cores needs no parallel GC threads.
        flags = [f"-Xmx{heap_mb}m", f"-Xms{min(heap_mb, 64)}m", "-XX:+UseSerialGC", "-Djava.awt.headless=true"]
        if self.quick_start:
            flags.append("-XX:TieredStopAtLevel=1")  # C1 only: three nodes are up in ~5 s instead of ~6.5 s
        return [self._java, *flags, f"-Dlog4j2.configurationFile={self.base_dir / 'log4j2.properties'}",
                "-cp", self._classpath]

    def _prepare(self) -> None:
        """Jars, certificates, config files; format the storage of nodes that have none yet."""
        self._java = find_java(self.environ)
        self._classpath = str(fetch_kafka(self.version, self.environ) / "*")
        self.base_dir.mkdir(parents=True, exist_ok=True)
        (self.base_dir / "log4j2.properties").write_text(_LOG4J2)
        if self.security:
            self.tls = make_tls(self.base_dir / "tls")
        for b in self.brokers:
            b.dir.mkdir(parents=True, exist_ok=True)
            b.config_path.touch(0o600)  # it may hold the broker's private key
            b.config_path.write_text(_properties(self.broker_settings(b)))
        self._save()
        scram = [arg for name, password in (self.security.users.items() if self.security else ())
                 for mechanism in SASL_MECHANISMS[1:] for arg in ("--add-scram", f"{mechanism}=[name={name},password={password}]")]
        formatting = []
        for b in self.brokers:
            if (b.data_dir / "meta.properties").exists():
                continue
            log = open(b.log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
            command = [*self._jvm(128), "kafka.tools.StorageTool", "format", "--cluster-id", self.cluster_id,
                       "--config", str(b.config_path), *scram]
            formatting.append((b, subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)))
            log.close()
        for b, process in formatting:  # all nodes format at once: each is a JVM start
            try:
                code = process.wait(FORMAT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                code = process.wait()
            if code != 0:
                raise KafkaSetupError(f"formatting the storage of Kafka node {b.node_id} failed (exit {code}); "
                                      f"{b.log_path}:\n{b.log_tail()}")

    # --- processes ---

    def start(self, timeout_s: float = 120.0) -> None:
        """Fetch the jars if needed, format new storage, start every node and return once each answers
        a metadata request that lists all of them. Raises KafkaSetupError (with the log's tail when
        a node exits or does not come up in time); the nodes already started are stopped then."""
        self._prepare()
        atexit.register(self._kill_all)  # the brokers must not outlive this process, even on a crash
        try:
            for b in self.brokers:
                self._spawn(b)
            asyncio.run(self.wait_ready(timeout_s))
        except BaseException:
            self._kill_all()
            raise

    def _spawn(self, broker: KafkaBroker) -> None:
        if broker.running:
            raise RuntimeError(f"Kafka node {broker.node_id} is already running")
        log = open(broker.log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        try:
            broker.process = subprocess.Popen([*self._jvm(self.heap_mb), "kafka.Kafka", str(broker.config_path)],
                                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()

    def start_broker(self, node_id: int, timeout_s: float = 90.0) -> None:
        """Start a stopped node again (same ports, same data) and wait until every running node lists it."""
        self._spawn(self.broker(node_id))
        asyncio.run(self.wait_ready(timeout_s))

    def stop_broker(self, node_id: int, timeout_s: float = 60.0) -> int | None:
        """SIGTERM: a clean, controlled shutdown (leadership moves away first). Kills it after `timeout_s`.
        Returns the exit code (None if it was not running)."""
        return self._stop(self.broker(node_id), signal.SIGTERM, timeout_s)

    def kill_broker(self, node_id: int) -> int | None:
        """SIGKILL: the node vanishes without a word, as in a crash."""
        return self._stop(self.broker(node_id), signal.SIGKILL, 30.0)

    def stop(self, timeout_s: float = 60.0) -> None:
        """Stop every node cleanly (SIGTERM to all at once), killing any still running after `timeout_s`."""
        running = [b for b in self.brokers if b.running]
        for b in running:
            assert b.process is not None
            with contextlib.suppress(ProcessLookupError):
                b.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for b in running:
            self._stop(b, signal.SIGKILL, 30.0, after=max(0.0, deadline - time.monotonic()))
        atexit.unregister(self._kill_all)

    @staticmethod
    def _stop(broker: KafkaBroker, sig: int, timeout_s: float, after: float | None = None) -> int | None:
        process = broker.process
        if process is None:
            return None
        if after is not None:  # already signalled: wait `after`, then send `sig`
            with contextlib.suppress(subprocess.TimeoutExpired):
                return process.wait(after)
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(sig)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                logger.warning("Kafka node %d did not stop within %.0fs; killing it", broker.node_id, timeout_s)
                process.kill()
                process.wait()
        return process.returncode

    def _kill_all(self) -> None:
        for b in self.brokers:
            if b.running:
                assert b.process is not None
                b.process.kill()
                b.process.wait()

    # --- what the cluster says ---

    async def wait_ready(self, timeout_s: float = 90.0) -> None:
        """Until each running node answers a metadata request that lists every running node.
        Raises KafkaSetupError, with the log's tail, if a node exits or the deadline passes."""
        deadline = time.monotonic() + timeout_s
        running = [b for b in self.brokers if b.running]
        wanted = {b.node_id for b in running}
        pending = list(running)
        while pending:
            for b in list(pending):
                if not b.running:
                    assert b.process is not None
                    raise KafkaSetupError(f"Kafka node {b.node_id} exited with {b.process.returncode} while starting; "
                                          f"{b.log_path}:\n{b.log_tail()}")
                if wanted <= await _listed_nodes(b.bootstrap):
                    pending.remove(b)
            if not pending:
                return
            if time.monotonic() > deadline:
                b = pending[0]
                raise KafkaSetupError(f"Kafka node {b.node_id} did not list nodes {sorted(wanted)} within {timeout_s:.0f}s; "
                                      f"{b.log_path}:\n{b.log_tail()}")
            await asyncio.sleep(0.2)

    async def partition(self, topic: str, partition: int) -> PartitionState:
        """Leader, replicas and in-sync replicas of one partition, from a running node's metadata
        (which may lag the controller by moments: poll for the state you expect)."""
        running = [b for b in self.brokers if b.running]
        client = AIOKafkaClient(bootstrap_servers=[b.bootstrap for b in running], client_id="millimetric-kafka",
                                request_timeout_ms=10_000)
        try:
            await client.bootstrap()
            # Asked of a running node by id: the metadata may still list a killed one for seconds.
            response = await client.send(running[0].node_id, MetadataRequest([topic]))
        finally:
            await client.close()
        for described in response.to_object()["topics"]:
            for p in described["partitions"]:
                if described["topic"] == topic and p["partition"] == partition:
                    return PartitionState(p["leader"], tuple(p["replicas"]), tuple(p["isr"]))
        return PartitionState(-1, (), ())  # not (yet) in this node's metadata


async def _listed_nodes(bootstrap: str) -> set[int]:
    """The node ids the broker at `bootstrap` lists in its metadata (empty while it does not answer)."""
    host, port = bootstrap.rsplit(":", 1)
    try:  # not listening yet: skip the client and the error lines it would log
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 1.0)
    except (OSError, TimeoutError):
        return set()
    writer.close()
    await writer.wait_closed()
    client = AIOKafkaClient(bootstrap_servers=bootstrap, client_id="millimetric-kafka", request_timeout_ms=3000)
    try:
        await client.bootstrap()
        return {node.nodeId for node in client.cluster.brokers()}
    except (TimeoutError, KafkaError, OSError):
        return set()
    finally:
        await client.close()
