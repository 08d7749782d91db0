"""The core stays pure: it imports the standard library and itself, nothing else."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import incidentcore

CORE = Path(incidentcore.__file__).parent
# Strategies are for library users who test with hypothesis; the core itself never imports them.
OPTIONAL = {"hypothesis"}


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_core_imports_only_the_standard_library_and_itself() -> None:
    allowed = set(sys.stdlib_module_names) | {"incidentcore"}
    offenders = {}
    for path in CORE.rglob("*.py"):
        extra = imported_roots(path) - allowed
        if path.parent.name == "testing":
            extra -= OPTIONAL
        if extra:
            offenders[str(path.relative_to(CORE))] = sorted(extra)
    assert offenders == {}


def test_only_the_testing_package_may_import_hypothesis() -> None:
    for path in CORE.rglob("*.py"):
        if path.parent.name != "testing":
            assert "hypothesis" not in imported_roots(path), path
