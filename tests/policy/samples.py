"""Findings shaped like the matcher's, for the policy and scan-report tests.

Packages get their purls from the real :func:`stockade.inventory.purls.purl_for`, so the
purl matching is tested against the purls the engine really writes (``distro`` and
``arch`` qualifiers, PEP 503 names, npm scopes).
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import strategies as st

from stockade.core.advisory import FixState, Severity
from stockade.core.finding import Finding, ScanResult, Suppression
from stockade.core.models import (
    ArtifactInfo,
    Digest,
    Inventory,
    LayerInfo,
    Location,
    OSInfo,
    Package,
    PackageType,
)
from stockade.inventory.purls import purl_for

LAYER_1 = Digest("sha256:" + "1" * 64)
LAYER_2 = Digest("sha256:" + "2" * 64)
IMAGE_ID = Digest("sha256:" + "a" * 64)
MANIFEST = "sha256:" + "b" * 64

BOOKWORM = OSInfo(
    family="debian",
    version="12",
    name="Debian GNU/Linux",
    pretty_name="Debian GNU/Linux 12 (bookworm)",
    codename="bookworm",
)
IMAGE = ArtifactInfo(
    name="registry.example.com/team/app:1.0",
    kind="docker-archive",
    digest=IMAGE_ID,
    repo_tags=("registry.example.com/team/app:1.0",),
    repo_digests=(f"registry.example.com/team/app@{MANIFEST}",),
    layers=(LayerInfo(diff_id=LAYER_1), LayerInfo(diff_id=LAYER_2)),
    architecture="amd64",
    os="linux",
)
IMAGE_PURL = (
    f"pkg:oci/app@{MANIFEST.replace(':', '%3A')}"
    "?arch=amd64&repository_url=registry.example.com/team/app&tag=1.0"
)

DPKG_STATUS = (Location("var/lib/dpkg/status", LAYER_1),)
HOSTILE_TITLE = "evil \x1b[2J\x1b[31mred\x07 title\u202e with BIDI\r\nand a newline"


def package(os_info: OSInfo | None = BOOKWORM, **fields: object) -> Package:
    pkg = Package(**fields)  # type: ignore[arg-type]
    return replace(pkg, purl=purl_for(pkg, os_info))


LIBSSL = package(
    name="libssl3",
    version="3.0.11-1~deb12u2",
    type=PackageType.DEB,
    arch="amd64",
    source_name="openssl",
    locations=DPKG_STATUS,
)
ZLIB = package(
    name="zlib1g",
    version="1:1.2.13.dfsg-1",
    type=PackageType.DEB,
    arch="amd64",
    source_name="zlib",
    source_version="1.2.13.dfsg-1",
    locations=DPKG_STATUS,
)
REQUESTS = package(
    name="requests",
    version="2.31.0",
    type=PackageType.PYPI,
    locations=(
        Location("usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA", LAYER_2),
    ),
)
BABEL = package(
    name="@babel/traverse",
    version="7.22.0",
    type=PackageType.NPM,
    locations=(
        Location("app/node_modules/@babel/traverse/package.json", LAYER_2),
        Location("app/other dir/node_modules/@babel/traverse/package.json", LAYER_2),
    ),
)
EVIL = package(name="evil\x1b[31mpkg", version="1.0\x1b[0m", type=PackageType.COMPOSER)
NO_LOCATION = package(name="left-pad", version="1.3.0", type=PackageType.NPM)


def finding(pkg: Package, advisory_id: str, **fields: object) -> Finding:
    """A finding with the fields the matcher always fills, overridable."""
    defaults: dict[str, object] = {
        "installed_version": pkg.source_version or pkg.version,
        "ecosystem": "Debian:12" if pkg.type is PackageType.DEB else "PyPI",
        "matched_name": pkg.source_name or pkg.name,
        "fix_state": FixState.FIXED,
        "source": "osv",
    }
    defaults.update(fields)
    return Finding(advisory_id=advisory_id, package=pkg, **defaults)  # type: ignore[arg-type]


OPENSSL_CVE = finding(
    LIBSSL,
    "CVE-2024-0727",
    aliases=("DSA-5621-1",),
    fixed_versions=("3.0.13-1~deb12u1",),
    severity=Severity.MEDIUM,
    cvss_score=5.5,
    cvss_vector="CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H",
    title="openssl: denial of service via null dereference",
    url="https://security-tracker.debian.org/tracker/CVE-2024-0727",
    source="debian-tracker",
)
ZLIB_CVE = finding(
    ZLIB,
    "CVE-2023-45853",
    fix_state=FixState.WONT_FIX,
    severity=Severity.CRITICAL,
    cvss_score=9.8,
    cvss_vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    title="zlib: integer overflow in MiniZip",
    url="https://security-tracker.debian.org/tracker/CVE-2023-45853",
    source="debian-tracker",
)
REQUESTS_GHSA = finding(
    REQUESTS,
    "GHSA-9wx4-h78v-vm56",
    aliases=("CVE-2024-35195",),
    ecosystem="PyPI",
    fixed_versions=("2.32.0",),
    severity=Severity.MEDIUM,
    cvss_score=5.6,
    cvss_vector="CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:H/I:H/A:N",
    title="Requests `Session` object does not verify requests after making first request",
    url="https://github.com/advisories/GHSA-9wx4-h78v-vm56",
)
BABEL_GHSA = finding(
    BABEL,
    "GHSA-67hx-6x53-jw92",
    aliases=("CVE-2023-45133",),
    ecosystem="npm",
    fixed_versions=("7.23.2", "8.0.0-alpha.4"),
    severity=Severity.CRITICAL,
    cvss_score=9.3,
    cvss_vector="CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
    title="Babel vulnerable to arbitrary code execution when compiling specifically crafted code",
    url="https://github.com/advisories/GHSA-67hx-6x53-jw92",
)
EVIL_FINDING = finding(
    EVIL,
    "GHSA-xxxx-yyyy-zzzz",
    ecosystem="Packagist",
    fix_state=FixState.NOT_FIXED,
    severity=Severity.HIGH,
    title=HOSTILE_TITLE,
    url="https://example.com/\x1b]8;;https://evil.example/\x07click\x1b]8;;\x07",
)
UNKNOWN_FINDING = finding(
    NO_LOCATION,
    "GHSA-aaaa-bbbb-cccc",
    ecosystem="npm",
    fix_state=FixState.UNKNOWN,
    title="",
    url="",
)
IGNORED_FINDING = replace(
    finding(
        REQUESTS,
        "PYSEC-2023-74",
        aliases=("CVE-2023-32681", "GHSA-j8r2-6x86-q33q"),
        ecosystem="PyPI",
        fixed_versions=("2.31.0",),
        severity=Severity.MEDIUM,
        title="Unintended leak of Proxy-Authorization header",
    ),
    suppressed=Suppression.IGNORED,
    suppression_reason="proxies are not used; review again in Q3\x1b[2J",
)
NOT_AFFECTED_FINDING = replace(
    finding(
        LIBSSL,
        "CVE-2023-5678",
        fixed_versions=("3.0.13-1~deb12u1",),
        severity=Severity.LOW,
        cvss_score=5.3,
        cvss_vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L",
        title="openssl: DH key generation is slow with excessively long parameters",
    ),
    suppressed=Suppression.NOT_AFFECTED,
    suppression_reason="vulnerable_code_not_in_execute_path: DH is never used",
)

FINDINGS = (
    OPENSSL_CVE,
    ZLIB_CVE,
    REQUESTS_GHSA,
    BABEL_GHSA,
    EVIL_FINDING,
    UNKNOWN_FINDING,
    IGNORED_FINDING,
    NOT_AFFECTED_FINDING,
)
PACKAGES = (LIBSSL, ZLIB, REQUESTS, BABEL, EVIL, NO_LOCATION)


def scan_result(findings: tuple[Finding, ...] = FINDINGS) -> ScanResult:
    inventory = Inventory(artifact=IMAGE, os=BOOKWORM, packages=PACKAGES)
    return ScanResult(inventory=inventory, findings=findings, advisories_age="2024-05-01 (2 days)")


# -- Hypothesis --------------------------------------------------------------------------

_ids = st.one_of(
    st.from_regex(r"CVE-20[0-9]{2}-[0-9]{4,6}", fullmatch=True),
    st.from_regex(r"GHSA-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}", fullmatch=True),
    st.text(min_size=1, max_size=20),
)


@st.composite
def findings(draw: st.DrawFn) -> Finding:
    """Any finding on one of the sample packages, with arbitrary text where feeds put text."""
    pkg = draw(st.sampled_from(PACKAGES))
    suppressed = draw(st.one_of(st.none(), st.sampled_from(Suppression)))
    score = draw(st.one_of(st.none(), st.floats(0, 10, allow_nan=False).map(lambda x: round(x, 1))))
    return finding(
        pkg,
        draw(_ids),
        aliases=tuple(draw(st.lists(_ids, max_size=3))),
        fix_state=draw(st.sampled_from(FixState)),
        fixed_versions=tuple(draw(st.lists(st.text(max_size=10), max_size=2))),
        severity=draw(st.sampled_from(Severity)),
        cvss_score=score,
        cvss_vector=draw(st.one_of(st.none(), st.text(max_size=40))),
        title=draw(st.text(max_size=60)),
        url=draw(st.one_of(st.just(""), st.just("https://example.com/a"), st.text(max_size=30))),
        suppressed=suppressed,
        suppression_reason=draw(st.text(max_size=40)) if suppressed else "",
    )


@st.composite
def scan_results(draw: st.DrawFn) -> ScanResult:
    return scan_result(tuple(draw(st.lists(findings(), max_size=8))))
