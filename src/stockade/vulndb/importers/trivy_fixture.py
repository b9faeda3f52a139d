"""trivy-db's bucket layout written as YAML: the fixture database of Trivy's own tests.

Trivy keeps its advisory database in BoltDB buckets, and its integration tests load a
small one from YAML files of the same shape
(https://github.com/aquasecurity/trivy, ``integration/testdata/fixtures/db``)::

    - bucket: "pip::GitHub Security Advisory Pip"     # "<ecosystem>::<data source>"
      pairs:
        - bucket: werkzeug                             # one package
          pairs:
            - key: CVE-2019-14806                      # one advisory
              value:
                VulnerableVersions: ["< 0.15.3"]
                PatchedVersions: ["0.15.3"]
    - bucket: debian 10                                # "<distribution> <release>"
      pairs:
        - bucket: libidn2
          pairs:
            - key: CVE-2019-18224
              value: {FixedVersion: 2.0.5-1+deb10u1, VendorIDs: [DSA-4613-1]}
    - bucket: vulnerability                            # details, by advisory id
      pairs:
        - key: CVE-2019-18224
          value: {Title: …, Description: …, Severity: HIGH, CVSS: {nvd: {V3Vector: …}}, …}

Package data and details arrive in different documents, so one advisory comes in pieces:
records from this format are merged into the store package by package
(:attr:`Importer.merge`), each piece adding what it knows. ``data-source`` and
``Red Hat CPE`` buckets describe the database itself and are read past.

Ecosystems are spelled as OSV spells them (``pip`` is ``PyPI``, ``erlang`` is ``Hex``,
``debian 10`` is ``Debian:10``, ``alpine 3.10`` is ``Alpine:v3.10``). Buckets for which
OSV has no ecosystem, or whose names cannot be spelled as OSV's for certain, are left
out with a warning: Amazon Linux, Oracle Linux, CocoaPods and Kubernetes (no OSV
ecosystem), Photon OS, CBL-Mariner, SUSE and openSUSE (OSV's release names are not
derivable from the bucket's), Red Hat (indexed by CPE, not by release) and Swift (OSV
names Swift packages by URL).

Distribution entries give the version that fixed the package (``FixedVersion``), or none
when no fix exists; ``Status``/``State`` say whether one is coming.

Language entries give native constraint strings: ``VulnerableVersions`` (any one may
hold), ``PatchedVersions`` and ``UnaffectedVersions``. Trivy reports a version when it
satisfies a vulnerable constraint (or none are given) and no patched or unaffected one,
which is what Stockade's constraint ranges mean (see :mod:`stockade.core.advisory`):

* npm ranges and RubyGems requirements are kept as written, in ``NPM-CONSTRAINT`` and
  ``CONSTRAINT`` ranges;
* the other ecosystems write comparator lists (``>= 2.0.0, <= 2.9.10.3``,
  ``<5.4.0 || >=6.0 <6.0.2``) or Maven ranges (``[2.9.0,2.9.10.7)``). Each alternative
  becomes one requirement of comma-joined comparators (``||`` alternatives and Maven
  ranges split, ``==`` written ``=``, Go's and Composer's ``v`` prefix dropped) in a
  range of :data:`_COMPARATOR_RANGE_TYPE`, evaluated in the package's own version order.
  The rewriting is textual and changes no meaning. Operators with an
  ecosystem-specific meaning (``~>``, ``^``, ``~``, ``~=``, ``===``), wildcards, and
  versions a requirement cannot hold leave the entry out, with a warning naming it.

PyPI's specifiers are compared by version order, as everywhere else: PEP 440's special
rules for ``< X`` (which excludes pre-releases of ``X``) and for local versions do not
apply.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from stockade.core.advisory import (
    Advisory,
    AdvisoryId,
    Affected,
    Cvss,
    Event,
    EventKind,
    FixState,
    Range,
    RangeType,
    Reference,
    Severity,
)
from stockade.vulndb.errors import InvalidAdvisory
from stockade.vulndb.importers import _fields as f
from stockade.vulndb.importers._constraints import fix_versions
from stockade.vulndb.importers.interface import Importer
from stockade.vulndb.reading import Warn

_DETAILS_BUCKET: Final = "vulnerability"
_METADATA_BUCKETS: Final = frozenset({"data-source", "Red Hat CPE"})

_LANGUAGE_ECOSYSTEMS: Final[Mapping[str, str]] = {
    "pip": "PyPI",
    "npm": "npm",
    "go": "Go",
    "cargo": "crates.io",
    "maven": "Maven",
    "composer": "Packagist",
    "rubygems": "RubyGems",
    "nuget": "NuGet",
    "erlang": "Hex",
    "pub": "Pub",
    "conan": "ConanCenter",
    "bitnami": "Bitnami",
}
"""trivy-db's ecosystem prefixes (the part before ``::``) and OSV's names for them."""

_NATIVE_RANGE_TYPES: Final[Mapping[str, RangeType]] = {
    "npm": RangeType.NPM_CONSTRAINT,
    "RubyGems": RangeType.GEM_CONSTRAINT,
}
"""Ecosystems whose constraint strings Stockade evaluates natively, with Trivy's meaning."""

