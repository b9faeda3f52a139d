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

from stockade.console.roles import Role
from stockade.console.testing import synthetic_scan_document

from ..conftest import ADMIN_PASSWORD, RunningConsole
from .conftest import Fleet, publish_fleet

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


def test_screenshots_of_the_main_pages(
    console: RunningConsole,
    real_scan: dict[str, Any],
    real_checks: list[dict[str, Any]],
    page: Page,
    tmp_path: Path,
) -> None:
    fleet = _realistic_fleet(console, real_scan, real_checks)
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
