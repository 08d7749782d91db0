"""The web UI over HTTP on every backend: sessions, CSRF, what each person is offered and allowed,
inert user content, and its pages' headers. The same flows in a real browser: test_web_ui_browser.py."""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from dishka import Provider, Scope, provide
from http_harness import *  # noqa: F403
from http_harness import ADMIN_EMAIL, PASSWORD, Api, make_api
from litestar.stores.base import Store
from markupsafe import escape

from entrypoints.http.ui import templating
from entrypoints.http.ui.sessions import CSRF_COOKIE, SESSION_COOKIE
from entrypoints.settings import ConfigurationError, Settings
from incidentcore.services import Directory

XSS_TITLES = ["<script>alert('title')</script>", '<img src=x onerror="alert(1)">']
_CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')


class Browser:
    """A browser's view of the app: its own cookies and client address, requests on the app's event
    loop, no redirect followed; remembers the CSRF token of the last page it was served."""

    def __init__(self, api: Api, address: str = "198.51.100.7", base_url: str = "http://testserver") -> None:
        self.api = api
        transport = httpx.ASGITransport(app=api.client.app, client=(address, 50000))
        self.client = httpx.AsyncClient(transport=transport, base_url=base_url)
        self.csrf = ""

    def request(self, method: str, path: str, **arguments: Any) -> httpx.Response:
        response: httpx.Response = self.api.run(functools.partial(self.client.request, method, path, **arguments))
        if found := _CSRF_INPUT.search(response.text):
            self.csrf = found.group(1)
        return response

    def get(self, path: str, **arguments: Any) -> httpx.Response:
        return self.request("GET", path, **arguments)

    def post(self, path: str, data: dict[str, str] | None = None, *, htmx: bool = False, csrf: bool = True) -> httpx.Response:
        form = {**({"_csrf_token": self.csrf} if csrf else {}), **(data or {})}
        headers = {"HX-Request": "true"} if htmx else {}
        return self.request("POST", path, data=form, headers=headers)

    def log_in(self, email: str = ADMIN_EMAIL, password: str = PASSWORD) -> httpx.Response:
        self.get("/ui/login")
        response = self.post("/ui/login", {"email": email, "password": password})
        assert response.status_code == 303, response.text
        return response

    def close(self) -> None:
        self.api.run(self.client.aclose)


@pytest.fixture
def browser(api: Api) -> Iterator[Browser]:
    opened = Browser(api)
    yield opened
    opened.close()


