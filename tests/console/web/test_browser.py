"""End to end: headless Chromium (Playwright) against a real Console on 127.0.0.1 with
real published results. Skipped where Debian's chromium is not installed.

``STOCKADE_UI_SCREENSHOTS=docs/console`` makes ``test_screenshots_of_the_main_pages``
write its PNGs there (the documentation's screenshots come from this test).
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from stockade.console.alerts.outbox import RetryPolicy
from stockade.console.alerts.sealing import box_for
from stockade.console.alerts.testing import HttpReceiver, wait_until
from stockade.console.alerts.worker import AlertSettings, DeliveryWorker
from stockade.console.client import publish_scan
from stockade.console.roles import Role
from stockade.console.testing import synthetic_scan_document

from ..conftest import ADMIN_PASSWORD, RunningConsole
from .conftest import Fleet, as_image, publish_fleet

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]

if CHROMIUM.exists():
    from playwright.sync_api import Browser, Page, expect, sync_playwright


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


class PageProblems:
    """Content-Security-Policy refusals and script errors a page reports."""

    def __init__(self, page: Page) -> None:
        self.messages: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.messages.append(f"pageerror: {error}"))

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.messages.append(message.text)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    context.close()


def log_in(page: Page, base: str, *, user: str = "admin", password: str = ADMIN_PASSWORD) -> None:
    page.goto(base + "/")
    expect(page).to_have_url(re.compile(r"/login$"))
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_browse_from_an_image_to_a_vulnerability_and_its_images(
    console: RunningConsole,
    real_scan: dict[str, Any],
    real_checks: list[dict[str, Any]],
    page: Page,
) -> None:
    fleet = publish_fleet(console, real_scan, real_checks)
    problems = PageProblems(page)

    # A deep link without a session goes to the log-in page and comes back after it.
    page.goto(console.url + "/vulnerabilities?severity=high")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(console.url + "/vulnerabilities?severity=high")
    expect(page.get_by_role("heading", name="Vulnerabilities")).to_be_visible()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Images").click()
    expect(page.get_by_role("heading", name="Images")).to_be_visible()
    page.get_by_label("Search").fill("example/shop")
    page.get_by_role("button", name="Apply").click()
    rows = page.locator("table.list tbody tr")
    expect(rows).to_have_count(1)
    rows.get_by_role("link", name="example/shop:2.4").click()

    expect(page.get_by_role("heading", name="example/shop:2.4")).to_be_visible()
    expect(page.get_by_text(fleet.real_images["example/shop:2.4"])).to_be_visible()
    findings = page.locator("table.list").first.locator("tbody tr")
    expect(findings.first).to_be_visible()
    published = [f for f in real_scan["findings"] if not f["suppressed"]]
    expect(findings).to_have_count(min(len(published), 25))

    # Filtering by severity: the select submits the form itself (the script's one job
    # here); "medium and worse" leaves out the scan's finding of unknown severity.
    page.get_by_label("Severity").select_option("medium")
    expect(page).to_have_url(re.compile(r"severity=medium"))
    medium = [f for f in published if f["severity"] in ("medium", "high", "critical")]
    assert 0 < len(medium) < len(published)
    expect(page.locator("table.list").first.locator("tbody tr")).to_have_count(min(len(medium), 25))
    page.get_by_label("Search").fill("pyyaml")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("table.list").first.locator("tbody tr")).to_have_count(0)
    expect(page.get_by_text("No findings match.")).to_be_visible()
    page.get_by_role("link", name="Clear").click()
    expect(page.locator("table.list").first.locator("tbody tr")).to_have_count(
        min(len(published), 25)
    )

    page.get_by_role("link", name="CVE-2024-28085").first.click()
    expect(page.get_by_role("heading", name="CVE-2024-28085")).to_be_visible()
    impacted = page.locator("table.list tbody tr")
    expect(impacted).to_have_count(2)  # both images made from the real scan have it
    expect(impacted.filter(has_text="bsdutils")).to_have_count(2)
    impacted.get_by_role("link", name="example/payments:1.9").click()
    expect(page.get_by_role("heading", name="example/payments:1.9")).to_be_visible()

    # The CSV link of a list is the API's download of the same list.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Images").click()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    text = Path(download.value.path()).read_text()
    assert text.splitlines()[0].startswith("digest,name,")
    assert "example/shop:2.4" in text

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(console.url + "/login")
    page.goto(console.url + "/images")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fimages$"))
    assert problems.messages == []


def test_an_administrator_creates_and_revokes_a_token(console: RunningConsole, page: Page) -> None:
    problems = PageProblems(page)
    page.on("dialog", lambda dialog: dialog.accept())
    log_in(page, console.url)
    page.get_by_role("link", name="Tokens").click()
    page.get_by_label("Name").fill("nightly-scan")
    page.get_by_label("Role").select_option("auditor")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_role("heading", name="Token “nightly-scan” created")).to_be_visible()
    token = page.locator("#issued-token").inner_text().strip()
    assert token.startswith("stk_")
    with httpx.Client(base_url=console.url) as api:
        bearer = {"Authorization": f"Bearer {token}"}
        assert api.get("/api/v1/images", headers=bearer).status_code == 200

        page.get_by_role("link", name="Tokens").click()
        assert token not in page.content()  # shown once
        row = page.locator("tr", has_text="nightly-scan")
        row.get_by_role("button", name="Revoke").click()
        expect(page.get_by_text("The token was revoked.")).to_be_visible()
        expect(page.locator("tr", has_text="nightly-scan")).to_contain_text("revoked")
        assert api.get("/api/v1/images", headers=bearer).status_code == 401
    assert problems.messages == []


def test_a_stricter_rule_changes_the_next_verdict(
    console: RunningConsole, real_scan: dict[str, Any], page: Page
) -> None:
    """Make a rule in the policies page, publish a real scan, tighten the rule's block
    threshold, publish again: the new verdict blocks, for the findings the page names."""
    problems = PageProblems(page)
    worst = {f["severity"] for f in real_scan["findings"] if not f["suppressed"]}
    assert "medium" in worst
    assert not worst & {"critical", "high"}  # so "block at high" only alerts
    log_in(page, console.url)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Policies").click()
    expect(page.get_by_role("heading", name="Policies", exact=True)).to_be_visible()
    vulnerabilities = page.locator("section#vulnerabilities")
    expect(vulnerabilities).to_contain_text("No rules: every result passes.")
    vulnerabilities.get_by_role("link", name="New rule").click()
    page.get_by_label("Name").fill("default")
    page.get_by_label("Alert at").select_option("medium")
    page.get_by_label("Block at").select_option("high")
    page.get_by_role("button", name="Create rule").click()
    expect(page.get_by_text("The rule was created.")).to_be_visible()

    shop = as_image(real_scan, "example/shop:2.4", "ab")
    publish_scan(console.url, console.tokens[Role.CI], shop)
    page.reload()
    verdicts = page.locator("table.verdicts tbody tr")
    expect(verdicts).to_have_count(1)
    expect(verdicts.first.locator(".outcome")).to_have_text("alert")

    vulnerabilities.get_by_role("link", name="default").click()
    expect(page.get_by_role("heading", name="Rule default")).to_be_visible()
    page.get_by_label("Block at").select_option("medium")
    page.get_by_role("button", name="Save rule").click()
    expect(page.get_by_text("The rule was saved.")).to_be_visible()

    publish_scan(console.url, console.tokens[Role.CI], shop)
    page.reload()
    expect(verdicts).to_have_count(2)
    newest = verdicts.first
    expect(newest.locator(".outcome")).to_have_text("block")
    expect(verdicts.nth(1).locator(".outcome")).to_have_text("alert")
    expect(newest.locator(".reasons code").first).to_have_text(re.compile(r"^DEBCL-"))
    expect(newest).to_contain_text("blocks")
    newest.get_by_role("link", name="example/shop:2.4").click()
    expect(page.get_by_role("heading", name="example/shop:2.4")).to_be_visible()
    expect(page.get_by_text(shop["artifact"]["digest"])).to_be_visible()
    assert problems.messages == []


def test_a_webhook_channel_is_added_and_tested(console: RunningConsole, page: Page) -> None:
    problems = PageProblems(page)
    log_in(page, console.url)
    with HttpReceiver() as receiver:
        hook = receiver.url("/services/T0KEN-in-the-path")
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Alerts").click()
        expect(page.get_by_role("heading", name="Alerts", exact=True)).to_be_visible()
        page.get_by_role("link", name="Webhook", exact=True).click()
        expect(page.get_by_role("heading", name="New Webhook channel")).to_be_visible()
        page.get_by_label("Name").fill("secops")
        page.get_by_label("URL").fill(hook)
        page.get_by_role("button", name="Create channel").click()
        expect(page.get_by_text("The channel was created.")).to_be_visible()
        row = page.locator("#channels tbody tr", has_text="secops")
        expect(row).to_contain_text(f"URL set (http://127.0.0.1:{receiver.port})")
        assert "T0KEN-in-the-path" not in page.content()  # write-only
        row.get_by_role("button", name="Test").click()
        expect(
            page.get_by_text("A test message was delivered to the channel “secops”.")
        ).to_be_visible()
        assert wait_until(lambda: len(receiver.requests) == 1, timeout=5)
    (request,) = receiver.requests
    assert request.path == "/services/T0KEN-in-the-path"
    message = request.json()
    assert message["test"] is True
    assert message["events"][0]["kind"] == "alerts.test"
    assert "T0KEN-in-the-path" not in page.content()
    assert problems.messages == []


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


SERVICES = (
    "checkout/cart-api",
    "checkout/payments",
    "search/indexer",
    "search/query-api",
    "identity/auth",
    "identity/profile",
    "billing/invoices",
    "catalog/products",
    "gateway/edge",
    "reports/exporter",
    "platform/postgres",
    "platform/redis",
)


def _realistic_fleet(
    console: RunningConsole, real_scan: dict[str, Any], real_checks: list[dict[str, Any]]
) -> Fleet:
    """The shared fleet, with synthetic images around it (ids from a pool, as fleets share
    vulnerabilities; some images patched of their criticals) for pages that look lived in."""
    fleet = publish_fleet(console, real_scan, real_checks, synthetic=0, hostile=False)
    ci = console.tokens[Role.CI]
    with httpx.Client(
        base_url=console.url, headers={"Authorization": f"Bearer {ci}"}, timeout=60
    ) as writer:
        for seed in range(30):
            name = f"registry.example.com/{SERVICES[seed % len(SERVICES)]}:1.{seed % 9}.{seed % 4}"
            document = synthetic_scan_document(
                seed, packages=60, findings=4 + (seed * 7) % 40, vulnerability_pool=400, name=name
            )
            if seed % 3:
                for finding in document["findings"]:
                    if finding["severity"] == "critical":
                        finding["severity"] = "high"
            writer.post("/api/v1/scans", json=document).raise_for_status()
    return fleet


FAST_DELIVERY = AlertSettings(
    poll_seconds=0.02,
    send_timeout_seconds=2,
    retry=RetryPolicy(base_seconds=0.05, factor=2, cap_seconds=0.2, max_attempts=2, jitter=0),
)


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _governance(console: RunningConsole, receiver: HttpReceiver) -> None:
    """Collections, rules and alert routing as a team might set them up, before the fleet
    is published (so its results get verdicts and its blocks become deliveries)."""
    with httpx.Client(
        base_url=console.url,
        headers={"Authorization": f"Bearer {console.tokens[Role.ADMINISTRATOR]}"},
        timeout=30,
    ) as admin:
        for body in (
            {
                "name": "checkout",
                "description": "Cart and payments services (PCI scope)",
                "images": ["registry.example.com/checkout/*"],
            },
            {"name": "platform", "images": ["registry.example.com/platform/*"]},
            {"name": "prod-nodes", "hosts": ["node-*.example"], "namespaces": ["prod-*"]},
        ):
            admin.post("/api/v1/policies/collections", json=body).raise_for_status()
        for kind, body in (
            (
                "vulnerabilities",
                {
                    "name": "pci",
                    "description": "No fixable high findings in the payment path",
                    "collections": ["checkout"],
                    "alertThreshold": "medium",
                    "blockThreshold": "high",
                    "onlyFixed": True,
                    "graceDays": 14,
                    "exceptions": [
                        {
                            "id": "CVE-2023-4911",
                            "reason": "no setuid binaries",
                            "expires": "2026-12-31",
                        }
                    ],
                },
            ),
            (
                "vulnerabilities",
                {"name": "platform", "collections": ["platform"], "alertThreshold": "high"},
            ),
            (
                "vulnerabilities",
                {"name": "default", "alertThreshold": "high", "blockThreshold": "critical"},
            ),
            (
                "compliance",
                {
                    "name": "k8s-baseline",
                    "collections": ["prod-nodes", "all"],
                    "alertThreshold": "medium",
                    "blockThreshold": "high",
                    "checks": ["STK-K8S-*"],
                },
            ),
        ):
            admin.post(f"/api/v1/policies/rules/{kind}", json=body).raise_for_status()
        channels = []
        for body in (
            {
                "kind": "webhook",
                "name": "secops-webhook",
                "config": {
                    "url": receiver.url("/hooks/stockade"),
                    "secret": "a-shared-hmac-secret-value",
                },
            },
            {
                "kind": "slack",
                "name": "slack-security",
                "config": {"url": f"http://127.0.0.1:{_closed_port()}/services/T0/B0/x"},
            },
            {
                "kind": "email",
                "name": "on-call-mail",
                "enabled": False,
                "config": {
                    "host": "smtp.example.org",
                    "sender": "stockade@example.org",
                    "recipients": ["oncall@example.org"],
                },
            },
        ):
            answer = admin.post("/api/v1/alerts/channels", json=body)
            answer.raise_for_status()
            channels.append(answer.json()["id"])
        for body in (
            {
                "name": "blocks",
                "kinds": ["policy.*.block"],
                "channels": channels[:2],
                "aggregateSeconds": 0,
            },
            {
                "name": "prod-incidents",
                "kinds": ["runtime.incident", "registry.scan.failed"],
                "minSeverity": "high",
                "labels": {"namespace": "prod-*"},
                "channels": [channels[2]],
                "aggregateSeconds": 300,
            },
        ):
            admin.post("/api/v1/alerts/rules", json=body).raise_for_status()


def _deliver(console: RunningConsole) -> None:
    """Send what the fleet's blocks queued (some arrive, the Slack channel fails)."""
    assert console.context is not None
    worker = DeliveryWorker(
        console.store, FAST_DELIVERY, box=box_for(console.context.config.data_dir)
    )

    def settled() -> bool:
        worker.run_once()
        with httpx.Client(
            base_url=console.url,
            headers={"Authorization": f"Bearer {console.tokens[Role.AUDITOR]}"},
        ) as reader:
            page = reader.get("/api/v1/alerts/deliveries", params={"limit": 1000}).json()
        return all(d["status"] in ("delivered", "failed") for d in page["items"])

    assert wait_until(settled, timeout=30)


