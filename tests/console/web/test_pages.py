"""The web UI over real HTTP (a Console on 127.0.0.1 with real published results): access,
roles, CSRF, escaping, headers, and what each page lists."""

from __future__ import annotations

import csv
import io
import re
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from sqlalchemy import func, select

from stockade.console.config import ConsoleConfig
from stockade.console.roles import Role
from stockade.console.service import build_app
from stockade.console.store.models import ApiToken, AuditEntry

from ..conftest import ADMIN_PASSWORD, RunningConsole, ThreadedServer
from .conftest import (
    HOSTILE,
    USER_PASSWORD,
    Fleet,
    add_user,
    assert_page_headers,
    csrf_of,
    log_in,
)

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

READ_PAGES = (
    "/",
    "/images",
    "/vulnerabilities",
    "/compliance",
    "/hosts",
    "/incidents",
    "/policies",
    "/alerts",
    "/registries",
    "/defenders",
)
ADMIN_PAGES = ("/users", "/tokens")


def _links(html: str) -> list[str]:
    return [unquote(h).replace("&amp;", "&") for h in re.findall(r'href="([^"]+)"', html)]


def test_browsers_without_a_session_are_sent_to_log_in(console: RunningConsole) -> None:
    anonymous = console.client()
    for path in (*READ_PAGES, *ADMIN_PAGES, "/images/sha256:00", "/vulnerabilities/CVE-1"):
        answer = anonymous.get(path)
        assert answer.status_code == 303, path
        expected = "/login" if path == "/" else f"/login?next={path.replace('/', '%2F')}"
        assert answer.headers["location"].replace("%3A", ":") == expected
    kept = anonymous.get("/images", params={"q": "shop", "sort": "name"})
    assert kept.headers["location"] == "/login?next=%2Fimages%3Fq%3Dshop%26sort%3Dname"
    assert anonymous.post("/tokens", data={"name": "x"}).headers["location"] == "/login"
    # The API and the metrics still answer 401 problem JSON.
    for path in ("/api/v1/images", "/metrics", "/api/v1/nothing-here"):
        answer = anonymous.get(path)
        assert answer.status_code == 401, path
        assert answer.headers["content-type"] == "application/problem+json"
    # The log-in page and the stylesheet need no session.
    assert anonymous.get("/login").status_code == 200
    assert anonymous.get("/static/stockade.css").headers["content-type"].startswith("text/css")
    assert anonymous.get("/static/../pyproject.toml").status_code in (303, 404)


def test_log_in_comes_back_to_the_page_asked_for(console: RunningConsole) -> None:
    client = console.client()
    form = client.get("/login", params={"next": "/images?sort=name"})
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token is not None
    assert 'name="next" value="/images?sort=name"' in form.text
    answer = client.post(
        "/login",
        data={
            "username": "admin",
            "password": ADMIN_PASSWORD,
            "next": "/images?sort=name",
            "login_token": token.group(1),
        },
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/images?sort=name"
    cookies = answer.headers.get_list("set-cookie")
    assert any(c.startswith("stockade_session=") and "HttpOnly" in c for c in cookies)
    assert any(c.startswith("stockade_csrf=") and "SameSite=strict" in c for c in cookies)
    assert client.get("/images").status_code == 200
    # Signed in, the log-in page sends the browser on.
    assert client.get("/login", params={"next": "/hosts"}).headers["location"] == "/hosts"


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"]
)
def test_log_in_never_sends_the_browser_to_another_site(
    console: RunningConsole, target: str
) -> None:
    client = console.client()
    form = client.get("/login", params={"next": target})
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token is not None
    answer = client.post(
        "/login",
        data={
            "username": "admin",
            "password": ADMIN_PASSWORD,
            "next": target,
            "login_token": token.group(1),
        },
    )
    assert answer.headers["location"] == "/"


