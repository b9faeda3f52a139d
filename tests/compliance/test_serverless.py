"""ECS task definition, Lambda function and IAM policy checks on hand-written AWS JSON."""

from __future__ import annotations

import contextlib
import datetime
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockade.compliance import serverless
from stockade.compliance.interface import Result, Status, Target
from stockade.compliance.serverless import (
    ServerlessError,
    check_function_configuration,
    check_task_definition,
)
from stockade.compliance.serverless.secrets import looks_secret

DATA = Path(__file__).parent.parent / "data" / "compliance" / "serverless"


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def failed(results: list[Result], check_id: str) -> list[Result]:
    return [r for r in results if r.check.id == check_id and r.status is Status.FAILED]


def statuses(results: list[Result]) -> dict[str, set[Status]]:
    out: dict[str, set[Status]] = {}
    for r in results:
        out.setdefault(r.check.id, set()).add(r.status)
    return out


def test_all_is_complete() -> None:
    public = {n for n in dir(serverless) if not n.startswith("_")}
    modules = {"awslambda", "check", "ecs", "errors", "secrets"}
    assert public - modules == set(serverless.__all__)


def test_insecure_task_definition() -> None:
    results = check_task_definition(load("taskdef-insecure.json"), name="web:7")
    assert all(r.resource == "web:7" and r.check.target is Target.SERVERLESS for r in results)
    assert [r.path for r in failed(results, "STK-ECS-001")] == [
        "containerDefinitions[0].privileged"
    ]
    assert [r.path for r in failed(results, "STK-ECS-002")] == [
        "containerDefinitions[0].readonlyRootFilesystem",
        "containerDefinitions[1].readonlyRootFilesystem",
    ]
    secrets = failed(results, "STK-ECS-003")
    assert [r.path for r in secrets] == [
        "containerDefinitions[0].environment[1].value",
        "containerDefinitions[0].environment[3].value",
    ]
    joined = " ".join(r.message for r in secrets)
    assert "hunter2-not-a-real-one" not in joined
    assert "sk_test_fake" not in joined
    assert "DB_PASSWORD=hunt****" in joined
    assert [r.path for r in failed(results, "STK-ECS-004")] == [
        "containerDefinitions[0].logConfiguration"
    ]
    assert [r.path for r in failed(results, "STK-ECS-005")] == ["containerDefinitions[0].user"]
    caps = failed(results, "STK-ECS-006")
    assert [r.path for r in caps] == [
        "containerDefinitions[0].linuxParameters.capabilities.add[0]",
        "containerDefinitions[0].linuxParameters.capabilities.add[1]",
    ]
    assert "SYS_ADMIN" in caps[0].message
    assert "'web'" in caps[0].message


def test_hardened_task_definition_passes() -> None:
    results = check_task_definition(load("taskdef-hardened.json"), name="api:3")
    assert statuses(results) == {check.id: {Status.PASSED} for check in serverless.ECS_CHECKS}


def test_task_definition_without_containers_is_skipped() -> None:
    results = check_task_definition({"family": "x", "containerDefinitions": []}, name="x")
    assert {r.status for r in results} == {Status.SKIPPED}


@pytest.mark.parametrize(
    "doc",
    [
        [],
        "text",
        {"family": "no containers"},
        {"containerDefinitions": {"name": "not a list"}},
        {"containerDefinitions": ["not an object"]},
        {"containerDefinitions": [{"name": "a", "environment": {"A": "b"}}]},
        {"containerDefinitions": [{"name": "a", "environment": [["PASSWORD", "x"]]}]},
        {"containerDefinitions": [{"name": "a", "linuxParameters": []}]},
        {"containerDefinitions": [{"name": "a", "linuxParameters": {"capabilities": "x"}}]},
        {"containerDefinitions": [{"name": "a", "logConfiguration": "awslogs"}]},
        {"taskDefinition": None},
    ],
)
def test_malformed_task_definition_raises_serverless_error(doc: Any) -> None:
    with pytest.raises(ServerlessError) as info:
        check_task_definition(doc, name="bad")
    assert info.value.diagnostics()


def test_insecure_function() -> None:
    results = check_function_configuration(
        load("lambda-insecure.json"),
        policies=[load("policy-wildcard.json")],
        today=datetime.date(2025, 1, 1),
    )
    assert {r.resource for r in results} == {"thumbnailer"}
    [runtime] = failed(results, "STK-LAMBDA-001")
    assert runtime.path == "Runtime"
    assert "python3.7" in runtime.message
    secrets = failed(results, "STK-LAMBDA-002")
    assert [r.path for r in secrets] == [
        "Environment.Variables.GITHUB_TOKEN",
        "Environment.Variables.dbPassword",
    ]
    assert all("fakefake" not in r.message and "horse" not in r.message for r in secrets)
    assert [r.path for r in failed(results, "STK-LAMBDA-003")] == ["DeadLetterConfig.TargetArn"]
    assert [r.path for r in failed(results, "STK-LAMBDA-004")] == ["TracingConfig.Mode"]
    [wildcard] = failed(results, "STK-IAM-001")
    assert wildcard.path == "policies[0].Statement[1].Action"
    assert "s3:*" in wildcard.message


