"""The Debian security tracker's JSON (https://security-tracker.debian.org/tracker/data/json).

The document maps a *source* package to the issues (CVE or ``TEMP-…`` ids) the tracker
knows for it, and each issue to its state in every release, named by codename::

    {"openssl": {"CVE-2023-0286": {"description": "…", "debianbug": 1031234,
        "releases": {"bookworm": {"status": "resolved", "fixed_version": "3.0.8-1",
                                  "urgency": "high", "repositories": {…}}}}}}

One :class:`~stockade.core.advisory.Advisory` is made per issue, with an
:class:`~stockade.core.advisory.Affected` entry per (source package, release); releases
become OSV ecosystems (``bookworm`` is ``Debian:12``; ``sid`` is ``Debian:sid``). The
per-release state becomes a fix state:

* ``resolved`` with ``fixed_version`` ``0`` (the tracker's ``<not-affected>``):
  ``not-affected``, no range;
* ``resolved`` with a version: ``fixed``, the range ``[0, version)``;
* ``open`` with ``nodsa`` (``<no-dsa>``, ``<ignored>``, ``<postponed>``), or open in a
  release past its end of life: ``wont-fix``, every version;
* ``open`` otherwise (``<unfixed>``): ``not-fixed``, every version;
* ``undetermined``: ``unknown``, every version.

The urgency becomes :attr:`Affected.severity` (``unimportant`` is negligible; ``low**``
is low: the stars only say the urgency came from NVD). The tracker's own words
(``status``, ``urgency``, ``nodsa``, ``nodsa_reason``) are kept in
``database_specific`` so a report can say why a finding is not going to be fixed.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from stockade.core.advisory import (
    Advisory,
    AdvisoryId,
    Affected,
    Event,
    EventKind,
    FixState,
    Range,
    RangeType,
    Reference,
    Severity,
    worst_severity,
)
from stockade.vulndb.errors import InvalidAdvisory
from stockade.vulndb.importers import _fields as f
from stockade.vulndb.importers.interface import Importer
from stockade.vulndb.reading import Warn

DEBIAN_RELEASES: Final[Mapping[str, str]] = {
    "buzz": "1.1",
    "rex": "1.2",
    "bo": "1.3",
    "hamm": "2.0",
    "slink": "2.1",
    "potato": "2.2",
    "woody": "3.0",
    "sarge": "3.1",
    "etch": "4",
    "lenny": "5",
    "squeeze": "6",
    "wheezy": "7",
    "jessie": "8",
    "stretch": "9",
    "buster": "10",
    "bullseye": "11",
    "bookworm": "12",
    "trixie": "13",
    "forky": "14",
    "duke": "15",
    "sid": "sid",
}
"""Debian codenames and the release numbers OSV's ``Debian:N`` ecosystems use."""

TRACKER_URL: Final = "https://security-tracker.debian.org/tracker/"
_BUG_URL: Final = "https://bugs.debian.org/"
_NOT_AFFECTED_VERSION: Final = "0"


class DebianTrackerImporter(Importer):
    format = "debian-tracker"
    source = "debian-tracker"

    def recognizes(self, document: object) -> bool:
        if not isinstance(document, dict) or not document:
            return False
        for issues in itertools.islice(document.values(), 5):
            if not isinstance(issues, dict):
                return False
            for issue in itertools.islice(issues.values(), 3):
                if isinstance(issue, dict) and "releases" in issue:
                    return True
        return False

    def parse(
        self, document: object, *, origin: str, source: str, warn: Warn
    ) -> Iterator[Advisory]:
        packages = f.mapping(document, "tracker document")
        issues: dict[str, _Issue] = {}
        for package, package_issues in packages.items():
            if not isinstance(package, str) or not package.strip() or len(package) > f.MAX_NAME:
                warn(f"{origin}: skipped a package with an invalid name")
                continue
            if not isinstance(package_issues, dict):
                warn(f"{origin}: skipped package {package[:80]!r}: not a mapping")
                continue
            for issue_id, issue in package_issues.items():
                try:
                    _add_issue(issues, package.strip(), issue_id, issue)
                except InvalidAdvisory as exc:
                    warn(f"{origin}: skipped {package[:80]}/{str(issue_id)[:80]}: {exc.message}")
        for issue in issues.values():
            yield issue.advisory(source)


