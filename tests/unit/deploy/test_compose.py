"""docker-compose.yml, checked without a Docker engine: it is a valid Compose file, every variable it
sets is one the service reads (and every one a container needs is set), every command it runs is a
`millimetric` command, and the deployment rules hold (health checks, grace periods, what is
published, where configuration comes from)."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any

import asyncpg
import pytest
from jsonschema import Draft201909Validator, FormatChecker
from millimetric import cli
from millimetric_gateway.settings import Settings as GatewaySettings
from millimetric_ingest.settings import Settings as IngestSettings
from millimetric_protocol.topics import EVENTS
from millimetric_query.settings import Settings as QuerySettings

from tests.unit.deploy.compose_file import SCHEMA_FILE, argv, duration_s, environment, load, load_raw

SETTINGS: dict[str, Any] = {"gateway": GatewaySettings, "ingest": IngestSettings, "query": QuerySettings}
CLI_TOOLS = {"migrate": ["migrate"], "admin": ["admin", "account", "list"]}
APP_SERVICES = sorted(SETTINGS) + sorted(CLI_TOOLS)

# What a container needs although the service has a default: listening on every interface (the
# defaults are fine today, but loopback would make a container unreachable), JSON log lines, the
# idempotent producer of real Kafka, and a grace period the stop_grace_period is sized against.
SET_FOR_CONTAINERS = {
    "gateway": {"GATEWAY_HOST", "GATEWAY_PORT", "GATEWAY_LOG_JSON", "GATEWAY_KAFKA_IDEMPOTENCE"},
    "ingest": {"INGEST_LOG_JSON", "INGEST_KAFKA_IDEMPOTENCE", "INGEST_SHUTDOWN_GRACE_S"},
    "query": {"QUERY_HOST", "QUERY_PORT", "QUERY_LOG_JSON"},
    "migrate": {"MILLIMETRIC_PG_DSN"},
    "admin": {"MILLIMETRIC_PG_DSN"},
}
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class RecordingEnv(Mapping[str, str]):
    """An environment holding `values` that logs every name looked up, found or not."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)
        self.looked_up: list[str] = []

    def __getitem__(self, key: str) -> str:
        self.looked_up.append(key)
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


class _Stop(Exception):
    """Raised by a fake in place of a database connection: the command got as far as connecting."""


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load()


