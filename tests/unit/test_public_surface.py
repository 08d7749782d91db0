"""The library's public surface: what `__all__` promises exists and is documented, importing the core
does not pull in test dependencies, and the examples in the README and the importers' guide run."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_MODULES = [
    "incidentcore",
    "incidentcore.services",
    "incidentcore.testing",
    "incidentcore.testing.strategies",
    "incidentcore.testing.stateful",
]


def exported(module_name: str) -> list[tuple[str, Any]]:
    module = importlib.import_module(module_name)
    return [(name, getattr(module, name)) for name in module.__all__]


def own_docstring(obj: Any) -> str | None:
    """The docstring the object itself carries: not inherited, and not the signature that `dataclass`
    writes into a class that has none."""
    if not inspect.isclass(obj):
        return inspect.getdoc(obj) if obj.__doc__ else None
    doc = vars(obj).get("__doc__")
    if doc and dataclasses.is_dataclass(obj) and doc.startswith(f"{obj.__name__}("):
        return None
    return doc


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_exported_name_exists_once(module_name: str) -> None:
    module: ModuleType = importlib.import_module(module_name)
    names = module.__all__
    assert len(names) == len(set(names))
    assert [name for name in names if not hasattr(module, name)] == []


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_exported_class_and_function_has_a_docstring(module_name: str) -> None:
    undocumented = [
        name
        for name, obj in exported(module_name)
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and not (own_docstring(obj) or "").strip()
    ]
    assert undocumented == []


def test_the_cores_classes_document_their_public_methods_and_properties() -> None:
    undocumented = [
        f"{name}.{member_name}"
        for name, obj in exported("incidentcore")
        if inspect.isclass(obj) and obj.__module__.startswith("incidentcore")
        for member_name, member in vars(obj).items()
        if not member_name.startswith("_")
        and (isinstance(member, property | classmethod | staticmethod) or inspect.isfunction(member))
        and not inspect.getdoc(getattr(obj, member_name))
    ]
    assert undocumented == []


def test_the_core_exports_the_objects_its_modules_define() -> None:
    """One object per name: `incidentcore.Incident` is `incidentcore.model.Incident`, not a copy."""
    for name, obj in exported("incidentcore"):
        if inspect.isclass(obj) or inspect.isfunction(obj):
            defining: str = obj.__module__
            assert getattr(importlib.import_module(defining), name) is obj, name


def test_importing_the_library_does_not_import_hypothesis() -> None:
    """hypothesis is a test dependency: only the strategies and the stateful test need it."""
    code = (
        "import sys, incidentcore, incidentcore.services, incidentcore.testing; "
        "sys.exit('hypothesis' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False, timeout=60).returncode == 0


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", markdown, flags=re.MULTILINE | re.DOTALL)


def readme_section(title: str) -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index(f"\n## {title}\n")
    end = readme.find("\n## ", start + 1)
    return readme[start : end if end != -1 else None]


def test_the_readme_example_runs_and_is_ten_lines_or_so() -> None:
    section = readme_section("Using the domain library")
    (example,) = python_blocks(section)
    assert len(example.splitlines()) <= 14
    assert "docs/library.md" in section
    exec(compile(example, "README.md", "exec"), {})


def test_the_library_guide_examples_run_in_order() -> None:
    """Each block may use what the blocks before it defined, as a reader would run them."""
    blocks = python_blocks((ROOT / "docs" / "library.md").read_text())
    assert len(blocks) >= 8
    namespace: dict[str, Any] = {"__name__": "library_guide"}
    for number, block in enumerate(blocks, 1):
        exec(compile(block, f"docs/library.md, block {number}", "exec"), namespace)
