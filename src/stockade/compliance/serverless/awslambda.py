"""Checks on AWS Lambda function configurations and the IAM policies of their roles.

The input is the JSON ``aws lambda get-function-configuration`` prints, decoded (or
``aws lambda get-function``'s answer, whose ``Configuration`` is used). Policies are IAM
policy documents (``{"Version": ..., "Statement": [...]}``), or the answers of
``aws iam get-policy-version`` / ``get-role-policy`` that wrap one.
"""

from __future__ import annotations

import datetime
import functools
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

from stockade.compliance.interface import Result
from stockade.compliance.serverless.check import (
    Finding,
    NotApplicable,
    ServerlessCheck,
    as_list,
    as_mapping,
    serverless_check,
)
from stockade.compliance.serverless.errors import ServerlessError
from stockade.compliance.serverless.secrets import looks_secret, redact
from stockade.compliance.yamlload import format_path
from stockade.core.advisory import Severity

__all__ = [
    "DEPRECATED_RUNTIMES",
    "LAMBDA_CHECKS",
    "check_function_configuration",
    "check_policy",
    "function_configuration",
]

_D = datetime.date

DEPRECATED_RUNTIMES: Final[Mapping[str, datetime.date]] = {
    # Runtime identifier -> the day AWS deprecated it (Lambda's "Runtime deprecation
    # policy" table). A runtime counts as deprecated from that day on.
    "nodejs": _D(2016, 10, 31),
    "nodejs4.3": _D(2020, 3, 5),
    "nodejs4.3-edge": _D(2019, 4, 30),
    "nodejs6.10": _D(2019, 8, 12),
    "nodejs8.10": _D(2020, 3, 6),
    "nodejs10.x": _D(2021, 7, 30),
    "nodejs12.x": _D(2023, 3, 31),
    "nodejs14.x": _D(2023, 12, 4),
    "nodejs16.x": _D(2024, 6, 12),
    "python2.7": _D(2021, 7, 15),
    "python3.6": _D(2022, 7, 18),
    "python3.7": _D(2023, 12, 4),
    "python3.8": _D(2024, 10, 14),
    "ruby2.5": _D(2021, 7, 30),
    "ruby2.7": _D(2023, 12, 7),
    "java8": _D(2024, 1, 8),
    "go1.x": _D(2024, 1, 8),
    "provided": _D(2024, 1, 8),
    "dotnetcore1.0": _D(2019, 7, 30),
    "dotnetcore2.0": _D(2019, 5, 30),
    "dotnetcore2.1": _D(2022, 1, 5),
    "dotnetcore3.1": _D(2023, 4, 3),
    "dotnet5.0": _D(2022, 5, 10),
    "dotnet6": _D(2024, 12, 20),
}


def function_configuration(doc: object) -> Mapping[str, Any]:
    """The function configuration in ``doc``, unwrapped from ``get-function`` if need be."""
    top = as_mapping(doc, "")
    config = as_mapping(top.get("Configuration", top), "Configuration")
    if not isinstance(config.get("FunctionName"), str):
        raise ServerlessError(
            "not a Lambda function configuration: no FunctionName",
            "pass the output of `aws lambda get-function-configuration --function-name NAME`",
        )
    return config


@serverless_check(
    "STK-LAMBDA-001",
    "Functions must not use a deprecated runtime",
    Severity.HIGH,
    rationale=(
        "AWS stops patching a runtime when it is deprecated: its language and OS get "
        "no more security fixes, and later updates to the function are blocked."
    ),
    remediation="Move the function to a supported runtime of the same language.",
    references={"checkov": "CKV_AWS_363"},
)
def deprecated_runtime(config: Mapping[str, Any]) -> Iterator[Finding]:
    return _deprecated_runtime(config, today=_today())


def _today() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


def _deprecated_runtime(config: Mapping[str, Any], *, today: datetime.date) -> Iterator[Finding]:
    runtime = config.get("Runtime")
    if runtime is None:
        raise NotApplicable("no Runtime: a container image function brings its own")
    if not isinstance(runtime, str):
        raise ServerlessError(f"Runtime: expected a string, got {type(runtime).__name__}")
    deprecated_on = DEPRECATED_RUNTIMES.get(runtime)
    if deprecated_on is not None and deprecated_on <= today:
        yield Finding("Runtime", f"runtime {runtime} is deprecated since {deprecated_on}")


@serverless_check(
    "STK-LAMBDA-002",
    "Secrets must not be stored in plain environment variables",
    Severity.HIGH,
    rationale=(
        "Environment variables are shown to anyone who can read the function's "
        "configuration; a credential there is a credential shared with them."
    ),
    remediation=(
        "Keep the secret in Secrets Manager or SSM Parameter Store and read it at run "
        "time (the Parameters and Secrets Lambda extension caches it)."
    ),
    references={"checkov": "CKV_AWS_45"},
)
def environment_secrets(config: Mapping[str, Any]) -> Iterator[Finding]:
    environment = config.get("Environment")
    if environment is None:
        return
    variables = as_mapping(environment, "Environment").get("Variables")
    if variables is None:
        return
    for name, value in as_mapping(variables, "Environment.Variables").items():
        if looks_secret(str(name), value):
            yield Finding(
                format_path(["Environment", "Variables", str(name)]),
                f"{name}={redact(str(value))} is in plain text",
            )