def test_failed_log_ins_are_refused_audited_and_throttled(console: RunningConsole) -> None:
    client = console.client()
    answers = []
    for _ in range(6):
        form = client.get("/login")
        token = re.search(r'name="login_token" value="([^"]+)"', form.text)
        assert token is not None
        answer = client.post(
            "/login",
            data={"username": "admin", "password": "not the password", "login_token": token[1]},
        )
        answers.append(answer)
        assert "stockade_session" not in answer.headers.get("set-cookie", "")
    assert [a.status_code for a in answers] == [401] * 5 + [429]
    assert "Wrong user name or password." in answers[0].text
    assert 'value="admin"' in answers[0].text  # the name is kept, the password is not
    assert "not the password" not in answers[0].text
    assert "Too many failed log-ins" in answers[-1].text  # the API's throttle, shared
    assert int(answers[-1].headers["retry-after"]) > 0
    with console.store.read() as session:
        failed = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "session.login-failed")
        )
    assert failed == 5  # the sixth was refused before the password was checked


def test_the_log_in_form_needs_its_own_token(console: RunningConsole) -> None:
    client = console.client()
    client.get("/login")
    answer = client.post(
        "/login", data={"username": "admin", "password": ADMIN_PASSWORD, "login_token": "forged"}
    )
    assert answer.status_code == 403
    assert "stockade_session" not in answer.headers.get("set-cookie", "")
    fresh = console.client()  # no cookie from the form at all
    answer = fresh.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD})
    assert answer.status_code == 403


def test_every_page_renders_safely_for_a_reader(console: RunningConsole, fleet: Fleet) -> None:
    add_user(console, "reader", Role.AUDITOR)
    reader = log_in(console, "reader", USER_PASSWORD)
    shop = fleet.real_images["example/shop:2.4"]
    pages = [
        *READ_PAGES,
        f"/images/{shop}",
        "/vulnerabilities/CVE-2024-28085",
        "/compliance/STK-K8S-001",
    ]
    for path in pages:
        answer = reader.get(path)
        assert answer.status_code == 200, (path, answer.text[:500])
        assert_page_headers(answer)
        assert f'value="{csrf_of(reader)}"' in answer.text  # the log-out form's token
    nav = _links(reader.get("/").text)
    assert {"/policies", "/alerts", "/registries", "/defenders", "/images"} <= set(nav)
    assert "/users" not in nav
    assert "/tokens" not in nav


def test_roles_are_enforced_on_pages(console: RunningConsole, fleet: Fleet) -> None:
    add_user(console, "pipeline", Role.CI)
    add_user(console, "operator", Role.OPERATOR)
    pipeline = log_in(console, "pipeline", USER_PASSWORD)
    for path in (*READ_PAGES, *ADMIN_PAGES):
        answer = pipeline.get(path)
        assert answer.status_code == 403, path
        assert_page_headers(answer)
        assert "The role ci may not do this." in answer.text
    operator = log_in(console, "operator", USER_PASSWORD)
    for path in READ_PAGES:
        assert operator.get(path).status_code == 200, path
    for path in ADMIN_PAGES:
        assert operator.get(path).status_code == 403, path
    refused = operator.post("/tokens", data={"name": "x", "role": "administrator"})
    assert refused.status_code == 403
    admin = log_in(console)
    for path in ADMIN_PAGES:
        assert admin.get(path).status_code == 200, path
    assert {"/users", "/tokens"} <= set(_links(admin.get("/").text))


def test_forms_without_the_csrf_token_change_nothing(console: RunningConsole) -> None:
    admin = log_in(console)

    def tokens() -> int:
        with console.store.read() as session:
            return int(session.scalar(select(func.count()).select_from(ApiToken)) or 0)

    before = tokens()
    body = {"name": "from-a-forged-form", "role": "administrator"}
    assert admin.post("/tokens", data=body).status_code == 403
    assert admin.post("/tokens", data={**body, "csrf_token": "guessed"}).status_code == 403
    # A JSON body is not a form: its csrf_token field is not read.
    assert admin.post("/tokens", json={**body, "csrf_token": csrf_of(admin)}).status_code == 403
    assert admin.post("/logout").status_code == 403
    assert tokens() == before
    assert admin.get("/").status_code == 200  # still signed in
    made = admin.post("/tokens", data={**body, "csrf_token": csrf_of(admin)})
    assert made.status_code == 201
    assert tokens() == before + 1
    # Another session's token does not do either.
    other = log_in(console)
    assert admin.post("/tokens", data={**body, "csrf_token": csrf_of(other)}).status_code == 403


