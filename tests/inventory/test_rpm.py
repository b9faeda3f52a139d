"""rpm databases in all three formats, written by rpm itself (see tests/data/rpm/README.md).

The expected lists are what ``rpm -qa`` printed for each database when it was made.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import struct
import subprocess
import zlib
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockade.artifact.memory import MemorySource
from stockade.core.errors import CatalogError
from stockade.core.models import Package, PackageType
from stockade.inventory.engine import build_inventory
from stockade.inventory.interface import EMPTY, CatalogContext, CatalogResult, FileContent
from stockade.inventory.osrelease import OSReleaseCataloger
from stockade.inventory.rpm import RpmCataloger, package_from_header, read_blobs
from stockade.inventory.rpmdb import (
    RpmHeader,
    parse_header_blob,
    read_bdb_hash_blobs,
    read_ndb_blobs,
    read_sqlite_blobs,
)

DATA = Path(__file__).parent.parent / "data" / "rpm"
CTX = CatalogContext()

# database directory in tests/data/rpm → (file name, path the cataloger sees it at)
DATABASES = {
    "sqlite": ("rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite"),
    "ndb": ("Packages.db", "var/lib/rpm/Packages.db"),
    "bdb-le-4096": ("Packages", "var/lib/rpm/Packages"),
    "bdb-be-512": ("Packages", "var/lib/rpm/Packages"),
    "bdb-le-8192": ("Packages", "usr/share/rpm/Packages"),
}
# The query the recorded rpm-qa.txt lists were made with.
QF = "%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{LICENSE}\\t%{SOURCERPM}\\n"
# Instance numbers rpm gave the 13 installs; 8 (stockade-part-04) was erased again.
INSTANCES = [1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13]


def database_bytes(name: str) -> bytes:
    return (DATA / name / DATABASES[name][0]).read_bytes()


def catalog(path: str, data: bytes) -> CatalogResult:
    cataloger = RpmCataloger()
    assert cataloger.wants(path, len(data), 0o644, CTX)
    return cataloger.parse(FileContent(path, len(data), io.BytesIO(data), 1 << 30), CTX)


def rpm_qa_rows(text: str) -> set[tuple[str, ...]]:
    return {tuple(line.split("\t")) for line in text.splitlines() if line}


def as_rpm_qa_row(package: Package) -> tuple[str, ...]:
    """A Package in the shape of one line of the recorded ``rpm -qa --qf`` output."""
    version, release = package.version.rsplit("-", 1)
    source_rpm = f"{package.source_name}-{package.source_version}.src.rpm"
    return (
        package.name,
        "(none)" if package.epoch is None else str(package.epoch),
        version,
        release,
        package.arch or "(none)",
        " ".join(package.licenses),
        source_rpm,
    )


@pytest.mark.parametrize("name", sorted(DATABASES))
def test_agrees_with_rpm_qa(name: str) -> None:
    expected = rpm_qa_rows((DATA / name / "rpm-qa.txt").read_text())
    assert len(expected) == 12
    result = catalog(DATABASES[name][1], database_bytes(name))
    found = {as_rpm_qa_row(p) for p in result.packages}
    # rpm lists the imported signing key as a package; the cataloger leaves it out.
    assert found == {row for row in expected if row[0] != "gpg-pubkey"}
    assert len(result.packages) == 11
    assert {p.cataloger for p in result.packages} == {"rpm"}
    assert {p.type for p in result.packages} == {PackageType.RPM}


@pytest.mark.parametrize("name", sorted(DATABASES))
def test_readers_yield_every_instance(name: str) -> None:
    blobs = read_blobs(database_bytes(name), where=name)
    assert [instance for instance, _ in blobs] == INSTANCES
    headers = [parse_header_blob(blob) for _, blob in blobs]
    pubkey = next(h for h in headers if h.name == "gpg-pubkey")
    assert pubkey.arch is None
    # rpm writes the literal "(none)" as the source rpm of an imported key.
    assert pubkey.source_rpm == "(none)"


def test_the_formats_hold_the_same_blobs() -> None:
    # The Berkeley DB files were loaded from the SQLite blobs: byte-for-byte equal.
    sqlite_blobs = read_sqlite_blobs(database_bytes("sqlite"))
    for name in ("bdb-le-4096", "bdb-be-512", "bdb-le-8192"):
        assert read_bdb_hash_blobs(database_bytes(name)) == sqlite_blobs
    ndb_blobs = read_ndb_blobs(database_bytes("ndb"))
    assert [i for i, _ in ndb_blobs] == [i for i, _ in sqlite_blobs]


def test_fields_of_one_package() -> None:
    result = catalog("var/lib/rpm/rpmdb.sqlite", database_bytes("sqlite"))
    by_name = {p.name: p for p in result.packages}
    assert by_name["stockade-cli"] == Package(
        name="stockade-cli",
        version="1.4.2-3.fixture",
        type=PackageType.RPM,
        arch="noarch",
        epoch=2,
        source_name="stockade-suite",
        source_version="1.4.2-3.fixture",
        licenses=("GPL-2.0-or-later AND (MIT OR Apache-2.0)",),
        cataloger="rpm",
    )
    assert by_name["tiny-native"].epoch == 0
    assert by_name["tiny-native"].arch == "x86_64"
    assert by_name["tiny-zoneinfo"].epoch is None


@pytest.mark.skipif(shutil.which("rpm") is None, reason="needs the rpm command")
@pytest.mark.parametrize(
    ("name", "backend"),
    [("sqlite", "sqlite"), ("bdb-le-4096", "bdb_ro"), ("bdb-be-512", "bdb_ro")],
)
def test_rpm_still_reads_the_committed_databases(name: str, backend: str, tmp_path: Path) -> None:
    # rpm may write lock and journal files beside a database: give it a copy.
    shutil.copy(DATA / name / DATABASES[name][0], tmp_path)
    listed = subprocess.run(
        ["rpm", "--dbpath", str(tmp_path), "--define", f"_db_backend {backend}", "-qa", "--qf", QF],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert rpm_qa_rows(listed) == rpm_qa_rows((DATA / name / "rpm-qa.txt").read_text())


@pytest.mark.skipif(
    shutil.which("rpm") is None or shutil.which("rpmbuild") is None,
    reason="needs rpm and rpmbuild (Debian: apt-get install rpm)",
)
def test_a_database_rpm_writes_now(tmp_path: Path) -> None:
    # Not the committed fixtures: packages built and installed by this machine's rpm,
    # into a database it creates, so a change in rpm's writer shows up here.
    for spec in sorted((DATA / "specs").glob("*.spec")):
        subprocess.run(
            [
                "rpmbuild",
                "--quiet",
                "--define",
                f"_topdir {tmp_path / 'build'}",
                "--define",
                "debug_package %{nil}",
                "--define",
                "_build_id_links none",
                "-bb",
                str(spec),
            ],
            check=True,
            capture_output=True,
        )
    packages = sorted(str(p) for p in (tmp_path / "build" / "RPMS").rglob("*.rpm"))
    assert len(packages) == 12
    dbpath = tmp_path / "db"
    rpm = ["rpm", "--dbpath", str(dbpath), "--define", "_db_backend sqlite"]
    subprocess.run([*rpm, "--initdb"], check=True, capture_output=True)
    subprocess.run([*rpm, "--nodeps", "--justdb", "-i", *packages], check=True, capture_output=True)
    subprocess.run(
        [*rpm, "--nodeps", "--justdb", "-e", "stockade-part-02"], check=True, capture_output=True
    )
    listed = subprocess.run(
        [*rpm, "-qa", "--qf", QF], check=True, capture_output=True, text=True
    ).stdout
    result = catalog("var/lib/rpm/rpmdb.sqlite", (dbpath / "rpmdb.sqlite").read_bytes())
    assert {as_rpm_qa_row(p) for p in result.packages} == rpm_qa_rows(listed)
    assert len(result.packages) == 11
    assert "stockade-part-02" not in {p.name for p in result.packages}


def test_engine_builds_purls_from_the_os() -> None:
    source = MemorySource(
        [
            {
                "etc/os-release": 'ID="rocky"\nVERSION_ID="9.3"\n',
                "var/lib/rpm/rpmdb.sqlite": database_bytes("sqlite"),
            }
        ]
    )
    inventory = build_inventory(source, [OSReleaseCataloger(), RpmCataloger()], workers=1)
    purls = {p.name: p.purl for p in inventory.packages}
    assert purls["stockade-cli"] == (
        "pkg:rpm/rocky/stockade-cli@1.4.2-3.fixture"
        "?arch=noarch&distro=rocky-9.3&epoch=2&upstream=stockade-suite"
    )
    assert purls["tiny-zoneinfo"] == (
        "pkg:rpm/rocky/tiny-zoneinfo@2026a-1?arch=noarch&distro=rocky-9.3"
    )


def test_wants_the_database_files_only() -> None:
    cataloger = RpmCataloger()
    for path in (
        "var/lib/rpm/rpmdb.sqlite",
        "var/lib/rpm/Packages",
        "var/lib/rpm/Packages.db",
        "usr/lib/sysimage/rpm/rpmdb.sqlite",
        "usr/lib/sysimage/rpm/Packages.db",
        "usr/share/rpm/Packages",
    ):
        assert cataloger.wants(path, 1, 0o644, CTX), path
    for path in (
        "var/lib/rpm/Index.db",
        "var/lib/rpm/Name",
        "var/lib/rpm/rpmdb.sqlite-wal",
        "opt/var/lib/rpm/Packages",
        "var/lib/rpm/old/Packages",
        "Packages",
    ):
        assert not cataloger.wants(path, 1, 0o644, CTX), path


def test_an_empty_file_has_no_packages() -> None:
    assert catalog("var/lib/rpm/Packages", b"") is EMPTY


@pytest.mark.parametrize(
    "data",
    [b"not a database at all", b"SQLite format 3\x00" + b"\x00" * 50, b"RpmP\x00"],
)
def test_other_content_is_a_catalog_error(data: bytes) -> None:
    with pytest.raises(CatalogError):
        catalog("var/lib/rpm/Packages", data)


def test_truncated_databases_are_catalog_errors() -> None:
    for name in DATABASES:
        data = database_bytes(name)
        with pytest.raises(CatalogError):
            read_blobs(data[: len(data) // 2], where=name)


def test_sqlite_without_packages_table(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE VIEW Packages AS SELECT 1 AS hnum, x'00' AS blob")
    data = path.read_bytes()
    with pytest.raises(CatalogError, match="no Packages table"):
        read_sqlite_blobs(data)


def test_bdb_page_loop_is_refused() -> None:
    data = bytearray(database_bytes("bdb-le-8192"))
    pagesize = 8192
    # Point the first bucket page's "next page" at itself.
    (max_bucket,) = struct.unpack_from("<I", data, 72)
    spares = struct.unpack_from("<32I", data, 96)
    first = 0 + spares[0]
    struct.pack_into("<I", data, first * pagesize + 16, first)
    assert max_bucket >= 0
    with pytest.raises(CatalogError, match="reached twice"):
        read_bdb_hash_blobs(bytes(data))


def first_used_ndb_slot(data: bytes | bytearray) -> int:
    """Byte offset of the first slot that holds a package (offset 0 marks a free slot)."""
    slot = 32
    while struct.unpack_from("<I", data, slot + 8)[0] == 0:
        slot += 16
    return slot


def test_ndb_with_a_reused_slot_and_a_hole() -> None:
    # rpm wrote this one after erasing two packages and installing one of them again:
    # the reinstall took the first free slot and a new instance number, and its blob
    # went after the last one, leaving the erased package's blocks unused.
    data = (DATA / "ndb-reused" / "Packages.db").read_bytes()
    slots = [struct.unpack_from("<III", data, at + 4) for at in range(32, 4096, 16)]
    used = [(index, offset) for index, offset, _ in slots if offset]
    assert [index for index, _ in used] != sorted(index for index, _ in used)
    assert [offset for _, offset in used] != sorted(offset for _, offset in used)
    blobs = read_ndb_blobs(data)
    assert [index for index, _ in blobs] == [1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 13]
    result = catalog("usr/lib/sysimage/rpm/Packages.db", data)
    expected = rpm_qa_rows((DATA / "ndb-reused" / "rpm-qa.txt").read_text())
    assert {as_rpm_qa_row(p) for p in result.packages} == expected
    assert len(result.packages) == 11


def test_ndb_checksum_is_verified() -> None:
    data = bytearray(database_bytes("ndb"))
    # The first used slot names the first blob; damage one byte inside its header.
    (offset,) = struct.unpack_from("<I", data, first_used_ndb_slot(data) + 8)
    data[offset * 16 + 40] ^= 0xFF
    with pytest.raises(CatalogError, match="checksum"):
        read_ndb_blobs(bytes(data))


@pytest.mark.parametrize(
    ("block_count", "message"),
    [(0xFFFFFFFF, "past the end of the file"), (0, "malformed")],
)
def test_ndb_absurd_slot_sizes(block_count: int, message: str) -> None:
    data = bytearray(database_bytes("ndb"))
    struct.pack_into("<I", data, first_used_ndb_slot(data) + 12, block_count)
    with pytest.raises(CatalogError, match=message):
        read_ndb_blobs(bytes(data))


def first_big_item(data: bytearray, order: str, pagesize: int) -> int:
    """Byte offset in ``data`` of the first big-item reference on a bucket page."""
    for page in range(1, len(data) // pagesize):
        start = page * pagesize
        if data[start + 25] != 13:  # not a hash page
            continue
        (entries,) = struct.unpack_from(order + "H", data, start + 20)
        for index in range(entries):
            (offset,) = struct.unpack_from(order + "H", data, start + 26 + 2 * index)
            if data[start + offset] == 3:  # H_OFFPAGE
                return start + offset
    raise AssertionError("no big item")


@pytest.mark.parametrize("total", [0xFFFFFFFF, 0])
def test_bdb_big_item_of_absurd_length(total: int) -> None:
    # A 4 GiB big item in a 60 KiB file must be refused before anything is allocated.
    data = bytearray(database_bytes("bdb-le-4096"))
    item = first_big_item(data, "<", 4096)
    struct.pack_into("<I", data, item + 8, total)
    with pytest.raises(CatalogError, match="implausible length"):
        read_bdb_hash_blobs(bytes(data))


def test_bdb_big_item_longer_than_its_pages() -> None:
    data = bytearray(database_bytes("bdb-le-4096"))
    item = first_big_item(data, "<", 4096)
    (total,) = struct.unpack_from("<I", data, item + 8)
    struct.pack_into("<I", data, item + 8, total + 1)
    with pytest.raises(CatalogError, match=r"ends before its stated length|bad length"):
        read_bdb_hash_blobs(bytes(data))


@pytest.mark.parametrize(
    ("offset", "value", "message"),
    [
        (16, 7, "unsupported hash version"),
        (20, 1000, "invalid page size"),
        (32, 0xFFFF, "metadata names page"),
        (72, 0xFFFFFF, "implausible highest bucket"),
    ],
)
def test_bdb_absurd_metadata(offset: int, value: int, message: str) -> None:
    data = bytearray(database_bytes("bdb-le-4096"))
    struct.pack_into("<I", data, offset, value)
    with pytest.raises(CatalogError, match=message):
        read_bdb_hash_blobs(bytes(data))


def test_bdb_btree_is_named() -> None:
    data = bytearray(database_bytes("bdb-le-4096"))
    struct.pack_into("<I", data, 12, 0x053162)
    with pytest.raises(CatalogError, match="btree"):
        read_blobs(bytes(data), where="Packages")


def sqlite_database(tmp_path: Path, rows: Sequence[tuple[int, object]]) -> bytes:
    """An SQLite file with rpm's Packages table holding ``rows``."""
    import sqlite3

    path = tmp_path / "rpmdb.sqlite"
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB)")
        db.executemany("INSERT INTO Packages VALUES (?, ?)", rows)
        db.commit()
    return path.read_bytes()