@dataclass(slots=True)
class _Issue:
    id: str
    description: str = ""
    bugs: list[int] = field(default_factory=list)
    affected: list[Affected] = field(default_factory=list)

    def advisory(self, source: str) -> Advisory:
        references = [Reference("ADVISORY", TRACKER_URL + self.id)]
        references.extend(
            Reference("REPORT", f"{_BUG_URL}{bug}") for bug in dict.fromkeys(self.bugs)
        )
        return Advisory(
            id=AdvisoryId(self.id),
            source=source,
            details=self.description,
            aliases=(),
            severity=worst_severity(entry.severity for entry in self.affected),
            references=tuple(references),
            affected=tuple(self.affected),
        )


def _add_issue(issues: dict[str, _Issue], package: str, issue_id: object, issue: object) -> None:
    identifier = f.identifier(issue_id, "issue id")
    body = f.mapping(issue, identifier)
    description = f.optional_text(body, "description", identifier).strip()
    bug = body.get("debianbug")
    releases = body.get("releases")
    # An issue no release is tracked for comes as an empty list rather than a mapping.
    if releases is None or releases == []:
        return
    releases = f.mapping(releases, f"{identifier}.releases")
    entries: list[Affected] = []
    for codename, state in releases.items():
        if not isinstance(codename, str) or codename not in DEBIAN_RELEASES:
            continue
        entries.append(_affected(package, codename, f.mapping(state, f"{identifier}.{codename}")))
    if not entries:
        return
    current = issues.get(identifier)
    if current is None:
        current = issues[identifier] = _Issue(identifier)
    if description and not current.description:
        current.description = description
    if isinstance(bug, int) and not isinstance(bug, bool) and 0 < bug < 2**31:
        current.bugs.append(bug)
    current.affected.extend(entries)


def _affected(package: str, codename: str, state: Mapping[str, Any]) -> Affected:
    what = f"{package}/{codename}"
    status = f.optional_text(state, "status", what, limit=64).strip().lower()
    fixed_version = f.optional_text(state, "fixed_version", what, limit=f.MAX_VERSION).strip()
    urgency = f.optional_text(state, "urgency", what, limit=64).strip()
    nodsa = f.optional_text(state, "nodsa", what, limit=4096).strip()
    nodsa_reason = f.optional_text(state, "nodsa_reason", what, limit=64).strip()

    ranges: tuple[Range, ...] = ()
    fixed_versions: tuple[str, ...] = ()
    all_versions = (Range(RangeType.ECOSYSTEM, (Event(EventKind.INTRODUCED, "0"),)),)
    if status == "resolved" and fixed_version == _NOT_AFFECTED_VERSION:
        fix_state = FixState.NOT_AFFECTED
    elif status == "resolved" and fixed_version:
        fix_state = FixState.FIXED
        ranges = (
            Range(
                RangeType.ECOSYSTEM,
                (Event(EventKind.INTRODUCED, "0"), Event(EventKind.FIXED, fixed_version)),
            ),
        )
        fixed_versions = (fixed_version,)
    elif status == "open" and (nodsa or nodsa_reason or urgency == "end-of-life"):
        fix_state, ranges = FixState.WONT_FIX, all_versions
    elif status == "open":
        fix_state, ranges = FixState.NOT_FIXED, all_versions
    elif status in ("undetermined", "resolved"):
        # "resolved" without a version has not been seen in the tracker; treating it as
        # unknown keeps it visible rather than silently calling it fixed.
        fix_state, ranges = FixState.UNKNOWN, all_versions
    else:
        raise InvalidAdvisory(f"{what}: unknown status {status[:40]!r}")

    severity = Severity.parse(urgency)
    tracker_words = {
        key: value
        for key, value in (
            ("status", status),
            ("urgency", urgency),
            ("nodsa", nodsa),
            ("nodsa_reason", nodsa_reason),
        )
        if value
    }
    return Affected(
        ecosystem=f"Debian:{DEBIAN_RELEASES[codename]}",
        name=package,
        ranges=ranges,
        fix_state=fix_state,
        fixed_versions=fixed_versions,
        severity=None if severity is Severity.UNKNOWN else severity,
        database_specific=tracker_words,
    )
