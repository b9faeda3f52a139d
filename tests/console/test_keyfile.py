"""The data dir's sealing key: made once with mode 0600, shared, and clear when wrong."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import ClassVar

import pytest

from stockade.console.errors import ConsoleError
from stockade.console.keyfile import SealingKey


class Unavailable(ConsoleError):
    title: ClassVar[str] = "unavailable"


def key(path: Path) -> SealingKey:
    return SealingKey(path, what="test secrets", error=Unavailable, redo="set them again")


def test_the_key_is_made_on_first_seal_private_and_shared(tmp_path: Path) -> None:
    path = tmp_path / "data" / "test.key"
    first = key(path)
    with pytest.raises(Unavailable, match=r"the test secrets key .*test\.key is missing"):
        first.open("anything")  # opening never makes a key
    assert not path.exists()
    sealed = first.seal(b"hunter2")
    assert b"hunter2" not in path.read_bytes()
    assert "hunter2" not in sealed
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key(path).open(sealed) == b"hunter2"  # another process, the same file


def test_a_value_sealed_under_another_key_is_refused_with_advice(tmp_path: Path) -> None:
    sealed = key(tmp_path / "a.key").seal(b"x")
    other = key(tmp_path / "b.key")
    other.seal(b"y")
    with pytest.raises(Unavailable) as caught:
        other.open(sealed)
    assert "cannot be decrypted" in caught.value.message
    assert "set them again" in str(caught.value.hint)
    with pytest.raises(Unavailable):
        other.open("not a token at all ü")
