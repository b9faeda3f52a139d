"""Dockerfiles: a tolerant parser and checks with parity to Checkov's CKV_DOCKER_*.

::

    from stockade.compliance.dockerfile import check_dockerfile, parse_dockerfile

    dockerfile = parse_dockerfile(Path("Dockerfile").read_text(), "Dockerfile")
    for result in check_dockerfile(dockerfile):
        if result.status is Status.FAILED:
            print(result.check.id, result.file, result.line, result.message)
"""

from stockade.compliance.dockerfile.check import (
    DockerfileCheck,
    NotApplicable,
    Violation,
    check_dockerfile,
    dockerfile_check,
)
from stockade.compliance.dockerfile.errors import ComplianceError, DockerfileError
from stockade.compliance.dockerfile.load import read_dockerfile
from stockade.compliance.dockerfile.parser import (
    Dockerfile,
    Heredoc,
    Instruction,
    Stage,
    parse_dockerfile,
)
from stockade.compliance.dockerfile.registry import DOCKERFILE_CHECKS, DOCKERFILE_CHECKS_BY_ID

__all__ = [
    "DOCKERFILE_CHECKS",
    "DOCKERFILE_CHECKS_BY_ID",
    "ComplianceError",
    "Dockerfile",
    "DockerfileCheck",
    "DockerfileError",
    "Heredoc",
    "Instruction",
    "NotApplicable",
    "Stage",
    "Violation",
    "check_dockerfile",
    "dockerfile_check",
    "parse_dockerfile",
    "read_dockerfile",
]
