from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stockade.artifact.paths import clean_member_path, resolve_link_target
from stockade.core.errors import UnsafeArtifactError


@pytest.mark.parametrize(
    ("name", "clean"),
    [("./usr/bin/", "usr/bin"), ("a//b/./c", "a/b/c"), ("a/../b", "b"), (".", "")],
)
def test_clean_member_path(name: str, clean: str) -> None:
    assert clean_member_path(name, where="t") == clean


@pytest.mark.parametrize("name", ["../etc/passwd", "a/../../x", "/etc/passwd", "a\x00b"])
def test_hostile_member_names_are_refused(name: str) -> None:
    with pytest.raises(UnsafeArtifactError):
        clean_member_path(name, where="layer")


@given(st.text())
def test_clean_paths_never_escape(name: str) -> None:
    try:
        clean = clean_member_path(name, where="fuzz")
    except UnsafeArtifactError:
        return
    assert not clean.startswith("/")
    assert ".." not in clean.split("/")


@pytest.mark.parametrize(
    ("link", "target", "resolved"),
    [
        ("etc/os-release", "../usr/lib/os-release", "usr/lib/os-release"),
        ("etc/alternatives/x", "/usr/bin/x", "usr/bin/x"),
        ("a/b", "../../../../etc/shadow", "etc/shadow"),
    ],
)
def test_links_resolve_inside_the_root(link: str, target: str, resolved: str) -> None:
    assert resolve_link_target(link, target) == resolved