@serverless_check(
    "STK-LAMBDA-003",
    "Functions should have a dead-letter queue",
    Severity.LOW,
    rationale="Without one, events from failed asynchronous invocations are dropped silently.",
    remediation="Set DeadLetterConfig.TargetArn to an SQS queue or SNS topic.",
    references={"checkov": "CKV_AWS_116"},
)
def dead_letter(config: Mapping[str, Any]) -> Iterator[Finding]:
    dlq = config.get("DeadLetterConfig")
    target = as_mapping(dlq, "DeadLetterConfig").get("TargetArn") if dlq is not None else None
    if not target:
        yield Finding("DeadLetterConfig.TargetArn", "no dead-letter queue is configured")


@serverless_check(
    "STK-LAMBDA-004",
    "Functions should have X-Ray tracing active",
    Severity.LOW,
    rationale="Traces show what a function called and when: evidence when investigating abuse.",
    remediation="Set TracingConfig.Mode to Active.",
    references={"checkov": "CKV_AWS_50"},
)
def tracing(config: Mapping[str, Any]) -> Iterator[Finding]:
    tracing_config = config.get("TracingConfig")
    mode = (
        as_mapping(tracing_config, "TracingConfig").get("Mode")
        if tracing_config is not None
        else None
    )
    if mode != "Active":
        yield Finding("TracingConfig.Mode", f"tracing mode is {mode or 'unset'}, not Active")


@serverless_check(
    "STK-IAM-001",
    "Policies must not allow every action or every action of a service on every resource",
    Severity.HIGH,
    rationale=(
        "`Action: *` or `s3:*` on `Resource: *` grants far more than a function needs: "
        "whoever controls its code controls everything the wildcard covers."
    ),
    remediation="List the actions the function calls and the ARNs it calls them on.",
    references={"checkov": "CKV_AWS_63"},
)
def wildcard_policy(policy: Mapping[str, Any]) -> Iterator[Finding]:
    statements = policy.get("Statement")
    if isinstance(statements, Mapping):
        statements = [statements]
    for index, entry in enumerate(as_list(statements, "Statement")):
        path = f"Statement[{index}]"
        statement = as_mapping(entry, path)
        if statement.get("Effect") != "Allow":
            continue
        actions = _strings(statement.get("Action"), f"{path}.Action")
        resources = _strings(statement.get("Resource"), f"{path}.Resource")
        wild_actions = [a for a in actions if a == "*" or a.endswith(":*")]
        if wild_actions and "*" in resources:
            yield Finding(
                f"{path}.Action",
                f"allows {', '.join(wild_actions)} on every resource (Resource: *)",
            )


def _strings(value: object, path: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    items = as_list(value, path)
    if not all(isinstance(item, str) for item in items):
        raise ServerlessError(f"{path}: expected strings")
    return list(items)


LAMBDA_CHECKS: Final[tuple[ServerlessCheck, ...]] = (
    deprecated_runtime,
    environment_secrets,
    dead_letter,
    tracing,
)


def _policy_document(doc: object, index: int) -> Mapping[str, Any]:
    where = f"policies[{index}]"
    top = as_mapping(doc, where)
    inner: object = top
    if "PolicyVersion" in top:
        inner = as_mapping(top["PolicyVersion"], f"{where}.PolicyVersion").get("Document")
    elif "PolicyDocument" in top:
        inner = top["PolicyDocument"]
    if isinstance(inner, str):  # the raw API returns the document as JSON text
        try:
            inner = json.loads(inner)
        except ValueError as exc:
            raise ServerlessError(f"{where}: the policy document is not JSON: {exc}") from exc
    document = as_mapping(inner, where)
    if "Statement" not in document:
        raise ServerlessError(f"{where}: not an IAM policy document: no Statement")
    return document


def check_policy(doc: object, *, name: str, index: int = 0) -> list[Result]:
    """Run the IAM checks over one policy document; paths start ``policies[index]``."""
    document = _policy_document(doc, index)
    prefix = f"policies[{index}]."
    # JSON paths are made relative to the function's inputs, so they say which policy.
    return [
        replace(r, path=prefix + r.path) if r.path else r
        for r in wildcard_policy.run(document, name)
    ]


def check_function_configuration(
    doc: Mapping[str, Any],
    *,
    policies: Sequence[Mapping[str, Any]] = (),
    today: datetime.date | None = None,
) -> list[Result]:
    """Run every Lambda check over one function, and the IAM checks over ``policies``.

    ``today`` decides which runtimes are deprecated (the current date by default).
    Raises :class:`ServerlessError` when an input is not the shape AWS returns.
    """
    config = function_configuration(doc)
    name = str(config["FunctionName"])
    checks = LAMBDA_CHECKS
    if today is not None:
        dated = functools.partial(_deprecated_runtime, today=today)
        checks = tuple(replace(c, inspect=dated) if c is deprecated_runtime else c for c in checks)
    results: list[Result] = []
    for check in checks:
        results.extend(check.run(config, name))
    for index, policy in enumerate(policies):
        results.extend(check_policy(policy, name=name, index=index))
    return results