def test_hostile_names_are_shown_as_text(console: RunningConsole, fleet: Fleet) -> None:
    admin = log_in(console)
    add_user(console, "<b>mallory</b>", Role.AUDITOR)
    pages = {
        "/": HOSTILE,
        "/images": HOSTILE,
        f"/images/{fleet.hostile_digest}": "<img src=x onerror=alert(1)>",
        "/compliance?q=TEST-HOSTILE": HOSTILE,
        "/compliance/TEST-HOSTILE-1": HOSTILE,
        "/incidents": HOSTILE,
        "/users": "<b>mallory</b>",
        "/images?q=" + HOSTILE: HOSTILE,
    }
    for path, raw in pages.items():
        answer = admin.get(path)
        assert answer.status_code == 200, path
        text = answer.text.replace("<wbr>", "")  # where long names may wrap
        assert raw not in answer.text, path
        assert raw not in text, path
        escaped = raw.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        assert escaped.replace("'", "&#39;") in text, path
    # An advisory URL that is not http(s) is not made a link.
    finding = admin.get(f"/images/{fleet.hostile_digest}").text
    vulnerability = re.search(r'href="/vulnerabilities/([^"]+)"', finding)
    assert vulnerability is not None
    page = admin.get(f"/vulnerabilities/{vulnerability[1]}").text
    assert "javascript:" not in page


def test_the_image_list_filters_sorts_pages_and_links_its_csv(
    console: RunningConsole, fleet: Fleet
) -> None:
    reader = console.client(Role.AUDITOR)  # a token works on pages too

    def names(html: str) -> list[str]:
        return re.findall(r'<a href="/images/[^"]+">([^<]+)</a>', html.replace("<wbr>", ""))

    def escaped(name: str) -> str:
        return name.replace("'", "&#39;").replace("<", "&lt;").replace(">", "&gt;")

    everything = reader.get("/api/v1/images", params={"limit": 100}).json()
    assert everything["total"] == 6
    assert names(reader.get("/images").text) == [escaped(i["name"]) for i in everything["items"]]
    by_name = reader.get("/images", params={"sort": "name"})
    api_by_name = reader.get("/api/v1/images", params={"sort": "name"}).json()["items"]
    assert names(by_name.text) == [escaped(i["name"]) for i in api_by_name]
    assert names(by_name.text) != names(reader.get("/images").text)
    shop = reader.get("/images", params={"q": "example/shop"})
    assert names(shop.text) == ["example/shop:2.4"]
    critical = reader.get("/images", params={"severity": "critical"})
    shown = set(re.findall(r'<a href="/images/([^"]+)">', critical.text))
    expected = {i["digest"] for i in everything["items"] if i["bySeverity"]["critical"]}
    assert 0 < len(expected) < 6
    assert {unquote(d) for d in shown} == expected
    # The CSV link downloads the same filtered list from the API.
    link = next(h for h in _links(shop.text) if h.startswith("/api/v1/images?"))
    download = reader.get(link)
    assert download.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert [r["name"] for r in rows] == ["example/shop:2.4"]
    # Unknown filter values fall back to the defaults instead of failing.
    assert (
        reader.get("/images", params={"sort": "nope", "page": "x", "size": "7"}).status_code == 200
    )


def test_pages_move_through_a_long_list(console: RunningConsole, fleet: Fleet) -> None:
    reader = console.client(Role.AUDITOR)
    first = reader.get("/vulnerabilities", params={"size": 25})
    total = reader.get("/api/v1/vulnerabilities").json()["total"]
    assert total > 25
    assert f"1\N{EN DASH}25 of {total}" in first.text
    next_link = re.search(r'<a rel="next" href="([^"]+)"', first.text)
    assert next_link is not None
    second = reader.get(next_link[1].replace("&amp;", "&"))
    assert f"26\N{EN DASH}{min(50, total)} of {total}" in second.text
    ids_first = re.findall(r'<a href="/vulnerabilities/([^"]+)">', first.text)
    ids_second = re.findall(r'<a href="/vulnerabilities/([^"]+)">', second.text)
    assert len(ids_first) == 25
    assert not set(ids_first) & set(ids_second)
    api = reader.get("/api/v1/vulnerabilities", params={"limit": 25, "offset": 25}).json()
    assert [unquote(i) for i in ids_second] == [v["id"] for v in api["items"]]
    csv_link = next(h for h in _links(second.text) if h.startswith("/api/v1/vulnerabilities?"))
    assert "offset=25" in csv_link
    assert "format=csv" in csv_link


