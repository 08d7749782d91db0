"""The web UI as a person uses it: a real headless Chromium (Debian's, driven by Playwright) against a
live `incidentcore serve` on a temporary SQLite database.

Skipped, with the reason, when no Chromium is found, unless INCIDENTCORE_REQUIRE_BROWSER is set (CI
sets it): then a missing browser fails the run. Screenshots of the pages go to
INCIDENTCORE_SCREENSHOTS (default: the test's temporary directory).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from capture_server import CaptureServer
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Page,
    Playwright,
    ViewportSize,
    expect,
    sync_playwright,
)
from test_http_serve import CLI, environment, free_port, wait_until_healthy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

REQUIRE_BROWSER_ENV = "INCIDENTCORE_REQUIRE_BROWSER"
CHROMIUM_ENV = "INCIDENTCORE_CHROMIUM"
SCREENSHOTS_ENV = "INCIDENTCORE_SCREENSHOTS"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN = ("root@example.com", "admin password")
PASSWORD = "a responder's password"
PHONE: ViewportSize = {"width": 390, "height": 844}
WAIT_MS = 15_000  # the list refreshes every 5 s


def chromium() -> str:
    """Debian's Chromium (`apt-get install chromium`), or the one INCIDENTCORE_CHROMIUM names."""
    found = os.environ.get(CHROMIUM_ENV) or shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    reason = "no Chromium found (apt-get install chromium, or set INCIDENTCORE_CHROMIUM)"
    if os.environ.get(REQUIRE_BROWSER_ENV):
        pytest.fail(f"{REQUIRE_BROWSER_ENV} is set but {reason}")
    pytest.skip(reason)


@dataclass
class Service:
    """The live service, and an API client logged in as its admin."""

    base_url: str
    api: httpx.Client
    _users: Iterator[int] = field(default_factory=lambda: iter(range(1, 1000)))

    def post(self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
        response = self.api.post(path, json=body, headers=headers)
        assert response.status_code in (200, 201), response.text
        answer: dict[str, Any] = response.json()
        return answer

    def user(self, role: str = "oncall_engineer", team_id: int | None = None) -> dict[str, Any]:
        body = {"email": f"responder{next(self._users)}@example.com", "password": PASSWORD,
                "full_name": f"Responder {role}", "role": role, "team_id": team_id}  # fmt: skip
        return self.post("/v1/users/", body)

    def incident(self, title: str, **fields: Any) -> dict[str, Any]:
        return self.post("/v1/incidents/", {"title": title, **fields})

    def status_of(self, incident: dict[str, Any]) -> str:
        status: str = self.api.get(f"/v1/incidents/{incident['id']}").json()["status"]
        return status


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    chromium()  # skip before starting anything when there is no browser
    directory = tmp_path_factory.mktemp("web-ui")
    env = environment(directory)
    created = subprocess.run(
        [*CLI, "create-admin", "--email", ADMIN[0], "--password", ADMIN[1]],
        env=env, cwd=directory, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), "--workers", "1"],
        env=env, cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        wait_until_healthy(base_url, server)
        login = httpx.post(
            f"{base_url}/v1/auth/login/access-token", data={"username": ADMIN[0], "password": ADMIN[1]}, timeout=10
        )
        token = login.json()["access_token"]
        with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as api:
            yield Service(base_url, api)
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright: Playwright, service: Service) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
    yield launched
    launched.close()