_COMPARATOR_RANGE_TYPE: Final = RangeType.CONSTRAINT
"""The range type for the other ecosystems' comparator lists: each event holds one
requirement whose comma-joined comparators (``<``, ``<=``, ``>``, ``>=``, ``=``, ``!=``)
must all hold, compared in the package's own ecosystem's version order, which is how
Trivy evaluates these ecosystems' constraints."""

_DISTRIBUTIONS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    (re.compile(r"debian (\d+)"), "Debian:{}"),
    (re.compile(r"ubuntu (\d+\.\d+)"), "Ubuntu:{}"),
    (re.compile(r"alpine (\d+\.\d+)"), "Alpine:v{}"),
    (re.compile(r"alpine (edge)"), "Alpine:{}"),
    (re.compile(r"alma (\d+)"), "AlmaLinux:{}"),
    (re.compile(r"rocky (\d+)"), "Rocky Linux:{}"),
)
"""Distribution bucket names and the OSV ecosystem of each release."""

_TRIVY_SEVERITIES: Final = (
    Severity.UNKNOWN,
    Severity.LOW,
    Severity.MEDIUM,
    Severity.HIGH,
    Severity.CRITICAL,
)
"""trivy-db's numeric severities, by number."""

_TRIVY_STATUSES: Final[Mapping[int, FixState]] = {
    1: FixState.NOT_AFFECTED,
    2: FixState.NOT_FIXED,
    3: FixState.FIXED,
    4: FixState.NOT_FIXED,  # under investigation
    5: FixState.WONT_FIX,
    6: FixState.WONT_FIX,  # fix deferred
    7: FixState.WONT_FIX,  # end of life: no fix will come for this release
}
"""trivy-db's ``Status`` numbers (0 is unknown)."""

_DEBIAN_STATES: Final[Mapping[str, FixState]] = {
    "no-dsa": FixState.WONT_FIX,
    "ignored": FixState.WONT_FIX,
    "postponed": FixState.WONT_FIX,
    "end-of-life": FixState.WONT_FIX,
    "unfixed": FixState.NOT_FIXED,
    "undetermined": FixState.NOT_FIXED,
}
"""Debian's tracker states, which trivy-db keeps as ``State``."""

_MAX_CONSTRAINTS: Final = 1000


class TrivyFixtureImporter(Importer):
    format = "trivy-db-fixture"
    source = "trivy-db"
    merge = True

    def recognizes(self, document: object) -> bool:
        return (
            isinstance(document, list)
            and bool(document)
            and all(_looks_like_bucket(item) for item in document[:3])
        )

    def parse(
        self, document: object, *, origin: str, source: str, warn: Warn
    ) -> Iterator[Advisory]:
        records: dict[str, _Record] = {}
        for index, bucket in enumerate(f.sequence(document, "trivy-db document")):
            where = f"{origin}[{index}]"
            try:
                _read_bucket(f.mapping(bucket, where), records, f"{origin}: ", warn)
            except InvalidAdvisory as exc:
                warn(f"{where}: skipped: {exc.message}")
        for record in records.values():
            yield record.advisory(source)