def test_one_damaged_header_is_skipped_with_a_warning(tmp_path: Path) -> None:
    # rpm -qa skips a header it cannot read and lists the rest; so does the cataloger.
    rows = read_sqlite_blobs(database_bytes("sqlite"))
    damaged = bytearray(rows[3][1])
    struct.pack_into(">I", damaged, 0, 0x7FFFFFFF)  # an absurd index entry count
    rows[3] = (rows[3][0], bytes(damaged))
    result = catalog("var/lib/rpm/rpmdb.sqlite", sqlite_database(tmp_path, rows))
    assert len(result.packages) == 10
    (warning,) = result.warnings
    assert (
        warning
        == f"package {rows[3][0]}: malformed rpm header: implausible index entry count 2147483647"
    )


def test_damaged_header_warnings_are_bounded(tmp_path: Path) -> None:
    rows = [(n, b"\x00" * 8) for n in range(1, 101)]
    result = catalog("var/lib/rpm/rpmdb.sqlite", sqlite_database(tmp_path, rows))
    assert result.packages == []
    assert len(result.warnings) == 21
    assert result.warnings[-1] == "… and 80 more damaged headers skipped"


def test_sqlite_rows_that_are_not_blobs(tmp_path: Path) -> None:
    data = sqlite_database(tmp_path, [(1, "text, not a blob")])
    assert read_sqlite_blobs(data) == [(1, b"text, not a blob")]
    result = catalog("var/lib/rpm/rpmdb.sqlite", data)
    assert result.packages == []
    assert len(result.warnings) == 1