@dataclass
class Console:
    """What the pages wrote to the console: a CSP violation or a script error shows up here."""

    messages: list[str] = field(default_factory=list)

    def record(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.messages.append(message.text)

    def assert_clean(self) -> None:
        assert [m for m in self.messages if "Content Security Policy" in m or "Refused" in m] == []
        assert [m for m in self.messages if "error" in m.lower() and "favicon" not in m.lower()] == []


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def context(browser: Browser, console: Console) -> Iterator[BrowserContext]:
    opened = browser.new_context()
    opened.on("console", console.record)
    opened.set_default_timeout(WAIT_MS)
    yield opened
    opened.close()
    console.assert_clean()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    directory = Path(os.environ.get(SCREENSHOTS_ENV) or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def log_in(page: Page, service: Service, email: str = ADMIN[0], password: str = ADMIN[1]) -> None:
    page.goto(f"{service.base_url}/ui/")
    expect(page).to_have_url(re.compile(r"/ui/login"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Incidents")).to_be_visible()


def test_a_browser_is_sent_from_the_root_to_the_login(context: BrowserContext, service: Service) -> None:
    page = context.new_page()
    page.goto(f"{service.base_url}/")
    expect(page).to_have_url(re.compile(r"/ui/login\?next=/ui$"))
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.get_by_label("Email").fill(ADMIN[0])
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Incorrect email or password")
    cookies = {cookie["name"]: cookie for cookie in context.cookies()}
    assert "incidentcore_session" not in cookies
    assert cookies["incidentcore_csrf"]["httpOnly"]


def test_a_new_incident_appears_in_the_list_without_a_reload(
    context: BrowserContext, service: Service, screenshots: Path
) -> None:
    page = context.new_page()
    log_in(page, service)
    session = next(c for c in context.cookies() if c["name"] == "incidentcore_session")
    assert session["httpOnly"] and session["sameSite"] == "Lax"
    assert page.evaluate("document.cookie") == ""  # no cookie of ours is readable by script
    page.evaluate("window.loadedOnce = 'this page'")
    count = page.locator("#counts .count").first.inner_text()
    incident = service.incident("Checkout returns 502", severity="critical", description="error rate 12% > 5%")
    row = page.locator(f"#incident-{incident['id']}")
    expect(row).to_contain_text("Checkout returns 502", timeout=WAIT_MS)
    expect(row).to_contain_text("critical")
    expect(page.locator("#counts .count").first).not_to_have_text(count)
    assert page.evaluate("window.loadedOnce") == "this page"  # the same page: refreshed, not reloaded
    page.screenshot(path=screenshots / "incidents.png", full_page=True, caret="initial")


def test_acknowledge_then_resolve_from_the_incident_page(
    context: BrowserContext, service: Service, screenshots: Path
) -> None:
    responder = service.user("oncall_engineer")
    steps = [{"delay_minutes": 5, "targets": [{"type": "user", "id": responder["id"]}]}] * 2
    policy = service.post("/v1/escalation/policies/", {"name": "browser primary", "steps": steps, "severities": ["critical"]})
    incident = service.incident("Payments queue is stuck", severity="critical", assignee_id=responder["id"])
    page = context.new_page()
    log_in(page, service)
    page.get_by_role("link", name=re.compile("Payments queue is stuck")).click()
    expect(page.get_by_role("heading", name=re.compile("Payments queue is stuck"))).to_be_visible()
    page.keyboard.press("Tab")  # the first control on the page
    focused = page.evaluate("document.activeElement.textContent")
    assert focused == "Acknowledge"
    timeline = page.locator("#timeline > li")
    before = timeline.count()
    page.keyboard.press("Enter")  # acknowledged from the keyboard
    expect(page.locator("#incident-head")).to_contain_text("acknowledged")
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    expect(timeline.first).to_contain_text("acknowledged by Administrator")
    assert timeline.count() > before
    assert service.status_of(incident) == "acknowledged"
    page.get_by_label("Comment", exact=True).fill("Restarted the consumer; watching the backlog.")
    page.get_by_role("button", name="Add comment").click()
    expect(page.locator("#records")).to_contain_text("Restarted the consumer; watching the backlog.")
    expect(page.locator("#records")).to_contain_text(responder["full_name"])  # who was paged
    page.screenshot(path=screenshots / "incident.png", full_page=True, caret="initial")
    page.get_by_role("button", name="Resolve").click()
    expect(page.locator("#incident-head .badge.status-resolved")).to_be_visible()
    expect(timeline.first).to_contain_text("resolved by Administrator")
    assert service.status_of(incident) == "resolved"
    service.api.delete(f"/v1/escalation/policies/{policy['id']}")


def test_a_user_of_another_team_sees_no_resolve_button_and_is_refused_if_forging(
    context: BrowserContext, service: Service
) -> None:
    ours = service.post("/v1/teams/", {"name": "storage"})
    theirs = service.post("/v1/teams/", {"name": "marketing"})
    outsider = service.user("user", theirs["id"])
    incident = service.incident("Disk 95% full on db-3", team_id=ours["id"])
    page = context.new_page()
    log_in(page, service, outsider["email"], PASSWORD)
    page.goto(f"{service.base_url}/ui/incidents/{incident['id']}")
    expect(page.get_by_role("heading", name=re.compile("Disk 95% full"))).to_be_visible()
    for button in ("Acknowledge", "Resolve", "Escalate now", "Snooze", "Assign"):
        expect(page.get_by_role("button", name=button)).to_have_count(0)
    expect(page.get_by_role("button", name="Add comment")).to_be_visible()
    token = page.locator("input[name=_csrf_token]").first.get_attribute("value")
    assert token
    forged = context.request.post(
        f"{service.base_url}/ui/incidents/{incident['id']}/resolve", form={"_csrf_token": token}, max_redirects=0
    )
    assert forged.status == 403
    assert service.status_of(incident) == "triggered"


@pytest.mark.parametrize("title", ["<script>alert('xss')</script>", "<img src=x onerror=alert('xss')>"])
def test_titles_from_alerts_render_as_text(context: BrowserContext, service: Service, title: str) -> None:
    incident = service.incident(title, description=title)
    service.post(f"/v1/incidents/{incident['id']}/comments", {"body": title})
    dialogs: list[str] = []
    page = context.new_page()
    def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    log_in(page, service)
    expect(page.locator(f"#incident-{incident['id']} .title")).to_have_text(f"#{incident['id']} {title}")
    page.goto(f"{service.base_url}/ui/incidents/{incident['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"#{incident['id']} {title}")
    expect(page.locator(".comment-body")).to_have_text(title)
    assert page.locator("main script, main img").count() == 0
    page.wait_for_timeout(6_000)  # through one refresh of the records
    expect(page.locator(".comment-body")).to_have_text(title)
    assert dialogs == []


def test_on_a_phone_the_acknowledge_button_shows_without_scrolling_sideways(
    browser: Browser, service: Service, screenshots: Path, console: Console
) -> None:
    incident = service.incident("Login page times out for EU users", severity="high")
    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=1)
    phone.on("console", console.record)
    phone.set_default_timeout(WAIT_MS)
    try:
        page = phone.new_page()
        log_in(page, service)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.goto(f"{service.base_url}/ui/incidents/{incident['id']}")
        acknowledge = page.get_by_role("button", name="Acknowledge")
        expect(acknowledge).to_be_in_viewport(ratio=1)
        box = acknowledge.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.screenshot(path=screenshots / "incident-phone.png", caret="initial")
        for path in ("/ui/oncall", "/ui/profile"):
            page.goto(f"{service.base_url}{path}")
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path
        acknowledge_page = page.goto(f"{service.base_url}/ui/incidents/{incident['id']}")
        assert acknowledge_page is not None
        page.get_by_role("button", name="Acknowledge").tap()
        expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    finally:
        phone.close()
    console.assert_clean()


def test_a_channel_is_added_and_a_test_page_reaches_it(context: BrowserContext, service: Service) -> None:
    responder = service.user("oncall_engineer")
    page = context.new_page()
    log_in(page, service, responder["email"], PASSWORD)
    page.get_by_role("link", name="Profile").click()
    expect(page.get_by_role("heading", name="My profile")).to_be_visible()
    with CaptureServer() as webhook:
        page.get_by_label("Channel", exact=True).select_option("webhook")
        page.get_by_label("Address").fill(f"{webhook.url}/pager")
        page.get_by_label("Page me from severity").select_option("high")
        page.get_by_role("button", name="Save channel").click()
        row = page.locator("#channels li", has_text="webhook")
        expect(row).to_contain_text("high and above")
        row.get_by_role("button", name="Send a test page by webhook").click()
        expect(row.get_by_role("status")).to_contain_text("Test page sent by webhook")
        (received,) = webhook.wait_for(1)
    assert received.path == "/pager"
    assert b"test page" in received.body


def test_every_control_has_a_label(context: BrowserContext, service: Service) -> None:
    incident = service.incident("Cache hit rate dropped")
    page = context.new_page()
    log_in(page, service)
    for path in ("/ui/", f"/ui/incidents/{incident['id']}", "/ui/profile", "/ui/oncall"):
        page.goto(f"{service.base_url}{path}")
        unlabelled = page.evaluate(
            """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
                 .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
                 .map(e => e.name)"""
        )
        assert unlabelled == [], path
        nameless = page.evaluate(
            "() => [...document.querySelectorAll('button, a')].filter(e => !e.textContent.trim() && !e.getAttribute('aria-label')).length"
        )
        assert nameless == 0, path


def test_after_logging_out_the_back_button_shows_nothing(context: BrowserContext, service: Service) -> None:
    incident = service.incident("Replica lag above 30 s")
    page = context.new_page()
    log_in(page, service)
    page.goto(f"{service.base_url}/ui/incidents/{incident['id']}")
    expect(page.get_by_role("heading", name=re.compile("Replica lag"))).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.go_back()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    assert "Replica lag" not in page.content()
    page.goto(f"{service.base_url}/ui/incidents/{incident['id']}")
    expect(page).to_have_url(re.compile(r"/ui/login\?next="))