def _looks_like_bucket(item: object) -> bool:
    return isinstance(item, dict) and "bucket" in item and "pairs" in item


@dataclass(slots=True)
class _Record:
    """What one document says about one advisory."""

    id: str
    details: Advisory | None = None
    affected: list[Affected] = field(default_factory=list)

    def advisory(self, source: str) -> Advisory:
        base = self.details or Advisory(id=AdvisoryId(self.id), source=source)
        return dataclasses.replace(base, source=source, affected=tuple(self.affected))


def _record(records: dict[str, _Record], identifier: str) -> _Record:
    record = records.get(identifier)
    if record is None:
        record = records[identifier] = _Record(identifier)
    return record


def _read_bucket(
    bucket: Mapping[str, Any], records: dict[str, _Record], prefix: str, warn: Warn
) -> None:
    name = f.required_text(bucket, "bucket", "bucket")
    pairs = f.optional_sequence(bucket, "pairs", name)
    if name in _METADATA_BUCKETS:
        return
    reader: _DetailsReader | _LanguageReader | _DistributionReader
    language, separator, data_source = name.partition("::")
    if name == _DETAILS_BUCKET:
        reader = _DetailsReader(prefix, warn)
    elif separator:
        ecosystem = _LANGUAGE_ECOSYSTEMS.get(language)
        if ecosystem is None:
            warn(f"{prefix}left out the bucket {name!r}: OSV has no ecosystem for {language!r}")
            return
        reader = _LanguageReader(ecosystem, data_source, prefix, warn)
    else:
        distribution = _distribution_ecosystem(name)
        if distribution is None:
            warn(f"{prefix}left out the bucket {name!r}: no OSV ecosystem is known for it")
            return
        reader = _DistributionReader(distribution, prefix, warn)
    for index, item in enumerate(pairs):
        try:
            reader.read(item, records)
        except InvalidAdvisory as exc:
            warn(f"{prefix}{name}[{index}]: skipped: {exc.message}")


def _distribution_ecosystem(bucket: str) -> str | None:
    for pattern, spelling in _DISTRIBUTIONS:
        match = pattern.fullmatch(bucket.strip())
        if match:
            return spelling.format(match.group(1))
    return None


def _package_pairs(item: object, what: str) -> tuple[str, list[Any]]:
    package_bucket = f.mapping(item, what)
    package = f.required_text(package_bucket, "bucket", what)
    return package, f.optional_sequence(package_bucket, "pairs", package)


def _pair(item: object, what: str) -> tuple[str, Mapping[str, Any]]:
    pair = f.mapping(item, what)
    identifier = f.identifier(pair.get("key"), f"{what}.key")
    value = pair.get("value")
    # An entry with no value at all (``- key: CVE-…``) says "affected, nothing more".
    return identifier, {} if value is None else f.mapping(value, f"{what}[{identifier}]")


# --- distributions --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _DistributionReader:
    ecosystem: str
    prefix: str
    warn: Warn

    def read(self, item: object, records: dict[str, _Record]) -> None:
        package, pairs = _package_pairs(item, self.ecosystem)
        for pair in pairs:
            try:
                identifier, value = _pair(pair, f"{self.ecosystem}/{package}")
                entry = _distribution_entry(self.ecosystem, package, value)
            except InvalidAdvisory as exc:
                self.warn(f"{self.prefix}{self.ecosystem}/{package}: skipped: {exc.message}")
                continue
            _record(records, identifier).affected.append(entry)


