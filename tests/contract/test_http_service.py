"""Service endpoints, documentation, and the error behaviour every endpoint shares."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest
from dishka import Provider, Scope, provide
from http_harness import *  # noqa: F403
from http_harness import (
    ADMIN_EMAIL,
    API_ENDPOINTS,
    MAX_BODY_BYTES,
    PASSWORD,
    PUBLIC_ENDPOINTS,
    Api,
    make_api,
    settings_for,
)
from litestar.testing import TestClient

from entrypoints.http import create_app
from incidentcore.services import Teams

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    return body


def test_root_names_the_service(api: Api) -> None:
    response = api.client.get("/")
    assert response.status_code == 200
    assert response.json() == {
        "name": "incidentcore",
        "version": response.json()["version"],
        "docs": "/docs",
        "ui": "/ui/",
    }


def test_health_checks_the_database(api: Api) -> None:
    response = api.client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_health_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    settings = settings_for(f"sqlite:///{tmp_path}/missing-directory/incidentcore.db")
    with TestClient(create_app(settings)) as client:
        response = client.get("/health")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "error"}


def test_docs_and_spec_are_served(api: Api) -> None:
    assert api.client.get("/docs").status_code == 200
    assert "swagger-ui" in api.client.get("/docs").text.lower()
    assert api.client.get("/redoc").status_code == 200
    spec = api.client.get("/v1/openapi.json").json()
    assert spec["openapi"].startswith("3.")


def test_spec_documents_exactly_the_contract(api: Api) -> None:
    spec = api.client.get("/v1/openapi.json").json()
    documented = {(method.upper(), path) for path, item in spec["paths"].items() for method in item if method != "parameters"}
    assert documented == set(API_ENDPOINTS)


def test_every_operation_has_summary_tag_errors_and_security(api: Api) -> None:
    spec = api.client.get("/v1/openapi.json").json()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            assert operation.get("summary"), where
            assert operation.get("tags"), where
            errors = {int(code) for code in operation["responses"] if code[0] in "45"}
            public = (method.upper(), path) in PUBLIC_ENDPOINTS
            if path not in ("/", "/health", "/health/live"):  # nothing a client sends can fail these
                assert errors, f"{where} documents no error response"
            if public:
                assert not operation.get("security"), where
            else:
                assert operation.get("security") == [{"OAuth2PasswordBearer": []}], where
                assert 401 in errors, where
    flows = spec["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]
    assert flows["password"]["tokenUrl"] == "/v1/auth/login/access-token"


def test_swagger_authorize_flow_logs_in_with_the_form_it_sends(api: Api) -> None:
    # What Swagger UI posts for the OAuth2 password flow.
    form = {"grant_type": "password", "username": ADMIN_EMAIL, "password": PASSWORD, "scope": ""}
    response = api.client.post("/v1/auth/login/access-token", data=form)
    assert response.status_code == 200
    assert response.json()["token_type"] == "bearer"


@pytest.mark.parametrize("path", ["/v1/teams/", "/v1/teams"])
def test_collection_paths_answer_with_and_without_trailing_slash(api: Api, path: str) -> None:
    assert api.client.get(path, headers=api.admin_headers).status_code == 200


def test_unknown_route_is_a_404_problem(api: Api) -> None:
    assert_problem(api.client.get("/v1/nothing-here"), 404)
    assert_problem(api.client.get("/v1/incidents/1/nothing", headers=api.admin_headers), 404)


def test_wrong_method_is_a_405_problem(api: Api) -> None:
    response = api.client.delete("/health")
    assert_problem(response, 405)
    assert "GET" in response.headers["allow"]
    assert_problem(api.client.patch("/v1/teams/", headers=api.admin_headers, json={}), 405)


def test_oversized_body_is_a_413_problem(api: Api) -> None:
    body = {"title": "x", "description": "y" * (MAX_BODY_BYTES + 1)}
    assert_problem(api.client.post("/v1/incidents/", json=body, headers=api.admin_headers), 413)


def test_malformed_json_is_a_400_problem(api: Api) -> None:
    response = api.client.post(
        "/v1/incidents/", content=b"{not json", headers={**api.admin_headers, "content-type": "application/json"}
    )
    assert_problem(response, 400)


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("text/plain", b'{"title":"x","assignee_id":"2"}'),  # JSON in disguise: was coerced and created
        ("application/x-www-form-urlencoded", b"title=x&assignee_id=2"),
        ("multipart/form-data; boundary=b", b'--b\r\nContent-Disposition: form-data; name="title"\r\n\r\nx\r\n--b--\r\n'),
        (None, b'{"title":"x"}'),
    ],
)
def test_json_routes_refuse_other_content_types_with_a_415(
    api: Api, content_type: str | None, content: bytes
) -> None:
    headers = dict(api.admin_headers)
    if content_type is not None:
        headers["content-type"] = content_type
    response = api.client.post("/v1/incidents/", content=content, headers=headers)
    body = assert_problem(response, 415)
    assert body["type"].endswith("unsupported-media-type")
    assert "application/json" in body["detail"]
    assert api.client.get("/v1/incidents/", headers=api.admin_headers).json()["total"] == 0


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/merge-patch+json"])
def test_json_content_types_with_parameters_or_a_json_suffix_are_accepted(
    api: Api, content_type: str
) -> None:
    headers = {**api.admin_headers, "content-type": content_type}
    response = api.client.post("/v1/incidents/", content=b'{"title":"x"}', headers=headers)
    assert response.status_code == 201, response.text


def test_a_form_body_on_the_login_form_is_still_accepted_and_nul_checked(api: Api) -> None:
    form = {"username": ADMIN_EMAIL, "password": PASSWORD}
    assert api.client.post("/v1/auth/login/access-token", data=form).status_code == 200
    response = api.client.post("/v1/auth/login/access-token", data={**form, "username": "a\x00@example.com"})
    assert assert_problem(response, 400)["errors"][0]["field"] == "body"


def test_the_spec_documents_the_415_of_every_json_body(api: Api) -> None:
    spec = api.client.get("/v1/openapi.json").json()
    json_bodies = 0
    for item in spec["paths"].values():
        for operation in item.values():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                json_bodies += 1
                assert "415" in operation["responses"], operation["summary"]
            elif content:  # the login form
                assert "415" not in operation["responses"], operation["summary"]
    assert json_bodies > 10


def test_a_json_body_is_decoded_once_by_the_body_check(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    def decoded_again(*_args: object, **_kwargs: object) -> NoReturn:
        raise AssertionError("Litestar decoded the body a second time")

    monkeypatch.setattr("litestar.connection.request.decode_json", decoded_again)
    response = api.client.post("/v1/incidents/", json={"title": "once"}, headers=api.admin_headers)
    assert response.status_code == 201, response.text
    assert response.json()["title"] == "once"


def test_wrong_types_are_not_coerced(api: Api) -> None:
    response = api.client.post("/v1/incidents/", json={"title": "x", "team_id": "1"}, headers=api.admin_headers)
    body = assert_problem(response, 400)
    assert body["errors"][0]["field"] == "team_id"


def test_nul_characters_are_refused_not_stored(api: Api) -> None:
    response = api.client.post("/v1/incidents/", json={"title": "a\x00b"}, headers=api.admin_headers)
    assert assert_problem(response, 400)["errors"][0]["field"] == "body"
    response = api.client.get("/v1/users/", params={"q": "a\x00"}, headers=api.admin_headers)
    assert assert_problem(response, 400)["errors"][0]["field"] == "q"


def test_limit_and_offset_are_bounded(api: Api) -> None:
    for params, field in (({"limit": 0}, "limit"), ({"limit": 501}, "limit"), ({"offset": -1}, "offset")):
        body = assert_problem(api.client.get("/v1/incidents/", params=params, headers=api.admin_headers), 400)
        assert body["errors"][0]["field"] == field
    page = api.client.get("/v1/incidents/", params={"limit": 500, "offset": 3}, headers=api.admin_headers).json()
    assert (page["limit"], page["offset"]) == (500, 3)


class BrokenTeamsProvider(Provider):
    @provide(scope=Scope.REQUEST)
    def teams(self) -> Teams:
        class Broken:
            async def list(self, *_: object) -> NoReturn:
                raise RuntimeError("secret internal detail")

        return Broken()  # type: ignore[return-value]


def test_unexpected_errors_are_a_500_problem_with_a_logged_request_id(
    http_backend: str, request: pytest.FixtureRequest, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for api in make_api(http_backend, request, tmp_path, BrokenTeamsProvider()):
        with caplog.at_level(logging.ERROR, logger="incidentcore.http"):
            response = api.client.get("/v1/teams/", headers=api.admin_headers)
        body = assert_problem(response, 500)
        assert "secret internal detail" not in response.text
        assert "Traceback" not in response.text
        request_id = body["request_id"]
        assert response.headers["x-request-id"] == request_id
        assert request_id in caplog.text
        assert "secret internal detail" in caplog.text
