"""Matching an inventory against advisories: which installed package has which vulnerability.

Two rules keep the noise out:

* A distribution package is matched only against that distribution release's own data
  (``Debian:12``, ``Alpine:v3.19``), by its *source* package and the source version, so a
  backported fix the distribution shipped counts as fixed and a binNMU (``+b1``) of a
  fixed source is fixed too. Fix state (fixed, not fixed yet, won't fix) is the
  distribution's, kept as a field of the finding.
* A language package is matched by ecosystem and name against OSV ranges (``ECOSYSTEM``
  and ``SEMVER`` events, explicit ``versions`` lists; ``GIT`` ranges ignored) and the
  native constraints of feeds that have no OSV form (npm ranges, gem requirements).

There is no CPE or product-name guessing. Everything here is pure: the advisories come
from an :class:`AdvisoryLookup` (the store implements it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Protocol

from stockade.core.advisory import (
    Advisory,
    Affected,
    EventKind,
    FixState,
    Range,
    RangeType,
    Severity,
)
from stockade.core.finding import Finding
from stockade.core.models import OSInfo, Package, PackageType
from stockade.match.versions import (
    AffectedRange,
    Constraint,
    VersionError,
    VersionScheme,
    affected,
    parse_gem_requirements,
    parse_npm_range,
    satisfies,
    scheme_for,
)
from stockade.match.versions import Event as VersionEvent
from stockade.match.versions import EventKind as VersionEventKind
from stockade.match.versions import RangeType as VersionRangeType


class AdvisoryLookup(Protocol):
    def lookup(
        self, packages: Iterable[tuple[str, str]]
    ) -> Mapping[tuple[str, str], Sequence[Advisory]]:
        """Advisories naming each (ecosystem, name) pair."""


@dataclass(frozen=True, slots=True)
class Query:
    """How one package is looked up: where, under which name, at which version."""

    ecosystems: tuple[str, ...]
    """Candidate OSV ecosystems, most specific first (``Ubuntu:22.04:LTS``, ``Ubuntu:22.04``)."""
    name: str
    version: str


_LANGUAGE_ECOSYSTEMS: Mapping[PackageType, str] = {
    PackageType.PYPI: "PyPI",
    PackageType.NPM: "npm",
    PackageType.GOLANG: "Go",
    PackageType.CARGO: "crates.io",
    PackageType.MAVEN: "Maven",
    PackageType.GEM: "RubyGems",
    PackageType.COMPOSER: "Packagist",
    PackageType.NUGET: "NuGet",
    PackageType.HEX: "Hex",
}

_RPM_DISTROS: Mapping[str, str] = {
    "rocky": "Rocky Linux",
    "almalinux": "AlmaLinux",
    "rhel": "Red Hat",
    "opensuse-leap": "openSUSE",
    "sles": "SUSE",
    "mariner": "Mariner",
    "azurelinux": "Azure Linux",
    "photon": "Photon OS",
}


def query_for(pkg: Package, os_info: OSInfo | None) -> Query | None:
    """How to look ``pkg`` up, or None when no advisory data can apply to it."""
    if pkg.type.is_os:
        return _os_query(pkg, os_info)
    ecosystem = _LANGUAGE_ECOSYSTEMS.get(pkg.type)
    if ecosystem is None or not pkg.version:
        return None
    name = pkg.name
    version = pkg.version
    if pkg.type is PackageType.MAVEN and pkg.namespace:
        name = f"{pkg.namespace}:{pkg.name}"
    elif pkg.type in (PackageType.COMPOSER, PackageType.NPM) and pkg.namespace:
        name = f"{pkg.namespace}/{pkg.name}"
    elif pkg.type is PackageType.GOLANG:
        if pkg.namespace:
            name = f"{pkg.namespace}/{pkg.name}"
        if version == "(devel)":
            return None
        version = version.removeprefix("v").removesuffix("+incompatible")
        if name == "stdlib":
            version = version.removeprefix("go")
    return Query((ecosystem,), name, version)


def _os_query(pkg: Package, os_info: OSInfo | None) -> Query | None:
    if os_info is None or not os_info.version:
        return None
    family = os_info.family
    release = os_info.version
    name = pkg.source_name or pkg.name
    if pkg.type is PackageType.DEB:
        version = pkg.source_version or pkg.version
        if family == "debian":
            return Query((f"Debian:{release.split('.')[0]}",), name, version)
        if family == "ubuntu":
            return Query((f"Ubuntu:{release}:LTS", f"Ubuntu:{release}"), name, version)
        return None
    if pkg.type is PackageType.APK:
        parts = release.split(".")
        if family in ("alpine",) and len(parts) >= 2:
            return Query((f"Alpine:v{parts[0]}.{parts[1]}",), name, pkg.version)
        return None
    distro = _RPM_DISTROS.get(family)
    if distro is None:
        return None
    version = f"{pkg.epoch}:{pkg.version}" if pkg.epoch else pkg.version
    return Query((f"{distro}:{release.split('.')[0]}",), name, version)


Warn = Callable[[str], None]


def match(
    packages: Sequence[Package],
    os_info: OSInfo | None,
    advisories: AdvisoryLookup,
    *,
    warn: Warn | None = None,
) -> list[Finding]:
    """Every vulnerability the advisories give ``packages``: one per (vulnerability, package)."""
    queries: list[tuple[Package, Query]] = []
    for pkg in packages:
        query = query_for(pkg, os_info)
        if query is not None:
            queries.append((pkg, query))
    pairs = {(eco, q.name) for _, q in queries for eco in q.ecosystems}
    found = advisories.lookup(sorted(pairs))
    findings: list[Finding] = []
    for pkg, query in queries:
        for_package: list[Finding] = []
        for ecosystem in query.ecosystems:
            for advisory in found.get((ecosystem, query.name), ()):
                finding = _match_one(pkg, query, ecosystem, advisory, warn)
                if finding is not None:
                    for_package.append(finding)
        findings.extend(_deduplicated(for_package))
    findings.sort(key=lambda f: (-f.severity, f.package.name, f.package.version, f.advisory_id))
    return findings


def _match_one(
    pkg: Package, query: Query, ecosystem: str, advisory: Advisory, warn: Warn | None
) -> Finding | None:
    if advisory.withdrawn is not None:
        return None
    for entry in advisory.affected_for(ecosystem, query.name):
        if entry.fix_state is FixState.NOT_AFFECTED:
            continue
        try:
            hit = _is_affected(query.version, entry)
        except VersionError as exc:
            if warn:
                warn(f"{advisory.id} for {pkg.name} {pkg.version}: {exc.message}; not matched")
            continue
        if hit:
            return _finding(pkg, query, ecosystem, advisory, entry)
    return None


def _is_affected(version: str, entry: Affected) -> bool:
    scheme = scheme_for(entry.ecosystem)
    osv_ranges = [r for r in entry.ranges if not r.type.is_constraint]
    constraint_ranges = [r for r in entry.ranges if r.type.is_constraint]
    if not entry.ranges and not entry.versions:
        # No version data: the distribution says every version is affected and no fix
        # exists (Debian's <unfixed>, <no-dsa>), or the entry says nothing usable.
        return entry.fix_state in (FixState.NOT_FIXED, FixState.WONT_FIX)
    if osv_ranges or entry.versions:
        converted = [_osv_range(r) for r in osv_ranges if r.type is not RangeType.GIT]
        if affected(version, converted, scheme, versions=entry.versions):
            return True
    return any(_constraint_hit(version, r, scheme) for r in constraint_ranges)


def _osv_range(r: Range) -> AffectedRange:
    return _convert_range(r)


@lru_cache(maxsize=65_536)
def _convert_range(r: Range) -> AffectedRange:
    return AffectedRange(
        VersionRangeType(r.type.value),
        tuple(VersionEvent(VersionEventKind(e.kind.value), e.value) for e in r.events),
        r.repo,
    )


def _constraint_hit(version: str, r: Range, scheme: VersionScheme) -> bool:
    vulnerable = r.values(EventKind.VULNERABLE)
    patched = r.values(EventKind.PATCHED) + r.values(EventKind.UNAFFECTED)
    if vulnerable and not any(
        satisfies(version, _constraint(r.type, text), scheme) for text in vulnerable
    ):
        return False
    return not any(satisfies(version, _constraint(r.type, text), scheme) for text in patched)


@lru_cache(maxsize=16_384)
def _constraint(kind: RangeType, text: str) -> Constraint:
    return (
        parse_npm_range(text) if kind is RangeType.NPM_CONSTRAINT else parse_gem_requirements(text)
    )


def _fixed_versions(entry: Affected) -> tuple[str, ...]:
    if entry.fixed_versions:
        return entry.fixed_versions
    fixed: list[str] = []
    for r in entry.ranges:
        if r.type.is_constraint:
            fixed.extend(r.values(EventKind.PATCHED))
        elif r.type is not RangeType.GIT:
            fixed.extend(r.values(EventKind.FIXED))
    return tuple(dict.fromkeys(fixed))


def _finding(
    pkg: Package, query: Query, ecosystem: str, advisory: Advisory, entry: Affected
) -> Finding:
    fixed = _fixed_versions(entry)
    state = entry.fix_state
    if state is FixState.UNKNOWN or (state is FixState.FIXED and not fixed):
        state = FixState.FIXED if fixed else FixState.NOT_FIXED
    newest = max(advisory.cvss, key=lambda c: c.version, default=None)
    severity: Severity = entry.severity or Severity.UNKNOWN
    if severity is Severity.UNKNOWN:
        severity = advisory.severity
    if severity is Severity.UNKNOWN and newest is not None:
        severity = newest.severity
    aliases = sorted(
        (a for a in (*advisory.aliases, *advisory.upstream) if a != advisory.id),
        key=lambda a: (not a.startswith("CVE-"), a),
    )
    return Finding(
        advisory_id=advisory.id,
        package=pkg,
        installed_version=query.version,
        ecosystem=ecosystem,
        matched_name=query.name,
        fix_state=state,
        fixed_versions=fixed,
        aliases=tuple(dict.fromkeys(aliases)),
        severity=severity,
        cvss_score=newest.base_score if newest else None,
        cvss_vector=newest.vector if newest else None,
        title=advisory.summary or _first_line(advisory.details),
        url=advisory_url(advisory),
        source=advisory.source,
    )


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:200]


def advisory_url(advisory: Advisory) -> str:
    """Where a person reads more: the feed's own page for the id."""
    ident = advisory.id
    if ident.startswith(("CVE-", "DSA-", "DLA-", "TEMP-")) and advisory.source.startswith("debian"):
        return f"https://security-tracker.debian.org/tracker/{ident}"
    if ident.startswith("GHSA-"):
        return f"https://github.com/advisories/{ident}"
    for ref in advisory.references:
        if ref.type == "ADVISORY":
            return ref.url
    if ident.startswith("CVE-"):
        return f"https://nvd.nist.gov/vuln/detail/{ident}"
    return f"https://osv.dev/vulnerability/{ident}"


