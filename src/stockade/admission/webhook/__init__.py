"""The Kubernetes validating admission webhook: ``stockade admission serve``.

::

    from stockade.admission.webhook import (
        AdmissionWebhook, WebhookSettings, create_app, load_policy, parse_review,
    )

The core is sans-io: :func:`parse_review` reads an AdmissionReview, the functions of
:mod:`.decision` decide on it, :func:`review_response` answers. :mod:`.server` is the
HTTPS edge (Starlette + uvicorn), :mod:`.workers` runs Gatekeeper policies in worker
processes with a deadline, :mod:`.certs` makes the TLS certificates and
:mod:`.manifest` the ValidatingWebhookConfiguration. :mod:`.testing` ships a scripted
policy engine for tests.
"""

from stockade.admission.webhook.config import (
    DEFAULT_POLICY,
    Action,
    CheckRule,
    ImagePolicy,
    NamespacePolicy,
    VulnerabilityPolicy,
    WebhookPolicy,
    load_policy,
    parse_policy,
)
from stockade.admission.webhook.decision import (
    Decision,
    Issue,
    Outcome,
    builtin_issues,
    decide,
    early_decision,
    failure_decision,
    gatekeeper_issues,
)
from stockade.admission.webhook.errors import (
    AdmissionError,
    CertificateError,
    EvaluationFailed,
    EvaluationTimeout,
    InvalidReview,
    WebhookConfigError,
)
from stockade.admission.webhook.images import VulnerabilityIndex, load_scan_results
from stockade.admission.webhook.manifest import ManifestSettings, webhook_configuration
from stockade.admission.webhook.review import AdmissionRequest, parse_review, review_response

__all__ = [
    "DEFAULT_POLICY",
    "Action",
    "AdmissionError",
    "AdmissionRequest",
    "CertificateError",
    "CheckRule",
    "Decision",
    "EvaluationFailed",
    "EvaluationTimeout",
    "ImagePolicy",
    "InvalidReview",
    "Issue",
    "ManifestSettings",
    "NamespacePolicy",
    "Outcome",
    "VulnerabilityIndex",
    "VulnerabilityPolicy",
    "WebhookConfigError",
    "WebhookPolicy",
    "builtin_issues",
    "decide",
    "early_decision",
    "failure_decision",
    "gatekeeper_issues",
    "load_policy",
    "load_scan_results",
    "parse_policy",
    "parse_review",
    "review_response",
    "webhook_configuration",
]
