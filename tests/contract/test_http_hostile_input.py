"""What a hostile or careless client sends: bodies nested to exhaust the stack, control characters that
forge log lines, encoded slashes, empty bodies; and what every answer carries for browsers."""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import pytest
from http_harness import *  # noqa: F403
from http_harness import ADMIN_EMAIL, PASSWORD, Api

from entrypoints.http.controllers.service import STATIC_DIRECTORY
from entrypoints.settings import configure_logging

JSON = {"content-type": "application/json"}
BODY_ROUTES = [
    "/v1/auth/signup",
    "/v1/auth/reset-password/",
    "/v1/incidents/",
    "/v1/alerts/elastic?key=k",
    "/v1/alerts/alertmanager?key=k",
]


@pytest.mark.parametrize("path", BODY_ROUTES)
@pytest.mark.parametrize(
    "body",
    [
        "[" * 1000,  # truncated: the decoder gives up on depth before it sees the end
        "[" * 1000 + "]" * 1000,
        "[" * 500 + '"\\u0000"' + "]" * 500,  # NUL at the bottom: the NUL scan must not recurse
        '{"a":' * 800 + "1" + "}" * 800,
        "[" * 65 + "]" * 65,
    ],
    ids=["open-1000", "closed-1000", "nul-500", "objects-800", "just-too-deep"],
)
def test_deeply_nested_json_is_a_400_and_logs_no_error(
    api: Api, path: str, body: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        response = api.client.post(path, content=body, headers={**api.admin_headers, **JSON})
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == "body"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_moderately_nested_alert_data_is_still_accepted(api: Api) -> None:
    team = api.create_team()
    key = api.create_integration(team["id"])["key"]
    nested: object = "deep"
    for _ in range(60):
        nested = {"n": nested}
    body = {"rule": {"id": "r", "name": "Nested"}, "alert": {"id": "a", "actionGroup": "x"}, "extra": nested}
    response = api.client.post("/v1/alerts/elastic", json=body, headers={"X-Integration-Key": key})
    assert response.status_code == 202, response.text


@pytest.mark.parametrize("path", BODY_ROUTES)
def test_an_empty_body_says_a_json_body_is_required(api: Api, path: str) -> None:
    response = api.client.post(path, content=b"", headers={**api.admin_headers, **JSON})
    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": "body", "message": "is required: send a JSON object"}]


@pytest.mark.parametrize("bad", ["\n", "\r", "\x1b[2J", "\x7f", "\u2028", "\x85"])
def test_titles_and_names_refuse_every_control_character(api: Api, bad: str) -> None:
    title = api.client.post("/v1/incidents/", json={"title": f"Disk{bad}full"}, headers=api.admin_headers)
    assert title.status_code == 400 and title.json()["errors"][0]["field"] == "title"
    name = api.client.put("/v1/users/me", json={"full_name": f"Eve{bad}Admin"}, headers=api.admin_headers)
    assert name.status_code == 400 and name.json()["errors"][0]["field"] == "full_name"
    team = api.client.post("/v1/teams/", json={"name": f"ops{bad}"}, headers=api.admin_headers)
    assert team.status_code == 400
    assert api.client.get("/v1/incidents/", headers=api.admin_headers).json()["total"] == 0


def test_descriptions_and_comments_keep_newlines_and_tabs_only(api: Api) -> None:
    created = api.client.post(
        "/v1/incidents/", json={"title": "t", "description": "line 1\n\tline 2"}, headers=api.admin_headers
    )
    assert created.status_code == 201
    path = f"/v1/incidents/{created.json()['id']}"
    assert api.client.post(f"{path}/comments", json={"body": "a\nb\tc"}, headers=api.admin_headers).status_code == 201
    for bad in ("\r", "\x1b[31m", "\x08"):
        response = api.client.post(f"{path}/comments", json={"body": f"x{bad}y"}, headers=api.admin_headers)
        assert response.status_code == 400 and response.json()["errors"][0]["field"] == "body"
        response = api.client.put(path, json={"description": f"x{bad}y"}, headers=api.admin_headers)
        assert response.status_code == 400 and response.json()["errors"][0]["field"] == "description"


def test_alert_text_is_cleaned_not_refused(api: Api) -> None:
    """A monitoring tool's odd character must not lose the alert: it is replaced by a space."""
    team = api.create_team()
    key = api.create_integration(team["id"])["key"]
    body = {
        "rule": {"id": "r", "name": "CPU\nhigh\x1b[0m"},
        "alert": {"id": "a", "actionGroup": "x"},
        "context": {"reason": "load 9\r\nswap\x07 full"},
    }
    response = api.client.post("/v1/alerts/elastic", json=body, headers={"X-Integration-Key": key})
    assert response.status_code == 202
    incident = api.client.get(f"/v1/incidents/{response.json()['incident_id']}", headers=api.admin_headers).json()
    assert incident["title"] == "CPU high [0m"
    assert incident["description"] == "load 9\nswap  full"


def test_log_lines_escape_control_characters_in_their_arguments(caplog: pytest.LogCaptureFixture) -> None:
    configure_logging("INFO")
    logger = logging.getLogger("incidentcore.test")
    with caplog.at_level(logging.INFO):
        logger.info("incident %s opened by %s", "x\n2026-01-01 CRITICAL forged", "eve\x1b[2J")
        logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "1.2.3.4:5", "GET", "/a\r\nb", "1.1", 404)
    assert "x\\n2026-01-01 CRITICAL forged" in caplog.text
    assert "eve\\x1b[2J" in caplog.text
    assert "/a\\r\\nb" in caplog.text
    assert "\x1b" not in caplog.text
    assert len(caplog.text.strip().splitlines()) == 2


