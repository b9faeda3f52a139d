"""The error hierarchy: one base with a message for a person and a hint on what to try.

Every subsystem raises a subclass; library errors are mapped at the boundary with
``raise OurError(...) from exc``. The CLI catches :class:`StockadeError` once and exits
with :attr:`StockadeError.exit_code`; anything else is a bug and exits with 3.
"""

from __future__ import annotations

from typing import ClassVar

EXIT_OK = 0
EXIT_POLICY = 1
EXIT_INPUT = 2
EXIT_INTERNAL = 3


class StockadeError(Exception):
    """Base of every error Stockade raises on purpose."""

    exit_code: ClassVar[int] = EXIT_INPUT

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    @property
    def status(self) -> int:
        """The process exit status for this error (the class's ``exit_code`` by default)."""
        return getattr(self, "_status", self.exit_code)

    @status.setter
    def status(self, value: int) -> None:
        self._status = value

    def diagnostics(self) -> str:
        """Text for a person: what failed and, when known, what to try."""
        if self.hint:
            return f"{self.message}\nhint: {self.hint}"
        return self.message


class UsageError(StockadeError):
    """The command line or a configuration value is wrong."""


class ArtifactError(StockadeError):
    """An artifact (image, archive, directory) cannot be read."""


class UnsafeArtifactError(ArtifactError):
    """An artifact tried something hostile: path traversal, a bomb, a dangling link."""


class RegistryError(ArtifactError):
    """A registry could not be reached or refused the request."""


class CatalogError(StockadeError):
    """A package database or lockfile is malformed."""


class ReportError(StockadeError):
    """A report could not be rendered or written."""


class PolicyFailure(StockadeError):
    """The scan worked, and what it found fails the user's policy.

    ``exit_code`` is 1 unless the user chose another (``--exit-code``).
    """

    exit_code: ClassVar[int] = EXIT_POLICY

    def __init__(self, message: str, hint: str | None = None, *, exit_code: int = 1) -> None:
        super().__init__(message, hint)
        self.status = exit_code


class InternalError(StockadeError):
    """A bug in Stockade: reported with a request to file an issue."""

    exit_code: ClassVar[int] = EXIT_INTERNAL