# --- header blobs built by hand, for cases no real database holds -----------------------


def build_header(entries: list[tuple[int, int, bytes, int]]) -> bytes:
    """A header blob from (tag, type, value bytes, count), aligning INT32 values."""
    index = b""
    store = b""
    for tag, kind, value, count in entries:
        if kind == 4:
            store += b"\x00" * (-len(store) % 4)
        index += struct.pack(">iIiI", tag, kind, len(store), count)
        store += value
    return struct.pack(">II", len(entries), len(store)) + index + store


def test_header_string_types_and_missing_fields() -> None:
    blob = build_header(
        [
            (1000, 6, b"bash\x00", 1),
            (1001, 6, b"5.1.8\x00", 1),
            (1002, 6, b"6.el9\x00", 1),
            (1014, 9, b"GPLv3+\x00Lizenz\x00", 2),
            (1022, 6, b"x86_64\x00", 1),
            (1003, 4, struct.pack(">i", 1), 1),
        ]
    )
    assert parse_header_blob(blob) == RpmHeader(
        name="bash", version="5.1.8", release="6.el9", epoch=1, arch="x86_64", license="GPLv3+"
    )
    package = package_from_header(parse_header_blob(blob))
    assert (package.version, package.source_name, package.source_version) == (
        "5.1.8-6.el9",
        None,
        None,
    )


