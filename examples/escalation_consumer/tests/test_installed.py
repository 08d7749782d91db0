"""What is under test is the installed wheel, not a source tree: `nox -s library` sets
INCIDENTCORE_WHEEL to the wheel it installed."""

from __future__ import annotations

import json
import os
import sys
from importlib import metadata
from pathlib import Path

import incidentcore
import pytest

WHEEL = os.environ.get("INCIDENTCORE_WHEEL")


@pytest.mark.skipif(WHEEL is None, reason="run by `nox -s library`, which installs the wheel it built")
def test_incidentcore_comes_from_the_installed_wheel() -> None:
    assert WHEEL is not None
    distribution = metadata.distribution("incidentcore")
    installed = Path(str(distribution.locate_file("incidentcore")))
    assert Path(incidentcore.__file__).parent == installed
    assert Path(sys.prefix) in installed.parents  # in this virtualenv, not a checkout
    origin = json.loads(distribution.read_text("direct_url.json") or "{}")
    assert origin.get("url", "").endswith(".whl"), origin  # installed from a wheel, not editable
    assert (installed / "py.typed").is_file()
