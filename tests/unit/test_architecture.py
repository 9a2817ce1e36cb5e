"""The architecture's one hard rule: services import the libraries (libs/protocol, libs/runtime), never
each other; the libraries import no service and not the cli."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"gateway": "millimetric_gateway", "ingest": "millimetric_ingest", "query": "millimetric_query"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def violations(service_dir: Path, own: str) -> list[str]:
    forbidden = {pkg for pkg in SERVICES.values() if pkg != own} | {"millimetric"}
    bad = []
    for path in sorted(service_dir.rglob("*.py")):
        for module in imported_modules(path):
            if module.split(".")[0] in forbidden:
                bad.append(f"{path.name} imports {module}")
    return bad


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_service_imports_no_other_service(service: str) -> None:
    assert violations(ROOT / "services" / service, SERVICES[service]) == []


@pytest.mark.parametrize("library", ["protocol", "runtime"])
def test_libraries_import_no_service(library: str) -> None:
    assert violations(ROOT / "libs" / library, f"millimetric_{library}") == []


def test_the_wire_contracts_need_no_runtime() -> None:
    """libs/protocol is msgspec structs, codecs, errors and limits only: it runs nowhere by itself."""
    imports = {m.split(".")[0] for p in (ROOT / "libs" / "protocol").rglob("*.py") for m in imported_modules(p)}
    assert imports & {"millimetric_runtime", "aiohttp", "aiokafka", "asyncpg", "prometheus_client"} == set()


def test_the_check_catches_a_cross_import(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("from millimetric_query.app import create_app\nimport millimetric_ingest\n")
    assert len(violations(tmp_path, "millimetric_gateway")) == 2
