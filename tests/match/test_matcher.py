"""The matcher on real advisories: the right findings, and none for fixed packages.

Advisories are real records imported by the real importers into a real SQLite store;
packages come from the real catalogers reading a dpkg status file, and Debian's own
``dpkg --compare-versions`` is the oracle for which installed versions are vulnerable.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from stockade.artifact.memory import MemorySource
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
    Severity,
)
from stockade.core.models import ArtifactInfo, Inventory, OSInfo, Package, PackageType
from stockade.inventory import build_inventory, default_catalogers
from stockade.match import match, query_for
from stockade.match.scan import scan_inventory
from stockade.vulndb import AdvisoryStore, import_path

DATA = Path(__file__).resolve().parent.parent / "data"
DEBIAN = DATA / "match" / "debian-bookworm-changelog-derived"
ADVISORIES = DATA / "advisories"

OS_RELEASE = 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'

# Stanzas as Debian 12.0 (June 2023) shipped them: bsdutils is a binNMU of util-linux
# with an epoch the source version does not have; libc6 is built from glibc.
STATUS_12_0 = """\
Package: bsdutils
Status: install ok installed
Architecture: amd64
Source: util-linux (2.38.1-5)
Version: 1:2.38.1-5+b1

Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.36-9

Package: openssl
Status: install ok installed
Architecture: amd64
Version: 3.0.9-1

Package: curl
Status: install ok installed
Architecture: amd64
Version: 7.88.1-10

Package: libcurl4
Status: install ok installed
Architecture: amd64
Source: curl
Version: 7.88.1-10
"""

# The same packages as a later point release has them: every fix above is in.
STATUS_CURRENT = """\
Package: bsdutils
Status: install ok installed
Architecture: amd64
Source: util-linux (2.38.1-5+deb12u3)
Version: 1:2.38.1-5+deb12u3

Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u14

Package: openssl
Status: install ok installed
Architecture: amd64
Version: 3.0.22-1~deb12u2

Package: curl
Status: install ok installed
Architecture: amd64
Version: 7.88.1-10+deb12u15
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdvisoryStore]:
    path = tmp_path_factory.mktemp("vulndb") / "vulndb.sqlite"
    with AdvisoryStore.open(path) as opened:
        warnings: list[str] = []
        import_path(opened, DEBIAN, warn=warnings.append)
        for sub in ("osv-pypi", "osv-ghsa-sample", "osv-go", "nodejs-security-wg", "rubysec"):
            import_path(opened, ADVISORIES / sub, warn=warnings.append)
        yield opened


def _inventory(status: str) -> object:
    source = MemorySource([{"etc/os-release": OS_RELEASE, "var/lib/dpkg/status": status}])
    return build_inventory(source, default_catalogers(), workers=1)


def _debian_truth(status_packages: list[Package]) -> set[tuple[str, str]]:
    """(binary package, CVE) pairs `dpkg --compare-versions` says are vulnerable."""
    import json

    truth = set()
    for pkg in status_packages:
        source = pkg.source_name or pkg.name
        version = pkg.source_version or pkg.version
        directory = DEBIAN / source
        if not directory.is_dir():
            continue
        for record_path in directory.glob("*.json"):
            record = json.loads(record_path.read_text())
            for affected in record["affected"]:
                for r in affected["ranges"]:
                    fixed = [e["fixed"] for e in r["events"] if "fixed" in e]
                    for fix in fixed:
                        older = subprocess.run(
                            ["dpkg", "--compare-versions", version, "lt", fix], check=False
                        )
                        if older.returncode == 0:
                            truth.add((pkg.name, record["aliases"][0]))
    return truth


needs_dpkg = pytest.mark.skipif(
    shutil.which("dpkg") is None, reason="dpkg --compare-versions is the oracle"
)


@needs_dpkg
def test_debian_12_0_findings_are_what_dpkg_says(store: AdvisoryStore) -> None:
    inventory = _inventory(STATUS_12_0)
    result = scan_inventory(inventory, store)  # type: ignore[arg-type]
    found = {(f.package.name, f.cve) for f in result.findings}
    truth = _debian_truth(list(inventory.packages))  # type: ignore[attr-defined]
    assert truth, "the oracle found nothing: the test data is wrong"
    assert found == truth
    # glibc's Looney Tunables, openssl and curl fixes of later point releases are there.
    assert ("libc6", "CVE-2023-4911") in found
    assert any(name == "openssl" for name, _ in found)
    assert {("curl", cve) for name, cve in found if name == "libcurl4"} <= found


