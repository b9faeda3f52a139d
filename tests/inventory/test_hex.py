"""Hex packages from mix.lock (Trivy's e2e repository and hostile input)."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockade.core.errors import CatalogError
from stockade.core.models import PackageType
from stockade.inventory.hex import parse_mix_lock

MIX_LOCK = Path(__file__).resolve().parent.parent / "data/trivy/e2e/repo/mixlock/mix.lock"


def test_every_hex_entry_of_a_real_mix_lock() -> None:
    text = MIX_LOCK.read_text()
    packages, warnings = parse_mix_lock(text)
    assert warnings == []
    # Independent reading: the head of each entry, `"key": {:hex, :name, "version"`.
    expected = set(re.findall(r'\{:hex, :(\w+), "([^"]+)"', text))
    assert {(p.name, p.version) for p in packages} == expected
    assert ("phoenix", "1.6.13") in expected
    assert all(p.type is PackageType.HEX for p in packages)


def test_git_and_path_dependencies_are_not_packages() -> None:
    text = (
        "%{\n"
        '  "plug": {:hex, :plug, "1.14.0", "abc", [:mix], [], "hexpm", "def"},\n'
        '  "mylib": {:git, "https://example.com/mylib.git", "0123abcd", []},\n'
        "}\n"
    )
    packages, warnings = parse_mix_lock(text)
    assert [(p.name, p.version) for p in packages] == [("plug", "1.14.0")]
    assert warnings == []


def test_not_a_mix_lock() -> None:
    with pytest.raises(CatalogError, match=r"not a mix\.lock"):
        parse_mix_lock('{"lockfileVersion": 3}')


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=2000))
def test_only_catalog_errors_escape(text: str) -> None:
    with contextlib.suppress(CatalogError):
        parse_mix_lock("%{\n" + text)
