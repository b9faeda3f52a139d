"""Health checks."""

from __future__ import annotations

from collections.abc import Iterator

from stockade.compliance.dockerfile.check import Violation, dockerfile_check
from stockade.compliance.dockerfile.parser import Dockerfile
from stockade.core.advisory import Severity


@dockerfile_check(
    "STK-DF-002",
    "The image must define a HEALTHCHECK",
    Severity.LOW,
    rationale=(
        "Without a health check the engine only knows whether the process is alive, "
        "not whether it serves; a hung service is never restarted."
    ),
    remediation="Add `HEALTHCHECK CMD <command that fails when the service is unhealthy>`.",
    references={"checkov": "CKV_DOCKER_2", "cis": "4.6"},
)
def healthcheck_exists(dockerfile: Dockerfile) -> Iterator[Violation]:
    checks = [i for i in dockerfile.final_instructions() if i.keyword == "HEALTHCHECK"]
    chain = dockerfile.final_chain()
    line = chain[-1].line if chain else None
    if not checks:
        yield Violation(line, "no HEALTHCHECK instruction in the final stage")
    elif checks[-1].value.strip().upper() == "NONE":
        yield Violation(checks[-1].line, "HEALTHCHECK NONE disables the health check")