def test_every_answer_carries_the_security_headers(api: Api) -> None:
    answers = [
        api.client.get("/v1/incidents/", headers=api.admin_headers),
        api.client.get("/v1/nothing-here"),  # answered before any route matched
        api.client.post("/v1/auth/login/access-token", data={"username": ADMIN_EMAIL, "password": PASSWORD}),
        api.client.get("/health"),
    ]
    for answer in answers:
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert answer.headers["cache-control"] == "no-store"
        assert "server" not in answer.headers


def test_options_lists_every_method_of_the_path(api: Api) -> None:
    incident = api.create_incident()
    expected = {
        "/v1/incidents/": "GET, OPTIONS, POST",
        f"/v1/incidents/{incident['id']}": "GET, OPTIONS, PUT",
        f"/v1/incidents/{incident['id']}/comments": "GET, OPTIONS, POST",
        "/v1/users/me": "GET, OPTIONS, PUT",
    }
    for path, allow in expected.items():
        response = api.client.options(path)
        assert (response.status_code, response.headers["allow"]) == (204, allow)


def test_an_encoded_slash_is_not_a_path_separator(api: Api) -> None:
    incident = api.create_incident()
    for path in (f"/v1/incidents%2F{incident['id']}", f"/v1/incidents/{incident['id']}%2facknowledge"):
        response = api.client.post(path, headers=api.admin_headers) if "ack" in path else api.client.get(
            path, headers=api.admin_headers
        )
        assert response.status_code == 404, path
    assert api.client.get(f"/v1/incidents/{incident['id']}", headers=api.admin_headers).json()["status"] == "triggered"


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_load_only_the_package_s_own_assets_under_a_csp(api: Api, page: str) -> None:
    response = api.client.get(page)
    assert response.status_code == 200
    html = response.text
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    assert assets and all(a.startswith("/static/") for a in assets), assets
    assert "http://" not in html.split("<body")[0] and "https://" not in html.split("<body")[0]
    for asset in assets:
        served = api.client.get(asset)
        assert served.status_code == 200, asset
        assert "immutable" in served.headers["cache-control"]
    csp = response.headers["content-security-policy"]
    found = re.search(r"'nonce-([^']+)'", csp)
    assert found, csp
    nonce = found.group(1)
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts and all(f'nonce="{nonce}"' in s for s in scripts)
    assert "script-src 'self' 'nonce-" in csp and "unsafe-eval" not in csp
    assert api.client.get(page).headers["content-security-policy"] != csp  # a fresh nonce each time


def test_vendored_files_are_the_ones_recorded() -> None:
    record = (STATIC_DIRECTORY / "vendor" / "VENDORED.md").read_text()
    recorded = dict(re.findall(r"- `([^`]+)`: `([0-9a-f]{64})`", record))
    on_disk = {
        str(p.relative_to(STATIC_DIRECTORY / "vendor")): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in Path(STATIC_DIRECTORY / "vendor").glob("*/*")
        if p.suffix in (".js", ".css")
    }
    assert recorded == on_disk
    for directory in {Path(name).parent for name in on_disk}:
        assert (STATIC_DIRECTORY / "vendor" / directory / "LICENSE").is_file()


def test_elastic_alerts_whose_ids_concatenate_alike_are_different_incidents(api: Api) -> None:
    team = api.create_team()
    key = api.create_integration(team["id"])["key"]

    def alert(rule_id: str, alert_id: str) -> dict[str, object]:
        body = {"rule": {"id": rule_id, "name": "n"}, "alert": {"id": alert_id, "actionGroup": "x"}}
        answer: dict[str, object] = api.client.post(
            "/v1/alerts/elastic", json=body, headers={"X-Integration-Key": key}
        ).json()
        return answer

    first, second = alert("a:b", "c"), alert("a", "b:c")
    assert (first["action"], second["action"]) == ("created", "created")
    assert first["incident_id"] != second["incident_id"]
    assert alert("a:b", "c") == {"incident_id": first["incident_id"], "action": "updated"}
    plain = alert("rule-1", "svc-a")
    incident = api.client.get(f"/v1/incidents/{plain['incident_id']}", headers=api.admin_headers).json()
    assert incident["dedup_key"] == "rule-1:svc-a"  # the documented spelling, where ids need no escaping
