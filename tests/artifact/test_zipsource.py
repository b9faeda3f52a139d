"""Zip function packages: members, symlinks, modes, bombs, damage; read in place."""

from __future__ import annotations

import os
import pickle
import shutil
import stat
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.artifact.imagebuilder import PkgListCataloger

from stockade.artifact.detect import detect_type, open_artifact
from stockade.artifact.interface import Entry, EntryType, Limits
from stockade.artifact.zipsource import ZipSource, declared_entry_count
from stockade.core.errors import ArtifactError, UnsafeArtifactError
from stockade.inventory.engine import build_inventory


def make_zip(path: Path, members: dict[str, bytes | tuple[int, bytes]]) -> Path:
    """A zip of ``members``; a (unix mode, data) tuple sets the external attributes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, value in members.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if isinstance(value, tuple):
                mode, data = value
                info.external_attr = mode << 16
                info.create_system = 3
            else:
                data = value
            archive.writestr(info, data)
    return path


def walk(path: Path, limits: Limits | None = None) -> list[Entry]:
    return list(ZipSource(path).layers()[0].walk(limits or Limits()))


def contents(entries: Iterator[Entry]) -> dict[str, tuple[Entry, bytes | None]]:
    """Each entry with its content, read while the entry is current (as the contract says)."""
    return {e.path: (e, e.open().read() if e.opener else None) for e in entries}


def test_members_types_modes_and_content(tmp_path: Path) -> None:
    path = make_zip(
        tmp_path / "fn.zip",
        {
            "python/": (stat.S_IFDIR | 0o755, b""),
            "python/requests/__init__.py": (stat.S_IFREG | 0o644, b"__version__ = '2'\n"),
            "bootstrap": (stat.S_IFREG | 0o755, b"#!/bin/sh\n"),
            "current": (stat.S_IFLNK | 0o777, b"python/requests"),
            "plain.txt": b"default mode",
        },
    )
    source = ZipSource(path)
    assert source.info().kind == "zip"
    assert source.info().name == str(path)
    layer = pickle.loads(pickle.dumps(source.layers()[0]))  # noqa: S301 - our own object
    found = contents(layer.walk(Limits()))
    assert found["python"][0].type is EntryType.DIR
    assert found["python/requests/__init__.py"][1] == b"__version__ = '2'\n"
    assert found["bootstrap"][0].is_executable
    assert found["current"][0].type is EntryType.SYMLINK
    assert found["current"][0].linkname == "python/requests"
    assert found["plain.txt"][0].mode == 0o600  # what Python's zipfile writes by default
    assert found["plain.txt"][1] == b"default mode"


def test_member_without_unix_attributes_gets_a_default_mode(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "dos.zip", {"f": b"1"})
    data = bytearray(path.read_bytes())
    central = data.find(b"PK\x01\x02")
    data[central + 38 : central + 42] = bytes(4)  # external attributes: none (as DOS tools)
    path.write_bytes(bytes(data))
    [entry] = walk(path)
    assert (entry.type, entry.mode) == (EntryType.FILE, 0o644)


def test_detected_as_zip_and_inventoried(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "fn.zip", {"a/test-pkgs": b"x 1\ny 2\n"})
    assert detect_type(str(path)) == "zip"
    with open_artifact(str(path)) as source:
        inventory = build_inventory(source, [PkgListCataloger()], workers=1)
    assert {(p.name, p.version) for p in inventory.packages} == {("x", "1"), ("y", "2")}


@pytest.mark.skipif(shutil.which("zip") is None, reason="Info-ZIP zip is not installed")
def test_archive_written_by_info_zip_keeps_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "fn"
    (root / "lib").mkdir(parents=True)
    (root / "lib" / "mod.py").write_text("x = 1\n")
    (root / "handler").write_text("#!/bin/sh\n")
    (root / "handler").chmod(0o755)
    (root / "alias").symlink_to("lib/mod.py")
    archive = tmp_path / "fn.zip"
    subprocess.run(["zip", "-q", "-r", "--symlinks", str(archive), "."], cwd=root, check=True)
    found = contents(ZipSource(archive).layers()[0].walk(Limits()))
    assert found["alias"][0].type is EntryType.SYMLINK
    assert found["alias"][0].linkname == "lib/mod.py"
    assert found["handler"][0].is_executable
    assert found["lib"][0].type is EntryType.DIR
    assert found["lib/mod.py"][1] == b"x = 1\n"


@pytest.mark.skipif(shutil.which("zip") is None, reason="Info-ZIP zip is not installed")
def test_encrypted_members_are_listed_but_not_readable(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("hidden")
    archive = tmp_path / "enc.zip"
    subprocess.run(
        ["zip", "-q", "-P", "password", str(archive), "secret.txt"], cwd=tmp_path, check=True
    )
    [entry] = walk(archive)
    assert (entry.path, entry.type, entry.opener) == ("secret.txt", EntryType.OTHER, None)


def test_unsupported_compression_method_is_listed_as_other(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "m.zip", {"f": b"data" * 100})
    data = bytearray(path.read_bytes())
    # Method 99 (AES) in the local header (offset 8) and the central directory (offset 10).
    local = data.find(b"PK\x03\x04")
    central = data.find(b"PK\x01\x02")
    data[local + 8 : local + 10] = (99).to_bytes(2, "little")
    data[central + 10 : central + 12] = (99).to_bytes(2, "little")
    path.write_bytes(bytes(data))
    [entry] = walk(path)
    assert entry.type is EntryType.OTHER


def test_declared_entry_count_reads_zip64_records(tmp_path: Path) -> None:
    path = tmp_path / "z64.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a", b"1")
    with open(path, "rb") as fh:
        assert declared_entry_count(fh) == 1
    many = tmp_path / "many.zip"
    with zipfile.ZipFile(many, "w", allowZip64=True) as archive:
        for i in range(0x10000 + 5):  # past the 16-bit count: a Zip64 end record
            archive.writestr(zipfile.ZipInfo(f"{i}"), b"")
    with open(many, "rb") as fh:
        assert declared_entry_count(fh) == 0x10000 + 5


def test_limits_on_entries_bytes_and_ratio(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "z.zip", {f"f{i}": b"x" * 100 for i in range(10)})
    with pytest.raises(UnsafeArtifactError, match="declares 10 entries") as err:
        walk(path, Limits(max_entries=5))
    assert err.value.hint
    assert "--max-entries" in err.value.hint
    with pytest.raises(UnsafeArtifactError, match="more than 450 bytes") as err:
        walk(path, Limits(max_total_bytes=450))
    assert err.value.hint
    assert "--max-size" in err.value.hint
    with pytest.raises(UnsafeArtifactError, match="a ratio over 2"):
        walk(path, Limits(max_ratio=2))


def test_member_whose_content_does_not_match_its_declared_size_is_refused(
    tmp_path: Path,
) -> None:
    path = make_zip(tmp_path / "lie.zip", {"f": os.urandom(50) + bytes(100_000)})
    data = bytearray(path.read_bytes())
    central = data.find(b"PK\x01\x02")
    # Claim 1000 bytes: zipfile stops there, and the CRC-32 of what it read is wrong.
    data[central + 24 : central + 28] = (1000).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    walker = ZipSource(path).layers()[0].walk(Limits())
    entry = next(walker)
    assert entry.size == 1000
    with pytest.raises(UnsafeArtifactError, match="does not match its declared size"):
        entry.open().read()


def test_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    path.write_bytes(b"just text, no central directory")
    with pytest.raises(ArtifactError, match="not a zip archive"):
        ZipSource(path)


def test_corrupt_central_directory(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "c.zip", {"a": b"1" * 1000, "b": b"2"})
    data = bytearray(path.read_bytes())
    central = data.find(b"PK\x01\x02")
    data[central : central + 4] = b"XXXX"
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="not a readable zip archive"):
        walk(path)


def test_truncated_member_data(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "t.zip", {"big": os.urandom(20_000)})
    data = bytearray(path.read_bytes())
    local = data.find(b"PK\x03\x04")
    # Zero the compressed bytes in place: the inflater (stored data: the CRC) rejects them.
    data[local + 60 : local + 5000] = bytes(4940)
    path.write_bytes(bytes(data))
    entry = next(ZipSource(path).layers()[0].walk(Limits()))
    with pytest.raises(ArtifactError, match="member 'big'"):
        entry.open().read()


def test_a_member_with_an_empty_name_is_a_clear_error(tmp_path: Path) -> None:
    # Found by fuzzing: zipfile's own is_dir() fails with IndexError on such a member.
    path = tmp_path / "fn.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo(""), b"data")
    with ZipSource(path) as source, pytest.raises(ArtifactError, match="empty name"):
        list(source.layers()[0].walk(Limits()))
