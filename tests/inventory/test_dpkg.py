"""dpkg's database: Trivy's real Ubuntu status file, this machine's, dpkg-query, copyright.

The expected list of Trivy's ``valid.txtar`` is the one its dpkg_test.go states (name,
epoch, version, release and the same for the source package), written here as full
Debian versions; ``dpkg-query`` prints the same list for that file, and the tests check
that it still does. This machine's own status file and ``/usr/share/doc/*/copyright``
files are read too, where they exist.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockade.artifact.memory import MemorySource
from stockade.core.errors import CatalogError
from stockade.core.models import Location, Package, PackageType
from stockade.inventory.dpkg import (
    DpkgCataloger,
    copyright_licenses,
    is_installed,
    version_problem,
)
from stockade.inventory.engine import build_inventory
from stockade.inventory.interface import CatalogContext, CatalogResult, FileContent

TRIVY_TXTAR = Path(__file__).parent.parent / "data" / "trivy" / "os" / "dpkg" / "valid.txtar"
CTX = CatalogContext()

# name, version, source name, source version, architecture: the 90 packages Trivy's
# dpkg_test.go expects from valid.txtar (the 91st stanza, git, is "deinstall ok
# config-files": removed, only its configuration files are left).
TRIVY_EXPECTED = """
adduser 3.116ubuntu1 adduser 3.116ubuntu1 all
apt 1.6.3ubuntu0.1 apt 1.6.3ubuntu0.1 amd64
base-files 10.1ubuntu2.2 base-files 10.1ubuntu2.2 amd64
base-passwd 3.5.44 base-passwd 3.5.44 amd64
bash 4.4.18-2ubuntu1 bash 4.4.18-2ubuntu1 amd64
bsdutils 1:2.31.1-0.4ubuntu3.1 util-linux 2.31.1-0.4ubuntu3.1 amd64
bzip2 1.0.6-8.1 bzip2 1.0.6-8.1 amd64
coreutils 8.28-1ubuntu1 coreutils 8.28-1ubuntu1 amd64
dash 0.5.8-2.10 dash 0.5.8-2.10 amd64
debconf 1.5.66 debconf 1.5.66 all
debianutils 4.8.4 debianutils 4.8.4 amd64
diffutils 1:3.6-1 diffutils 1:3.6-1 amd64
dpkg 1.19.0.5ubuntu2 dpkg 1.19.0.5ubuntu2 amd64
e2fsprogs 1.44.1-1 e2fsprogs 1.44.1-1 amd64
fdisk 2.31.1-0.4ubuntu3.1 util-linux 2.31.1-0.4ubuntu3.1 amd64
findutils 4.6.0+git+20170828-2 findutils 4.6.0+git+20170828-2 amd64
gcc-8-base 8-20180414-1ubuntu2 gcc-8 8-20180414-1ubuntu2 amd64
gpgv 2.2.4-1ubuntu1.1 gnupg2 2.2.4-1ubuntu1.1 amd64
grep 3.1-2 grep 3.1-2 amd64
gzip 1.6-5ubuntu1 gzip 1.6-5ubuntu1 amd64
hostname 3.20 hostname 3.20 amd64
init-system-helpers 1.51 init-system-helpers 1.51 all
libacl1 2.2.52-3build1 acl 2.2.52-3build1 amd64
libapt-pkg5.0 1.6.3ubuntu0.1 apt 1.6.3ubuntu0.1 amd64
libattr1 1:2.4.47-2build1 attr 1:2.4.47-2build1 amd64
libaudit-common 1:2.8.2-1ubuntu1 audit 1:2.8.2-1ubuntu1 all
libaudit1 1:2.8.2-1ubuntu1 audit 1:2.8.2-1ubuntu1 amd64
libblkid1 2.31.1-0.4ubuntu3.1 util-linux 2.31.1-0.4ubuntu3.1 amd64
libbz2-1.0 1.0.6-8.1 bzip2 1.0.6-8.1 amd64
libc-bin 2.27-3ubuntu1 glibc 2.27-3ubuntu1 amd64
libc6 2.27-3ubuntu1 glibc 2.27-3ubuntu1 amd64
libcap-ng0 0.7.7-3.1 libcap-ng 0.7.7-3.1 amd64
libcom-err2 1.44.1-1 e2fsprogs 1.44.1-1 amd64
libdb5.3 5.3.28-13.1ubuntu1 db5.3 5.3.28-13.1ubuntu1 amd64
libdebconfclient0 0.213ubuntu1 cdebconf 0.213ubuntu1 amd64
libext2fs2 1.44.1-1 e2fsprogs 1.44.1-1 amd64
libfdisk1 2.31.1-0.4ubuntu3.1 util-linux 2.31.1-0.4ubuntu3.1 amd64
libffi6 3.2.1-8 libffi 3.2.1-8 amd64
libgcc1 1:8-20180414-1ubuntu2 gcc-8 8-20180414-1ubuntu2 amd64
libgcrypt20 1.8.1-4ubuntu1.1 libgcrypt20 1.8.1-4ubuntu1.1 amd64
libgmp10 2:6.1.2+dfsg-2 gmp 2:6.1.2+dfsg-2 amd64
libgnutls30 3.5.18-1ubuntu1 gnutls28 3.5.18-1ubuntu1 amd64
libgpg-error0 1.27-6 libgpg-error 1.27-6 amd64
libhogweed4 3.4-1 nettle 3.4-1 amd64
libidn2-0 2.0.4-1.1build2 libidn2 2.0.4-1.1build2 amd64
liblz4-1 0.0~r131-2ubuntu3 lz4 0.0~r131-2ubuntu3 amd64
liblzma5 5.1.1alpha+20120614-2+b3 xz-utils 5.1.1alpha+20120614-2 amd64
libmount1 2.31.1-0.4ubuntu3.1 util-linux 2.31.1-0.4ubuntu3.1 amd64
libncurses5 6.1-1ubuntu1.18.04 ncurses 6.1-1ubuntu1.18.04 amd64
libncursesw5 6.1-1ubuntu1.18.04 ncurses 6.1-1ubuntu1.18.04 amd64
libnettle6 3.4-1 nettle 3.4-1 amd64
libp11-kit0 0.23.9-2 p11-kit 0.23.9-2 amd64
libpam-modules 1.1.8-3.6ubuntu2 pam 1.1.8-3.6ubuntu2 amd64
libpam-modules-bin 1.1.8-3.6ubuntu2 pam 1.1.8-3.6ubuntu2 amd64
libpam-runtime 1.1.8-3.6ubuntu2 pam 1.1.8-3.6ubuntu2 all
libpam0g 1.1.8-3.6ubuntu2 pam 1.1.8-3.6ubuntu2 amd64
libpcre3 2:8.39-9 pcre3 2:8.39-9 amd64
libprocps6 2:3.3.12-3ubuntu1.1 procps 2:3.3.12-3ubuntu1.1 amd64
libseccomp2 2.3.1-2.1ubuntu4 libseccomp 2.3.1-2.1ubuntu4 amd64
libselinux1 2.7-2build2 libselinux 2.7-2build2 amd64
libsemanage-common 2.7-2build2 libsemanage 2.7-2build2 all
libsemanage1 2.7-2build2 libsemanage 2.7-2build2 amd64
libsepol1 2.7-1 libsepol 2.7-1 amd64
libsmartcols1 2.31.1-0.4ubuntu3.1 util-linux 2.31.1-0.4ubuntu3.1 amd64
libss2 1.44.1-1 e2fsprogs 1.44.1-1 amd64
libstdc++6 8-20180414-1ubuntu2 gcc-8 8-20180414-1ubuntu2 amd64
libsystemd0 237-3ubuntu10.3 systemd 237-3ubuntu10.3 amd64
libtasn1-6 4.13-2 libtasn1-6 4.13-2 amd64
libtinfo5 6.1-1ubuntu1.18.04 ncurses 6.1-1ubuntu1.18.04 amd64
libudev1 237-3ubuntu10.3 systemd 237-3ubuntu10.3 amd64
libunistring2 0.9.9-0ubuntu1 libunistring 0.9.9-0ubuntu1 amd64
libustr-1.0-1 1.0.4-3+b2 ustr 1.0.4-3 amd64
libuuid1 2.31.1-0.4ubuntu3.1 util-linux 2.31.1-0.4ubuntu3.1 amd64
libzstd1 1.3.3+dfsg-2ubuntu1 libzstd 1.3.3+dfsg-2ubuntu1 amd64
login 1:4.5-1ubuntu1 shadow 1:4.5-1ubuntu1 amd64
lsb-base 9.20170808ubuntu1 lsb 9.20170808ubuntu1 all
mawk 1.3.3-17ubuntu3 mawk 1.3.3-17ubuntu3 amd64
mount 2.31.1-0.4ubuntu3.1 util-linux 2.31.1-0.4ubuntu3.1 amd64
ncurses-base 6.1-1ubuntu1.18.04 ncurses 6.1-1ubuntu1.18.04 all
ncurses-bin 6.1-1ubuntu1.18.04 ncurses 6.1-1ubuntu1.18.04 amd64
passwd 1:4.5-1ubuntu1 shadow 1:4.5-1ubuntu1 amd64
perl-base 5.26.1-6ubuntu0.2 perl 5.26.1-6ubuntu0.2 amd64
procps 2:3.3.12-3ubuntu1.1 procps 2:3.3.12-3ubuntu1.1 amd64
sed 4.4-2 sed 4.4-2 amd64
sensible-utils 0.0.12 sensible-utils 0.0.12 all
sysvinit-utils 2.88dsf-59.10ubuntu1 sysvinit 2.88dsf-59.10ubuntu1 amd64
tar 1.29b-2 tar 1.29b-2 amd64
ubuntu-keyring 2018.02.28 ubuntu-keyring 2018.02.28 all
util-linux 2.31.1-0.4ubuntu3.1 util-linux 2.31.1-0.4ubuntu3.1 amd64
zlib1g 1:1.2.11.dfsg-0ubuntu2 zlib 1:1.2.11.dfsg-0ubuntu2 amd64
"""


def expected_rows() -> set[tuple[str, ...]]:
    return {tuple(line.split()) for line in TRIVY_EXPECTED.strip().splitlines()}


def txtar_member(path: Path, name: str) -> bytes:
    """One file of a txtar archive: the lines after ``-- name --`` up to the next marker."""
    lines = path.read_bytes().split(b"\n")
    start = lines.index(f"-- {name} --".encode()) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith(b"-- ")), len(lines))
    return b"\n".join(lines[start:end]) + b"\n"


def catalog(path: str, content: bytes | str) -> CatalogResult:
    data = content.encode() if isinstance(content, str) else content
    cataloger = DpkgCataloger()
    assert cataloger.wants(path, len(data), 0o644, CTX)
    return cataloger.parse(FileContent(path, len(data), io.BytesIO(data), 1 << 30), CTX)


def as_row(package: Package) -> tuple[str, ...]:
    return (
        package.name,
        package.version,
        package.source_name or "",
        package.source_version or "",
        package.arch or "",
    )


def trivy_status() -> bytes:
    return txtar_member(TRIVY_TXTAR, "var/lib/dpkg/status")


def test_trivy_valid_status() -> None:
    result = catalog("var/lib/dpkg/status", trivy_status())
    assert len(expected_rows()) == 90
    assert [as_row(p) for p in result.packages if p.name == "git"] == []
    assert sorted(as_row(p) for p in result.packages) == sorted(expected_rows())
    assert {p.type for p in result.packages} == {PackageType.DEB}
    assert {p.cataloger for p in result.packages} == {"dpkg"}
    # dpkg's status file declares no licences (they live in copyright files).
    assert all(p.licenses == () for p in result.packages)
    assert not result.warnings


def dpkg_query_rows(admindir: Path) -> set[tuple[str, ...]]:
    out = subprocess.run(
        [
            "dpkg-query",
            f"--admindir={admindir}",
            "--show",
            "--showformat=${db:Status-Abbrev}\\t${Package}\\t${Version}\\t"
            "${source:Package}\\t${source:Version}\\t${Architecture}\\n",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rows = set()
    for line in out.splitlines():
        abbrev, *row = line.split("\t")
        # The second letter is the state: installed, unpacked, half-configured,
        # triggers-awaited, triggers-pending leave files on disk.
        if abbrev[1] in "iUFWt":
            rows.add(tuple(row))
    return rows


needs_dpkg_query = pytest.mark.skipif(
    shutil.which("dpkg-query") is None, reason="needs dpkg-query (a Debian-family machine)"
)


@needs_dpkg_query
def test_trivy_status_agrees_with_dpkg_query(tmp_path: Path) -> None:
    (tmp_path / "status").write_bytes(trivy_status())
    (tmp_path / "updates").mkdir()
    assert dpkg_query_rows(tmp_path) == expected_rows()


@needs_dpkg_query
def test_this_machines_status_agrees_with_dpkg_query() -> None:
    status = Path("/var/lib/dpkg/status")
    if not status.is_file():
        pytest.skip("no dpkg database on this machine")
    expected = dpkg_query_rows(status.parent)
    result = catalog("var/lib/dpkg/status", status.read_bytes())
    assert len(expected) > 50
    assert {as_row(p) for p in result.packages} == expected
    assert not result.warnings


DISTROLESS_BASE_FILES = """\
Package: base-files
Version: 12.4+deb12u5
Architecture: amd64
Maintainer: Santiago Vila <sanvila@debian.org>
Installed-Size: 341
Provides: base
Section: admin
Priority: required
Description: Debian base system miscellaneous files
 This package contains the basic filesystem hierarchy of a Debian system, and
 several important miscellaneous files.
