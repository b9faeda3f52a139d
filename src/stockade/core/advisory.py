"""Vulnerability advisories: what a feed says is vulnerable, and where it is fixed.

The shape follows the OSV schema (https://ossf.github.io/osv-schema/): an
:class:`Advisory` has :class:`Affected` packages, each with :class:`Range` objects made
of :class:`Event` objects. Every feed Stockade reads (OSV, the Debian security tracker,
Alpine's secdb, RubySec, the Node.js security working group) is turned into these
records, so matching has one shape to evaluate.

Versions and constraints are kept as the strings the feed wrote; comparing them is the
job of the version schemes in :mod:`stockade.match`, never of this module.

Range types
-----------
``ECOSYSTEM``, ``SEMVER`` and ``GIT`` are OSV's: the events are ``introduced``,
``fixed``, ``last_affected`` and ``limit``, evaluated as OSV describes. Two more types
carry a feed's native constraint strings, for feeds whose ranges cannot be turned into
events without comparing versions:

``NPM-CONSTRAINT``
    node-semver range expressions (``<=1.5.1``, ``^4.8.4 || ^6.11.1``), as the Node.js
    security working group writes them.
``GEM-CONSTRAINT``
    RubyGems requirements (``~> 2.1.3``, ``>= 1.2, < 1.3``: the comma-separated clauses
    of one value all apply), as RubySec writes them.
``CONSTRAINT``
    Plain comparator lists (``>= 2.0.0, <= 2.9.10.3``) in any ecosystem's version order,
    as trivy-db writes them.

Their events are ``vulnerable``, ``patched`` and ``unaffected``, each holding one
constraint. A version is affected when it satisfies a ``vulnerable`` constraint (or the
range has none) and satisfies no ``patched`` and no ``unaffected`` constraint.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, NewType

from stockade.core.models import pep503_name

AdvisoryId = NewType("AdvisoryId", str)
"""An advisory's identifier in its feed: ``GHSA-…``, ``PYSEC-…``, ``CVE-…``, ``DSA-…``."""


class Severity(enum.IntEnum):
    """How bad a vulnerability is, on one scale for every feed; ordered, so ``max`` works."""

    UNKNOWN = 0
    NEGLIGIBLE = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5

    @classmethod
    def parse(cls, text: str | None) -> Severity:
        """The severity a feed's word means; :attr:`UNKNOWN` for words it does not know.

        Accepts the CVSS ratings, GitHub's ``moderate``, Red Hat's ``important``,
        Debian's urgencies (``unimportant``, ``low**``: the stars mark an urgency copied
        from NVD) and Ubuntu's priorities.
        """
        if not text:
            return cls.UNKNOWN
        return _SEVERITY_WORDS.get(text.strip().rstrip("*").strip().lower(), cls.UNKNOWN)

    @classmethod
    def from_cvss_score(cls, score: float) -> Severity:
        """The CVSS qualitative rating of a base score (0 is "None", here NEGLIGIBLE)."""
        if math.isnan(score) or score < 0:
            return cls.UNKNOWN
        if score == 0:
            return cls.NEGLIGIBLE
        if score < 4.0:
            return cls.LOW
        if score < 7.0:
            return cls.MEDIUM
        if score < 9.0:
            return cls.HIGH
        return cls.CRITICAL

    def __str__(self) -> str:
        return self.name.lower()


_SEVERITY_WORDS: Final[Mapping[str, Severity]] = {
    "unknown": Severity.UNKNOWN,
    "not yet assigned": Severity.UNKNOWN,
    "untriaged": Severity.UNKNOWN,
    "end-of-life": Severity.UNKNOWN,
    "none": Severity.NEGLIGIBLE,
    "negligible": Severity.NEGLIGIBLE,
    "unimportant": Severity.NEGLIGIBLE,
    "informational": Severity.NEGLIGIBLE,
    "low": Severity.LOW,
    "minor": Severity.LOW,
    "medium": Severity.MEDIUM,
    "moderate": Severity.MEDIUM,
    "high": Severity.HIGH,
    "important": Severity.HIGH,
    "critical": Severity.CRITICAL,
}


class FixState(enum.StrEnum):
    """Whether the maintainers of an affected package have shipped a fix."""

    FIXED = "fixed"
    NOT_FIXED = "not-fixed"
    """Affected and no fix is available yet (Debian's ``<unfixed>``)."""
    WONT_FIX = "wont-fix"
    """Affected, and the distribution decided not to fix it in this release
    (Debian's ``<no-dsa>``, ``<ignored>`` and ``<postponed>``)."""
    NOT_AFFECTED = "not-affected"
    """The package was never affected in this ecosystem or release."""
    UNKNOWN = "unknown"


