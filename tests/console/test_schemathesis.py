"""schemathesis over the published OpenAPI schema, as an administrator: no 500s, and
every answer conforms to the schema (status codes, content types, bodies)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import CHECKS

from stockade.console.roles import Role
from stockade.console.testing import synthetic_check_document, synthetic_scan_document

from .conftest import RunningConsole

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_api_conforms_to_its_schema(console: RunningConsole) -> None:
    admin = console.client(Role.ADMINISTRATOR)
    admin.post("/api/v1/scans", json=synthetic_scan_document(1))
    admin.post("/api/v1/checks", json=synthetic_check_document(1))
    token = console.tokens[Role.ADMINISTRATOR]
    schema = schemathesis.openapi.from_url(
        f"{console.url}/api/v1/openapi.json", headers={"Authorization": f"Bearer {token}"}
    )
    checks = [
        CHECKS.get_by_names([name])[0]
        for name in (
            "not_a_server_error",
            "status_code_conformance",
            "content_type_conformance",
            "response_schema_conformance",
        )
    ]
    failures: list[str] = []
    calls: list[int] = []
    for operation in schema.get_all_operations():
        op = operation.ok()

        @settings(
            max_examples=8,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=op.as_strategy())
        def run(case: schemathesis.Case) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
            response = case.call_and_validate(checks=checks)
            calls.append(response.status_code)

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then report all
            failures.append(f"{op.method.upper()} {op.path}: {str(exc)[:600]}")
    assert not failures, "\n".join(failures)
    operations = len(list(schema.get_all_operations()))
    assert len(calls) >= 3 * operations  # it really ran
    assert sum(200 <= c < 300 for c in calls) >= operations  # and got past validation