@pytest.mark.parametrize(
    "entries",
    [
        [(1001, 6, b"1.0\x00", 1)],  # no name
        [(1000, 6, b"x\x00", 1), (1001, 4, struct.pack(">i", 3), 1)],  # version not a string
        [(1001, 6, b"1\x00", 1), (1000, 6, b"unterminated", 1)],
        [(1000, 6, b"x\x00", 1), (1001, 6, b"1\x00", 1), (1003, 4, struct.pack(">i", -1), 1)],
        [(1000, 6, b"x\x00", 1), (1001, 6, b"1\x00", 1), (1003, 6, b"1\x00", 1)],
    ],
)
def test_malformed_headers(entries: list[tuple[int, int, bytes, int]]) -> None:
    with pytest.raises(CatalogError):
        parse_header_blob(build_header(entries))


def test_header_offsets_outside_the_store() -> None:
    blob = bytearray(build_header([(1000, 6, b"x\x00", 1), (1001, 6, b"1\x00", 1)]))
    struct.pack_into(">i", blob, 8 + 8, 4096)  # NAME's offset
    with pytest.raises(CatalogError, match="outside"):
        parse_header_blob(bytes(blob))


@pytest.mark.parametrize(
    ("source_rpm", "expected"),
    [
        ("util-linux-2.37.4-18.el9.src.rpm", ("util-linux", "2.37.4-18.el9")),
        ("kernel-5.14.0-427.13.1.el9_4.nosrc.rpm", ("kernel", "5.14.0-427.13.1.el9_4")),
        ("garbage", (None, None)),
    ],
)
def test_source_rpm_names(source_rpm: str, expected: tuple[str | None, str | None]) -> None:
    header = RpmHeader(name="x", version="1", release="1", source_rpm=source_rpm)
    package = package_from_header(header)
    assert (package.source_name, package.source_version) == expected