"""

DISTROLESS_LIBSSL = """\
Package: libssl3
Source: openssl (3.0.11-1~deb12u2)
Version: 3.0.11-1~deb12u2+b1
Architecture: arm64
Multi-Arch: same
Description: Secure Sockets Layer toolkit - shared libraries
"""


def test_distroless_status_directory() -> None:
    # No Status field: every stanza in status.d is an installed package.
    base = catalog("var/lib/dpkg/status.d/base-files", DISTROLESS_BASE_FILES)
    ssl = catalog("var/lib/dpkg/status.d/libssl3", DISTROLESS_LIBSSL)
    assert [as_row(p) for p in base.packages] == [
        ("base-files", "12.4+deb12u5", "base-files", "12.4+deb12u5", "amd64")
    ]
    assert [as_row(p) for p in ssl.packages] == [
        ("libssl3", "3.0.11-1~deb12u2+b1", "openssl", "3.0.11-1~deb12u2", "arm64")
    ]


def test_distroless_image_through_the_engine() -> None:
    source = MemorySource(
        [
            {
                "etc/os-release": "ID=debian\nVERSION_ID=12\n",
                "var/lib/dpkg/status.d/base-files": DISTROLESS_BASE_FILES,
                "var/lib/dpkg/status.d/base-files.md5sums": "0123 etc/issue\n",
            },
            {"var/lib/dpkg/status.d/libssl3": DISTROLESS_LIBSSL},
        ]
    )
    from stockade.inventory.osrelease import OSReleaseCataloger

    inventory = build_inventory(source, [OSReleaseCataloger(), DpkgCataloger()], workers=1)
    by_name = {p.name: p for p in inventory.packages}
    assert set(by_name) == {"base-files", "libssl3"}
    assert by_name["libssl3"].purl == (
        "pkg:deb/debian/libssl3@3.0.11-1~deb12u2%2Bb1"
        "?arch=arm64&distro=debian-12&upstream=openssl%403.0.11-1~deb12u2"
    )
    (location,) = by_name["libssl3"].locations
    assert location.path == "var/lib/dpkg/status.d/libssl3"
    assert location.layer == source.layers()[1].info.diff_id
    assert by_name["base-files"].locations == (
        Location("var/lib/dpkg/status.d/base-files", source.layers()[0].info.diff_id),
    )


def test_wants() -> None:
    cataloger = DpkgCataloger()
    for path in (
        "var/lib/dpkg/status",
        "var/lib/dpkg/status.d/libc6",
        "usr/share/doc/libc6/copyright",
    ):
        assert cataloger.wants(path, 1, 0o644, CTX), path
    assert not cataloger.wants("usr/share/doc/libc6/copyright", 5 << 20, 0o644, CTX)
    for path in (
        "usr/share/doc/copyright",
        "usr/share/doc//copyright",
        "usr/share/doc/libc6/examples/copyright",
        "usr/share/doc/libc6/copyright.gz",
        "var/lib/dpkg/status-old",
        "var/lib/dpkg/available",
        "var/lib/dpkg/status.d/libc6.md5sums",
        "var/lib/dpkg/status.d/",
        "var/lib/dpkg/status.d/sub/libc6",
        "var/lib/dpkg/info/bash.list",
        "opt/var/lib/dpkg/status",
    ):
        assert not cataloger.wants(path, 1, 0o644, CTX), path


DEP5_COPYRIGHT = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: zlib
Source: https://zlib.net/

Files: *
Copyright: 1995-2022 Jean-loup Gailly and Mark Adler
License: Zlib

Files: contrib/dotzlib/*
Copyright: 2004 Henrik Ravn
License: BSL-1.0

Files: debian/*
Copyright: 2000-2023 Mark Brown
License:   GPL-2+   or  Zlib
 Some words about the packaging licence.

License: Zlib
 This software is provided 'as-is', without any express or implied
 warranty.
"""