@needs_dpkg
def test_a_binnmu_with_an_epoch_is_matched_by_its_source_version(store: AdvisoryStore) -> None:
    # bsdutils 1:2.38.1-5+b1 sorts above util-linux's fix 2.38.1-5+deb12u1 (epoch 1), so
    # comparing the binary version would miss WallEscape; the source version does not.
    result = scan_inventory(_inventory(STATUS_12_0), store)  # type: ignore[arg-type]
    (wall,) = [f for f in result.findings if f.cve == "CVE-2024-28085"]
    assert wall.package.name == "bsdutils"
    assert wall.package.version == "1:2.38.1-5+b1"
    assert wall.matched_name == "util-linux"
    assert wall.installed_version == "2.38.1-5"
    assert wall.fixed_versions == ("2.38.1-5+deb12u1",)
    assert wall.fix_state is FixState.FIXED
    assert wall.ecosystem == "Debian:12"
    assert wall.url == "https://osv.dev/vulnerability/DEBCL-util-linux-CVE-2024-28085"
    naive = subprocess.run(
        ["dpkg", "--compare-versions", "1:2.38.1-5+b1", "lt", "2.38.1-5+deb12u1"], check=False
    )
    assert naive.returncode != 0  # what a binary-version matcher would have concluded


def test_packages_at_or_past_every_fix_have_no_findings(store: AdvisoryStore) -> None:
    result = scan_inventory(_inventory(STATUS_CURRENT), store)  # type: ignore[arg-type]
    assert result.findings == ()


def test_distribution_data_applies_to_its_release_only(store: AdvisoryStore) -> None:
    libc = Package(
        name="libc6", version="2.36-9", type=PackageType.DEB, source_name="glibc", arch="amd64"
    )
    assert match([libc], OSInfo("debian", "12"), store)
    assert match([libc], OSInfo("debian", "11"), store) == []
    assert match([libc], OSInfo("ubuntu", "22.04"), store) == []
    assert match([libc], None, store) == []


def test_language_packages_match_osv_ranges(store: AdvisoryStore) -> None:
    packages = [
        Package(name="PyYAML", version="5.1.1", type=PackageType.PYPI),
        Package(name="PyYAML", version="5.3", type=PackageType.PYPI),
        Package(name="lodash", version="4.17.15", type=PackageType.NPM),
        Package(name="lodash", version="4.17.21", type=PackageType.NPM),
    ]
    findings = match(packages, None, store)
    by_package = {(f.package.name, f.package.version): f for f in findings}
    yaml = [f for f in findings if f.package.name == "PyYAML"]
    assert {f.package.version for f in yaml} == {"5.1.1"}
    (pysec,) = yaml
    assert pysec.advisory_id == "PYSEC-2020-176"
    assert pysec.aliases == ("CVE-2019-20477", "GHSA-3pqx-4fqf-j49f")
    assert pysec.fixed_versions == ("5.2b1",)
    assert pysec.url == "https://github.com/advisories/GHSA-3pqx-4fqf-j49f"
    lodash = by_package[("lodash", "4.17.15")]
    assert lodash.advisory_id.startswith("GHSA-")
    assert lodash.severity >= Severity.HIGH
    assert lodash.cvss_score is not None
    assert ("lodash", "4.17.21") not in by_package


class Lookup:
    """Advisories held in a dict: the matcher's input without a store."""

    def __init__(self, *advisories: Advisory) -> None:
        self.advisories = advisories

    def lookup(self, packages: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[Advisory]]:
        return {
            (eco, name): [a for a in self.advisories if a.affected_for(eco, name)]
            for eco, name in packages
        }


def _pypi_advisory(ident: str, aliases: tuple[str, ...], fixed: str, **extra: object) -> Advisory:
    events = (Event(EventKind.INTRODUCED, "0"), Event(EventKind.FIXED, fixed))
    return Advisory(
        id=AdvisoryId(ident),
        source="osv",
        aliases=aliases,
        affected=(Affected("PyPI", "pyyaml", ranges=(Range(RangeType.ECOSYSTEM, events),)),),
        **extra,  # type: ignore[arg-type]
    )