# --- fuzzing: damaged databases and blobs raise CatalogError and nothing else -----------

_FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_MUTATIONS = st.lists(
    st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)),
    min_size=1,
    max_size=8,
)


def mutate(data: bytes, mutations: list[tuple[int, int]], cut: int | None) -> bytes:
    damaged = bytearray(data)
    for position, value in mutations:
        damaged[position % len(damaged)] = value
    return bytes(damaged[:cut] if cut is not None else damaged)


def only_catalog_errors(path: str, data: bytes) -> None:
    with contextlib.suppress(CatalogError):
        catalog(path, data)


@_FUZZ
@given(mutations=_MUTATIONS, cut=st.none() | st.integers(min_value=0, max_value=300_000))
def test_fuzz_sqlite_database(mutations: list[tuple[int, int]], cut: int | None) -> None:
    only_catalog_errors(
        "var/lib/rpm/rpmdb.sqlite", mutate(database_bytes("sqlite"), mutations, cut)
    )


@_FUZZ
@given(
    name=st.sampled_from(["bdb-le-4096", "bdb-be-512", "bdb-le-8192"]),
    mutations=_MUTATIONS,
    cut=st.none() | st.integers(min_value=0, max_value=70_000),
)
def test_fuzz_bdb_pages(name: str, mutations: list[tuple[int, int]], cut: int | None) -> None:
    only_catalog_errors("var/lib/rpm/Packages", mutate(database_bytes(name), mutations, cut))


