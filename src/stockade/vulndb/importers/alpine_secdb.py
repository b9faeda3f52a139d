"""Alpine's secdb (https://secdb.alpinelinux.org/, JSON; the older git repository, YAML).

One document covers one release and repository::

    {"distroversion": "v3.18", "reponame": "main", "urlprefix": "…",
     "packages": [{"pkg": {"name": "openssl",
                           "secfixes": {"3.1.4-r1": ["CVE-2023-5678"],
                                        "0": ["CVE-2022-3358"]}}}]}

``secfixes`` maps the package version that fixed an issue to the issues; the version
``0`` means the package was never affected. A package name is the aports origin, the
source package. One :class:`~stockade.core.advisory.Advisory` is made per issue with an
entry per package, in the ecosystem ``Alpine:<distroversion>``. Because each release
comes in its own documents, records from this feed are merged into the store package by
package (:attr:`Importer.merge`).

Wolfi's and Chainguard's ``security.json`` use the same schema without a
``distroversion``; they become the ``Wolfi`` and ``Chainguard`` ecosystems.

An entry such as ``CVE-2016-9932 XSA-200`` names one issue by two ids: the first is the
advisory id and the rest are aliases. When an issue is listed under several versions
(a fix, then a fix of a regression) each version becomes its own ``[0, version)`` range,
so a version between the two is reported rather than missed.
"""

from __future__ import annotations

import re
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
)
from stockade.vulndb.errors import InvalidAdvisory
from stockade.vulndb.importers import _fields as f
from stockade.vulndb.importers.interface import Importer
from stockade.vulndb.reading import Warn

_NOT_AFFECTED: Final = "0"
_RELEASE: Final = re.compile(r"v?(\d+\.\d+)|edge")
_ALPINE_URL: Final = "https://security.alpinelinux.org/vuln/"


class AlpineSecdbImporter(Importer):
    format = "alpine-secdb"
    source = "alpine-secdb"
    merge = True

    def recognizes(self, document: object) -> bool:
        return (
            isinstance(document, dict)
            and "packages" in document
            and ("distroversion" in document or "apkurl" in document or "urlprefix" in document)
        )

    def source_for(self, document: object) -> str:
        ecosystem = _ecosystem_or_none(document)
        if ecosystem in ("Wolfi", "Chainguard"):
            return f"{ecosystem.lower()}-secdb"
        return self.source

    def parse(
        self, document: object, *, origin: str, source: str, warn: Warn
    ) -> Iterator[Advisory]:
        body = f.mapping(document, "secdb document")
        ecosystem = _ecosystem_or_none(body)
        if ecosystem is None:
            raise InvalidAdvisory(f"{origin}: no usable distroversion")
        issues: dict[str, _Issue] = {}
        for index, entry in enumerate(f.optional_sequence(body, "packages", "secdb")):
            try:
                _add_package(issues, entry)
            except InvalidAdvisory as exc:
                warn(f"{origin}: skipped packages[{index}]: {exc.message}")
        for issue in issues.values():
            yield issue.advisory(source, ecosystem)


def _ecosystem_or_none(document: object) -> str | None:
    if not isinstance(document, dict):
        return None
    release = document.get("distroversion")
    if isinstance(release, str):
        match = _RELEASE.fullmatch(release.strip())
        if match is None:
            return None
        return f"Alpine:v{match.group(1)}" if match.group(1) else "Alpine:edge"
    prefix = document.get("urlprefix")
    if isinstance(prefix, str):
        if "wolfi.dev" in prefix:
            return "Wolfi"
        if "chainguard.dev" in prefix:
            return "Chainguard"
    return None


@dataclass(slots=True)
class _Issue:
    id: str
    aliases: dict[str, None] = field(default_factory=dict)
    fixes: dict[str, list[str]] = field(default_factory=dict)
    """Package name → the versions that fixed the issue, in the feed's order."""

    def advisory(self, source: str, ecosystem: str) -> Advisory:
        references: tuple[Reference, ...] = ()
        if ecosystem.startswith("Alpine"):
            references = (Reference("ADVISORY", _ALPINE_URL + self.id),)
        return Advisory(
            id=AdvisoryId(self.id),
            source=source,
            aliases=tuple(alias for alias in self.aliases if alias != self.id),
            references=references,
            affected=tuple(
                _affected(ecosystem, package, versions) for package, versions in self.fixes.items()
            ),
        )


def _add_package(issues: dict[str, _Issue], entry: object) -> None:
    pkg = f.mapping(f.mapping(entry, "package").get("pkg"), "pkg")
    name = f.required_text(pkg, "name", "pkg")
    secfixes: Mapping[Any, Any] = f.optional_mapping(pkg, "secfixes", name)
    for raw_version, ids in secfixes.items():
        version = f.version(raw_version, f"{name}.secfixes key")
        if ids is None:
            continue
        for index, listed in enumerate(f.sequence(ids, f"{name}.secfixes[{version}]")):
            tokens = f.text(listed, f"{name}.secfixes[{version}][{index}]", limit=512).split()
            tokens = [token for token in tokens if f.is_identifier(token)]
            if not tokens:
                continue
            issue = issues.get(tokens[0])
            if issue is None:
                issue = issues[tokens[0]] = _Issue(tokens[0])
            issue.aliases.update(dict.fromkeys(tokens[1:]))
            versions = issue.fixes.setdefault(name, [])
            if version not in versions:
                versions.append(version)


def _affected(ecosystem: str, package: str, versions: list[str]) -> Affected:
    fixed = [version for version in versions if version != _NOT_AFFECTED]
    if not fixed:
        return Affected(ecosystem=ecosystem, name=package, fix_state=FixState.NOT_AFFECTED)
    return Affected(
        ecosystem=ecosystem,
        name=package,
        ranges=tuple(
            Range(
                RangeType.ECOSYSTEM,
                (Event(EventKind.INTRODUCED, "0"), Event(EventKind.FIXED, version)),
            )
            for version in fixed
        ),
        fix_state=FixState.FIXED,
        fixed_versions=tuple(fixed),
    )