def text_of(page: httpx.Response) -> str:
    """The page's visible text, roughly: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", " ", page.text))


# --- logging in and out ----------------------------------------------------------------------------


def test_the_root_sends_browsers_to_the_ui_and_api_clients_get_json(api: Api) -> None:
    browser_like = api.client.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}, follow_redirects=False)
    assert (browser_like.status_code, browser_like.headers["location"]) == (303, "/ui/")
    for accept in ("application/json", "*/*", None):
        answer = api.client.get("/", headers={"Accept": accept} if accept else {})
        assert answer.json()["ui"] == "/ui/"


def test_pages_ask_for_a_login_and_come_back_after_it(browser: Browser) -> None:
    page = browser.get("/ui/incidents/7")
    assert (page.status_code, page.headers["location"]) == (303, "/ui/login?next=/ui/incidents/7")
    fragment = browser.get("/ui/incidents", headers={"HX-Request": "true"})
    assert fragment.headers["HX-Redirect"] == "/ui/login?next=/ui/incidents"  # htmx loads the whole page
    browser.get("/ui/login?next=/ui/oncall")
    logged_in = browser.post("/ui/login", {"email": ADMIN_EMAIL, "password": PASSWORD, "next": "/ui/oncall"})
    assert logged_in.headers["location"] == "/ui/oncall"
    assert browser.get("/ui/oncall").status_code == 200


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/v1/users/me", "/ui\\evil"])
def test_after_login_the_ui_never_sends_the_browser_elsewhere(browser: Browser, target: str) -> None:
    browser.get("/ui/login")
    answer = browser.post("/ui/login", {"email": ADMIN_EMAIL, "password": PASSWORD, "next": target})
    assert answer.headers["location"] == "/ui/"


def test_the_session_cookie_is_http_only_lax_and_scoped_to_the_ui(browser: Browser) -> None:
    cookie = browser.log_in().headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "samesite"} <= attributes
    assert "path=/ui" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert "secure" not in attributes  # PUBLIC_URL is http here


def test_behind_https_the_cookies_are_secure(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    for api in make_api("sqlite", request, tmp_path, settings_overrides={"PUBLIC_URL": "https://oncall.example.com"}):
        https = Browser(api, base_url="https://testserver")
        csrf_cookie = https.get("/ui/login").headers["set-cookie"]
        session_cookie = https.post("/ui/login", {"email": ADMIN_EMAIL, "password": PASSWORD}).headers["set-cookie"]
        https.close()
        assert csrf_cookie.startswith(CSRF_COOKIE) and "secure" in csrf_cookie.lower()
        assert "secure" in session_cookie.lower() and "httponly" in session_cookie.lower()


def test_a_login_lasts_web_session_hours(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    assert Settings.from_mapping({}).web_session_hours == 12
    with pytest.raises(ConfigurationError, match="WEB_SESSION_HOURS must be between 1 and 720"):
        Settings.from_mapping({"WEB_SESSION_HOURS": "0"})
    for api in make_api("sqlite", request, tmp_path, settings_overrides={"WEB_SESSION_HOURS": "2"}):
        browser = Browser(api)
        assert "Max-Age=7200" in browser.log_in().headers["set-cookie"]
        browser.close()


def test_a_page_view_stores_no_session_and_sets_no_cookie(api: Api, browser: Browser) -> None:
    anonymous = browser.get("/ui/login")
    assert SESSION_COOKIE not in anonymous.headers.get("set-cookie", "")
    browser.log_in()
    assert "set-cookie" not in browser.get("/ui/").headers  # the session is unchanged: nothing written


def test_a_wrong_password_is_refused_and_throttled_with_the_apis_logins(api: Api, browser: Browser) -> None:
    user, _ = api.create_user()
    browser.get("/ui/login")
    wrong = browser.post("/ui/login", {"email": user["email"], "password": "not the password"})
    assert wrong.status_code == 401
    assert "Incorrect email or password" in wrong.text
    assert SESSION_COOKIE not in wrong.headers.get("set-cookie", "")
    for _ in range(2):
        browser.post("/ui/login", {"email": user["email"], "password": "not the password"})
    for _ in range(2):  # the same account from the same address, through the API
        api_wrong = api.send_from(
            "198.51.100.7", "POST", "/v1/auth/login/access-token", data={"username": user["email"], "password": "x" * 9}
        )
        assert api_wrong.status_code == 401
    limited = browser.post("/ui/login", {"email": user["email"], "password": PASSWORD})
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    assert "too many failed password attempts" in limited.text


def test_logging_out_ends_the_session_in_the_store(api: Api, browser: Browser) -> None:
    browser.log_in()
    session_id = browser.client.cookies[SESSION_COOKIE]
    store: Store = api.client.app.stores.get("web-sessions")
    assert api.run(store.exists, session_id)
    out = browser.post("/ui/logout")
    assert (out.status_code, out.headers["location"]) == (303, "/ui/login")
    assert not api.run(store.exists, session_id)
    replayed = Browser(api)  # someone who kept the old cookie gets nothing
    replayed.client.cookies.set(SESSION_COOKIE, session_id)
    after = replayed.get("/ui/")
    assert after.headers["location"] == "/ui/login?next=/ui"
    assert "Max-Age=0" in after.headers["set-cookie"]  # and the dead cookie is removed
    replayed.close()


def test_a_login_starts_a_new_session_id(api: Api, browser: Browser) -> None:
    """An id planted in the browser before the login (session fixation) is not the one logged in."""
    planted = "a" * 64
    browser.client.cookies.set(SESSION_COOKIE, planted, domain="testserver.local", path="/ui")
    cookie = browser.log_in().headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=") and planted not in cookie
    attacker = Browser(api, "203.0.113.9")
    attacker.client.cookies.set(SESSION_COOKIE, planted)
    assert attacker.get("/ui/").status_code == 303
    attacker.close()


def test_a_new_password_or_deactivation_ends_ui_sessions_at_once(api: Api, browser: Browser) -> None:
    user, headers = api.create_user()
    browser.log_in(user["email"])
    assert browser.get("/ui/").status_code == 200
    changed = api.client.put(
        "/v1/users/me", json={"password": "a new password", "current_password": PASSWORD}, headers=headers
    )
    assert changed.status_code == 200, changed.text
    assert browser.get("/ui/").status_code == 303
    browser.log_in(user["email"], "a new password")
    deactivated = api.client.put(f"/v1/users/{user['id']}", json={"is_active": False}, headers=api.admin_headers)
    assert deactivated.status_code == 200
    assert browser.get("/ui/profile").headers["location"] == "/ui/login?next=/ui/profile"


# --- CSRF ------------------------------------------------------------------------------------------


def test_a_form_post_without_the_csrf_token_is_refused_and_changes_nothing(api: Api, browser: Browser) -> None:
    browser.log_in()
    incident = api.create_incident()
    path = f"/ui/incidents/{incident['id']}/acknowledge"
    for forged in (browser.post(path, csrf=False), browser.post(path, {"_csrf_token": "0" * 128}, csrf=False)):
        assert forged.status_code == 403
        assert "CSRF" in forged.text
    after = api.client.get(f"/v1/incidents/{incident['id']}", headers=api.admin_headers).json()
    assert after["status"] == "triggered"
    login_without_token = Browser(api)
    assert login_without_token.post("/ui/login", {"email": ADMIN_EMAIL, "password": PASSWORD}, csrf=False).status_code == 403
    login_without_token.close()


def test_the_json_api_and_the_webhooks_take_no_csrf_token(api: Api, browser: Browser) -> None:
    browser.log_in()  # a browser session and CSRF cookie beside the bearer token change nothing
    session, csrf = browser.client.cookies[SESSION_COOKIE], browser.client.cookies[CSRF_COOKIE]
    cookies = {"Cookie": f"{SESSION_COOKIE}={session}; {CSRF_COOKIE}={csrf}"}
    incident = api.client.post("/v1/incidents/", json={"title": "Disk full"}, headers={**api.admin_headers, **cookies})
    assert incident.status_code == 201, incident.text
    acknowledged = api.client.post(f"/v1/incidents/{incident.json()['id']}/acknowledge", headers=api.admin_headers)
    assert acknowledged.status_code == 200
    team = api.create_team()
    key = api.create_integration(team["id"])["key"]
    alert = {"rule": {"id": "r", "name": "High error rate"}, "alert": {"id": "a", "actionGroup": "threshold_met"}}
    received = api.client.post("/v1/alerts/elastic", json=alert, headers={"X-Integration-Key": key})
    assert received.status_code == 202, received.text
    # and the session is no bearer token: the API does not take it
    assert api.client.get("/v1/users/me", headers=cookies).status_code == 401


# --- what each person is offered and allowed -------------------------------------------------------


def test_the_list_shows_open_incidents_first_with_their_facts(api: Api, browser: Browser) -> None:
    team = api.create_team("payments")
    responder, _ = api.create_user("oncall_engineer", team["id"])
    resolved = api.create_incident(title="Old outage")
    api.client.post(f"/v1/incidents/{resolved['id']}/resolve", headers=api.admin_headers)
    acked = api.create_incident(title="Slow checkout", team_id=team["id"], severity="critical", assignee_id=responder["id"])
    api.client.post(f"/v1/incidents/{acked['id']}/acknowledge", headers=api.admin_headers)
    target = {"type": "user", "id": api.admin_id}
    api.create_policy(steps=[{"delay_minutes": 5, "targets": [target]}, {"delay_minutes": 5, "targets": [target]}])
    triggered = api.create_incident(title="Disk full")
    browser.log_in()
    page = browser.get("/ui/")
    assert page.status_code == 200
    shown = text_of(page)
    assert shown.index("Disk full") < shown.index("Slow checkout") < shown.index("Old outage")
    assert re.search(r"1\s+triggered\s+1\s+acknowledged\s+1\s+resolved", shown)
    row = shown[shown.index("Slow checkout") :]
    assert re.search(r"acknowledged.*critical.*payments.*ago.*oncall_engineer user", row, re.S)
    triggered_row = shown[shown.index("Disk full") : shown.index("Slow checkout")]
    assert "Next escalation in 5 min" in re.sub(r"\s+", " ", triggered_row)
    assert triggered["next_escalation_at"] is not None


def test_the_list_filters_and_its_refresh_is_a_fragment_with_the_counts(api: Api, browser: Browser) -> None:
    team = api.create_team("payments")
    api.create_incident(title="Payments down", team_id=team["id"], severity="critical")
    api.create_incident(title="Search slow", severity="low")
    browser.log_in()
    by_team = text_of(browser.get(f"/ui/?team_id={team['id']}"))
    assert "Payments down" in by_team and "Search slow" not in by_team
    by_severity = text_of(browser.get("/ui/?severity=low&status=triggered"))
    assert "Search slow" in by_severity and "Payments down" not in by_severity
    fragment = browser.get("/ui/incidents?severity=critical", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert 'id="incident-list"' in fragment.text and 'hx-trigger="every 5s"' in fragment.text
    assert 'hx-get="/ui/incidents?severity=critical"' in fragment.text
    assert 'id="counts" hx-swap-oob="true"' in fragment.text
    bad = browser.get("/ui/?status=on-fire")
    assert bad.status_code == 400
    assert "status: must be one of triggered, acknowledged, resolved" in text_of(bad)


def test_acknowledging_answers_with_the_updated_incident_and_its_timeline(api: Api, browser: Browser) -> None:
    incident = api.create_incident(title="Disk full")
    browser.log_in()
    page = browser.get(f"/ui/incidents/{incident['id']}")
    assert page.text.index(">Acknowledge</button>") < page.text.index(">Resolve</button>")
    assert "Snooze" not in text_of(page)  # only an acknowledged incident can be snoozed
    fragment = browser.post(f"/ui/incidents/{incident['id']}/acknowledge", htmx=True)
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<div id="incident">')
    shown = text_of(fragment)
    assert ">Acknowledge</button>" not in fragment.text
    assert "acknowledged by Administrator" in re.sub(r"\s+", " ", shown)
    assert "Snooze for" in shown
    snoozed = browser.post(f"/ui/incidents/{incident['id']}/snooze", {"minutes": "30"}, htmx=True)
    assert "snoozed by Administrator for 30 min" in re.sub(r"\s+", " ", text_of(snoozed))
    commented = browser.post(f"/ui/incidents/{incident['id']}/comments", {"body": "looking into it"}, htmx=True)
    assert "looking into it" in text_of(commented)
    api_view = api.client.get(f"/v1/incidents/{incident['id']}/comments", headers=api.admin_headers).json()
    assert [c["body"] for c in api_view["items"]] == ["looking into it"]


def test_a_plain_form_post_redirects_back_to_the_incident(api: Api, browser: Browser) -> None:
    incident = api.create_incident()
    user, _ = api.create_user("oncall_engineer")
    browser.log_in()
    answer = browser.post(f"/ui/incidents/{incident['id']}/assign", {"user_id": str(user["id"]), "role": "commander"})
    assert (answer.status_code, answer.headers["location"]) == (303, f"/ui/incidents/{incident['id']}")
    assert api.client.get(f"/v1/incidents/{incident['id']}", headers=api.admin_headers).json()["assignee_id"] == user["id"]
    resolved = browser.post(f"/ui/incidents/{incident['id']}/resolve")
    assert resolved.status_code == 303
    page = text_of(browser.get(f"/ui/incidents/{incident['id']}"))
    assert "resolved by Administrator" in re.sub(r"\s+", " ", page)
    assert ">Resolve</button>" not in browser.get(f"/ui/incidents/{incident['id']}").text


def test_another_teams_user_sees_no_resolve_button_and_a_forged_resolve_is_403(api: Api) -> None:
    ours, theirs = api.create_team("ours"), api.create_team("theirs")
    outsider, _ = api.create_user("user", theirs["id"])
    incident = api.create_incident(title="Disk full", team_id=ours["id"])
    browser = Browser(api)
    browser.log_in(outsider["email"])
    page = browser.get(f"/ui/incidents/{incident['id']}")
    assert page.status_code == 200
    for button in (">Acknowledge</button>", ">Resolve</button>", ">Escalate now</button>", ">Assign</button>"):
        assert button not in page.text
    assert "Add comment" in page.text  # anyone may comment
    forged = browser.post(f"/ui/incidents/{incident['id']}/resolve")
    assert forged.status_code == 403
    assert "may not incident resolve" in text_of(forged)
    shown_in_page = browser.post(f"/ui/incidents/{incident['id']}/resolve", htmx=True)
    assert shown_in_page.status_code == 403
    assert shown_in_page.headers["HX-Retarget"] == "#flash"
    assert shown_in_page.text.strip().startswith('<p class="problem">')
    after = api.client.get(f"/v1/incidents/{incident['id']}", headers=api.admin_headers).json()
    assert after["status"] == "triggered"
    browser.close()


def test_a_conflict_and_a_missing_incident_are_shown_not_500(api: Api, browser: Browser) -> None:
    incident = api.create_incident()
    api.client.post(f"/v1/incidents/{incident['id']}/resolve", headers=api.admin_headers)
    browser.log_in()
    conflict = browser.post(f"/ui/incidents/{incident['id']}/acknowledge", htmx=True)
    assert conflict.status_code == 409
    assert conflict.headers["HX-Retarget"] == "#flash"
    missing = browser.get("/ui/incidents/999999")
    assert missing.status_code == 404
    assert "incident 999999 does not exist" in missing.text
    bad_snooze = browser.post(f"/ui/incidents/{incident['id']}/snooze", {"minutes": "soon"})
    assert bad_snooze.status_code == 400


def test_the_records_refresh_brings_the_buttons_up_to_date_only_when_the_incident_changed(
    api: Api, browser: Browser
) -> None:
    incident = api.create_incident()
    browser.log_in()
    page = browser.get(f"/ui/incidents/{incident['id']}")
    poll = re.search(r'hx-get="(/ui/incidents/\d+/records\?version=\d+)"', page.text)
    assert poll is not None
    unchanged = browser.get(poll.group(1), headers={"HX-Request": "true"})
    assert 'id="records"' in unchanged.text and "incident-head" not in unchanged.text
    api.client.post(f"/v1/incidents/{incident['id']}/acknowledge", headers=api.admin_headers)
    changed = browser.get(poll.group(1), headers={"HX-Request": "true"})
    assert 'id="incident-head" aria-labelledby="incident-title" hx-swap-oob="true"' in changed.text
    assert ">Acknowledge</button>" not in changed.text
    assert "acknowledged by Administrator" in re.sub(r"\s+", " ", text_of(changed))


# --- inert user content, and the pages' headers ----------------------------------------------------


@pytest.mark.parametrize("title", XSS_TITLES)
def test_titles_descriptions_and_comments_render_as_text(api: Api, browser: Browser, title: str) -> None:
    incident = api.create_incident(title=title, description=f"details: {title}")
    api.client.post(f"/v1/incidents/{incident['id']}/comments", json={"body": title}, headers=api.admin_headers)
    browser.log_in()
    for page in (browser.get("/ui/"), browser.get(f"/ui/incidents/{incident['id']}")):
        assert title not in page.text
        assert str(escape(title)) in page.text
        assert "<script>alert" not in page.text and "<img" not in page.text


def test_ui_pages_allow_only_the_services_own_script_and_cache_nothing(api: Api, browser: Browser) -> None:
    login_page = Browser(api).get("/ui/login")
    browser.log_in()
    for page in [login_page, *(browser.get(path) for path in ("/ui/", "/ui/oncall", "/ui/profile", "/ui/incidents/9"))]:
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "frame-ancestors 'none'" in csp and "style-src 'self'" in csp
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["x-frame-options"] == "DENY"
        assert "<script>" not in page.text and " style=" not in page.text  # nothing inline
        assert 'src="/static/vendor/htmx-2.0.11/htmx.min.js' in page.text
    htmx = api.client.get("/static/vendor/htmx-2.0.11/htmx.min.js")
    assert htmx.status_code == 200 and "htmx" in htmx.text[:2000]


def test_the_ui_is_not_part_of_the_api_spec(api: Api) -> None:
    paths = api.client.get("/v1/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith("/ui")]


# --- on call, profile and preferences --------------------------------------------------------------


def test_on_call_now_names_who_is_on_call_on_each_schedule_and_until_when(api: Api, browser: Browser) -> None:
    team = api.create_team("payments")
    ada, _ = api.create_user("oncall_engineer", team["id"])
    bob, _ = api.create_user("team_lead", team["id"])
    # Handovers at the hour twelve hours from now: the shift on now ends in 11-12 h whenever the test runs.
    handover = (datetime.now(UTC).hour + 12) % 24
    body = {
        "name": "payments primary",
        "time_zone": "UTC",
        "team_id": team["id"],
        "layers": [{"name": "daily", "start": f"2020-01-01T{handover:02}:00", "turn_length": {"unit": "days", "count": 1},
                    "participants": [ada["id"], bob["id"]]}],
    }  # fmt: skip
    created = api.client.post("/v1/schedules/", json=body, headers=api.admin_headers)
    assert created.status_code == 201, created.text
    empty = {**body, "name": "nights (nobody yet)", "layers": []}
    assert api.client.post("/v1/schedules/", json=empty, headers=api.admin_headers).status_code == 201
    browser.log_in()
    shown = re.sub(r"\s+", " ", text_of(browser.get("/ui/oncall")))
    assert re.search(r"payments primary Team payments On call (oncall_engineer|team_lead) user", shown)
    assert re.search(rf"Until \d{{4}}-\d\d-\d\d {handover:02}:00 UTC \(in 1[12] h", shown)
    assert "nights (nobody yet) Team payments On call nobody" in shown


def test_a_channel_is_set_and_tested_from_the_profile(api: Api, browser: Browser) -> None:
    user, headers = api.create_user("oncall_engineer")
    browser.log_in(user["email"])
    profile = text_of(browser.get("/ui/profile"))
    assert user["email"] in profile and "oncall engineer" in profile
    assert "you are paged by email" in profile
    saved = browser.post(
        "/ui/profile/channels",
        {"channel": "webhook", "address": "http://127.0.0.1:9/hook", "min_severity": "high", "enabled": "true"},
        htmx=True,
    )
    assert saved.status_code == 200, saved.text
    assert "http://127.0.0.1:9/hook" in saved.text and "high and above" in text_of(saved)
    stored = api.client.get("/v1/notification-preferences/me", headers=headers).json()["items"]
    assert [(p["channel"], p["min_severity"], p["enabled"]) for p in stored] == [("webhook", "high", True)]
    email = browser.post("/ui/profile/channels/email/test", htmx=True)  # development logs email pages
    assert "Test page sent by email to " + user["email"] in text_of(email)
    webhook = browser.post("/ui/profile/channels/webhook/test", htmx=True)  # nothing listens on port 9
    assert "did not go through" in text_of(webhook)
    no_address = browser.post("/ui/profile/channels/sms/test", htmx=True)
    assert no_address.status_code == 400 and "set an address for sms first" in no_address.text
    refused = browser.post("/ui/profile/channels", {"channel": "sms", "address": "", "enabled": "true"})
    assert refused.status_code == 400 and "the sms channel needs an address" in text_of(refused)


# --- the rest of each page's paths -----------------------------------------------------------------


def test_escalating_by_hand_pages_the_next_step_now(api: Api, browser: Browser) -> None:
    responder, _ = api.create_user("oncall_engineer")
    steps = [{"delay_minutes": 30, "targets": [{"type": "user", "id": who}]} for who in (api.admin_id, responder["id"])]
    api.create_policy(steps=steps)
    incident = api.create_incident(title="Queue backlog growing")
    browser.log_in()
    escalated = browser.post(f"/ui/incidents/{incident['id']}/escalate", htmx=True)
    assert escalated.status_code == 200
    shown = re.sub(r"\s+", " ", text_of(escalated))
    assert "escalated by Administrator, step 2 (by hand): paged oncall_engineer user" in shown
    plain = browser.post(f"/ui/incidents/{incident['id']}/escalate")
    assert plain.status_code == 303


def test_a_long_list_links_to_the_rest_and_pages_through_it(api: Api, browser: Browser) -> None:
    for n in range(21):
        incident = api.create_incident(title=f"Resolved outage {n}")
        api.client.post(f"/v1/incidents/{incident['id']}/resolve", headers=api.admin_headers)
    browser.log_in()
    first = browser.get("/ui/")
    assert 'href="/ui/?status=resolved">Show all 21 resolved</a>' in first.text
    assert "Resolved outage 20" in first.text and "Resolved outage 0<" not in first.text
    older = browser.get("/ui/?status=resolved&offset=20")
    assert "Resolved outage 0<" in older.text
    assert 'href="/ui/?status=resolved">Newer</a>' in older.text and ">Older</a>" not in older.text
    assert browser.get("/ui/?team_id=abc").status_code == 400


def test_channels_and_test_pages_work_without_script(api: Api, browser: Browser) -> None:
    team = api.create_team("payments")
    user, _ = api.create_user("oncall_engineer", team["id"])
    browser.log_in(user["email"])
    saved = browser.post("/ui/profile/channels", {"channel": "email", "address": "pager@example.com"})
    assert (saved.status_code, saved.headers["location"]) == (303, "/ui/profile")
    profile = text_of(browser.get("/ui/profile"))
    assert "payments" in profile and "pager@example.com" in profile and "(off)" in profile
    tested = browser.post("/ui/profile/channels/email/test")
    assert tested.status_code == 200
    assert "Test page sent by email to pager@example.com" in text_of(tested)
    assert browser.post("/ui/profile/channels/pigeon/test").status_code == 400
    assert browser.post("/ui/profile/channels", {"channel": ""}).status_code == 400


def test_logging_in_again_replaces_the_session_and_a_signed_in_login_page_moves_on(
    api: Api, browser: Browser
) -> None:
    browser.log_in()
    first = browser.client.cookies[SESSION_COOKIE]
    store: Store = api.client.app.stores.get("web-sessions")
    login_page = browser.get("/ui/login?next=/ui/profile")
    assert (login_page.status_code, login_page.headers["location"]) == (303, "/ui/profile")
    browser.post("/ui/login", {"email": ADMIN_EMAIL, "password": PASSWORD})
    assert browser.client.cookies[SESSION_COOKIE] != first
    assert not api.run(store.exists, first)


def test_an_unexpected_failure_is_a_page_with_a_request_id(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    class BrokenDirectory(Provider):
        @provide(scope=Scope.REQUEST)
        def directory(self) -> Directory:
            raise RuntimeError("the directory is down")

    for api in make_api("sqlite", request, tmp_path, BrokenDirectory()):
        browser = Browser(api)
        browser.log_in()
        failed = browser.get("/ui/")
        assert failed.status_code == 500
        assert "the directory is down" not in failed.text
        assert f"request id {failed.headers['x-request-id']}" in failed.text
        in_page = browser.get("/ui/incidents", headers={"HX-Request": "true"})
        assert (in_page.status_code, in_page.headers["HX-Retarget"]) == (500, "#flash")
        browser.close()


@pytest.mark.parametrize(
    ("seconds", "age", "until"),
    [(0.4, "0 s", "due now"), (45, "45 s", "in 45 s"), (299, "4 min", "in 5 min"), (3600, "1 h", "in 1 h"),
     (3 * 3600 + 1200, "3 h 20 min", "in 3 h 20 min"), (2 * 86400, "2 d", "in 2 d"),
     (2 * 86400 + 4 * 3600 + 59, "2 d 4 h", "in 2 d 4 h")],
)  # fmt: skip
def test_times_read_as_people_say_them(seconds: float, age: str, until: str) -> None:
    now = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    assert templating.age(now - timedelta(seconds=seconds), now) == age
    assert templating.until(now + timedelta(seconds=seconds), now) == until