@_FUZZ
@given(mutations=_MUTATIONS, cut=st.none() | st.integers(min_value=0, max_value=30_000))
def test_fuzz_ndb_database(mutations: list[tuple[int, int]], cut: int | None) -> None:
    only_catalog_errors("var/lib/rpm/Packages.db", mutate(database_bytes("ndb"), mutations, cut))


_REAL_BLOBS = [blob for _, blob in read_sqlite_blobs(database_bytes("sqlite"))]


@_FUZZ
@given(
    index=st.integers(min_value=0, max_value=len(_REAL_BLOBS) - 1),
    mutations=_MUTATIONS,
    cut=st.none() | st.integers(min_value=0, max_value=2_500),
)
def test_fuzz_header_blob(index: int, mutations: list[tuple[int, int]], cut: int | None) -> None:
    with contextlib.suppress(CatalogError):
        parse_header_blob(mutate(_REAL_BLOBS[index], mutations, cut))


@_FUZZ
@given(data=st.binary(max_size=4096))
def test_fuzz_random_bytes(data: bytes) -> None:
    with contextlib.suppress(CatalogError):
        parse_header_blob(data)
    for reader in (read_sqlite_blobs, read_bdb_hash_blobs, read_ndb_blobs):
        with contextlib.suppress(CatalogError):
            reader(data)


