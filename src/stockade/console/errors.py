"""The Console's errors: one base, one class per way a request or a start-up fails.

Each class carries the HTTP status the API answers with; the API renders every
:class:`ConsoleError` as RFC 9457 problem JSON, and the CLI prints :meth:`diagnostics`.
"""

from __future__ import annotations

from typing import ClassVar

from stockade.core.errors import StockadeError

__all__ = [
    "AuthenticationRequired",
    "BackupError",
    "Conflict",
    "ConsoleError",
    "InvalidDocument",
    "NotFound",
    "PermissionDenied",
    "PublishError",
    "SetupError",
    "StoreError",
    "TlsError",
]


class ConsoleError(StockadeError):
    """Base of every error the Console raises on purpose."""

    http_status: ClassVar[int] = 400
    problem_type: ClassVar[str] = "about:blank"
    title: ClassVar[str] = "Bad request"


class AuthenticationRequired(ConsoleError):
    """No valid session or API token came with the request."""

    http_status = 401
    title = "Authentication required"


class PermissionDenied(ConsoleError):
    """The caller is authenticated but its role does not allow the operation."""

    http_status = 403
    title = "Forbidden"


class NotFound(ConsoleError):
    http_status = 404
    title = "Not found"


class Conflict(ConsoleError):
    """The change collides with what is stored (a user name already taken, …)."""

    http_status = 409
    title = "Conflict"


class TooManyRequests(ConsoleError):
    """The caller must wait (repeated failed log-ins); ``retry_after`` is in seconds."""

    http_status = 429
    title = "Too many requests"

    def __init__(self, message: str, retry_after: int, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.retry_after = max(1, retry_after)


class InvalidDocument(ConsoleError):
    """A published document is not a Stockade scan or check result we can store."""

    http_status = 422
    title = "Invalid document"


class PublishError(ConsoleError):
    """The client could not publish a document to a Console."""


class StoreError(ConsoleError):
    """The database cannot be opened, migrated or queried."""

    http_status = 503
    title = "Store unavailable"


class SetupError(ConsoleError):
    """The Console is not ready to start (no administrator, a bad option)."""


class BackupError(ConsoleError):
    """A backup cannot be written, or a file cannot be restored."""


class TlsError(ConsoleError):
    """A TLS certificate or key cannot be read, generated or written."""