def _distribution_entry(ecosystem: str, package: str, value: Mapping[str, Any]) -> Affected:
    fixed = value.get("FixedVersion")
    fixed_version = f.version(fixed, "FixedVersion") if fixed not in (None, "") else None
    state = _fix_state(value)
    vendor_ids = [
        vendor_id.strip()
        for vendor_id in f.text_list(value, "VendorIDs", package, limit=f.MAX_ID)
        if f.is_identifier(vendor_id.strip())
    ]
    common: dict[str, Any] = {
        "ecosystem": ecosystem,
        "name": package,
        "severity": _vendor_severity(value.get("Severity")),
        "database_specific": {"vendor_ids": vendor_ids} if vendor_ids else {},
    }
    if state is FixState.NOT_AFFECTED:
        return Affected(fix_state=state, **common)
    if fixed_version is None:
        # Listed without a fix: affected in every version, and the status says whether
        # a fix is coming.
        if state in (FixState.UNKNOWN, FixState.FIXED):
            state = FixState.NOT_FIXED
        return Affected(fix_state=state, **common)
    # A fixed version decides, whatever the status says (as Trivy compares it).
    return Affected(
        ranges=(
            Range(
                RangeType.ECOSYSTEM,
                (Event(EventKind.INTRODUCED, "0"), Event(EventKind.FIXED, fixed_version)),
            ),
        ),
        fix_state=FixState.FIXED,
        fixed_versions=(fixed_version,),
        **common,
    )


def _fix_state(value: Mapping[str, Any]) -> FixState:
    status = value.get("Status")
    if isinstance(status, int | float) and not isinstance(status, bool):
        return _TRIVY_STATUSES.get(int(status), FixState.UNKNOWN)
    state = value.get("State")
    if isinstance(state, str):
        return _DEBIAN_STATES.get(state.strip().lower(), FixState.UNKNOWN)
    return FixState.UNKNOWN


def _vendor_severity(value: object) -> Severity | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = int(value)
    if number != value or not 0 < number < len(_TRIVY_SEVERITIES):
        return None
    return _TRIVY_SEVERITIES[number]


# --- language ecosystems --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _LanguageReader:
    ecosystem: str
    data_source: str
    prefix: str
    warn: Warn

    def read(self, item: object, records: dict[str, _Record]) -> None:
        package, pairs = _package_pairs(item, self.ecosystem)
        where = f"{self.ecosystem}/{package}"
        for pair in pairs:
            try:
                identifier, value = _pair(pair, where)
            except InvalidAdvisory as exc:
                self.warn(f"{self.prefix}{where}: skipped: {exc.message}")
                continue
            try:
                entry = self._entry(package, value)
            except InvalidAdvisory as exc:
                self.warn(f"{self.prefix}{where} {identifier}: skipped: {exc.message}")
                continue
            except _Inexact as exc:
                self.warn(
                    f"{self.prefix}{where} {identifier}: left out: {exc.reason} "
                    "has no equivalent among Stockade's range types"
                )
                continue
            if entry is not None:
                _record(records, identifier).affected.append(entry)

    def _entry(self, package: str, value: Mapping[str, Any]) -> Affected | None:
        vulnerable = _constraints(value, "VulnerableVersions")
        patched = _constraints(value, "PatchedVersions")
        unaffected = _constraints(value, "UnaffectedVersions")
        if not (vulnerable or patched or unaffected):
            return None  # Trivy reports nothing for an entry without versions
        ranges = _language_ranges(self.ecosystem, vulnerable, patched, unaffected)
        if not ranges:
            return None
        fixed = _display_fixes(patched)
        return Affected(
            ecosystem=self.ecosystem,
            name=package,
            ranges=ranges,
            fix_state=FixState.FIXED if fixed else FixState.NOT_FIXED,
            fixed_versions=fixed,
            database_specific={"data_source": self.data_source} if self.data_source else {},
        )


def _constraints(value: Mapping[str, Any], key: str) -> tuple[str, ...]:
    items = f.optional_sequence(value, key, key)
    if len(items) > _MAX_CONSTRAINTS:
        raise InvalidAdvisory(f"{key} lists more than {_MAX_CONSTRAINTS} constraints")
    return tuple(
        "" if item == "" else f.version(item, f"{key}[{index}]") for index, item in enumerate(items)
    )


