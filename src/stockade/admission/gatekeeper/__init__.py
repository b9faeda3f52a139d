"""OPA Gatekeeper policies, offline: ConstraintTemplates and Constraints run unchanged.

The Rego of each template runs on rego-cpp (``regopy``); :class:`GatekeeperEngine` is
what the admission webhook calls, and :func:`run_suite` runs Gatekeeper's own test
suites (``stockade policy test``). See docs/admission-gatekeeper.md.
"""

from __future__ import annotations

from stockade.admission.gatekeeper.engine import (
    GatekeeperEngine,
    GatekeeperViolation,
    build_inventory,
    request_for_object,
)
from stockade.admission.gatekeeper.errors import (
    GatekeeperError,
    InvalidReviewError,
    PolicyEvaluationError,
    PolicyLoadError,
)
from stockade.admission.gatekeeper.model import Constraint, ConstraintTemplate, Match
from stockade.admission.gatekeeper.suite import (
    CaseResult,
    Suite,
    find_suites,
    load_suite,
    run_suite,
)

__all__ = [
    "CaseResult",
    "Constraint",
    "ConstraintTemplate",
    "GatekeeperEngine",
    "GatekeeperError",
    "GatekeeperViolation",
    "InvalidReviewError",
    "Match",
    "PolicyEvaluationError",
    "PolicyLoadError",
    "Suite",
    "build_inventory",
    "find_suites",
    "load_suite",
    "request_for_object",
    "run_suite",
]