def test_an_image_page_lists_and_filters_its_findings(
    console: RunningConsole, fleet: Fleet, real_scan: dict[str, Any]
) -> None:
    reader = console.client(Role.AUDITOR)
    digest = fleet.real_images["example/shop:2.4"]
    page = reader.get(f"/images/{digest}", params={"size": 100})
    assert digest in page.text
    shown = re.findall(r'<a href="/vulnerabilities/([^"]+)">', page.text)
    published = [f for f in real_scan["findings"] if not f["suppressed"]]
    assert sorted(unquote(s) for s in shown) == sorted(f["id"] for f in published)
    medium = reader.get(f"/images/{digest}", params={"severity": "medium", "size": 100})
    worse = [f for f in published if f["severity"] in ("medium", "high", "critical")]
    assert len(re.findall(r'<a href="/vulnerabilities/', medium.text)) == len(worse)
    not_fixable = reader.get(f"/images/{digest}", params={"fixable": "no"})
    expected = [f for f in published if f["fixState"] != "fixed"]
    assert len(re.findall(r'<a href="/vulnerabilities/', not_fixable.text)) == len(expected)
    search = reader.get(f"/images/{digest}", params={"q": "bsdutils"})
    assert len(re.findall(r'<a href="/vulnerabilities/', search.text)) == 1
    link = next(h for h in _links(search.text) if "/findings?" in h)
    rows = list(csv.DictReader(io.StringIO(reader.get(link).text)))
    assert [r["package"] for r in rows] == ["bsdutils"]
    missing = reader.get("/images/sha256:" + "0" * 64)
    assert missing.status_code == 404
    assert "There is no image with this digest." in missing.text


def test_a_vulnerability_page_lists_the_images_it_impacts(
    console: RunningConsole, fleet: Fleet
) -> None:
    reader = console.client(Role.AUDITOR)
    page = reader.get("/vulnerabilities/CVE-2024-28085")
    assert page.status_code == 200
    images = {unquote(d) for d in re.findall(r'<a href="/images/([^"]+)">', page.text)}
    assert images == set(fleet.real_images.values())
    assert "bsdutils" in page.text
    assert reader.get("/vulnerabilities/CVE-1999-0000").status_code == 404


def test_compliance_hosts_and_incidents(
    console: RunningConsole, fleet: Fleet, real_checks: list[dict[str, Any]]
) -> None:
    reader = console.client(Role.AUDITOR)
    checks = reader.get("/compliance", params={"size": 100})
    listed = set(re.findall(r'<a href="/compliance/([^"]+)">', checks.text))
    published = {r["check"]["id"] for d in real_checks for r in d["results"]} | {
        "TEST-HOSTILE-1",
        "STK-K8S-001",
    }
    assert listed <= published
    assert "STK-K8S-001" in listed
    check = reader.get("/compliance/STK-K8S-001", params={"status": "failed", "size": 100})
    failed = [
        r
        for d in real_checks
        for r in d["results"]
        if r["check"]["id"] == "STK-K8S-001" and r["status"] == "failed"
    ]
    assert check.text.count('class="status status-failed"') == len(failed) > 0
    assert "Containers must not be privileged" in check.text
    hosts = reader.get("/hosts")
    assert "node-1.example" in hosts.text
    incidents = reader.get("/incidents", params={"host": "node-1.example"})
    assert "Terminal shell in container" in incidents.text
    assert "shop-7d9f" in incidents.text
    assert "Terminal shell" not in reader.get("/incidents", params={"host": "other"}).text
    for path in ("/hosts", "/incidents", "/compliance"):
        link = next(h for h in _links(reader.get(path).text) if "format=csv" in h)
        assert reader.get(link).headers["content-type"].startswith("text/csv"), path