def test_one_vulnerability_in_two_feeds_is_one_finding() -> None:
    pysec = _pypi_advisory("PYSEC-2021-142", ("CVE-2020-14343", "GHSA-8q59-q68h-6hv4"), "5.4")
    ghsa = _pypi_advisory(
        "GHSA-8q59-q68h-6hv4",
        ("CVE-2020-14343",),
        "5.4",
        severity=Severity.CRITICAL,
        cvss=(Cvss.from_vector("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),),
    )
    other = _pypi_advisory("PYSEC-2020-96", ("CVE-2020-1747",), "5.3.1")
    yaml = Package(name="PyYAML", version="5.3", type=PackageType.PYPI)
    findings = match([yaml], None, Lookup(pysec, ghsa, other))
    assert sorted(f.cve or "" for f in findings) == ["CVE-2020-14343", "CVE-2020-1747"]
    (merged,) = [f for f in findings if f.cve == "CVE-2020-14343"]
    assert merged.advisory_id == "GHSA-8q59-q68h-6hv4"  # the richer record wins
    assert merged.aliases == ("CVE-2020-14343", "PYSEC-2021-142")
    assert merged.severity is Severity.CRITICAL
    assert merged.cvss_score == 9.8


def test_unfixed_and_wont_fix_distribution_entries_match_every_version() -> None:
    def debian(ident: str, state: FixState) -> Advisory:
        return Advisory(
            id=AdvisoryId(ident),
            source="debian-tracker",
            affected=(Affected("Debian:12", "glibc", fix_state=state),),
        )

    libc = Package(
        name="libc6", version="2.36-9+deb12u14", type=PackageType.DEB, source_name="glibc"
    )
    lookup = Lookup(
        debian("CVE-2010-4756", FixState.WONT_FIX),
        debian("CVE-2025-0001", FixState.NOT_FIXED),
        debian("CVE-2019-1010022", FixState.NOT_AFFECTED),
    )
    findings = {f.advisory_id: f for f in match([libc], OSInfo("debian", "12"), lookup)}
    assert set(findings) == {"CVE-2010-4756", "CVE-2025-0001"}
    assert findings["CVE-2010-4756"].fix_state is FixState.WONT_FIX
    assert findings["CVE-2025-0001"].fix_state is FixState.NOT_FIXED
    assert findings["CVE-2025-0001"].fixed_versions == ()
    assert findings["CVE-2025-0001"].url == (
        "https://security-tracker.debian.org/tracker/CVE-2025-0001"
    )


def test_native_constraints_of_npm_and_gem_feeds() -> None:
    npm = Advisory(
        id=AdvisoryId("NSWG-ECO-1"),
        source="nodejs-security-wg",
        affected=(
            Affected(
                "npm",
                "ms",
                ranges=(
                    Range(
                        RangeType.NPM_CONSTRAINT,
                        (
                            Event(EventKind.VULNERABLE, "<0.7.1"),
                            Event(EventKind.PATCHED, ">=0.7.1"),
                        ),
                    ),
                ),
            ),
        ),
    )
    old = Package(name="ms", version="0.7.0", type=PackageType.NPM)
    new = Package(name="ms", version="2.1.3", type=PackageType.NPM)
    findings = match([old, new], None, Lookup(npm))
    assert [(f.package.version, f.fixed_versions) for f in findings] == [("0.7.0", (">=0.7.1",))]


def test_go_modules_are_matched_without_their_v_prefix(store: AdvisoryStore) -> None:
    query = query_for(
        Package(name="github.com/gin-gonic/gin", version="v1.6.0", type=PackageType.GOLANG), None
    )
    assert query is not None
    assert query.version == "1.6.0"
    assert query.ecosystems == ("Go",)


def test_an_invalid_installed_version_is_a_warning(store: AdvisoryStore) -> None:
    warnings: list[str] = []
    bad = Package(name="PyYAML", version="not a version!", type=PackageType.PYPI)
    findings = match([bad], None, store, warn=warnings.append)
    assert all(f.package is bad for f in findings)
    assert warnings
    assert all("not a version!" in w for w in warnings)


def test_dev_packages_are_left_out_unless_asked(store: AdvisoryStore) -> None:
    dev_yaml = Package(name="PyYAML", version="5.1.1", type=PackageType.PYPI, dev=True)
    inventory = Inventory(ArtifactInfo(name="app", kind="rootfs"), None, (dev_yaml,))
    assert scan_inventory(inventory, store).findings == ()
    assert scan_inventory(inventory, store, include_dev=True).findings