FREE_FORM_COPYRIGHT = """\
This is the Debian prepackaged version of the ncurses library.

License: see /usr/share/common-licenses/GPL-2
"""


def test_copyright_licenses() -> None:
    assert copyright_licenses(DEP5_COPYRIGHT) == ("Zlib", "BSL-1.0", "GPL-2+ or Zlib")
    assert copyright_licenses(FREE_FORM_COPYRIGHT) == ()
    assert copyright_licenses("") == ()
    old_draft = "Format-Specification: http://svn.debian.org/wsvn/dep/web/deps/dep5.mdwn\n\n"
    assert copyright_licenses(old_draft + "Files: *\nLicense: MIT\n") == ("MIT",)


def test_licences_from_copyright_files_through_the_engine() -> None:
    status = (
        stanza("install ok installed", package="zlib1g", version="1:1.2.13.dfsg-1")
        + "\n"
        + stanza("install ok installed", package="libncursesw6", version="6.4-4")
        + "\n"
        + stanza("install ok installed", package="tzdata", version="2024a-0+deb12u1")
    )
    source = MemorySource(
        [
            {
                "var/lib/dpkg/status": status,
                "usr/share/doc/zlib1g/copyright": DEP5_COPYRIGHT,
                "usr/share/doc/libncursesw6/copyright": FREE_FORM_COPYRIGHT,
            }
        ]
    )
    inventory = build_inventory(source, [DpkgCataloger()], workers=1)
    licenses = {p.name: p.licenses for p in inventory.packages}
    assert licenses == {
        "zlib1g": ("Zlib", "BSL-1.0", "GPL-2+ or Zlib"),
        "libncursesw6": (),
        "tzdata": (),  # no copyright file in the image
    }
    # The copyright file lends licences; the package is still found in the status file.
    assert {p.locations[0].path for p in inventory.packages} == {"var/lib/dpkg/status"}