def test_an_administrator_manages_users(console: RunningConsole) -> None:
    admin = log_in(console)
    token = csrf_of(admin)
    short = admin.post(
        "/users",
        data={"username": "dana", "password": "short", "role": "operator", "csrf_token": token},
    )
    assert short.status_code == 400
    assert "The password needs at least 12 characters." in short.text
    made = admin.post(
        "/users",
        data={
            "username": "dana",
            "password": USER_PASSWORD,
            "role": "operator",
            "csrf_token": token,
        },
    )
    assert made.status_code == 303
    assert made.headers["location"] == "/users?done=created"
    again = admin.post(
        "/users",
        data={
            "username": "dana",
            "password": USER_PASSWORD,
            "role": "operator",
            "csrf_token": token,
        },
    )
    assert again.status_code == 409
    assert "exists already" in again.text
    dana = log_in(console, "dana", USER_PASSWORD)
    assert dana.get("/images").status_code == 200
    users = admin.get("/users").text
    dana_id = re.search(r'action="/users/(\d+)/disable" data-confirm="Disable dana\?', users)
    assert dana_id is not None
    disabled = admin.post(f"/users/{dana_id[1]}/disable", data={"csrf_token": token})
    assert disabled.headers["location"] == "/users?done=disabled"
    assert dana.get("/images").status_code == 303  # her session ended
    enabled = admin.post(f"/users/{dana_id[1]}/enable", data={"csrf_token": token})
    assert enabled.headers["location"] == "/users?done=enabled"
    admin_id = re.search(r'action="/users/(\d+)/disable" data-confirm="Disable admin\?', users)
    assert admin_id is not None
    last = admin.post(f"/users/{admin_id[1]}/disable", data={"csrf_token": token})
    assert last.status_code == 409
    assert "no active administrator" in last.text
    assert admin.post("/users/999999/disable", data={"csrf_token": token}).status_code == 404


def test_a_new_token_is_shown_once_and_works(console: RunningConsole) -> None:
    admin = log_in(console)
    answer = admin.post(
        "/tokens",
        data={"name": "gitlab", "role": "ci", "expires": "30", "csrf_token": csrf_of(admin)},
    )
    assert answer.status_code == 201
    token = re.search(r'<code id="issued-token">(stk_[^<]+)</code>', answer.text)
    assert token is not None
    listing = admin.get("/tokens").text
    assert token[1] not in listing
    assert token[1][:10] in listing  # its prefix, to recognise it
    with httpx.Client(base_url=console.url) as api:
        who = api.get("/api/v1/me", headers={"Authorization": f"Bearer {token[1]}"})
        assert who.json()["role"] == "ci"
    bad = admin.post(
        "/tokens",
        data={"name": "x", "role": "ci", "expires": "soon", "csrf_token": csrf_of(admin)},
    )
    assert bad.status_code == 400
    assert "Expires in (days) is not valid." in bad.text
    token_id = re.search(r'action="/tokens/(\d+)/revoke"', listing)
    assert token_id is not None
    revoked = admin.post(f"/tokens/{token_id[1]}/revoke", data={"csrf_token": csrf_of(admin)})
    assert revoked.headers["location"] == "/tokens?done=revoked"


def test_log_out_ends_the_session(console: RunningConsole) -> None:
    client = log_in(console)
    session_cookie = client.cookies["stockade_session"]
    out = client.post("/logout", data={"csrf_token": csrf_of(client)})
    assert out.status_code == 303
    assert out.headers["location"] == "/login"
    assert client.get("/").status_code == 303
    replay = console.client(cookies={"stockade_session": session_cookie})
    assert replay.get("/").status_code == 303
    assert replay.get("/api/v1/me").status_code == 401


def test_cookies_are_secure_unless_configured_otherwise(console: RunningConsole) -> None:
    secure = ConsoleConfig(database_url=console.config.database_url, secure_cookies=True)
    with (
        ThreadedServer(build_app(console.store, secure)) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        form = client.get("/login")
        assert "secure" in form.headers["set-cookie"].lower()
        # Over plain HTTP the client keeps no Secure cookie: send it back by hand.
        cookie = re.search(r"stockade_login=([^;]+)", form.headers["set-cookie"])
        token = re.search(r'name="login_token" value="([^"]+)"', form.text)
        assert cookie is not None
        assert token is not None
        answer = client.post(
            "/login",
            data={"username": "admin", "password": ADMIN_PASSWORD, "login_token": token[1]},
            headers={"Cookie": f"stockade_login={cookie[1]}"},
        )
        cookies = answer.headers.get_list("set-cookie")
        assert answer.status_code == 303
        assert all("secure" in c.lower() for c in cookies), cookies


def test_ui_routes_are_not_in_the_openapi_document(console: RunningConsole) -> None:
    schema = console.client(Role.AUDITOR).get("/api/v1/openapi.json").json()
    assert all(p.startswith(("/api/", "/healthz", "/readyz", "/metrics")) for p in schema["paths"])
