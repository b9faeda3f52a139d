"""Every operation of the OpenAPI schema: 401 without credentials, 403 for each role
that must not call it, and through for each role that may."""

from __future__ import annotations

import re
from typing import Any

import pytest

from stockade.console.api.access import AUTHENTICATED, PUBLIC
from stockade.console.roles import Permission, Role, allows

from .conftest import RunningConsole

OPEN_WITHOUT_CREDENTIALS = {("/healthz", "get"), ("/readyz", "get"), ("/api/v1/session", "post")}
"""Health for probes, and the login itself."""


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (path, method, operation["x-stockade-access"])
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
    ]


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "999999", path)  # no such row: nothing is changed


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_operation_needs_credentials_and_the_right_role(console: RunningConsole) -> None:
    schema = console.client(Role.AUDITOR).get("/api/v1/openapi.json").json()
    operations = _operations(schema)
    assert len(operations) > 25
    public = {(p, m) for p, m, access in operations if access == PUBLIC}
    assert public == OPEN_WITHOUT_CREDENTIALS
    anonymous = console.client()
    assert anonymous.get("/api/v1/openapi.json").status_code == 401
    clients = {role: console.client(role) for role in Role}
    checked = 0
    for path, method, access in operations:
        url = _concrete(path)
        if (path, method) in public:
            continue
        answer = anonymous.request(method, url, json={})
        assert answer.status_code == 401, (method, path)
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["www-authenticate"].startswith("Bearer")
        for role, client in clients.items():
            permitted = access == AUTHENTICATED or allows(role, Permission(access))
            answer = client.request(method, url, json={})
            if permitted:
                assert answer.status_code not in (401, 403), (role, method, path)
            else:
                assert answer.status_code == 403, (role, method, path)
            checked += 1
    assert checked == len(Role) * (len(operations) - len(public))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_unknown_paths_and_methods_are_answered_to_callers_only(console: RunningConsole) -> None:
    anonymous, reader = console.client(), console.client(Role.AUDITOR)
    assert anonymous.get("/api/v1/nothing-here").status_code == 401
    assert reader.get("/api/v1/nothing-here").status_code == 404
    assert anonymous.put("/api/v1/images").status_code == 401
    assert reader.put("/api/v1/images").status_code == 405