class RangeType(enum.StrEnum):
    """How a :class:`Range`'s events are read; see the module documentation."""

    ECOSYSTEM = "ECOSYSTEM"
    SEMVER = "SEMVER"
    GIT = "GIT"
    NPM_CONSTRAINT = "NPM-CONSTRAINT"
    GEM_CONSTRAINT = "GEM-CONSTRAINT"
    CONSTRAINT = "CONSTRAINT"
    """Comma-separated comparator lists (``>= 2.0, < 2.1.3``; ``!=`` and ``=`` too),
    evaluated in the package's own version order: what feeds such as trivy-db write."""

    @property
    def is_constraint(self) -> bool:
        """True for the native constraint types, whose events are constraints."""
        return self in (RangeType.NPM_CONSTRAINT, RangeType.GEM_CONSTRAINT, RangeType.CONSTRAINT)


class EventKind(enum.StrEnum):
    """What an :class:`Event` marks."""

    INTRODUCED = "introduced"
    FIXED = "fixed"
    LAST_AFFECTED = "last_affected"
    LIMIT = "limit"
    VULNERABLE = "vulnerable"
    """Constraint types only: versions satisfying the value are affected."""
    PATCHED = "patched"
    """Constraint types only: versions satisfying the value have the fix."""
    UNAFFECTED = "unaffected"
    """Constraint types only: versions satisfying the value were never affected."""


OSV_EVENT_KINDS: Final = frozenset(
    {EventKind.INTRODUCED, EventKind.FIXED, EventKind.LAST_AFFECTED, EventKind.LIMIT}
)
CONSTRAINT_EVENT_KINDS: Final = frozenset(
    {EventKind.VULNERABLE, EventKind.PATCHED, EventKind.UNAFFECTED}
)


@dataclass(frozen=True, slots=True)
class Event:
    """One point of a range: a version (or commit, or constraint) and what happens there."""

    kind: EventKind
    value: str


@dataclass(frozen=True, slots=True)
class Range:
    """An affected range in the OSV shape; ``repo`` is set for ``GIT`` ranges."""

    type: RangeType
    events: tuple[Event, ...]
    repo: str | None = None

    def values(self, kind: EventKind) -> tuple[str, ...]:
        """The values of every event of one kind, in the feed's order."""
        return tuple(event.value for event in self.events if event.kind is kind)


@dataclass(frozen=True, slots=True)
class Cvss:
    """A CVSS assessment: the vector as the feed wrote it, and its base score.

    ``version`` is the version in the vector (``2.0``, ``3.0``, ``3.1``, ``4.0``); when a
    feed gives only a score, it is the major version the feed named (``2``, ``3``, ``4``)
    and ``vector`` is None. Build one from a vector with :meth:`from_vector`, which
    computes the score rather than trusting one the feed printed.
    """

    version: str
    vector: str | None
    base_score: float

    @property
    def severity(self) -> Severity:
        return Severity.from_cvss_score(self.base_score)

    @classmethod
    def from_vector(cls, vector: str) -> Cvss:
        """Parse a CVSS v2, v3.x or v4.0 vector and compute its base score.

        Raises :class:`ValueError` for anything that is not a valid vector.
        """
        text = vector.strip()
        if len(text) > _MAX_VECTOR:
            raise ValueError("CVSS vector is too long")
        if text.startswith("(") and text.endswith(")"):
            text = text[1:-1]
        match = _VECTOR_PREFIX.match(text)
        version = match.group(1) if match else "2.0"
        score = _base_score(version, text)
        if not math.isfinite(score) or not 0.0 <= score <= 10.0:
            raise ValueError(f"CVSS score {score} out of range")
        return cls(version=version, vector=text, base_score=score)

    @classmethod
    def from_score(cls, major: int, score: float) -> Cvss:
        """A score a feed gave without its vector (RubySec's ``cvss_v3: 7.5``).

        Raises :class:`ValueError` for a score outside 0 to 10 or an unknown version.
        """
        if major not in (2, 3, 4):
            raise ValueError(f"unknown CVSS version {major}")
        if not math.isfinite(score) or not 0.0 <= score <= 10.0:
            raise ValueError(f"CVSS score {score} out of range")
        return cls(version=str(major), vector=None, base_score=round(float(score), 1))


_MAX_VECTOR: Final = 512
_VECTOR_PREFIX: Final = re.compile(r"^CVSS:(\d\.\d)/")


def _base_score(version: str, vector: str) -> float:
    # The cvss package is imported here, not at module level, so that `import
    # stockade.core` stays cheap for commands that never read an advisory.
    import cvss  # type: ignore[import-untyped,unused-ignore]

    calculators: dict[str, Any] = {
        "2.0": cvss.CVSS2,
        "3.0": cvss.CVSS3,
        "3.1": cvss.CVSS3,
        "4.0": cvss.CVSS4,
    }
    calculator = calculators.get(version)
    if calculator is None:
        raise ValueError(f"unsupported CVSS version {version}")
    if version == "2.0":
        # v2 vectors carry no prefix by the standard; some feeds add one anyway.
        vector = vector.removeprefix("CVSS:2.0/")
    try:
        parsed = calculator(vector)
        score = parsed.base_score
    # The library parses untrusted text and signals bad vectors with its own errors and,
    # for some malformed input, with built-in ones; all of them mean "not a vector".
    except Exception as exc:
        raise ValueError(f"invalid CVSS {version} vector: {exc}") from exc
    return float(score)


