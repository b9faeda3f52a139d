"""The errors of the admission webhook: one base, one class per way a request fails."""

from __future__ import annotations

from stockade.core.errors import StockadeError

__all__ = [
    "AdmissionError",
    "CertificateError",
    "EvaluationFailed",
    "EvaluationTimeout",
    "InvalidReview",
    "WebhookConfigError",
]


class AdmissionError(StockadeError):
    """Base of every error the admission webhook raises."""


class InvalidReview(AdmissionError):
    """The request body is not a well-formed ``admission.k8s.io/v1`` AdmissionReview.

    ``uid`` is the request's uid when it could be read: the server then answers with an
    AdmissionReview response (allowed or not per the failure policy) instead of a 400.
    """

    def __init__(self, message: str, hint: str | None = None, *, uid: str | None = None) -> None:
        super().__init__(message, hint)
        self.uid = uid


class WebhookConfigError(AdmissionError):
    """The webhook's policy file is missing, unreadable or wrong."""


class CertificateError(AdmissionError):
    """A TLS certificate or key cannot be read, generated or written."""


class EvaluationTimeout(AdmissionError):
    """A policy evaluation did not finish within its deadline."""


class EvaluationFailed(AdmissionError):
    """A policy evaluation raised an error (a broken policy, a dead worker)."""