def _deduplicated(findings: list[Finding]) -> list[Finding]:
    """One finding per vulnerability: advisories that alias each other are merged."""
    if len(findings) < 2:
        return findings
    # Union-find over finding indexes, joined through the names they share.
    parent = list(range(len(findings)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for index, finding in enumerate(findings):
        for name in finding.ids:
            other = owner.setdefault(name, index)
            if other != index:
                parent[root(index)] = root(other)
    groups: dict[int, list[Finding]] = {}
    for index, finding in enumerate(findings):
        groups.setdefault(root(index), []).append(finding)
    if len(groups) == len(findings):
        return findings
    out = []
    for members in groups.values():
        if len(members) == 1:
            out.append(members[0])
            continue
        best = max(members, key=_richness)
        names = {name for m in members for name in m.ids}
        others = sorted(names - {best.advisory_id}, key=lambda a: (not a.startswith("CVE-"), a))
        fixed = tuple(dict.fromkeys(v for m in members for v in m.fixed_versions))
        out.append(
            replace(best, aliases=tuple(others), fixed_versions=best.fixed_versions or fixed)
        )
    return out


def _richness(finding: Finding) -> tuple[int, int, int, int, str]:
    return (
        finding.fix_state is FixState.FIXED,
        finding.severity is not Severity.UNKNOWN,
        finding.cvss_score is not None,
        -len(finding.advisory_id),
        finding.advisory_id,
    )