@dataclass(frozen=True, slots=True)
class Reference:
    """A link an advisory gives, typed as OSV types them (``ADVISORY``, ``FIX``, ``WEB``…)."""

    type: str
    url: str


@dataclass(frozen=True, slots=True)
class Affected:
    """One package an advisory is about, in one ecosystem.

    ``ecosystem`` is spelled as OSV spells it: ``PyPI``, ``npm``, ``Go``, ``crates.io``,
    ``Maven``, ``RubyGems``, and for distributions the release too: ``Debian:12``,
    ``Alpine:v3.18``, ``Ubuntu:22.04:LTS``. For distributions ``name`` is the *source*
    package (``openssl``, not ``libssl3``).

    A version is affected when it is listed in ``versions`` or falls in any range.
    ``fixed_versions`` repeats the versions that carry the fix, for display;
    ``severity`` is the feed's rating for this package alone (Debian's urgency), when it
    gives one. ``ecosystem_specific`` and ``database_specific`` are kept as the feed
    wrote them (Go's vulnerable symbols, RustSec's ``informational`` kind).
    """

    ecosystem: str
    name: str
    ranges: tuple[Range, ...] = ()
    versions: tuple[str, ...] = ()
    fix_state: FixState = FixState.UNKNOWN
    fixed_versions: tuple[str, ...] = ()
    severity: Severity | None = None
    purl: str | None = None
    ecosystem_specific: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    database_specific: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def ecosystem_base(self) -> str:
        """The ecosystem without its release: ``Debian`` for ``Debian:12``."""
        return ecosystem_base(self.ecosystem)

    @property
    def release(self) -> str | None:
        """The release part of a distribution ecosystem: ``12`` for ``Debian:12``."""
        _, sep, release = self.ecosystem.partition(":")
        return release if sep else None


@dataclass(frozen=True, slots=True)
class Advisory:
    """One advisory from one feed (``source``), in OSV's shape.

    ``severity`` is the advisory's overall rating: the feed's own word when it has one,
    else the rating of its newest CVSS version, else the worst per-package rating. For
    distribution feeds prefer :attr:`Affected.severity` of the matched package.
    ``withdrawn`` is set when the feed retracted the advisory: it should match nothing.
    """

    id: AdvisoryId
    source: str
    summary: str = ""
    details: str = ""
    aliases: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    upstream: tuple[str, ...] = ()
    severity: Severity = Severity.UNKNOWN
    cvss: tuple[Cvss, ...] = ()
    published: datetime | None = None
    modified: datetime | None = None
    withdrawn: datetime | None = None
    references: tuple[Reference, ...] = ()
    affected: tuple[Affected, ...] = ()
    database_specific: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def ids(self) -> tuple[str, ...]:
        """The id and every alias: the names this vulnerability goes by."""
        return (self.id, *self.aliases)

    def affected_for(self, ecosystem: str, name: str) -> tuple[Affected, ...]:
        """The entries about one package (an ecosystem without a release matches all)."""
        key = normalize_package_name(ecosystem, name)
        exact = ":" in ecosystem
        return tuple(
            entry
            for entry in self.affected
            if (entry.ecosystem == ecosystem if exact else entry.ecosystem_base == ecosystem)
            and normalize_package_name(entry.ecosystem, entry.name) == key
        )


def ecosystem_base(ecosystem: str) -> str:
    """An OSV ecosystem without its release suffix: ``Alpine:v3.18`` is ``Alpine``."""
    return ecosystem.partition(":")[0]


_CASE_INSENSITIVE_ECOSYSTEMS: Final = frozenset({"NuGet", "Packagist", "crates.io", "Hackage"})


def normalize_package_name(ecosystem: str, name: str) -> str:
    """A package name in the form two spellings of the same package share.

    PyPI names compare as PEP 503 says (``Django`` is ``django``, ``zope.interface`` is
    ``zope-interface``); NuGet, Packagist, crates.io and Hackage names ignore case; every
    other ecosystem compares names exactly.
    """
    base = ecosystem_base(ecosystem)
    if base == "PyPI":
        return pep503_name(name)
    if base in _CASE_INSENSITIVE_ECOSYSTEMS:
        return name.lower()
    return name


def worst_severity(severities: Iterable[Severity | None]) -> Severity:
    """The highest of some ratings; :attr:`Severity.UNKNOWN` when there are none."""
    return max((s for s in severities if s is not None), default=Severity.UNKNOWN)
