"""Checks on ECS (EC2 and Fargate) task definitions.

The input is the JSON ``aws ecs describe-task-definition`` prints, decoded: either the
whole answer (``{"taskDefinition": {...}, "tags": [...]}``) or the task definition
itself. JSON paths in results are relative to the task definition.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
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
from stockade.core.advisory import Severity

__all__ = ["ECS_CHECKS", "check_task_definition", "task_definition"]

_ROOT_USERS: Final = frozenset({"root", "0"})


def task_definition(doc: object) -> Mapping[str, Any]:
    """The task definition in ``doc``, unwrapped from the CLI's answer if need be."""
    top = as_mapping(doc, "")
    inner = top.get("taskDefinition", top)
    taskdef = as_mapping(inner, "taskDefinition")
    as_list(taskdef.get("containerDefinitions"), "containerDefinitions")
    if "containerDefinitions" not in taskdef:
        raise ServerlessError(
            "not an ECS task definition: no containerDefinitions",
            "pass the output of `aws ecs describe-task-definition --task-definition NAME`",
        )
    return taskdef


def _containers(taskdef: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    containers = as_list(taskdef.get("containerDefinitions"), "containerDefinitions")
    if not containers:
        raise NotApplicable("the task definition has no containers")
    for index, container in enumerate(containers):
        path = f"containerDefinitions[{index}]"
        yield path, as_mapping(container, path)


def _name(container: Mapping[str, Any], path: str) -> str:
    name = container.get("name")
    return f"container {name!r}" if isinstance(name, str) and name else path


@serverless_check(
    "STK-ECS-001",
    "Containers must not run privileged",
    Severity.HIGH,
    rationale=(
        "A privileged container has every capability and the host's devices: root in it "
        "is root on the container instance."
    ),
    remediation="Remove `privileged` or set it to false; add only the capabilities needed.",
    references={"checkov": "CKV_AWS_97"},
)
def privileged(taskdef: Mapping[str, Any]) -> Iterator[Finding]:
    for path, container in _containers(taskdef):
        if container.get("privileged") is True:
            yield Finding(f"{path}.privileged", f"{_name(container, path)} runs privileged")


@serverless_check(
    "STK-ECS-002",
    "Containers should have a read-only root filesystem",
    Severity.MEDIUM,
    rationale=(
        "A writable root filesystem lets an intruder drop tools and change the "
        "application's files; volumes can carry what must be written."
    ),
    remediation="Set `readonlyRootFilesystem: true` and mount volumes for writable paths.",
    references={"checkov": "CKV_AWS_336"},
)
def read_only_root(taskdef: Mapping[str, Any]) -> Iterator[Finding]:
    for path, container in _containers(taskdef):
        if container.get("readonlyRootFilesystem") is not True:
            yield Finding(
                f"{path}.readonlyRootFilesystem",
                f"{_name(container, path)} has a writable root filesystem",
            )


@serverless_check(
    "STK-ECS-003",
    "Secrets must not be passed in plain environment variables",
    Severity.HIGH,
    rationale=(
        "Values in `environment` are stored in the task definition in plain text and "
        "shown to anyone who can describe it; `secrets` fetches them at start instead."
    ),
    remediation=(
        "Move the value to Secrets Manager or SSM Parameter Store and reference it from "
        "the container's `secrets` list (name and valueFrom)."
    ),
)
def environment_secrets(taskdef: Mapping[str, Any]) -> Iterator[Finding]:
    for path, container in _containers(taskdef):
        env_path = f"{path}.environment"
        for index, entry in enumerate(as_list(container.get("environment"), env_path)):
            item = as_mapping(entry, f"{env_path}[{index}]")
            name, value = item.get("name"), item.get("value")
            if isinstance(name, str) and looks_secret(name, value):
                yield Finding(
                    f"{env_path}[{index}].value",
                    f"{_name(container, path)}: {name}={redact(str(value))} is in plain text",
                )


@serverless_check(
    "STK-ECS-004",
    "Containers should send their logs somewhere",
    Severity.LOW,
    rationale="Without a log configuration the container's output is lost with the task.",
    remediation="Add a `logConfiguration` (awslogs, awsfirelens, splunk ...).",
)
def log_configuration(taskdef: Mapping[str, Any]) -> Iterator[Finding]:
    for path, container in _containers(taskdef):
        config = container.get("logConfiguration")
        if config is None:
            yield Finding(f"{path}.logConfiguration", f"{_name(container, path)} has no logs")
        elif not as_mapping(config, f"{path}.logConfiguration").get("logDriver"):
            yield Finding(
                f"{path}.logConfiguration.logDriver",
                f"{_name(container, path)} has a log configuration without a driver",
            )


@serverless_check(
    "STK-ECS-005",
    "Containers must not run as root",
    Severity.MEDIUM,
    rationale=(
        "A container that runs as UID 0 turns any compromise of the application into "
        "root in the container, one kernel bug from the host."
    ),
    remediation="Set `user` to an unprivileged UID (and GID), or omit it if the image has USER.",
)
def root_user(taskdef: Mapping[str, Any]) -> Iterator[Finding]:
    for path, container in _containers(taskdef):
        user = container.get("user")
        if isinstance(user, str) and user.split(":", 1)[0].strip().lower() in _ROOT_USERS:
            yield Finding(f"{path}.user", f"{_name(container, path)} runs as {user!r}")


@serverless_check(
    "STK-ECS-006",
    "Containers should not add Linux capabilities",
    Severity.MEDIUM,
    rationale=(
        "Each added capability (SYS_ADMIN, NET_ADMIN, SYS_PTRACE ...) hands the container "
        "a piece of root's power over the host."
    ),
    remediation="Remove `linuxParameters.capabilities.add`, or keep only what is required.",
    references={"checkov": "CKV_AWS_97"},
)
def added_capabilities(taskdef: Mapping[str, Any]) -> Iterator[Finding]:
    for path, container in _containers(taskdef):
        params = container.get("linuxParameters")
        if params is None:
            continue
        caps = as_mapping(params, f"{path}.linuxParameters").get("capabilities")
        if caps is None:
            continue
        add_path = f"{path}.linuxParameters.capabilities.add"
        added = as_list(as_mapping(caps, add_path.rsplit(".", 1)[0]).get("add"), add_path)
        for index, cap in enumerate(added):
            yield Finding(f"{add_path}[{index}]", f"{_name(container, path)} adds {cap}")


ECS_CHECKS: Final[tuple[ServerlessCheck, ...]] = (
    privileged,
    read_only_root,
    environment_secrets,
    log_configuration,
    root_user,
    added_capabilities,
)


def check_task_definition(doc: Mapping[str, Any], *, name: str) -> list[Result]:
    """Run every ECS check over one task definition; ``name`` labels the results.

    Raises :class:`ServerlessError` when ``doc`` is not a task definition.
    """
    taskdef = task_definition(doc)
    results: list[Result] = []
    for check in ECS_CHECKS:
        results.extend(check.run(taskdef, name))
    return results