def test_screenshots_of_the_main_pages(
    console: RunningConsole,
    real_scan: dict[str, Any],
    real_checks: list[dict[str, Any]],
    page: Page,
    tmp_path: Path,
) -> None:
    with HttpReceiver() as receiver:
        _governance(console, receiver)
        fleet = _realistic_fleet(console, real_scan, real_checks)
        _deliver(console)
    problems = PageProblems(page)
    log_in(page, console.url)
    out = Path(os.environ.get("STOCKADE_UI_SCREENSHOTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    shop = fleet.real_images["example/shop:2.4"]
    pages = {
        "dashboard": ("/", "Dashboard"),
        "images": ("/images", "Images"),
        "image-findings": (f"/images/{shop}", "example/shop:2.4"),
        "vulnerabilities": ("/vulnerabilities", "Vulnerabilities"),
        "compliance": ("/compliance", "Compliance"),
        "policies": ("/policies", "Policies"),
        "alerts": ("/alerts", "Alerts"),
    }
    for name, (path, heading) in pages.items():
        page.goto(console.url + path)
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        target = out / f"{name}.png"
        page.screenshot(path=str(target), full_page=False)
        width, height = _png_size(target)
        assert (width, height) == (1440, 900)
        assert target.stat().st_size > 20_000  # a rendered page, not a blank one
    assert problems.messages == []
