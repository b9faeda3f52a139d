"""Findings: a vulnerability an advisory says one installed package has."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from stockade.core.advisory import FixState, Severity
from stockade.core.models import Inventory, Package


class Suppression(enum.StrEnum):
    """Why a finding is kept out of the verdict (it is still reported, marked)."""

    IGNORED = "ignored"
    """An entry of the ignore file names it."""
    NOT_AFFECTED = "not-affected"
    """A VEX document says the product is not affected."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One vulnerability in one package.

    ``advisory_id`` is the id in the feed that matched (``DSA-…``, ``GHSA-…``, or a
    ``CVE-…`` for the Debian tracker); ``aliases`` hold the other names, CVE first.
    ``fixed_versions`` are in the package's own ecosystem; empty when no fix exists,
    with ``fix_state`` saying whether one is coming.
    """

    advisory_id: str
    package: Package
    installed_version: str
    """The version compared: the source package's version for distribution packages."""
    ecosystem: str
    """The advisory ecosystem matched, as OSV names it: ``Debian:12``, ``PyPI``."""
    matched_name: str
    """The name looked up: the source package for distribution packages."""
    fix_state: FixState
    fixed_versions: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    severity: Severity = Severity.UNKNOWN
    cvss_score: float | None = None
    cvss_vector: str | None = None
    title: str = ""
    url: str = ""
    source: str = ""
    """The feed the advisory came from (``osv``, ``debian-tracker``, …)."""
    suppressed: Suppression | None = None
    suppression_reason: str = ""

    @property
    def cve(self) -> str | None:
        """The CVE id of this vulnerability, when it has one."""
        for name in (self.advisory_id, *self.aliases):
            if name.startswith("CVE-"):
                return name
        return None

    @property
    def ids(self) -> tuple[str, ...]:
        return (self.advisory_id, *self.aliases)

    @property
    def key(self) -> tuple[str, str]:
        """One finding per (vulnerability, package): the CVE when known, else the id."""
        return (self.cve or self.advisory_id, self.package.purl)


@dataclass(frozen=True, slots=True)
class ScanResult:
    """An inventory and what was found in it."""

    inventory: Inventory
    findings: tuple[Finding, ...]
    advisories_age: str = ""
    """When the advisory data was last updated, for the report header."""

    @property
    def active(self) -> tuple[Finding, ...]:
        """The findings that count: not suppressed by an ignore entry or a VEX statement."""
        return tuple(f for f in self.findings if f.suppressed is None)