# A Format header naming the copyright format or one of its DEP-5 drafts, anywhere (a few
# real files put a free-text preamble before it, e.g. libgstreamer1.0-0's).
MACHINE_READABLE = re.compile(rb"^Format(-Specification)?:.*(copyright-format|dep5)", re.M | re.I)


def test_this_machines_copyright_files() -> None:
    docs = Path("/usr/share/doc")
    status = Path("/var/lib/dpkg/status")
    if not status.is_file() or not docs.is_dir():
        pytest.skip("no dpkg database or /usr/share/doc on this machine")
    cataloger = DpkgCataloger()
    results = {"var/lib/dpkg/status": catalog("var/lib/dpkg/status", status.read_bytes())}
    machine_readable = set()
    for path in docs.glob("*/copyright"):
        # An image's layer holds links as links, which the engine does not hand over.
        if path.is_symlink() or path.parent.is_symlink() or not path.is_file():
            continue
        relative = f"usr/share/doc/{path.parent.name}/copyright"
        data = path.read_bytes()
        if not cataloger.wants(relative, len(data), 0o644, CTX):
            continue
        results[relative] = catalog(relative, data)
        if MACHINE_READABLE.search(data):
            machine_readable.add(path.parent.name)
    final = cataloger.finalize(results, CTX)
    packages = final["var/lib/dpkg/status"].packages
    installed = {p.name for p in packages}
    assert {p.name for p in packages if p.licenses} == machine_readable & installed
    if "dpkg" in installed:
        assert "GPL-2+" in next(p.licenses for p in packages if p.name == "dpkg")


