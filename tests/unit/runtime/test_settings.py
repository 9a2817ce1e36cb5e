"""Settings from the environment: the same rules for every variable of every service."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import pytest
from millimetric_runtime.settings import ConfigError, env, from_env, secret, variable
from msgspec import Meta


@dataclass(frozen=True)
class Example:
    port: Annotated[int, Meta(ge=0, le=65535)] = 8787
    timeout_s: Annotated[float, Meta(ge=0.1)] = 5.0
    verbose: bool = False
    origins: tuple[str, ...] = ()
    protocol: Literal["PLAINTEXT", "SSL"] = "PLAINTEXT"
    group: str | None = None
    topic: str | None = env("OTHER_TOPIC", None)
    password: str | None = secret()


def read(environ: dict[str, str]) -> Example:
    return from_env(Example, environ, "SVC_")


def test_every_field_is_read_from_its_prefixed_name_and_converted() -> None:
    s = read({"SVC_PORT": "80", "SVC_TIMEOUT_S": "2.5", "SVC_VERBOSE": "yes", "SVC_ORIGINS": "a, b,,c",
              "SVC_PROTOCOL": "SSL", "SVC_GROUP": "g", "OTHER_TOPIC": "t", "SVC_PASSWORD": "hunter2"})
    assert s == Example(80, 2.5, True, ("a", "b", "c"), "SSL", "g", "t", "hunter2")


def test_unset_and_blank_mean_the_default() -> None:
    assert read({}) == Example()
    assert read({"SVC_PORT": "  ", "SVC_GROUP": "", "SVC_ORIGINS": ""}) == Example()


@pytest.mark.parametrize("text", ["1", "true", "TRUE", "yes", "On"])
def test_true_spellings(text: str) -> None:
    assert read({"SVC_VERBOSE": text}).verbose is True


@pytest.mark.parametrize("text", ["0", "false", "No", "OFF"])
def test_false_spellings(text: str) -> None:
    assert read({"SVC_VERBOSE": text}).verbose is False


@pytest.mark.parametrize(("name", "value", "says"), [
    ("SVC_PORT", "-1", "SVC_PORT: expected `int` >= 0, got '-1'"),
    ("SVC_PORT", "65536", "SVC_PORT: expected `int` <= 65535"),
    ("SVC_PORT", "eighty", "SVC_PORT: expected `int`, got `str`"),
    ("SVC_TIMEOUT_S", "0.05", "SVC_TIMEOUT_S: expected `float` >= 0.1"),
    ("SVC_VERBOSE", "maybe", "SVC_VERBOSE must be true or false, got 'maybe'"),
    ("SVC_PROTOCOL", "SASL", "SVC_PROTOCOL: invalid enum value 'SASL'"),
])
def test_a_bad_value_fails_naming_the_variable_and_what_it_expects(name: str, value: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        read({name: value})
    assert says in str(info.value)


def test_just_inside_the_bounds_is_accepted() -> None:
    assert read({"SVC_PORT": "0"}).port == 0
    assert read({"SVC_PORT": "65535"}).port == 65535
    assert read({"SVC_TIMEOUT_S": "0.1"}).timeout_s == 0.1


def test_a_secret_comes_from_its_file_and_never_shows_in_the_repr(tmp_path: Path) -> None:
    path = tmp_path / "password"
    path.write_text("s3cret\n")
    s = read({"SVC_PASSWORD_FILE": str(path)})
    assert s.password == "s3cret"
    assert "s3cret" not in repr(s)
    assert read({"SVC_PASSWORD": "direct", "SVC_PASSWORD_FILE": str(path)}).password == "direct"


def test_an_unreadable_secret_file_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SVC_PASSWORD_FILE: cannot read"):
        read({"SVC_PASSWORD_FILE": str(tmp_path / "missing")})


def test_variable_names_the_environment_variable_of_a_field() -> None:
    assert variable(Example, "port", "SVC_") == "SVC_PORT"
    assert variable(Example, "topic", "SVC_") == "OTHER_TOPIC"