@_FUZZ
@given(
    prefix=st.sampled_from([b"RpmP\x00\x00\x00\x00", b"SQLite format 3\x00"]),
    rest=st.binary(max_size=8192),
)
def test_fuzz_magic_then_noise(prefix: bytes, rest: bytes) -> None:
    only_catalog_errors("var/lib/rpm/Packages", prefix + rest)


def test_fuzz_bdb_meta_then_noise() -> None:
    # A valid metadata page followed by noise pages: every link leads somewhere wrong.
    meta = database_bytes("bdb-le-4096")[:4096]
    for seed in range(20):
        noise = zlib.compress(seed.to_bytes(4, "big") * 5000)[:8192].ljust(8192, b"\x07")
        only_catalog_errors("var/lib/rpm/Packages", meta + noise * 8)


def test_a_hash_page_with_no_entries_is_read_or_refused_cleanly() -> None:
    # Found by the fuzz test below: an empty page's index crashed the offsets check.
    for name in ("bdb-le-4096", "bdb-be-512", "bdb-le-8192"):
        data = database_bytes(name)
        pagesize = int.from_bytes(data[20:24], "little" if name.startswith("bdb-le") else "big")
        pages = len(data) // pagesize
        for page in range(1, pages):
            only_catalog_errors(
                "var/lib/rpm/Packages",
                mutate(data, [(page * pagesize + 20, 0), (page * pagesize + 21, 0)], None),
            )


# Mutations aimed at the bytes that carry structure: page headers and item offsets of
# Berkeley DB pages, the slot table and blob heads of ndb.
@_FUZZ
@given(
    name=st.sampled_from(["bdb-le-4096", "bdb-be-512", "bdb-le-8192"]),
    targets=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=150),
            st.integers(min_value=0, max_value=64),
            st.integers(min_value=0, max_value=255),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_fuzz_bdb_page_headers(name: str, targets: list[tuple[int, int, int]]) -> None:
    data = database_bytes(name)
    pagesize = int.from_bytes(data[20:24], "little" if name.startswith("bdb-le") else "big")
    pages = len(data) // pagesize
    mutations = [((page % pages) * pagesize + offset, value) for page, offset, value in targets]
    only_catalog_errors("var/lib/rpm/Packages", mutate(data, mutations, None))


@_FUZZ
@given(
    targets=st.lists(
        st.tuples(st.integers(min_value=0, max_value=1023), st.integers(0, 255)),
        min_size=1,
        max_size=6,
    )
)
def test_fuzz_ndb_slots(targets: list[tuple[int, int]]) -> None:
    data = database_bytes("ndb")
    # Slot table entries of the used slots (offsets 32..) and the first bytes of blobs.
    mutations = [
        ((32 + position) if position < 512 else 4096 + position * 7, value)
        for position, value in targets
    ]
    only_catalog_errors("var/lib/rpm/Packages.db", mutate(data, mutations, None))


@_FUZZ
@given(
    targets=st.lists(
        st.tuples(st.integers(min_value=0, max_value=3 * 4096), st.integers(0, 255)),
        min_size=1,
        max_size=6,
    )
)
def test_fuzz_sqlite_schema_pages(targets: list[tuple[int, int]]) -> None:
    # The first pages hold the schema; damage there once made sqlite3 raise
    # UnicodeDecodeError while building its own error message.
    only_catalog_errors("var/lib/rpm/rpmdb.sqlite", mutate(database_bytes("sqlite"), targets, None))
