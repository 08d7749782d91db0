"""Property-based requests generated from /v1/openapi.json, authenticated as an admin: no 5xx, and
every response (status, content type, body) conforms to the published schema.

The example count is bounded (INCIDENTCORE_FUZZ_EXAMPLES, default 8 per operation) so the suite stays fast.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from http_harness import *  # noqa: F403
from http_harness import ADMIN_EMAIL, PASSWORD, Api, backends, make_api, settings_for

pytest.importorskip("schemathesis")
import schemathesis
from hypothesis import HealthCheck, settings
from litestar.testing import TestClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from entrypoints.http import create_app
from incidentcore.services import Accounts

if TYPE_CHECKING:
    from schemathesis.specs.openapi.schemas import OpenApiCase

EXAMPLES = int(os.environ.get("INCIDENTCORE_FUZZ_EXAMPLES", "8"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzzed_api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    backend = str(getattr(backends()[0], "values", [backends()[0]])[0])
    for api in make_api(backend, request, tmp_path_factory.mktemp("fuzz")):
        team = api.create_team("fuzz")
        api.create_user("oncall_engineer", team_id=team["id"])
        api.create_policy(team_id=team["id"])
        api.create_incident(team_id=team["id"])
        api.create_integration(team["id"])
        yield api


def published_spec() -> dict[str, Any]:
    """The spec exactly as /v1/openapi.json serves it; it depends on no database."""
    with TestClient(create_app(settings_for("sqlite:///unused.db"))) as client:
        return dict(client.get("/v1/openapi.json").json())


schema = schemathesis.openapi.from_dict(published_spec())
# The coverage phase enumerates every boundary of every field: thorough, but minutes long. The
# bounded random phase is what runs with the suite.
schema.config.phases.coverage.enabled = False


_admin: dict[str, dict[str, str]] = {}


def admin_headers(api: Api) -> dict[str, str]:
    """A working admin token; renewed after any request that may have changed the admin's credentials."""
    if "headers" not in _admin:
        api.use_case(Accounts, lambda accounts: accounts.ensure_admin(ADMIN_EMAIL, PASSWORD))
        _admin["headers"] = api.login(ADMIN_EMAIL)
    return _admin["headers"]


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_responses_conform_to_the_published_schema(fuzzed_api: Api, case: OpenApiCase) -> None:
    headers = admin_headers(fuzzed_api)
    kwargs = case.as_transport_kwargs(base_url="http://testserver.local", headers=headers)
    if "data" in kwargs and not isinstance(kwargs["data"], dict):
        kwargs["content"] = kwargs.pop("data")
    kwargs.pop("cookies", None)
    response = fuzzed_api.client.request(**kwargs)
    if case.method == "PUT" and case.path.startswith("/v1/users/"):
        _admin.clear()
    case.validate_response(response, checks=CHECKS, headers=headers, transport_kwargs=kwargs)
