"""Serverless workloads: ECS/Fargate task definitions, Lambda functions and their IAM policies.

::

    from stockade.compliance.serverless import check_task_definition

    doc = json.loads(Path("taskdef.json").read_text())  # aws ecs describe-task-definition
    for result in check_task_definition(doc, name="web:7"):
        if result.status is Status.FAILED:
            print(result.check.id, result.path, result.message)

Checks are pure functions of the decoded JSON; nothing here calls AWS. See
docs/compliance-host-serverless.md.
"""

from stockade.compliance.serverless.awslambda import (
    DEPRECATED_RUNTIMES,
    LAMBDA_CHECKS,
    check_function_configuration,
    check_policy,
    function_configuration,
)
from stockade.compliance.serverless.check import Finding, NotApplicable, ServerlessCheck
from stockade.compliance.serverless.ecs import ECS_CHECKS, check_task_definition, task_definition
from stockade.compliance.serverless.errors import ServerlessError

__all__ = [
    "DEPRECATED_RUNTIMES",
    "ECS_CHECKS",
    "LAMBDA_CHECKS",
    "Finding",
    "NotApplicable",
    "ServerlessCheck",
    "ServerlessError",
    "check_function_configuration",
    "check_policy",
    "check_task_definition",
    "function_configuration",
    "task_definition",
]