def stanza(status: str, **fields: str) -> str:
    lines = [f"Package: {fields.pop('package', 'pkg')}", f"Status: {status}"]
    lines += [f"{name.title()}: {value}" for name, value in fields.items()]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("status", "on_disk"),
    [
        ("install ok installed", True),
        ("hold ok installed", True),
        ("deinstall ok installed", True),  # selected for removal, not yet removed
        ("install ok unpacked", True),
        ("install ok half-configured", True),
        ("install ok triggers-pending", True),
        ("install ok triggers-awaited", True),
        ("deinstall ok config-files", False),
        ("purge ok not-installed", False),
        ("install reinstreq half-installed", False),
        ("install ok", False),
        ("", False),
    ],
)
def test_package_states(status: str, on_disk: bool) -> None:
    assert is_installed(status) is on_disk
    result = catalog("var/lib/dpkg/status", stanza(status, version="1.0-1"))
    assert len(result.packages) == int(on_disk)


def test_status_file_stanza_without_status_is_not_installed() -> None:
    result = catalog("var/lib/dpkg/status", "Package: orphan\nVersion: 1.0\n")
    assert result.packages == []
    assert not result.warnings


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (None, ("zlib1g", "1:1.2.13.dfsg-1")),
        ("zlib", ("zlib", "1:1.2.13.dfsg-1")),  # the source has the binary's version
        ("zlib (1.2.13.dfsg-1)", ("zlib", "1.2.13.dfsg-1")),  # stated: kept as stated
        ("zlib(1:1.2.13.dfsg-1)", ("zlib", "1:1.2.13.dfsg-1")),
        ("zlib (not a version!)", ("zlib", "1:1.2.13.dfsg-1")),
    ],
)
def test_source_package(source: str | None, expected: tuple[str, str]) -> None:
    fields = {"version": "1:1.2.13.dfsg-1", "package": "zlib1g"}
    if source is not None:
        fields["source"] = source
    (package,) = catalog("var/lib/dpkg/status", stanza("install ok installed", **fields)).packages
    assert (package.source_name, package.source_version) == expected
    assert package.version == "1:1.2.13.dfsg-1"