def test_hardened_function_passes() -> None:
    policy = {
        "PolicyVersion": {
            "Document": json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": {
                        "Effect": "Allow",
                        "Action": ["dynamodb:GetItem", "dynamodb:PutItem"],
                        "Resource": "arn:aws:dynamodb:us-east-1:111122223333:table/orders",
                    },
                }
            ),
            "VersionId": "v1",
            "IsDefaultVersion": True,
        }
    }
    results = check_function_configuration(load("lambda-hardened.json"), policies=[policy])
    assert {r.status for r in results} == {Status.PASSED}
    assert {r.check.id for r in results} == {
        "STK-LAMBDA-001",
        "STK-LAMBDA-002",
        "STK-LAMBDA-003",
        "STK-LAMBDA-004",
        "STK-IAM-001",
    }


@pytest.mark.parametrize(
    ("runtime", "day", "deprecated"),
    [
        ("python2.7", datetime.date(2025, 1, 1), True),
        ("python3.6", datetime.date(2025, 1, 1), True),
        ("nodejs14.x", datetime.date(2025, 1, 1), True),
        ("go1.x", datetime.date(2025, 1, 1), True),
        ("dotnetcore3.1", datetime.date(2025, 1, 1), True),
        ("ruby2.7", datetime.date(2025, 1, 1), True),
        ("python3.8", datetime.date(2024, 10, 13), False),
        ("python3.8", datetime.date(2024, 10, 14), True),
        ("python3.12", datetime.date(2025, 1, 1), False),
        ("nodejs20.x", datetime.date(2025, 1, 1), False),
    ],
)
def test_deprecated_runtimes(runtime: str, day: datetime.date, deprecated: bool) -> None:
    doc = {"FunctionName": "f", "Runtime": runtime}
    results = check_function_configuration(doc, today=day)
    assert bool(failed(results, "STK-LAMBDA-001")) is deprecated


def test_image_function_skips_runtime_check() -> None:
    results = check_function_configuration({"FunctionName": "f", "PackageType": "Image"})
    [runtime] = [r for r in results if r.check.id == "STK-LAMBDA-001"]
    assert runtime.status is Status.SKIPPED


@pytest.mark.parametrize(
    ("statement", "wild"),
    [
        ({"Effect": "Allow", "Action": "*", "Resource": "*"}, True),
        ({"Effect": "Allow", "Action": ["ec2:Describe*", "iam:*"], "Resource": ["*"]}, True),
        ({"Effect": "Allow", "Action": "iam:*", "Resource": "arn:aws:iam::1:role/x"}, False),
        ({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}, False),
        ({"Effect": "Deny", "Action": "*", "Resource": "*"}, False),
    ],
)
def test_wildcard_statements(statement: dict[str, Any], wild: bool) -> None:
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    results = serverless.check_policy(policy, name="p")
    assert bool(failed(results, "STK-IAM-001")) is wild


@pytest.mark.parametrize(
    ("doc", "policies"),
    [
        ({"Runtime": "python3.12"}, ()),
        ({"FunctionName": "f", "Runtime": 3}, ()),
        ({"FunctionName": "f", "Environment": {"Variables": ["A=b"]}}, ()),
        ({"FunctionName": "f", "TracingConfig": "Active"}, ()),
        ({"FunctionName": "f"}, ({"Version": "2012-10-17"},)),
        ({"FunctionName": "f"}, ({"PolicyDocument": "{not json"},)),
        ({"FunctionName": "f"}, ({"Statement": [{"Effect": "Allow", "Action": [1]}]},)),
        ({"FunctionName": "f"}, ({"Statement": "Allow"},)),
        ({"FunctionName": "f"}, (["Statement"],)),
    ],
)
def test_malformed_function_raises_serverless_error(doc: Any, policies: Any) -> None:
    with pytest.raises(ServerlessError):
        check_function_configuration(doc, policies=policies)


@pytest.mark.parametrize(
    ("name", "value", "secret"),
    [
        ("DB_PASSWORD", "x", True),
        ("apiKey", "x", True),
        ("GITHUB_TOKEN", "x", True),
        ("AWS_SECRET_ACCESS_KEY", "x", True),
        ("AWS_ACCESS_KEY_ID", "AKIA", False),
        ("SECRET_ARN", "arn:aws:...", False),
        ("MONKEY", "x", False),
        ("PASSWORD", "", False),
        ("PASSWORD", 3, False),
    ],
)
def test_secret_names(name: str, value: object, secret: bool) -> None:
    assert looks_secret(name, value) is secret


_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=10)
_keys = st.sampled_from(
    [
        "containerDefinitions",
        "environment",
        "name",
        "value",
        "privileged",
        "user",
        "linuxParameters",
        "capabilities",
        "add",
        "logConfiguration",
        "FunctionName",
        "Runtime",
        "Environment",
        "Variables",
        "TracingConfig",
        "DeadLetterConfig",
        "Statement",
        "Effect",
        "Action",
        "Resource",
        "PolicyDocument",
        "taskDefinition",
        "Configuration",
    ]
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=5),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(doc=_json, policy=_json)
def test_hostile_documents_raise_only_serverless_error(doc: Any, policy: Any) -> None:
    with contextlib.suppress(ServerlessError):
        check_task_definition(doc, name="fuzz")
    with contextlib.suppress(ServerlessError):
        check_function_configuration(doc, policies=[policy])
