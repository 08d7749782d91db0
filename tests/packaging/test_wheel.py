"""The wheel ships what an importer needs: the py.typed markers (without them mypy in the importing
project sees every incidentcore name as Any), the vendored docs and UI assets, the web UI's templates
and stylesheet, and the migrations.

Builds the wheel with pip, or checks the one `nox -s library` built and installed (INCIDENTCORE_WHEEL).
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    built = os.environ.get("INCIDENTCORE_WHEEL")
    if built is None:
        out = tmp_path_factory.mktemp("wheel")
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--quiet", "--wheel-dir", str(out)],
            check=True,
            timeout=300,
        )
        (path,) = out.glob("incidentcore-*.whl")
    else:
        path = Path(built)
    with zipfile.ZipFile(path) as archive:
        yield archive


def test_every_package_is_marked_typed(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for package in ("incidentcore", "adapters", "entrypoints"):
        assert f"{package}/py.typed" in names, package


def test_the_public_modules_are_in_it(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for module in (
        "incidentcore/__init__.py",
        "incidentcore/services/__init__.py",
        "incidentcore/testing/__init__.py",
        "incidentcore/testing/strategies.py",
        "incidentcore/testing/stateful.py",
    ):
        assert module in names, module


def test_the_data_files_ship_beside_the_code(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    vendored = [n for n in names if n.startswith("entrypoints/http/static/vendor/")]
    assert any(n.endswith("swagger-ui-bundle.js") for n in vendored)
    assert any(n.endswith("redoc.standalone.js") for n in vendored)
    assert "entrypoints/http/static/vendor/htmx-2.0.11/htmx.min.js" in names
    assert "entrypoints/http/static/vendor/htmx-2.0.11/LICENSE" in names
    assert "entrypoints/http/static/ui/incidentcore.css" in names
    templates = {n.rsplit("/", 1)[1] for n in names if n.startswith("entrypoints/http/ui/templates/")}
    assert {"base.html", "login.html", "incidents.html", "incident.html", "oncall.html", "profile.html"} <= templates
    assert "adapters/sql/migrations/env.py" in names
    assert any(n.startswith("adapters/sql/migrations/versions/") for n in names)


def test_nothing_but_the_packages_and_their_metadata(wheel: zipfile.ZipFile) -> None:
    tops = {name.split("/")[0] for name in wheel.namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"incidentcore", "adapters", "entrypoints"}
    assert not [n for n in wheel.namelist() if "__pycache__" in n or n.endswith(".pyc")]
