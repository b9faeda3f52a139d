"""``stockade scan DIR`` against Trivy's own end-to-end sets.

Trivy's integration tests scan small repositories (``tests/data/trivy/e2e/repo``) against
a fixture advisory database (``tests/data/trivy-db``) and keep the reports they expect
(``tests/data/trivy/e2e/golden``). Here the same repositories are inventoried as
``stockade scan DIR`` does (a directory, filesystem mode, development dependencies left
out as Trivy leaves them out by default), the same database is imported through
:class:`~stockade.vulndb.importers.trivy_fixture.TrivyFixtureImporter` into a real
store, and the findings are compared with Trivy's as a set of (package name,
vulnerability id, fixed version).

Every golden report in the directory is either compared or listed in
:data:`NOT_COMPARED` with the reason; ``docs/scan-agreement.md`` has the table.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockade.artifact.rootfs import DirectorySource
from stockade.core.advisory import EventKind, FixState, RangeType, Severity
from stockade.core.errors import StockadeError
from stockade.core.models import Package, PackageType
from stockade.inventory import ScanMode, build_inventory, default_catalogers
from stockade.inventory.interface import CatalogContext
from stockade.match import match
from stockade.match.scan import scan_inventory
from stockade.vulndb import AdvisoryStore
from stockade.vulndb.codec import decode, encode
from stockade.vulndb.importers.trivy_fixture import TrivyFixtureImporter

DATA = Path(__file__).resolve().parent.parent / "data"
DB = DATA / "trivy-db"
E2E = DATA / "trivy" / "e2e"
REPOS = E2E / "repo"
GOLDEN = E2E / "golden"

importer = TrivyFixtureImporter()
_JACKSON = "com.fasterxml.jackson.core"

Finding = tuple[str, str, str]
"""(package name, vulnerability id, fixed versions as Trivy joins them)."""


@dataclass(frozen=True, slots=True)
class Case:
    repo: str
    golden: str
    unsupported: str = ""
    """Why Stockade cannot agree yet (the case is a strict xfail); empty when it does."""


CASES = (
    Case("cargo", "cargo.lock.json.golden"),
    Case("composer", "composer.lock.json.golden"),
    Case("gomod", "gomod.json.golden"),
    Case("gradle", "gradle.json.golden"),
    Case(
        "mixlock",
        "mix.lock.json.golden",
    ),
    Case("npm", "npm.json.golden"),
    Case("pip", "pip.json.golden"),
    Case("pipenv", "pipenv.json.golden"),
    Case("pnpm", "pnpm.json.golden"),
    Case("poetry", "poetry.json.golden"),
    Case("pom", "pom.json.golden"),
    Case("uv", "uv.json.golden"),
)
"""Each repository Trivy scanned with ``trivy repo --scanners vuln`` and no other option
that changes findings (``integration/repo_test.go``), and its report."""

NOT_COMPARED = {
    "gomod-vex.json.golden": (
        "the gomod scan with --vex openvex.json: that OpenVEX file is not in tests/data, and "
        "its statement names the product pkg:golang/github.com/testdata/testdata with opa "
        "as a subcomponent, which Stockade applies only when the scanned artifact is that "
        "product (a directory scan names none); Trivy takes the go.mod root module for it"
    ),
    "npm-cyclonedx.json.golden": (
        "`trivy convert` of npm.json.golden to CycloneDX (integration/convert_test.go): the "
        "npm findings again in another report format, not a scan"
    ),
    "conda-spdx.json.golden": "an SPDX SBOM of a conda environment: no vulnerability scan",
    "alpine-310.json.golden": "image scan: needs the trivy-test-images alpine-310 tarball",
    "alpine-310.sarif.golden": "image scan: needs the trivy-test-images alpine-310 tarball",
    "alpine-39-ignore-cveids.json.golden": "image scan: needs the alpine-39 tarball",
    "debian-buster.json.golden": "image scan: needs the debian-buster tarball",
    "debian-buster-ignore-unfixed.json.golden": "image scan: needs the debian-buster tarball",
    "centos-7.json.golden": "image scan: needs the centos-7 tarball",
    "ubuntu-1804.json.golden": "image scan: needs the ubuntu-1804 tarball",
}
"""Golden reports left out, and why."""


def _import_fixture_db(store: AdvisoryStore, warnings: list[str]) -> None:
    with store.importing(origin=str(DB)) as batch:
        for file in sorted(DB.glob("*.yaml")):
            for advisory in importer.parse_bytes(
                file.read_bytes(), name=file.name, warn=warnings.append
            ):
                batch.add(advisory, merge=importer.merge)


@pytest.fixture(scope="module")
def fixture_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdvisoryStore]:
    path = tmp_path_factory.mktemp("trivy-db") / "vulndb.sqlite"
    with AdvisoryStore.open(path) as store:
        _import_fixture_db(store, [])
        yield store


def _golden(name: str) -> dict[str, Any]:
    report: dict[str, Any] = json.loads((GOLDEN / name).read_text())
    return report


def _expected(report: dict[str, Any]) -> set[Finding]:
    return {
        (vulnerability["PkgName"], vulnerability["VulnerabilityID"], vulnerability["FixedVersion"])
        for result in report.get("Results") or []
        for vulnerability in result.get("Vulnerabilities") or []
    }


def _scanned(repo: Path, store: AdvisoryStore) -> set[Finding]:
    inventory = build_inventory(
        DirectorySource(repo),
        default_catalogers(),
        ctx=CatalogContext(mode=ScanMode.FILESYSTEM),
        workers=1,
    )
    result = scan_inventory(inventory, store)
    return {
        (finding.matched_name, finding.advisory_id, ", ".join(finding.fixed_versions))
        for finding in result.findings
    }


def _case_param(case: Case) -> Any:
    marks = [pytest.mark.xfail(reason=case.unsupported, strict=True)] if case.unsupported else []
    return pytest.param(case, id=case.repo, marks=marks)


@pytest.mark.parametrize("case", [_case_param(case) for case in CASES])
def test_scan_agrees_with_trivy(case: Case, fixture_store: AdvisoryStore) -> None:
    report = _golden(case.golden)
    # The report is of this repository, scanned as a repository (not an image or SBOM).
    assert report["ArtifactType"] == "repository"
    assert report["ArtifactName"] == f"testdata/fixtures/repo/{case.repo}"
    assert _scanned(REPOS / case.repo, fixture_store) == _expected(report)


def test_every_golden_report_is_compared_or_explained() -> None:
    compared = {case.golden for case in CASES}
    assert not compared & NOT_COMPARED.keys()
    assert {path.name for path in GOLDEN.glob("*.golden")} == compared | NOT_COMPARED.keys()


def test_every_repository_is_compared_or_has_no_golden() -> None:
    # yarn's report (integration/testdata/yarn.json.golden) was not copied with the rest.
    assert {path.name for path in REPOS.iterdir()} == {case.repo for case in CASES} | {"yarn"}


# --- the importer on the fixture database -------------------------------------------------


def test_buckets_without_an_osv_ecosystem_are_left_out_with_a_warning(tmp_path: Path) -> None:
    warnings: list[str] = []
    with AdvisoryStore.open(tmp_path / "db.sqlite") as store:
        _import_fixture_db(store, warnings)
    left_out = sorted(message.split("'")[1] for message in warnings)
    assert left_out == [
        "CBL-Mariner 1.0",
        "Oracle Linux 8",
        "Photon OS 3.0",
        "Red Hat",
        "SUSE Linux Enterprise 15-SP3",
        "SUSE Linux Enterprise Micro 5.3",
        "amazon linux 1",
        "amazon linux 2",
        "cocoapods::GitHub Security Advisory Cocoapods",
        "k8s::Official Kubernetes CVE Feed",
        "openSUSE Leap 15.1",
        "openSUSE Tumbleweed",
        "swift::GitHub Security Advisory Swift",
    ]


def test_package_data_and_details_from_separate_documents_are_merged(
    fixture_store: AdvisoryStore,
) -> None:
    (advisory,) = fixture_store.advisory("CVE-2019-11358")
    assert advisory.source == "trivy-db"
    assert advisory.summary.startswith("jquery: Prototype pollution")
    assert advisory.severity is Severity.MEDIUM
    assert advisory.cvss[0].vector == "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"
    assert advisory.published is not None
    assert advisory.published.year == 2019
    (entry,) = advisory.affected
    assert (entry.ecosystem, entry.name, entry.fix_state) == ("npm", "jquery", FixState.FIXED)
    (constraint,) = entry.ranges
    assert constraint.type is RangeType.NPM_CONSTRAINT
    assert constraint.values(EventKind.VULNERABLE) == ("< 3.4.0",)
    assert entry.fixed_versions == ("3.4.0",)


def test_one_advisory_per_id_with_an_entry_per_release(fixture_store: AdvisoryStore) -> None:
    (advisory,) = fixture_store.advisory("CVE-2019-1549")
    assert sorted(entry.ecosystem for entry in advisory.affected) == ["Alpine:v3.10", "Alpine:v3.9"]
    assert {entry.fixed_versions for entry in advisory.affected} == {("1.1.1d-r0",)}


def test_distribution_fix_states(fixture_store: AdvisoryStore) -> None:
    (bash,) = fixture_store.advisory("CVE-2019-18276")
    states = {(entry.ecosystem, entry.fix_state, entry.severity) for entry in bash.affected}
    assert states == {
        ("Debian:9", FixState.WONT_FIX, Severity.LOW),  # Status 7: end of life
        ("Debian:10", FixState.NOT_FIXED, Severity.LOW),
        ("Ubuntu:18.04", FixState.NOT_FIXED, None),
    }
    (libidn2,) = fixture_store.advisory("CVE-2019-18224")
    (entry,) = libidn2.affected
    assert entry.fixed_versions == ("2.0.5-1+deb10u1",)
    assert entry.database_specific == {"vendor_ids": ["DSA-4613-1"]}


@pytest.mark.parametrize(
    ("package", "affected_by"),
    [
        # ">= 2.0.0, <= 2.9.10.3" patched 2.9.10.4, and "[2.9.0,2.9.10.7)"
        (Package("jackson-databind", "2.9.10.3", PackageType.MAVEN, namespace=_JACKSON), 2),
        (Package("jackson-databind", "2.9.10.4", PackageType.MAVEN, namespace=_JACKSON), 1),
        (Package("jackson-databind", "2.9.10.7", PackageType.MAVEN, namespace=_JACKSON), 0),
        (Package("jackson-databind", "1.9", PackageType.MAVEN, namespace=_JACKSON), 0),
        # "< 0.15.3" and "< 0.11.6" in PEP 440 order: a release candidate of the fix comes
        # before it (PEP 440's "<" rule would exclude it; see the importer's notes)
        (Package("Werkzeug", "0.11.6rc1", PackageType.PYPI), 2),
        (Package("Werkzeug", "0.15.3", PackageType.PYPI), 0),
        # ">= 0.33.1, < 0.37.0" and Go's "v" prefix
        (
            Package("opa", "v0.33.1", PackageType.GOLANG, namespace="github.com/open-policy-agent"),
            1,
        ),
        (
            Package("opa", "v0.33.0", PackageType.GOLANG, namespace="github.com/open-policy-agent"),
            0,
        ),
        # "< 1.8.4" for a Composer package
        (Package("psr7", "1.8.3", PackageType.COMPOSER, namespace="guzzlehttp"), 1),
        # activesupport: three vulnerable requirements, patched versions between them
        (Package("activesupport", "4.1.10", PackageType.GEM), 2),
        (Package("activesupport", "4.1.11", PackageType.GEM), 0),
        (Package("activesupport", "3.2.22.5", PackageType.GEM), 1),  # CVE-2015-3227
        # ammonia: patched requirements only
        (Package("ammonia", "2.0.0", PackageType.CARGO), 2),
        (Package("ammonia", "2.1.2", PackageType.CARGO), 1),
        (Package("ammonia", "2.1.3", PackageType.CARGO), 0),
        (Package("ammonia", "3.0.0", PackageType.CARGO), 1),
        (Package("ammonia", "3.1.0", PackageType.CARGO), 0),
    ],
    ids=lambda value: f"{value.name}@{value.version}" if isinstance(value, Package) else None,
)
def test_bounds_are_evaluated_as_trivy_evaluates_them(
    package: Package, affected_by: int, fixture_store: AdvisoryStore
) -> None:
    assert len(match([package], None, fixture_store)) == affected_by


def _parse(document: object) -> list[Any]:
    warnings: list[str] = []
    advisories = importer.parse_bytes(
        yaml.safe_dump(document).encode(), name="db.yaml", warn=warnings.append
    )
    return [advisories, warnings]


def _bucket(bucket: str, package: str, identifier: str, value: object) -> list[object]:
    pair = {"key": identifier, "value": value}
    return [{"bucket": bucket, "pairs": [{"bucket": package, "pairs": [pair]}]}]


@pytest.mark.parametrize(
    ("bucket", "vulnerable", "requirements"),
    [
        ("maven::GitLab", ["[2.9.0,2.9.10.7)"], (">= 2.9.0, < 2.9.10.7",)),
        ("maven::GitLab", ["(,1.0],[1.2,)"], ("<= 1.0", ">= 1.2")),
        ("maven::GitLab", ["[1.5]"], ("= 1.5",)),
        ("composer::GHSA", ["<5.4.0 || >=6.0 <6.0.2"], ("< 5.4.0", ">= 6.0, < 6.0.2")),
        ("go::GHSA", ["< v2.8.0"], ("< 2.8.0",)),
        ("pip::GHSA", ["==1.0", ">= 2, != 2.1"], ("= 1.0", ">= 2, != 2.1")),
    ],
)
def test_comparator_lists_become_requirements(
    bucket: str, vulnerable: list[str], requirements: tuple[str, ...]
) -> None:
    [(advisory,), warnings] = _parse(
        _bucket(bucket, "pkg", "CVE-2024-0001", {"VulnerableVersions": vulnerable})
    )
    assert warnings == []
    (entry,) = advisory.affected
    (constraint,) = entry.ranges
    assert constraint.type is RangeType.CONSTRAINT
    assert constraint.values(EventKind.VULNERABLE) == requirements
    assert entry.fix_state is FixState.NOT_FIXED


@pytest.mark.parametrize(
    "vulnerable", ["~> 1.2", "^1.2.0", "~=1.4", "1.*", "< 1.x", "< 1.0+local", "(,)"]
)
def test_constraints_with_another_meaning_are_left_out(vulnerable: str) -> None:
    bucket = "maven::GHSA" if vulnerable == "(,)" else "pip::GHSA"
    [advisories, warnings] = _parse(
        _bucket(bucket, "pkg", "CVE-2024-0002", {"VulnerableVersions": [vulnerable]})
    )
    assert advisories == []
    (warning,) = warnings
    assert "CVE-2024-0002: left out" in warning


def test_patched_constraints_alone() -> None:
    [(advisory,), _] = _parse(
        _bucket(
            "cargo::Open Source Vulnerability",
            "ammonia",
            "CVE-2021-38193",
            {"PatchedVersions": [">= 3.1.0", ">= 2.1.3, < 3.0.0"]},
        )
    )
    (entry,) = advisory.affected
    (constraint,) = entry.ranges
    assert constraint.values(EventKind.VULNERABLE) == ()
    assert constraint.values(EventKind.PATCHED) == (">= 3.1.0", ">= 2.1.3, < 3.0.0")
    assert entry.fixed_versions == ("3.1.0", "2.1.3")


def test_an_empty_constraint_means_every_version_as_in_trivy() -> None:
    [(advisory,), _] = _parse(
        _bucket("npm::GHSA", "left-pad", "CVE-2024-0003", {"VulnerableVersions": [""]})
    )
    (entry,) = advisory.affected
    ((kind, value),) = [(e.kind, e.value) for e in entry.ranges[0].events]
    assert (entry.ranges[0].type, kind, value) == (RangeType.ECOSYSTEM, EventKind.INTRODUCED, "0")


def test_an_entry_without_versions_is_not_an_affected_package() -> None:
    [advisories, _] = _parse(_bucket("npm::GHSA", "left-pad", "CVE-2024-0004", {}))
    assert advisories == []


def test_recognizes_only_the_bucket_layout() -> None:
    assert importer.recognizes([{"bucket": "debian 10", "pairs": []}])
    assert not importer.recognizes([{"id": "GHSA-xxxx", "affected": []}])
    assert not importer.recognizes({"bucket": "debian 10", "pairs": []})
    assert not importer.recognizes([])


# --- damaged input --------------------------------------------------------------------------

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
SAMPLES = [
    yaml.safe_load((DB / name).read_text())
    for name in ("debian.yaml", "java.yaml", "ruby.yaml", "rust.yaml", "alpine.yaml")
]
_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["", "< 1.0", "[1,2)", "(,", "||", ">= 0, <", "v", "CVE-2024-1", "x" * 300]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "bucket",
                    "pairs",
                    "key",
                    "value",
                    "VulnerableVersions",
                    "PatchedVersions",
                    "Status",
                ]
            ),
            children,
            max_size=3,
        )
    ),
    max_leaves=10,
)


def _mutate(document: Any, data: st.DataObject, depth: int = 0) -> Any:
    if depth > 0 and data.draw(st.integers(0, 7)) == 0:
        return data.draw(_values)
    if isinstance(document, dict):
        return {key: _mutate(value, data, depth + 1) for key, value in document.items()}
    if isinstance(document, list):
        return [_mutate(value, data, depth + 1) for value in document[:5]]
    return document


@FUZZ
@given(data=st.data())
def test_damaged_documents_raise_only_our_error(data: st.DataObject) -> None:
    document = _mutate(data.draw(st.sampled_from(SAMPLES)), data)
    raw = json.dumps(document).encode()
    try:
        advisories = importer.parse_bytes(raw, name="doc.json")
    except StockadeError:
        return
    for advisory in advisories:
        assert decode(encode(advisory)) == advisory
