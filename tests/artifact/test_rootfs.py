from __future__ import annotations

import os
from pathlib import Path

import pytest

from stockade.artifact.detect import detect_type, open_artifact
from stockade.artifact.interface import EntryType, Limits
from stockade.artifact.rootfs import DirectorySource
from stockade.core.errors import ArtifactError, UnsafeArtifactError


def test_walk_lists_files_dirs_and_links_without_following_links(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("s")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hello").write_text("hi")
    (root / "escape").symlink_to(outside)
    source = DirectorySource(root)
    entries = {e.path: e for e in source.layers()[0].walk(Limits())}
    assert entries["etc"].type is EntryType.DIR
    assert entries["etc/hello"].type is EntryType.FILE
    with entries["etc/hello"].open() as fh:
        assert fh.read() == b"hi"
    assert entries["escape"].type is EntryType.SYMLINK
    assert entries["escape"].linkname == str(outside)
    assert "escape/secret" not in entries


def test_a_file_swapped_for_a_link_after_listing_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("data")
    (tmp_path / "target").write_text("must not be read")
    walk = DirectorySource(tmp_path).layers()[0].walk(Limits())
    entry = next(e for e in walk if e.path == "f")
    os.unlink(tmp_path / "f")
    os.symlink(tmp_path / "target", tmp_path / "f")
    with entry.open() as fh:
        assert fh.read() == b""


def test_entry_limit(tmp_path: Path) -> None:
    for i in range(20):
        (tmp_path / f"f{i}").write_text("")
    with pytest.raises(UnsafeArtifactError, match="entries"):
        list(DirectorySource(tmp_path).layers()[0].walk(Limits(max_entries=5)))


def test_detects_directories_and_missing_paths(tmp_path: Path) -> None:
    assert detect_type(str(tmp_path)) == "rootfs"
    with pytest.raises(ArtifactError, match="no such file"):
        detect_type(str(tmp_path / "missing"))
    with pytest.raises(ArtifactError, match="no such file"):
        detect_type("./relative/missing")
    assert detect_type("registry.example.com/team/app:1.0") == "registry"


def test_an_unknown_file_gets_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ArtifactError, match="not a directory, a zip, or an image") as info:
        open_artifact(str(junk))
    assert info.value.hint is not None
    assert "--type" in info.value.hint