@pytest.mark.parametrize(
    ("version", "problem"),
    [
        ("1:2.3-4", None),
        ("2.3", None),
        ("1.0-1+b2", None),
        ("0.0~r131-2ubuntu3", None),
        ("1:2:3-4", None),  # colons after the epoch belong to the upstream version
        ("8-20180414-1ubuntu2", None),  # the last hyphen starts the revision
        ("", "empty version"),
        ("1.0 beta", "version contains a space"),
        ("x:1.0", "epoch is not a number"),
        ("99999999999:1.0", "epoch is not a number"),
        ("1:", "empty upstream version"),
        ("-1", "empty upstream version"),
        ("1:5.#", "invalid character in the upstream version"),
        ("1.0-", "invalid or empty revision"),
        ("1.0-a_b", "invalid or empty revision"),
    ],
)
def test_version_syntax(version: str, problem: str | None) -> None:
    assert version_problem(version) == problem


def test_bad_versions_are_skipped_with_a_warning() -> None:
    text = (
        stanza("install ok installed", package="good", version="1.0-1")
        + "\n"
        + stanza("install ok installed", package="hashed", version="1:5.#")
        + "\n"
        + stanza("install ok installed", package="versionless")
    )
    result = catalog("var/lib/dpkg/status", text)
    assert [p.name for p in result.packages] == ["good"]
    assert len(result.warnings) == 2
    assert "'hashed'" in result.warnings[0]
    assert "invalid character" in result.warnings[0]
    assert "'versionless'" in result.warnings[1]


def test_damaged_lines_keep_the_rest_of_the_file() -> None:
    # Description lines whose leading space was lost, and a stray line before any field:
    # dpkg would refuse the file; the packages around the damage are still reported.
    text = (
        "stray line at the top\n"
        + stanza("install ok installed", package="libpam-runtime", version="1.1.8-3.1ubuntu3")
        + "Description: Runtime support for the PAM library\n"
        + "Contains configuration files and  directories required for\n"
        + "Homepage: http://pam.sourceforge.net/\n"
        + "\n"
        + stanza("install ok installed", package="makedev", version="2.3.1-93ubuntu1")
    )
    result = catalog("var/lib/dpkg/status", text)
    assert [(p.name, p.version) for p in result.packages] == [
        ("libpam-runtime", "1.1.8-3.1ubuntu3"),
        ("makedev", "2.3.1-93ubuntu1"),
    ]
    (warning,) = result.warnings
    assert warning.startswith("2 malformed line(s) skipped, the first at line 1:")