def _display_fixes(patched: Sequence[str]) -> tuple[str, ...]:
    """The fixed versions as Trivy shows them: a bare version as written, else where a
    patched constraint starts."""
    shown: list[str] = []
    for text in patched:
        if _BARE_VERSION.fullmatch(text.strip()):
            shown.append(text.strip())
        elif text:
            shown.extend(fix_versions([text]))
    return f.unique(shown)


def _language_ranges(
    ecosystem: str,
    vulnerable: tuple[str, ...],
    patched: tuple[str, ...],
    unaffected: tuple[str, ...],
) -> tuple[Range, ...]:
    if "" in (*vulnerable, *patched, *unaffected):
        # Trivy reports every version when any list holds an empty string.
        return (Range(RangeType.ECOSYSTEM, (Event(EventKind.INTRODUCED, "0"),)),)
    native = _NATIVE_RANGE_TYPES.get(ecosystem)
    if native is not None:
        events = (
            *(Event(EventKind.VULNERABLE, text) for text in vulnerable),
            *(Event(EventKind.PATCHED, text) for text in patched),
            *(Event(EventKind.UNAFFECTED, text) for text in unaffected),
        )
        return (Range(native, events),)
    events = (
        *(Event(EventKind.VULNERABLE, r) for t in vulnerable for r in _requirements(t, ecosystem)),
        *(Event(EventKind.PATCHED, r) for t in patched for r in _requirements(t, ecosystem)),
        *(Event(EventKind.UNAFFECTED, r) for t in unaffected for r in _requirements(t, ecosystem)),
    )
    return (Range(_COMPARATOR_RANGE_TYPE, events),)


