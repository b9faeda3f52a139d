"""os-release and legacy release files: Trivy's 27 samples, this machine's files, sh."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockade.artifact.memory import MemorySource
from stockade.core.models import OSInfo, Package, PackageType
from stockade.inventory.engine import build_inventory
from stockade.inventory.interface import CatalogContext, CatalogResult, FileContent
from stockade.inventory.osrelease import (
    OSReleaseCataloger,
    parse_env_file,
)

FIXTURES = Path(__file__).parent.parent / "data" / "trivy" / "os" / "os-release"
CTX = CatalogContext()


def catalog(path: str, content: bytes | str) -> CatalogResult:
    data = content.encode() if isinstance(content, str) else content
    cataloger = OSReleaseCataloger()
    assert cataloger.wants(path, len(data), 0o644, CTX)
    return cataloger.parse(FileContent(path, len(data), io.BytesIO(data), 1 << 20), CTX)


def family_and_version(result: CatalogResult) -> tuple[str, str] | None:
    return (result.os.family, result.os.version) if result.os else None


# Trivy's release_test.go (aquasecurity/trivy pkg/fanal/analyzer/os/release): sample →
# the OS version Trivy expects, or None where Trivy expects no OS. Trivy renames some
# families (opensuse → opensuse-leap, sle-micro → slem, mariner → cbl-mariner); Stockade
# keeps the os-release ID as the family, so the family column here is the file's ID.
TRIVY_EXPECTED: dict[str, tuple[str, str] | None] = {
    "alpine": ("alpine", "3.15.4"),
    "opensuseleap-15.2.1": ("opensuse-leap", "15.2.1"),
    "opensuseleap-42.3": ("opensuse", "42.3"),
    "opensusetumbleweed": ("opensuse-tumbleweed", "20220412"),
    "sles": ("sles", "15.3"),
    "slemicro": ("sle-micro", "5.3"),
    "slemicro6.0": ("sl-micro", "6.0"),
    "slemicro-rancher": ("sle-micro-rancher", "5.4"),
    "photon": ("photon", "4.0"),
    "azurelinux-3.0": ("azurelinux", "3.0"),
    "mariner-2.0": ("mariner", "2.0"),
    "mariner-1.0": ("mariner", "1.0"),
    "echo": ("echo", "1"),
    "minimos": ("minimos", "20241031"),
    "bottlerocket": ("bottlerocket", "1.34.0"),
    "coreos": ("coreos", "3.15.4"),
    "no-id": None,
    "no-version": None,
    "unknown": None,
}
# Trivy reports no OS for an ID it has no advisories for; Stockade reports any ID.
ENGINE_SPECIFIC = {"unknown": "Trivy drops os-release IDs it does not support; Stockade keeps them"}

# Samples in Trivy's testdata that its release_test.go does not list (Trivy detects the
# Red Hat family from redhat-release instead): expected values are the files' own
# ID and VERSION_ID, read by hand.
UNLISTED_EXPECTED: dict[str, tuple[str, str]] = {
    "activestate": ("activestate", "1.0"),
    "alma": ("almalinux", "9.4"),
    "centos": ("centos", "7"),
    "centos-stream": ("centos", "8"),
    "fedora": ("fedora", "42"),
    "oracle": ("ol", "8.10"),
    "rhel": ("rhel", "9.4"),
    "rocky": ("rocky", "9.3"),
}


def test_every_sample_is_covered() -> None:
    samples = {p.name for p in FIXTURES.iterdir()}
    assert len(samples) == 27
    assert samples == set(TRIVY_EXPECTED) | set(UNLISTED_EXPECTED)


@pytest.mark.parametrize("sample", sorted(TRIVY_EXPECTED))
def test_trivy_release_samples(sample: str) -> None:
    if sample in ENGINE_SPECIFIC:
        pytest.skip(ENGINE_SPECIFIC[sample])
    result = catalog("etc/os-release", (FIXTURES / sample).read_bytes())
    assert family_and_version(result) == TRIVY_EXPECTED[sample]


@pytest.mark.parametrize("sample", sorted(UNLISTED_EXPECTED))
def test_unlisted_samples(sample: str) -> None:
    result = catalog("usr/lib/os-release", (FIXTURES / sample).read_bytes())
    assert family_and_version(result) == UNLISTED_EXPECTED[sample]


def test_unknown_id_is_kept() -> None:
    result = catalog("etc/os-release", (FIXTURES / "unknown").read_bytes())
    assert family_and_version(result) == ("unknown", "4.3.2")


def test_names_and_codename_are_kept() -> None:
    result = catalog("etc/os-release", (FIXTURES / "rocky").read_bytes())
    assert result.os == OSInfo(
        family="rocky",
        version="9.3",
        name="Rocky Linux",
        pretty_name="Rocky Linux 9.3 (Blue Onyx)",
    )


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX shell")
@pytest.mark.parametrize("sample", sorted(p.name for p in FIXTURES.iterdir()))
def test_quoting_agrees_with_the_shell(sample: str) -> None:
    # os-release is specified as shell-compatible assignments: sourcing it is the
    # reference parser.
    script = '. "$1"; printf "%s\\n%s\\n%s\\n" "$ID" "$VERSION_ID" "$PRETTY_NAME"'
    out = subprocess.run(
        ["sh", "-c", script, "sh", str(FIXTURES / sample)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\n")
    fields = parse_env_file((FIXTURES / sample).read_text())
    assert [fields.get("ID", ""), fields.get("VERSION_ID", ""), fields.get("PRETTY_NAME", "")] == (
        out[:3]
    )


def test_quoting_rules() -> None:
    text = (
        "# comment\n"
        "NAME='single $quoted'\n"
        'PRETTY_NAME="escaped \\"quote\\" and \\$dollar"\n'
        "ID=bare\n"
        "not an assignment\n"
        "VERSION_ID=1.2 # trailing comment\n"
    )
    assert parse_env_file(text) == {
        "NAME": "single $quoted",
        "PRETTY_NAME": 'escaped "quote" and $dollar',
        "ID": "bare",
        "VERSION_ID": "1.2",
    }


def test_this_machine() -> None:
    path = Path("/etc/os-release")
    if not path.is_file():
        pytest.skip("no /etc/os-release here")
    fields = parse_env_file(path.read_text())
    result = catalog("etc/os-release", path.read_bytes())
    assert result.os is not None
    assert result.os.family == fields["ID"].lower()
    assert result.os.version == (fields.get("VERSION_ID") or fields["VERSION_CODENAME"])


DEBIAN_TESTING = (
    'PRETTY_NAME="Debian GNU/Linux trixie/sid"\n'
    'NAME="Debian GNU/Linux"\n'
    "VERSION_CODENAME=trixie\n"
    "ID=debian\n"
)


def test_debian_testing_uses_the_codename() -> None:
    assert family_and_version(catalog("etc/os-release", DEBIAN_TESTING)) == ("debian", "trixie")
    without_codename = DEBIAN_TESTING.replace("VERSION_CODENAME=trixie\n", "")
    assert family_and_version(catalog("etc/os-release", without_codename)) == (
        "debian",
        "trixie",
    )


def test_alpine_edge_keeps_its_full_version() -> None:
    text = 'ID=alpine\nVERSION_ID=3.20.0_alpha20240329\nPRETTY_NAME="Alpine Linux edge"\n'
    assert family_and_version(catalog("etc/os-release", text)) == (
        "alpine",
        "3.20.0_alpha20240329",
    )


@pytest.mark.parametrize(
    ("path", "content", "expected"),
    [
        ("etc/alpine-release", "3.19.1\n", ("alpine", "3.19.1")),
        ("etc/debian_version", "12.5\n", ("debian", "12")),
        ("etc/debian_version", "trixie/sid\n", ("debian", "trixie")),
        ("etc/redhat-release", "CentOS Linux release 7.9.2009 (Core)\n", ("centos", "7")),
        ("etc/centos-release", "CentOS Stream release 8\n", ("centos", "8")),
        (
            "etc/redhat-release",
            "Red Hat Enterprise Linux release 8.9 (Ootpa)\n",
            ("rhel", "8.9"),
        ),
        (
            "etc/redhat-release",
            "Red Hat Enterprise Linux Server release 7.9 (Maipo)\n",
            ("rhel", "7.9"),
        ),
        ("etc/redhat-release", "Rocky Linux release 9.3 (Blue Onyx)\n", ("rocky", "9.3")),
        ("etc/redhat-release", "AlmaLinux release 9.4 (Seafoam Ocelot)\n", ("almalinux", "9.4")),
        ("etc/redhat-release", "Fedora release 39 (Thirty Nine)\n", ("fedora", "39")),
        ("etc/redhat-release", "Amazon Linux release 2 (Karoo)\n", ("amzn", "2")),
        (
            "etc/lsb-release",
            "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=22.04\nDISTRIB_CODENAME=jammy\n"
            'DISTRIB_DESCRIPTION="Ubuntu 22.04.4 LTS"\n',
            ("ubuntu", "22.04"),
        ),
    ],
)
def test_legacy_files(path: str, content: str, expected: tuple[str, str]) -> None:
    assert family_and_version(catalog(path, content)) == expected


@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("etc/alpine-release", ""),
        ("etc/alpine-release", "not a version\n"),
        ("etc/debian_version", "buster\n"),
        ("etc/redhat-release", "Some Other Linux release 1.0\n"),
        ("etc/redhat-release", "\n"),
        ("etc/lsb-release", "DISTRIB_ID=Ubuntu\n"),
    ],
)
def test_legacy_files_without_a_release(path: str, content: str) -> None:
    assert catalog(path, content).os is None


def test_this_machines_debian_version() -> None:
    path = Path("/etc/debian_version")
    if not path.is_file():
        pytest.skip("not a Debian machine")
    result = catalog("etc/debian_version", path.read_bytes())
    assert result.os is not None
    assert result.os.family == "debian"
    assert path.read_text().strip().startswith(result.os.version)


def test_wants_only_release_files() -> None:
    cataloger = OSReleaseCataloger()
    assert cataloger.wants("etc/os-release", 300, 0o644, CTX)
    assert cataloger.wants("usr/lib/os-release", 300, 0o644, CTX)
    assert not cataloger.wants("etc/os-release.d/x", 300, 0o644, CTX)
    assert not cataloger.wants("opt/etc/os-release", 300, 0o644, CTX)
    assert not cataloger.wants("etc/os-release", 10 << 20, 0o644, CTX)


def test_engine_prefers_os_release_and_falls_back_to_legacy_files() -> None:
    status = (
        "Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13.dfsg-1\n"
        "Architecture: amd64\nSource: zlib\n"
    )
    from stockade.inventory.dpkg import DpkgCataloger

    catalogers = [OSReleaseCataloger(), DpkgCataloger()]
    with_release = MemorySource(
        [
            {
                "etc/debian_version": "12.5\n",
                "etc/os-release": "ID=debian\nVERSION_ID=12\n",
                "var/lib/dpkg/status": status,
            }
        ]
    )
    inventory = build_inventory(with_release, catalogers, workers=1)
    assert inventory.os is not None
    assert (inventory.os.family, inventory.os.version) == ("debian", "12")
    (package,) = inventory.packages
    assert package == Package(
        name="zlib1g",
        version="1:1.2.13.dfsg-1",
        type=PackageType.DEB,
        purl="pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12&upstream=zlib",
        arch="amd64",
        source_name="zlib",
        source_version="1:1.2.13.dfsg-1",
        locations=package.locations,
        cataloger="dpkg",
    )

    # An os-release without any version gives way to the legacy file that has one.
    versionless = MemorySource(
        [{"etc/os-release": "ID=alpine\n", "etc/alpine-release": "3.18.4\n"}]
    )
    inventory = build_inventory(versionless, catalogers, workers=1)
    assert inventory.os is not None
    assert (inventory.os.family, inventory.os.version) == ("alpine", "3.18.4")


@settings(max_examples=300, deadline=None)
@given(
    path=st.sampled_from(
        [
            "etc/os-release",
            "etc/alpine-release",
            "etc/debian_version",
            "etc/redhat-release",
            "etc/lsb-release",
        ]
    ),
    data=st.binary(max_size=600)
    | st.text(alphabet=st.sampled_from("IDVERSION_=\"'\\ #\n/sid.0123abc"), max_size=200).map(
        str.encode
    ),
)
def test_fuzz_never_raises(path: str, data: bytes) -> None:
    # Release files are free text; no content is an error, only "no OS found".
    result = catalog(path, data)
    if result.os is not None:
        assert result.os.family
        assert result.os.version


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("path", "content"),
    [
        # A name followed by a long run of spaces, then no "release": the lazy name
        # pattern this replaced tried every split of the run (25 s at 60 KB).
        ("etc/redhat-release", "x" + " " * 60_000 + "y"),
        ("etc/redhat-release", "x release" + " " * 60_000 + "y"),
        # A long word with no "/sid" after it: searching for "<word>/sid" backtracked
        # over every suffix of the word.
        ("etc/os-release", "ID=debian\nPRETTY_NAME=" + "a" * 60_000 + "\n"),
        ("etc/debian_version", "a" * 60_000 + "/si\n"),
        ("etc/os-release", "ID=" + "'" * 60_000 + "\n"),
    ],
)
def test_hostile_lines_take_linear_time(path: str, content: str) -> None:
    for _ in range(20):
        assert catalog(path, content).os is None
