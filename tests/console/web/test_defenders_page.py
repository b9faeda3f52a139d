"""The Defenders page over real HTTP: enrolment, rotation and revocation through its
forms (tokens shown once, audited, effective at once), bad input, roles and CSRF."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import func, select

from stockade.console.roles import Role
from stockade.console.store.models import Defender

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

_TOKEN = re.compile(r'<code id="issued-token">(stk_[^<]+)</code>')


def _push(console: RunningConsole, token: str, host: str, seq: int) -> httpx.Response:
    with httpx.Client(base_url=console.url, timeout=30) as client:
        return client.post(
            "/api/v1/events",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "host": host,
                "version": "0.9.1",
                "events": [
                    {
                        "kind": "process",
                        "occurredAt": "2026-01-15T10:00:00Z",
                        "seq": seq,
                        "payload": {},
                    }
                ],
            },
        )


def _defenders(console: RunningConsole) -> int:
    with console.store.read() as session:
        return int(session.scalar(select(func.count()).select_from(Defender)) or 0)


def test_an_administrator_enrols_rotates_and_revokes_a_defender(console: RunningConsole) -> None:
    admin = log_in(console)
    page = admin.get("/defenders")
    assert page.status_code == 200
    assert_page_headers(page)
    assert "No Defender is enrolled." in page.text
    enrolled = post_form(admin, "/defenders", {"name": "node-7", "expires": "30"})
    assert enrolled.status_code == 201, enrolled.text
    assert "Defender enrolled for “node-7”" in enrolled.text
    token = _TOKEN.search(enrolled.text)
    assert token is not None
    pushed = _push(console, token[1], "node-7", 42)
    assert pushed.is_success, pushed.text
    assert _push(console, token[1], "node-8", 43).status_code == 403  # its own host only

    listing = admin.get("/defenders").text
    assert token[1] not in listing  # shown once
    row = next(r for r in listing.split("<tr") if "node-7" in r)
    assert 'status-passed">connected' in row
    assert "0.9.1" in row
    assert '<td class="num">42</td>' in row  # the last sequence number stored

    defender_id = re.search(r'action="/defenders/(\d+)/token"', listing)
    assert defender_id is not None
    rotated = post_form(admin, f"/defenders/{defender_id[1]}/token")
    assert rotated.status_code == 201
    assert "New token for “node-7”" in rotated.text
    new_token = _TOKEN.search(rotated.text)
    assert new_token is not None
    assert new_token[1] != token[1]
    assert _push(console, token[1], "node-7", 44).status_code == 401
    assert _push(console, new_token[1], "node-7", 45).is_success

    revoked = post_form(admin, f"/defenders/{defender_id[1]}/revoke")
    assert revoked.status_code == 303
    after = admin.get(revoked.headers["location"]).text
    assert "The Defender was revoked: its token no longer works." in after
    assert 'status-failed">revoked' in after
    assert _push(console, new_token[1], "node-7", 46).status_code == 401
    assert [(a, actor) for a, actor, _ in audit_actions(console, "defender.")] == [
        ("defender.enrol", "user:admin"),
        ("defender.enrol", "user:admin"),
        ("defender.revoke", "user:admin"),
    ]
    assert post_form(admin, "/defenders/999999/revoke").status_code == 404
    assert post_form(admin, "/defenders/999999/token").status_code == 404


@pytest.mark.parametrize(
    ("form", "status", "message"),
    [
        ({"name": ""}, 400, "The host name is required."),
        ({"name": "node-1", "expires": "soon"}, 400, "Expires in (days) must be a whole number."),
        ({"name": "node-1", "expires": "0"}, 400, "Expires in (days) must be at least 1."),
        ({"name": "node\x01"}, 409, "Invalid Defender host name"),
        ({"name": "taken"}, 409, "A Defender is already enrolled for taken."),
    ],
)
def test_bad_enrolments_are_refused_and_store_nothing(
    console: RunningConsole, form: dict[str, str], status: int, message: str
) -> None:
    admin = log_in(console)
    assert post_form(admin, "/defenders", {"name": "taken"}).status_code == 201
    answer = post_form(admin, "/defenders", form)
    assert answer.status_code == status, answer.text
    assert message in answer.text
    assert _TOKEN.search(answer.text) is None
    assert _defenders(console) == 1


def test_readers_see_defenders_and_may_not_change_them(console: RunningConsole) -> None:
    admin = log_in(console)
    post_form(admin, "/defenders", {"name": HOSTILE})
    add_user(console, "audrey", Role.AUDITOR)
    add_user(console, "olga", Role.OPERATOR)
    add_user(console, "pipeline", Role.CI)
    for name in ("audrey", "olga"):
        viewer = log_in(console, name, USER_PASSWORD)
        page = viewer.get("/defenders")
        assert page.status_code == 200
        assert HOSTILE not in page.text
        assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;" in page.text
        assert "Enrol a Defender" not in page.text
        assert "/token" not in page.text
        refused = post_form(viewer, "/defenders", {"name": "mine"})
        assert refused.status_code == 403
        assert post_form(viewer, "/defenders/1/revoke").status_code == 403
    assert log_in(console, "pipeline", USER_PASSWORD).get("/defenders").status_code == 403
    assert admin.post("/defenders", data={"name": "forged"}).status_code == 403  # no CSRF
    assert _defenders(console) == 1
