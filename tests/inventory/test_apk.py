"""apk's installed database: Trivy's real Alpine file, apk-tools' layout, hostile input.

The expected list of Trivy's ``apk/installed`` is the one its apk_test.go states.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockade.artifact.memory import MemorySource
from stockade.core.errors import CatalogError
from stockade.core.models import Package, PackageType
from stockade.inventory.apk import ApkCataloger
from stockade.inventory.engine import build_inventory
from stockade.inventory.interface import CatalogContext, CatalogResult, FileContent
from stockade.inventory.osrelease import OSReleaseCataloger

TRIVY_INSTALLED = Path(__file__).parent.parent / "data" / "trivy" / "os" / "apk" / "installed"
CTX = CatalogContext()

# name, version, architecture, origin (source package): the 15 packages Trivy's
# apk_test.go expects, in file order. The file's sixteenth record,
# "invalidPackageWithoutAVersion", has no V: line and is left out by both.
TRIVY_EXPECTED = [
    ("musl", "1.1.14-r10", "x86_64", "musl"),
    ("busybox", "1.24.2-r9", "x86_64", "busybox"),
    ("alpine-baselayout", "3.0.3-r0", "x86_64", "alpine-baselayout"),
    ("alpine-keys", "1.1-r0", "x86_64", "alpine-keys"),
    ("zlib", "1.2.8-r2", "x86_64", "zlib"),
    ("libcrypto1.0", "1.0.2h-r1", "x86_64", "openssl"),
    ("libssl1.0", "1.0.2h-r1", "x86_64", "openssl"),
    ("apk-tools", "2.6.7-r0", "x86_64", "apk-tools"),
    ("scanelf", "1.1.6-r0", "x86_64", "pax-utils"),
    ("musl-utils", "1.1.14-r10", "x86_64", "musl"),
    ("libc-utils", "0.7-r0", "x86_64", "libc-dev"),
    ("pkgconf", "1.6.0-r0", "x86_64", "pkgconf"),
    ("sqlite-libs", "3.26.0-r3", "x86_64", "sqlite"),
    ("test", "2.9.11_pre20061021-r2", "x86_64", "test-parent"),
    ("ada-libs", "2.7.4-r0", "x86_64", "ada"),
]
# The licences Trivy expects, after it has rewritten the declared L: values as SPDX ids.
TRIVY_LICENSES = {
    "musl": ("MIT",),
    "busybox": ("GPL-2.0-only",),
    "alpine-baselayout": ("GPL-2.0-only",),
    "alpine-keys": ("GPL-2.0-or-later",),
    "zlib": ("Zlib",),
    "libcrypto1.0": ("OpenSSL",),
    "libssl1.0": ("OpenSSL",),
    "apk-tools": ("GPL-2.0-only",),
    "scanelf": ("GPL-2.0-only",),
    "musl-utils": ("MIT", "BSD-3-Clause", "GPL-2.0-or-later"),
    "libc-utils": ("GPL-2.0-or-later",),
    "pkgconf": ("ISC",),
    "sqlite-libs": ("Public-Domain",),
    "test": ("Public-Domain",),
    "ada-libs": ("Apache-2.0", "MIT", "MPL-2.0"),
}
# What the file itself declares (its L: lines), which is what Stockade reports.
DECLARED_LICENSES = {
    "musl": "MIT",
    "busybox": "GPL2",
    "alpine-baselayout": "GPL2",
    "alpine-keys": "GPL",
    "zlib": "zlib",
    "libcrypto1.0": "openssl",
    "libssl1.0": "openssl",
    "apk-tools": "GPL2",
    "scanelf": "GPL2",
    "musl-utils": "MIT BSD GPL2+",
    "libc-utils": "GPL",
    "pkgconf": "ISC",
    "sqlite-libs": "Public-Domain",
    "test": "Public-Domain",
    "ada-libs": "( Apache-2.0 OR MIT ) AND MPL-2.0",
}
# Where the two differ, Trivy's expectation comes from its own licence table, not from the
# file: it maps apk's free-text names to SPDX ids and splits expressions into a flat list
# (losing AND/OR). Stockade reports the L: value as declared (test_declared_licenses).
LICENSE_NORMALISED_BY_TRIVY = {
    name for name, text in DECLARED_LICENSES.items() if (text,) != TRIVY_LICENSES[name]
}


def catalog(path: str, content: bytes | str) -> CatalogResult:
    data = content.encode() if isinstance(content, str) else content
    cataloger = ApkCataloger()
    assert cataloger.wants(path, len(data), 0o644, CTX)
    return cataloger.parse(FileContent(path, len(data), io.BytesIO(data), 1 << 30), CTX)


def trivy_result() -> CatalogResult:
    return catalog("lib/apk/db/installed", TRIVY_INSTALLED.read_bytes())


def test_trivy_installed() -> None:
    result = trivy_result()
    found = [(p.name, p.version, p.arch, p.source_name) for p in result.packages]
    assert found == TRIVY_EXPECTED
    # An apk's origin is built by the same APKBUILD run: the source has its version.
    assert all(p.source_version == p.version for p in result.packages)
    assert {p.type for p in result.packages} == {PackageType.APK}
    assert {p.cataloger for p in result.packages} == {"apk"}
    (warning,) = result.warnings
    assert warning == (
        "1 record(s) without a name or version skipped: 'invalidPackageWithoutAVersion'"
    )


def test_declared_licenses() -> None:
    licenses = {p.name: p.licenses for p in trivy_result().packages}
    assert licenses == {name: (text,) for name, text in DECLARED_LICENSES.items()}


@pytest.mark.parametrize("name", sorted(TRIVY_LICENSES))
def test_trivy_licenses(name: str) -> None:
    if name in LICENSE_NORMALISED_BY_TRIVY:
        pytest.skip(
            f"Trivy-specific licence normalisation: the file declares "
            f"{DECLARED_LICENSES[name]!r}, Trivy's table rewrites it as {TRIVY_LICENSES[name]!r}"
        )
    licenses = {p.name: p.licenses for p in trivy_result().packages}
    assert licenses[name] == TRIVY_LICENSES[name]


def test_wants() -> None:
    cataloger = ApkCataloger()
    assert cataloger.wants("lib/apk/db/installed", 1, 0o644, CTX)
    assert cataloger.wants("usr/lib/apk/db/installed", 1, 0o644, CTX)
    for path in ("lib/apk/db/triggers", "lib/apk/db/installed.new", "x/lib/apk/db/installed"):
        assert not cataloger.wants(path, 1, 0o644, CTX), path


WOLFI_RECORD = """\
C:Q1abc=
P:glibc
V:2.39-r5
A:aarch64
S:1
I:2
T:the GNU C library
U:https://www.gnu.org/software/libc
L:LGPL-2.1-or-later
o:glibc
m:Wolfi
t:1716000000
c:0123456789abcdef
F:usr/lib
R:libc.so.6
Z:Q1def=
R:libm.so.6
Z:Q1ghi=
"""


def test_record_fields() -> None:
    (package,) = catalog("usr/lib/apk/db/installed", WOLFI_RECORD).packages
    assert package == Package(
        name="glibc",
        version="2.39-r5",
        type=PackageType.APK,
        arch="aarch64",
        source_name="glibc",
        source_version="2.39-r5",
        licenses=("LGPL-2.1-or-later",),
        cataloger="apk",
    )


def test_record_without_origin_or_licence() -> None:
    (package,) = catalog("lib/apk/db/installed", "P:tiny\nV:1-r0\n").packages
    assert (package.source_name, package.source_version) == ("tiny", "1-r0")
    assert package.licenses == ()
    assert package.arch is None


def test_engine_gives_purls_with_the_distro() -> None:
    source = MemorySource(
        [
            {
                "etc/os-release": "ID=alpine\nVERSION_ID=3.19.1\n",
                "lib/apk/db/installed": TRIVY_INSTALLED.read_bytes(),
            }
        ]
    )
    inventory = build_inventory(source, [OSReleaseCataloger(), ApkCataloger()], workers=1)
    purls = {p.name: p.purl for p in inventory.packages}
    assert purls["libssl1.0"] == (
        "pkg:apk/alpine/libssl1.0@1.0.2h-r1?arch=x86_64&distro=alpine-3.19.1&upstream=openssl"
    )
    assert all(p.locations[0].path == "lib/apk/db/installed" for p in inventory.packages)


def test_damaged_lines_keep_the_rest_of_the_file() -> None:
    text = "P:first\nV:1-r0\nthis line is damaged\n\nP:second\nV:2-r0\nX\n"
    result = catalog("lib/apk/db/installed", text)
    assert [p.name for p in result.packages] == ["first", "second"]
    assert result.warnings == [
        "2 malformed line(s) skipped, the first at line 3: 'this line is damaged'"
    ]


def test_windows_line_endings() -> None:
    (package,) = catalog("lib/apk/db/installed", "P:a\r\nV:1-r0\r\nA:x86_64\r\n").packages
    assert (package.name, package.version, package.arch) == ("a", "1-r0", "x86_64")


@pytest.mark.parametrize("data", [b"\x00\x01garbage\n\xff\xfe\n", b"not an apk database\n"])
def test_content_without_any_record_is_a_catalog_error(data: bytes) -> None:
    with pytest.raises(CatalogError, match="not an apk installed database"):
        catalog("lib/apk/db/installed", data)


def test_names_or_versions_with_spaces_are_skipped() -> None:
    result = catalog("lib/apk/db/installed", "P:a b\nV:1\n\nP:c\nV:1 2\n\nP:ok\nV:1\n")
    assert [p.name for p in result.packages] == ["ok"]
    assert result.warnings == ["2 record(s) without a name or version skipped: 'a b', 'c'"]


# --- fuzzing: any content gives packages or CatalogError, nothing else ------------------

_APK_FIELDS = ["P:", "V:", "A:", "o:", "L:", "Z:Q1=", "musl", "1.2.4-r2", "x86_64", ":", " "]
_APK_PIECES = st.sampled_from([*_APK_FIELDS, "é", "\n", "\r\n", "\n\n", "\x00", "\u2028", "\ufeff"])


@settings(max_examples=200, deadline=None)
@given(pieces=st.lists(_APK_PIECES, max_size=60))
def test_fuzz_structured(pieces: list[str]) -> None:
    try:
        result = catalog("lib/apk/db/installed", "".join(pieces))
    except CatalogError:
        return
    for package in result.packages:
        assert package.name
        assert package.version
        assert not any(c.isspace() for c in package.name + package.version)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=2048))
def test_fuzz_bytes(data: bytes) -> None:
    with contextlib.suppress(CatalogError):
        catalog("lib/apk/db/installed", data)