class _Inexact(Exception):
    """A constraint no Stockade range type evaluates with Trivy's meaning (an internal
    signal: the reader turns it into a warning)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_COMPARATOR: Final = re.compile(r"(>=|<=|==|!=|~=|~>|=|>|<|\^|~)?\s*([^\s,|<>=!~^]+)")
_SEPARATORS: Final = re.compile(r"[\s,]*")
_MAVEN_RANGE: Final = re.compile(r"([\[(])\s*([^,\[\]()\s]*)\s*(,)?\s*([^,\[\]()\s]*)\s*([\])])")
_REQUIREMENT_VERSION: Final = re.compile(r"[0-9][0-9A-Za-z.-]*")
"""The versions a requirement can hold (what :func:`parse_gem_requirements` reads)."""
_WILDCARD: Final = re.compile(r"(?:^|\.)[xX](?:\.|$)")
_BARE_VERSION: Final = re.compile(r"=?=?\s*[vV]?[0-9][^\s,|<>=!~^*\[\]()]*")
_OPERATORS: Final[Mapping[str, str]] = {
    ">=": ">=",
    ">": ">",
    "<=": "<=",
    "<": "<",
    "!=": "!=",
    "=": "=",
    "==": "=",
    "": "=",
}
_V_PREFIX_ECOSYSTEMS: Final = frozenset({"Go", "Packagist"})
"""Ecosystems whose version syntax makes a leading ``v`` no part of the version."""


def _requirements(text: str, ecosystem: str) -> list[str]:
    """A constraint string as requirements (comma-joined comparators that must all
    hold), one per alternative: ``||`` alternatives and Maven ranges each become one."""
    stripped = text.strip()
    if ecosystem == "Maven" and stripped[:1] in ("[", "("):
        return _maven_requirements(stripped)
    return [_requirement(text, part, ecosystem) for part in stripped.split("||")]


def _requirement(whole: str, text: str, ecosystem: str) -> str:
    comparators: list[str] = []
    position = _SEPARATORS.match(text).end()  # type: ignore[union-attr]
    while position < len(text):
        match = _COMPARATOR.match(text, position)
        if not match:
            raise InvalidAdvisory(f"cannot read the constraint {whole!r}")
        operator = _OPERATORS.get(match.group(1) or "")
        if operator is None:
            raise _Inexact(f"the operator {match.group(1)!r} in {whole!r}")
        comparators.append(f"{operator} {_requirement_version(whole, match.group(2), ecosystem)}")
        position = _SEPARATORS.match(text, match.end()).end()  # type: ignore[union-attr]
    if not comparators:
        raise InvalidAdvisory(f"the constraint {whole!r} has an empty alternative")
    return ", ".join(comparators)


def _requirement_version(whole: str, version: str, ecosystem: str) -> str:
    if ecosystem in _V_PREFIX_ECOSYSTEMS and version[:1] in ("v", "V"):
        version = version[1:]
    if not _REQUIREMENT_VERSION.fullmatch(version) or _WILDCARD.search(version):
        raise _Inexact(f"the version {version!r} in {whole!r}")
    return version


def _maven_requirements(text: str) -> list[str]:
    requirements: list[str] = []
    position = 0
    while position < len(text):
        match = _MAVEN_RANGE.match(text, position)
        if not match:
            raise InvalidAdvisory(f"cannot read the Maven range {text!r}")
        opening, low, comma, high, closing = match.groups()
        if not comma:
            if not low or (opening, closing) != ("[", "]"):
                raise InvalidAdvisory(f"cannot read the Maven range {text!r}")
            requirements.append(f"= {_requirement_version(text, low, 'Maven')}")
        else:
            parts = []
            if low:
                operator = ">=" if opening == "[" else ">"
                parts.append(f"{operator} {_requirement_version(text, low, 'Maven')}")
            if high:
                operator = "<=" if closing == "]" else "<"
                parts.append(f"{operator} {_requirement_version(text, high, 'Maven')}")
            if not parts:
                raise _Inexact(f"the unbounded Maven range {text!r}")
            requirements.append(", ".join(parts))
        position = _SEPARATORS.match(text, match.end()).end()  # type: ignore[union-attr]
    return requirements


# --- details --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _DetailsReader:
    """The ``vulnerability`` bucket: title, description, severity, CVSS, references."""

    prefix: str
    warn: Warn

    def read(self, item: object, records: dict[str, _Record]) -> None:
        identifier, value = _pair(item, _DETAILS_BUCKET)
        extras: dict[str, Any] = {}
        vendor = value.get("VendorSeverity")
        if vendor:
            extras["vendor_severity"] = f.extras(vendor, f"{identifier}.VendorSeverity")
        cwes = f.text_list(value, "CweIDs", identifier, limit=f.MAX_ID)
        if cwes:
            extras["cwe_ids"] = list(cwes)
        _record(records, identifier).details = Advisory(
            id=AdvisoryId(identifier),
            source="",  # set when the record becomes an advisory
            summary=f.optional_text(value, "Title", identifier).strip(),
            details=f.optional_text(value, "Description", identifier).strip(),
            severity=Severity.parse(f.optional_text(value, "Severity", identifier, limit=64)),
            cvss=_cvss(value, identifier, self.prefix, self.warn),
            published=f.timestamp(value.get("PublishedDate")),
            modified=f.timestamp(value.get("LastModifiedDate")),
            references=tuple(
                dict.fromkeys(
                    Reference("WEB", url.strip())
                    for url in f.text_list(value, "References", identifier, limit=f.MAX_URL)
                    if url.strip()
                )
            ),
            database_specific=extras,
        )


def _cvss(value: Mapping[str, Any], identifier: str, prefix: str, warn: Warn) -> tuple[Cvss, ...]:
    by_source = f.optional_mapping(value, "CVSS", identifier)
    # NVD's assessment first: it is the one most feeds agree on.
    order = sorted(by_source, key=lambda name: (name != "nvd", str(name)))
    found: dict[str, Cvss] = {}
    for name in order:
        assessment = f.mapping(by_source[name], f"{identifier}.CVSS.{name}")
        for key in ("V40Vector", "V3Vector", "V2Vector"):
            vector = assessment.get(key)
            if not vector:
                continue
            try:
                cvss = f.cvss_vector(vector, f"{identifier}.CVSS.{name}.{key}")
            except InvalidAdvisory as exc:
                warn(f"{prefix}{identifier}: ignored {exc.message}")
                continue
            found.setdefault(cvss.vector or "", cvss)
    return tuple(found.values())