def services(compose: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = compose["services"]
    return result


def one_shot(service: Mapping[str, Any]) -> bool:
    return service.get("restart") == "no"


def names_read_by_service(name: str, env: Mapping[str, str]) -> set[str]:
    recorder = RecordingEnv(env)
    SETTINGS[name].from_env(recorder)
    return set(recorder.looked_up)


def run_cli_tool(name: str, env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> tuple[set[str], str]:
    """Run `millimetric <tool>` with `env` as its environment up to the point it connects to the
    database; return the names it looked up and the DSN it connected with."""
    recorder = RecordingEnv(env)
    dsns: list[str] = []

    async def fake_migrate(dsn: str) -> list[str]:
        dsns.append(dsn)
        raise _Stop

    async def fake_connect(dsn: str, *args: Any, **kwargs: Any) -> Any:
        dsns.append(dsn)
        raise _Stop

    # A context, not the fixture's teardown: os.environ must be the real one again before pytest
    # itself writes to it after the test.
    with monkeypatch.context() as patch:
        patch.setattr(cli, "setup_logging", lambda *args, **kwargs: None)
        patch.setattr(cli, "migrate", fake_migrate)
        patch.setattr(asyncpg, "connect", fake_connect)
        patch.setattr(os, "environ", recorder)
        with pytest.raises(_Stop):
            cli.main(CLI_TOOLS[name])
    assert len(dsns) == 1
    return set(recorder.looked_up), dsns[0]


def default_for(settings_cls: Any, env: Mapping[str, str], name: str) -> object:
    """The value a service uses for `name` when the compose file leaves it unset. Raises ValueError
    (ConfigError) when there is none. The field behind `name` is found by setting `name` to probe
    values and seeing which field changes."""
    without = {key: value for key, value in env.items() if key != name}
    defaults = settings_cls.from_env(without)
    for probe in ("probe.example", "7", "11", "false", "true"):
        try:
            probed = settings_cls.from_env({**without, name: probe})
        except ValueError:
            continue
        for field in dataclasses.fields(defaults):
            if getattr(probed, field.name) != getattr(defaults, field.name):
                return getattr(defaults, field.name)
    return None


def hosts_in(value: object) -> set[str]:
    """Host names that `value` connects to (`host:port`, inside URLs and comma lists too)."""
    if not isinstance(value, str):
        return set()
    return set(re.findall(r"(?:^|[/@,])([A-Za-z][A-Za-z0-9.-]*):\d+", value))


# --- the Compose specification ---------------------------------------------------------------------

def format_checker() -> FormatChecker:
    """The formats the schema names, as Compose reads them (jsonschema's own `duration` is ISO 8601)."""
    checker = FormatChecker(formats=())

    @checker.checks("duration")
    def is_duration(value: object) -> bool:
        if not isinstance(value, str):
            return True
        try:
            duration_s(value)
        except ValueError:
            return False
        return True

    @checker.checks("ports")
    def is_port(value: object) -> bool:
        pattern = r"(\[?[0-9A-Fa-f.:]+\]?:)?(\d+(-\d+)?:)?\d+(-\d+)?(/(tcp|udp|sctp))?"
        return not isinstance(value, str) or re.fullmatch(pattern, value) is not None

    return checker


def schema_errors(document: Mapping[str, Any]) -> list[str]:
    schema = json.loads(SCHEMA_FILE.read_text())
    validator = Draft201909Validator(schema, format_checker=format_checker())
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(document)]


def test_vendored_schema_is_a_valid_json_schema() -> None:
    Draft201909Validator.check_schema(json.loads(SCHEMA_FILE.read_text()))


def test_compose_file_validates_against_the_compose_schema(compose: dict[str, Any]) -> None:
    assert schema_errors(compose) == []


def test_compose_file_validates_with_every_deploy_variable_set() -> None:
    env = {"DEPLOY_PG_DSN": "postgresql://u:p@db.internal:5432/m?sslmode=require", "DEPLOY_KAFKA_BOOTSTRAP": "b-1:9092,b-2:9092",
           "DEPLOY_GATEWAY_PORT": "9000", "DEPLOY_EVENTS_PARTITIONS": "24", "DEPLOY_IMAGE": "registry.example/millimetric:1.2"}
    assert schema_errors(load(env)) == []


@pytest.mark.parametrize(("path", "value"), [
    (("services", "ingest", "restart_policy"), "always"),  # not a service key
    (("services", "gateway", "environment", "GATEWAY_LOG_JSON"), True),  # YAML boolean, not a string
    (("services", "ingest", "stop_grace_period"), "thirty seconds"),
    (("services", "gateway", "ports"), ["eighty:8787"]),
    (("services", "gateway", "depends_on", "query", "condition"), "service_ready"),
])
def test_schema_check_rejects_what_compose_rejects(compose: dict[str, Any], path: tuple[str, ...], value: object) -> None:
    broken = copy.deepcopy(compose)
    target = broken
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert schema_errors(broken) != []


# --- environment variables against the typed settings ---------------------------------------------

@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_every_variable_the_compose_file_sets_is_read_by_the_service(compose: dict[str, Any], name: str) -> None:
    env = environment(services(compose)[name])
    unread = set(env) - names_read_by_service(name, env)
    assert unread == set(), f"{name} sets variables its Settings never reads: {sorted(unread)}"


@pytest.mark.parametrize("name", sorted(CLI_TOOLS))
def test_every_variable_the_compose_file_sets_is_read_by_the_cli_tool(
        compose: dict[str, Any], name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env = environment(services(compose)[name])
    read, dsn = run_cli_tool(name, env, monkeypatch)
    assert set(env) - read == set()
    assert dsn == env["MILLIMETRIC_PG_DSN"]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_variables_containers_need_are_set_and_read(compose: dict[str, Any], name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env = environment(services(compose)[name])
    read = (names_read_by_service(name, env) if name in SETTINGS else run_cli_tool(name, env, monkeypatch)[0])
    assert SET_FOR_CONTAINERS[name] - read == set(), "renamed in the settings? update the compose file"
    assert SET_FOR_CONTAINERS[name] - set(env) == set()


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_every_setting_without_a_working_default_is_set(compose: dict[str, Any], name: str) -> None:
    """A setting must be set when the service has no default for it, or when its default names a
    host: the default only happens to match a container name, and must follow DEPLOY_* overrides."""
    env = environment(services(compose)[name])
    must_set: dict[str, str] = {}
    for variable in sorted(names_read_by_service(name, env)):
        try:
            default = default_for(SETTINGS[name], env, variable)
        except ValueError as exc:
            must_set[variable] = f"no default ({exc})"
            continue
        if hosts_in(default):
            must_set[variable] = f"default {default!r} names a host"
    assert must_set, "the probe found nothing: has the settings module changed shape?"
    missing = {variable: why for variable, why in must_set.items() if variable not in env}
    assert missing == {}


def test_settings_built_from_the_compose_environment_connect_the_containers(compose: dict[str, Any]) -> None:
    svc = services(compose)
    gateway = GatewaySettings.from_env(environment(svc["gateway"]))
    ingest = IngestSettings.from_env(environment(svc["ingest"]))
    query = QuerySettings.from_env(environment(svc["query"]))
    pg = environment(svc["postgres"])
    expected_dsn = f"postgresql://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@postgres:5432/{pg['POSTGRES_DB']}"
    dsns = {gateway.pg_dsn, ingest.pg_dsn, query.pg_dsn, environment(svc["migrate"])["MILLIMETRIC_PG_DSN"],
            environment(svc["admin"])["MILLIMETRIC_PG_DSN"]}
    assert dsns == {expected_dsn}

    advertised = environment(svc["kafka"])["KAFKA_ADVERTISED_LISTENERS"]
    assert {gateway.kafka_bootstrap, ingest.kafka_bootstrap, environment(svc["kafka-init"])["BOOTSTRAP"]} == {"kafka:9092"}
    assert "//kafka:9092" in advertised
    assert gateway.kafka_idempotence and ingest.kafka_idempotence, "real Kafka: idempotent producers"

    topic = environment(svc["kafka-init"])["EVENTS_TOPIC"]
    assert gateway.events_topic == ingest.events_topic == topic == EVENTS.name
    assert ingest.dead_letter_topic == topic + ".dlq"

    assert gateway.query_url == f"http://query:{query.port}"
    assert gateway.host not in LOOPBACK and query.host not in LOOPBACK
    assert gateway.log_json and ingest.log_json and query.log_json


def test_deploy_variables_point_every_service_at_managed_postgres_and_kafka() -> None:
    dsn, bootstrap = "postgresql://m:secret@pg.internal:5432/m?sslmode=require", "b-1.internal:9092,b-2.internal:9092"
    svc = services(load({"DEPLOY_PG_DSN": dsn, "DEPLOY_KAFKA_BOOTSTRAP": bootstrap}))
    assert {GatewaySettings.from_env(environment(svc["gateway"])).pg_dsn, IngestSettings.from_env(environment(svc["ingest"])).pg_dsn,
            QuerySettings.from_env(environment(svc["query"])).pg_dsn, environment(svc["migrate"])["MILLIMETRIC_PG_DSN"],
            environment(svc["admin"])["MILLIMETRIC_PG_DSN"]} == {dsn}
    assert {GatewaySettings.from_env(environment(svc["gateway"])).kafka_bootstrap,
            IngestSettings.from_env(environment(svc["ingest"])).kafka_bootstrap,
            environment(svc["kafka-init"])["BOOTSTRAP"]} == {bootstrap}


def test_postgres_credentials_reach_every_dsn() -> None:
    svc = services(load({"POSTGRES_USER": "mm", "POSTGRES_PASSWORD": "s3cret", "POSTGRES_DB": "analytics"}))
    assert environment(svc["postgres"]) == {"POSTGRES_USER": "mm", "POSTGRES_PASSWORD": "s3cret", "POSTGRES_DB": "analytics"}
    assert QuerySettings.from_env(environment(svc["query"])).pg_dsn == "postgresql://mm:s3cret@postgres:5432/analytics"


def test_gateway_pass_through_knobs_reach_the_gateway() -> None:
    svc = services(load({"GATEWAY_ALLOWED_ORIGINS": "https://app.example.com", "GATEWAY_RATE_LIMIT_PER_S": "20"}))
    gateway = GatewaySettings.from_env(environment(svc["gateway"]))
    assert gateway.allowed_origins == ("https://app.example.com",)
    assert gateway.rate_limit_per_s == 20.0


# --- commands ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_service_command_exists_in_the_cli(compose: dict[str, Any], name: str) -> None:
    service = services(compose)[name]
    entrypoint = service.get("entrypoint")
    assert entrypoint is None or entrypoint[0] == "millimetric", "the image's ENTRYPOINT is millimetric"
    args = argv(service)
    try:
        cli.build_parser().parse_args(args)
    except SystemExit as exc:
        pytest.fail(f"`millimetric {' '.join(args)}` is not a command ({exc})")


def test_each_service_runs_its_own_command(compose: dict[str, Any]) -> None:
    svc = services(compose)
    assert {name: argv(svc[name])[0] for name in APP_SERVICES} == {
        "gateway": "gateway", "ingest": "ingest", "query": "query", "migrate": "migrate", "admin": "admin"}


def test_app_services_share_one_image_built_from_the_dockerfile(compose: dict[str, Any]) -> None:
    svc = services(compose)
    assert len({svc[name]["image"] for name in APP_SERVICES}) == 1
    assert all(svc[name]["build"]["dockerfile"] == "Dockerfile" for name in APP_SERVICES)


# --- deployment rules ------------------------------------------------------------------------------

def test_long_running_services_have_health_checks_restart_policies_and_grace_periods(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        if one_shot(service) or service.get("profiles"):
            continue
        assert service.get("restart") in ("always", "unless-stopped", "on-failure"), name
        assert service.get("healthcheck", {}).get("test"), name
        assert duration_s(service["stop_grace_period"]) >= 10, name


def test_one_shot_jobs_are_not_restarted(compose: dict[str, Any]) -> None:
    svc = services(compose)
    assert {name for name, service in svc.items() if one_shot(service)} == {"kafka-init", "migrate", "admin"}


def test_depends_on_waits_for_conditions_that_can_be_met(compose: dict[str, Any]) -> None:
    svc = services(compose)
    for name, service in svc.items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: use the long form with a condition"
        for target, rule in depends_on.items():
            assert target in svc, f"{name} depends on unknown {target}"
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in svc[target], f"{name} waits for {target} to be healthy; it has no health check"
            else:
                assert rule["condition"] == "service_completed_successfully", f"{name} -> {target}"
                assert one_shot(svc[target]), f"{name} waits for {target} to complete; it never does"


def test_startup_order_runs_setup_before_the_services(compose: dict[str, Any]) -> None:
    svc = services(compose)
    assert svc["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert svc["kafka-init"]["depends_on"] == {"kafka": {"condition": "service_healthy"}}
    for name in ("gateway", "ingest", "query"):
        assert svc[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
    for name in ("gateway", "ingest"):
        assert svc[name]["depends_on"]["kafka-init"] == {"condition": "service_completed_successfully"}, name


def test_ingest_runs_several_replicas_and_gets_time_to_flush_on_stop(compose: dict[str, Any]) -> None:
    ingest = services(compose)["ingest"]
    assert ingest["deploy"]["replicas"] >= 2
    assert "container_name" not in ingest and "ports" not in ingest, "replicas cannot share a name or a host port"
    grace_s = IngestSettings.from_env(environment(ingest)).shutdown_grace_s
    # Docker's SIGKILL must come after ingest's own deadline, with room for the final commit.
    assert duration_s(ingest["stop_grace_period"]) >= grace_s + 5


def test_partitions_default_to_twelve_so_the_replicas_have_work(compose: dict[str, Any]) -> None:
    svc = services(compose)
    partitions = int(environment(svc["kafka-init"])["EVENTS_PARTITIONS"])
    assert partitions == 12
    assert partitions >= svc["ingest"]["deploy"]["replicas"]
    assert int(environment(services(load({"DEPLOY_EVENTS_PARTITIONS": "48"}))["kafka-init"])["EVENTS_PARTITIONS"]) == 48


def test_topic_setup_creates_the_events_and_dead_letter_topics(compose: dict[str, Any]) -> None:
    init = services(compose)["kafka-init"]
    script = "\n".join(init["command"])
    assert '--create --if-not-exists --topic "$EVENTS_TOPIC" ' in script
    assert '--create --if-not-exists --topic "$EVENTS_TOPIC.dlq" ' in script
    assert init["image"] == services(compose)["kafka"]["image"], "the broker's own kafka-topics.sh"


def test_kafka_is_the_apache_image_in_kraft_mode(compose: dict[str, Any]) -> None:
    kafka = services(compose)["kafka"]
    env = environment(kafka)
    assert kafka["image"].startswith("apache/kafka:")
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert not any("ZOOKEEPER" in key for key in env)
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert any(volume.endswith(":" + env["KAFKA_LOG_DIRS"]) for volume in kafka["volumes"]), "the log survives restarts"


def test_postgres_18_keeps_its_data_in_a_volume_at_the_18_layout(compose: dict[str, Any]) -> None:
    postgres = services(compose)["postgres"]
    assert postgres["image"] == "postgres:18"
    # 18+ images refuse to start with a volume at the old /var/lib/postgresql/data.
    assert postgres["volumes"] == ["pg-data:/var/lib/postgresql"]
    assert "pg-data" in compose["volumes"]


def test_only_the_gateway_is_published(compose: dict[str, Any]) -> None:
    published = {name for name, service in services(compose).items() if service.get("ports")}
    assert published == {"gateway"}, "query trusts the gateway's scope; the broker and database stay internal"
    assert services(compose)["gateway"]["ports"] == ["8787:8787"]


def test_health_checks_probe_the_ports_the_services_listen_on(compose: dict[str, Any]) -> None:
    svc = services(compose)
    for name, variable in (("gateway", "GATEWAY_PORT"), ("query", "QUERY_PORT")):
        test = " ".join(svc[name]["healthcheck"]["test"])
        assert f"os.environ['{variable}']" in test and "/readyz" in test, name
    assert GatewaySettings.from_env(environment(svc["gateway"])).port == 8787
    ingest_port = SETTINGS["ingest"].from_env(environment(svc["ingest"])).http_port
    assert f"127.0.0.1:{ingest_port}/healthz" in " ".join(svc["ingest"]["healthcheck"]["test"])


def test_app_services_are_configured_only_through_environment_variables(compose: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        service = services(compose)[name]
        for key in ("volumes", "env_file", "configs", "secrets"):
            assert key not in service, f"{name}: {key}"


def test_no_obsolete_version_key() -> None:
    # Compose v2 ignores `version:` and warns about it on every command.
    assert "version" not in load_raw()


def test_no_environment_entry_silently_passes_the_shell_through() -> None:
    # A bare `NAME:` (null) copies the caller's shell variable into the container unseen.
    for name in APP_SERVICES:
        assert all(value is not None for value in (services(load_raw())[name].get("environment") or {}).values()), name


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_settings_accept_the_compose_values(compose: dict[str, Any], name: str) -> None:
    # Bad values fail at startup with a ConfigError; catch them here instead.
    SETTINGS[name].from_env(environment(services(compose)[name]))

