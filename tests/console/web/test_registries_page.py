"""The registries page over real HTTP: registries added and changed through its forms
(credentials write-only, audited), a scan asked for and run by the real scanner against
an unreachable registry (the failed run and its error shown), bad input, roles, CSRF."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import pytest

from stockade.console.registries.runner import RegistryScanner
from stockade.console.roles import Role
from stockade.vulndb import AdvisoryStore

from ..conftest import RunningConsole
from .conftest import (
    HOSTILE,
    USER_PASSWORD,
    add_user,
    assert_page_headers,
    audit_actions,
    log_in,
    post_form,
)

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

PASSWORD = "registry-robot-password-value"  # noqa: S105  # test fixture


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _form(**changes: Any) -> dict[str, Any]:
    return {
        "name": "local",
        "url": f"http://127.0.0.1:{_closed_port()}",
        "repositories": "team/app\n\nlibrary/alpine\n",
        "include": "team/*",
        "exclude": "team/sandbox-*",
        "tagLimit": "3",
        "intervalMinutes": "60",
        "enabled": "1",
        "username": "",
        "password": "",
        **changes,
    }


def _registries(console: RunningConsole) -> list[dict[str, Any]]:
    return list(console.client(Role.AUDITOR).get("/api/v1/registries").json()["items"])


def test_a_registry_is_added_and_changed_with_write_only_credentials(
    console: RunningConsole,
) -> None:
    admin = log_in(console)
    made = post_form(admin, "/registries", _form(username="robot", password=PASSWORD))
    assert made.status_code == 303, made.text
    assert made.headers["location"] == "/registries?done=created"
    (registry,) = _registries(console)
    assert registry["repositories"] == ["team/app", "library/alpine"]
    assert (registry["include"], registry["exclude"]) == (["team/*"], ["team/sandbox-*"])
    assert (registry["tagLimit"], registry["intervalMinutes"]) == (3, 60)
    assert registry["hasCredentials"] is True
    listing = admin.get("/registries")
    assert_page_headers(listing)
    page = admin.get(f"/registries/{registry['id']}")
    assert_page_headers(page)
    assert "Credentials: set" in page.text
    assert "Remove the stored credentials" in page.text
    # Saved with the credentials left empty: kept. The schedule switched off.
    kept = post_form(admin, f"/registries/{registry['id']}", _form(url=registry["url"], enabled=""))
    assert kept.status_code == 303, kept.text
    (registry,) = _registries(console)
    assert (registry["hasCredentials"], registry["enabled"]) == (True, False)
    removed = post_form(
        admin,
        f"/registries/{registry['id']}",
        _form(url=registry["url"], **{"remove-credentials": "1"}),
    )
    assert removed.status_code == 303
    assert _registries(console)[0]["hasCredentials"] is False
    for answer in (made, listing, page, kept, removed, admin.get(f"/registries/{registry['id']}")):
        assert PASSWORD not in answer.text
    changes = audit_actions(console, "registry.")
    assert [(a, actor) for a, actor, _ in changes] == [
        ("registry.create", "user:admin"),
        ("registry.change", "user:admin"),
        ("registry.change", "user:admin"),
    ]
    deleted = post_form(admin, f"/registries/{registry['id']}/delete")
    assert deleted.headers["location"] == "/registries?done=deleted"
    assert _registries(console) == []


def test_a_scan_asked_for_runs_and_its_failure_is_shown(
    console: RunningConsole, tmp_path: Path
) -> None:
    api = console.client(Role.ADMINISTRATOR)
    unreachable = f"http://127.0.0.1:{_closed_port()}"
    registry = api.post(
        "/api/v1/registries",
        json={"name": "local", "url": unreachable, "repositories": ["team/app"]},
    ).json()
    add_user(console, "olga", Role.OPERATOR)
    operator = log_in(console, "olga", USER_PASSWORD)
    queued = post_form(operator, f"/registries/{registry['id']}/scan")
    assert queued.status_code == 303
    page = operator.get(queued.headers["location"]).text
    assert "A scan was queued" in page
    row = page.split("<tbody>")[1].split("</tr>")[0]
    assert "queued" in row
    assert "manual" in row
    assert "user:olga" in row

    advisories = tmp_path / "advisories.sqlite"
    AdvisoryStore.open(advisories).close()
    assert console.context is not None
    scanner = RegistryScanner(
        console.context,
        advisories=lambda: AdvisoryStore.open(advisories, read_only=True),
        timeout=5,
    )
    (outcome,) = scanner.run_due()
    assert outcome.status == "failed"
    (run,) = (
        console.client(Role.AUDITOR)
        .get(f"/api/v1/registries/{registry['id']}/runs")
        .json()["items"]
    )
    assert "cannot connect" in run["error"]
    escaped = run["error"].replace("'", "&#39;")
    page = operator.get(f"/registries/{registry['id']}").text
    row = page.split("<tbody>")[1].split("</tr>")[0]
    assert 'class="status status-failed">failed' in row
    assert escaped in row
    listing = operator.get("/registries").text
    assert escaped in listing
    assert post_form(operator, "/registries/999999/scan").status_code == 404


BAD: list[tuple[dict[str, Any], int, str]] = [
    ({"name": "has space"}, 400, "The name may hold letters, digits"),
    ({"name": ""}, 400, "The name is required."),
    ({"url": ""}, 400, "The URL is required."),
    (
        {"url": "ftp://registry.example"},
        422,
        "Invalid registry URL &#39;ftp://registry.example&#39;: not http(s)://host. A registry "
        "URL is https://host[:port] (http:// for a local registry only).",
    ),
    ({"username": "robot"}, 400, "The password or token is required."),
    ({"password": PASSWORD}, 400, "The user name is required."),
    ({"tagLimit": "0"}, 400, "Tags per repository must be at least 1."),
    ({"intervalMinutes": "often"}, 400, "Scan every (minutes) must be a whole number."),
    ({"repositories": "Team/App"}, 422, "&#39;Team/App&#39; is not a repository name."),
    ({"name": "taken"}, 409, "A registry named &#39;taken&#39; exists. Choose another name."),
]


@pytest.mark.parametrize(("change", "status", "message"), BAD)
def test_bad_registry_input_is_refused_and_stores_nothing(
    console: RunningConsole, change: dict[str, Any], status: int, message: str
) -> None:
    admin = log_in(console)
    assert post_form(admin, "/registries", _form(name="taken")).status_code == 303
    before = _registries(console)
    answer = post_form(admin, "/registries", _form(**{"name": "fresh", **change}))
    assert answer.status_code == status, answer.text
    assert message in answer.text
    assert re.search(r'<p class="alert error" role="alert">[^<]+</p>', answer.text)
    assert ">team/*</textarea>" in answer.text  # what was typed is kept
    assert ">team/sandbox-*</textarea>" in answer.text
    assert PASSWORD not in answer.text
    assert _registries(console) == before
    assert len(audit_actions(console, "registry.")) == 1


def test_readers_see_registries_and_may_not_change_them(console: RunningConsole) -> None:
    api = console.client(Role.ADMINISTRATOR)
    registry = api.post(
        "/api/v1/registries",
        json={"name": "local", "url": f"http://127.0.0.1:{_closed_port()}", "include": [HOSTILE]},
    ).json()
    add_user(console, "audrey", Role.AUDITOR)
    add_user(console, "olga", Role.OPERATOR)
    add_user(console, "pipeline", Role.CI)
    reader = log_in(console, "audrey", USER_PASSWORD)
    for path in ("/registries", f"/registries/{registry['id']}"):
        page = reader.get(path)
        assert page.status_code == 200, path
        assert HOSTILE not in page.text
        assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;" in page.text
        assert "Scan now" not in page.text
    assert "Add a registry" not in reader.get("/registries").text
    assert "<fieldset disabled>" in reader.get(f"/registries/{registry['id']}").text
    assert post_form(reader, f"/registries/{registry['id']}/scan").status_code == 403
    operator = log_in(console, "olga", USER_PASSWORD)
    assert "Scan now" in operator.get("/registries").text
    assert "Add a registry" not in operator.get("/registries").text
    for path, form in (
        ("/registries", _form(name="mine")),
        (f"/registries/{registry['id']}", _form(name="renamed")),
        (f"/registries/{registry['id']}/delete", {}),
    ):
        assert post_form(operator, path, form).status_code == 403, path
    assert log_in(console, "pipeline", USER_PASSWORD).get("/registries").status_code == 403
    admin = log_in(console)
    assert admin.post("/registries", data=_form(name="forged")).status_code == 403  # no CSRF
    assert [r["name"] for r in _registries(console)] == ["local"]
    assert admin.get("/registries/999999").status_code == 404
