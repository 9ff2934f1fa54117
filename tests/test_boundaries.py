"""The architecture's rules, enforced: who may import whom."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imports_of(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        if "v1" in path.parts:
            continue
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{file} imports {name}"
        for file, names in imports_of(package).items()
        for name in names
        if name.split(".")[0] in forbidden
    )


def test_agent_never_imports_the_coordinator() -> None:
    assert offenders("agent", ("coordinator",)) == []


def test_coordinator_never_imports_the_agent() -> None:
    assert offenders("coordinator", ("agent",)) == []


def test_shared_core_imports_neither_side() -> None:
    assert offenders("fedscreen", ("agent", "coordinator")) == []


@pytest.mark.parametrize(
    "module",
    [
        "fedscreen/engine.py",
        "fedscreen/tokens.py",
        "fedscreen/tokensql.py",
        "fedscreen/sqlcheck.py",
        "fedscreen/bundle.py",
        "agent/screening.py",
        "agent/guard.py",
        "coordinator/run.py",
        "coordinator/registry.py",
        "coordinator/combine.py",
    ],
)
def test_core_modules_do_not_touch_grpc(module: str) -> None:
    names = imports_of(module.split("/")[0])[module]
    assert not {n for n in names if n.split(".")[0] in ("grpc", "grpc_health")}
    assert not {n for n in names if n.startswith("fedscreen.v1")}


def test_the_boundary_check_sees_a_violation(tmp_path: Path) -> None:
    # Guard against a checker that silently finds nothing.
    names = imports_of("agent")
    assert any("fedscreen.bundle" in n for n in names["agent/screening.py"])
