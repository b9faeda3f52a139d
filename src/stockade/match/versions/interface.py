"""The plug-in point for version schemes: one abstract base, one module per scheme.

A scheme turns a version string into a *key*: a plain value (mostly nested tuples) whose
natural ordering is the scheme's ordering. Parsing is the slow part, so keys are cached
per scheme and matching compares keys, never strings.
"""

from __future__ import annotations

import abc
from functools import lru_cache
from typing import Any, Protocol

from stockade.core.errors import StockadeError

KEY_CACHE_SIZE = 65_536
"""Keys kept per scheme: enough for every distinct version in a large image plus its advisories."""


class VersionError(StockadeError):
    """A version, constraint or ecosystem cannot be interpreted."""


class InvalidVersion(VersionError):
    """A version string is not valid in the scheme it was given to."""

    def __init__(self, version: str, scheme: str, reason: str) -> None:
        super().__init__(
            f"invalid {scheme} version {version!r}: {reason}",
            hint=f"check that the package really uses {scheme} versioning",
        )
        self.version = version
        self.scheme = scheme
        self.reason = reason


class InvalidConstraint(VersionError):
    """A constraint string (an npm range, a gem requirement, ...) cannot be parsed."""

    def __init__(self, constraint: str, reason: str) -> None:
        super().__init__(f"invalid version constraint {constraint!r}: {reason}")
        self.constraint = constraint
        self.reason = reason


class UnsupportedEcosystem(VersionError):
    """No version scheme is known for an ecosystem name."""

    def __init__(self, ecosystem: str) -> None:
        super().__init__(
            f"no version scheme for ecosystem {ecosystem!r}",
            hint="ecosystem names follow OSV: 'Debian:12', 'PyPI', 'npm', 'Maven', ...",
        )
        self.ecosystem = ecosystem


class VersionKey(Protocol):
    """What :meth:`VersionScheme.key` returns: anything totally ordered and hashable."""

    def __lt__(self, other: Any, /) -> bool: ...
    def __le__(self, other: Any, /) -> bool: ...
    def __gt__(self, other: Any, /) -> bool: ...
    def __ge__(self, other: Any, /) -> bool: ...
    def __hash__(self) -> int: ...


class VersionScheme(abc.ABC):
    """The ordering of one family of version strings (dpkg, rpm, PEP 440, semver, ...).

    Subclasses implement :meth:`_parse` and raise :class:`InvalidVersion` for input they
    reject; everything else here is shared. Keys of one scheme compare with each other
    only; ``key(a) == key(b)`` exactly when ``compare(a, b) == 0``.
    """

    name: str
    """A short name for messages and ``repr``: "dpkg", "rpm", "semver", ..."""

    def __init__(self) -> None:
        self._cached_key = lru_cache(maxsize=KEY_CACHE_SIZE)(self._checked_parse)

    def key(self, version: str) -> VersionKey:
        """The comparable key of ``version``; raises :class:`InvalidVersion`."""
        return self._cached_key(version)  # type: ignore[no-any-return]

    def compare(self, a: str, b: str) -> int:
        """-1, 0 or 1 as ``a`` sorts before, equal to or after ``b``."""
        ka, kb = self.key(a), self.key(b)
        return (ka > kb) - (ka < kb)

    def is_valid(self, version: str) -> bool:
        """Whether ``version`` parses in this scheme."""
        try:
            self.key(version)
        except InvalidVersion:
            return False
        return True

    def sort(self, versions: list[str]) -> list[str]:
        """``versions`` in ascending order (a new list; equal versions keep their order)."""
        return sorted(versions, key=self.key)

    def _checked_parse(self, version: str) -> Any:
        if not isinstance(version, str):
            raise InvalidVersion(repr(version), self.name, "a version must be a string")
        if not version or not version.strip():
            raise InvalidVersion(version, self.name, "the version is empty")
        return self._parse(version)

    @abc.abstractmethod
    def _parse(self, version: str) -> Any:
        """Parse a non-empty string into a key, or raise :class:`InvalidVersion`."""

    def invalid(self, version: str, reason: str) -> InvalidVersion:
        """The error to raise for ``version``, with this scheme's name in it."""
        return InvalidVersion(version, self.name, reason)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