def test_line_endings_and_form_feeds() -> None:
    text = stanza("install ok installed", version="1.0-1", description="x\fy").replace("\n", "\r\n")
    (package,) = catalog("var/lib/dpkg/status", text).packages
    assert (package.name, package.version) == ("pkg", "1.0-1")


def test_many_skipped_stanzas_give_a_bounded_number_of_warnings() -> None:
    text = "\n".join(
        stanza("install ok installed", package=f"p{i}", version="bad version") for i in range(500)
    )
    result = catalog("var/lib/dpkg/status", text)
    assert result.packages == []
    assert len(result.warnings) == 21
    assert result.warnings[-1] == "… and 480 more skipped stanza(s)"


@pytest.mark.parametrize("data", [b"\x00\x01\x02 not deb822\n\xff\xfe\n", b" leading space\n"])
def test_content_without_any_stanza_is_a_catalog_error(data: bytes) -> None:
    with pytest.raises(CatalogError, match="not a deb822 file"):
        catalog("var/lib/dpkg/status", data)


def test_empty_status_file_has_no_packages() -> None:
    result = catalog("var/lib/dpkg/status", b"")
    assert result.packages == []
    assert not result.warnings


@pytest.mark.timeout(20)
def test_long_fields_parse_in_linear_time() -> None:
    # Joining a field's continuation lines by repeated concatenation took minutes here.
    text = (
        stanza("install ok installed", version="1.0") + "Description: x\n" + " more\n" * 2_000_000
    )
    (package,) = catalog("var/lib/dpkg/status", text).packages
    assert package.name == "pkg"


# --- fuzzing: any content gives packages or CatalogError, nothing else ------------------

_DEB822_PIECES = st.sampled_from(
    [
        "Package: ",
        "Status: install ok installed\n",
        "Status: ",
        "Version: ",
        "Source: ",
        "Architecture: ",
        "Description: ",
        " continued\n",
        "\n",
        "\r\n",
        "(",
        ")",
        ":",
        "1:",
        "-",
        "~",
        "#",
        " ",
        "\t",
        "\f",
        "libc6",
        "2.36-9",
        "\x00",
        "\u2028",
        "\ufeff",
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n",
        "License: ",
        "Files: *\n",
    ]
)


@settings(max_examples=200, deadline=None)
@given(pieces=st.lists(_DEB822_PIECES, max_size=60))
def test_fuzz_structured(pieces: list[str]) -> None:
    text = "".join(pieces)
    for path in ("var/lib/dpkg/status", "var/lib/dpkg/status.d/x", "usr/share/doc/x/copyright"):
        try:
            result = catalog(path, text)
        except CatalogError:
            continue
        for package in result.packages:
            assert package.name
            assert version_problem(package.version) is None
            assert package.source_version is not None
            assert version_problem(package.source_version) is None


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=2048))
def test_fuzz_bytes(data: bytes) -> None:
    with contextlib.suppress(CatalogError):
        catalog("var/lib/dpkg/status", data)
    result = catalog("usr/share/doc/x/copyright", data)  # free text: never an error
    assert not result.packages


@settings(max_examples=100, deadline=None)
@given(
    positions=st.lists(st.integers(min_value=0), min_size=1, max_size=8),
    values=st.lists(st.sampled_from(b"\n :()-\x00\xff#\t"), min_size=8, max_size=8),
)
def test_fuzz_damaged_real_status(positions: list[int], values: list[int]) -> None:
    damaged = bytearray(trivy_status())
    for position, value in zip(positions, values, strict=False):
        damaged[position % len(damaged)] = value
    try:
        result = catalog("var/lib/dpkg/status", bytes(damaged))
    except CatalogError:
        return
    # A few damaged bytes cost at most the stanzas they touch.
    assert len(result.packages) >= 90 - 2 * len(positions)
