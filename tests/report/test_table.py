"""The table: readable, OS packages first, no escape codes unless a terminal wants colour."""

from __future__ import annotations

import io
import os
import pty
import re
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from tests.report.samples import DEBIAN, DIRECTORY, IMAGE, inventories, tricky_inventory

from stockade.core.models import Inventory, Location, Package, PackageType
from stockade.report import sbom_renderer
from stockade.report.table import TableRenderer, printable, render_table, sort_key

ESCAPE = "\x1b"
SGR = re.compile(r"\x1b\[[0-9;]*m")


def plain(inventory: Inventory, width: int = 100) -> str:
    return render_table(inventory, color=False, width=width)


def row_names(text: str) -> list[str]:
    """First cell of each table row (rows start after the header rule)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if set(line) == {"─"}) + 1
    return [line.split("  ")[0] for line in lines[start:-1] if line.strip()]


@pytest.fixture
def no_color_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_COLOR", "FORCE_COLOR", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)


def test_header_names_the_artifact_os_and_image() -> None:
    text = plain(tricky_inventory())
    lines = text.splitlines()
    assert lines[0] == f"{IMAGE.name} (docker-archive)"
    assert f"OS: {DEBIAN.pretty_name}" in lines
    assert f"Image ID: {IMAGE.digest}" in lines
    assert f"Tag: {IMAGE.repo_tags[0]}" in lines


def test_os_packages_come_first_then_each_ecosystem_sorted_by_name() -> None:
    packages = (
        Package(name="zlib", version="1", type=PackageType.PYPI),
        Package(name="Alpha", version="1", type=PackageType.PYPI),
        Package(name="libc6", version="2.36-9", type=PackageType.DEB),
        Package(name="bash", version="5.2-1", type=PackageType.DEB),
        Package(name="left-pad", version="1.3.0", type=PackageType.NPM),
    )
    text = plain(Inventory(artifact=DIRECTORY, os=DEBIAN, packages=packages))
    assert row_names(text) == ["bash", "libc6", "Alpha", "zlib", "left-pad"]


def test_sort_key_puts_every_os_type_before_any_application_type() -> None:
    os_pkgs = [Package(name="z", version="1", type=t) for t in PackageType if t.is_os]
    app_pkgs = [Package(name="a", version="1", type=t) for t in PackageType if not t.is_os]
    assert max(map(sort_key, os_pkgs)) < min(map(sort_key, app_pkgs))


def test_namespaces_are_shown_the_ecosystems_way() -> None:
    text = plain(tricky_inventory(), width=200)
    assert "org.apache.commons:commons-lang3" in text
    assert "@types/node" in text
    assert "@babel/core" in text


def test_versions_with_plus_tilde_and_epoch_are_shown_whole() -> None:
    text = plain(tricky_inventory(), width=200)
    assert "2:9.0.1378-2~bpo12+1" in text
    assert "2.36-9+deb12u4" in text


def test_a_package_without_version_shows_a_dash() -> None:
    text = plain(tricky_inventory(), width=200)
    line = next(line for line in text.splitlines() if line.startswith("github.com/acme/tool"))
    assert line.split()[1] == "-"


def test_more_than_one_location_is_counted() -> None:
    text = plain(tricky_inventory(), width=200)
    assert "/app/node_modules/@babel/core/package.json (+1 more)" in text


def test_summary_counts_each_type() -> None:
    last = plain(tricky_inventory()).splitlines()[-1]
    assert last.startswith(f"{len(tricky_inventory().packages)} packages: 2 deb, 1 rpm, ")


def test_an_empty_inventory_says_so() -> None:
    text = plain(Inventory(artifact=DIRECTORY, os=None, packages=()))
    assert text.splitlines()[-1] == "0 packages found"


def test_long_names_fold_instead_of_being_cut() -> None:
    long_name = "a-package-name-" + "x" * 120
    pkg = Package(
        name=long_name,
        version="1.0",
        type=PackageType.NPM,
        locations=(Location("app/node_modules/" + long_name + "/package.json"),),
    )
    text = plain(Inventory(artifact=DIRECTORY, os=None, packages=(pkg,)), width=60)
    assert all(len(line) <= 60 for line in text.splitlines())
    assert "…" not in text
    joined = "".join(line.split("  ")[0] for line in text.splitlines())
    assert long_name in joined


def test_unicode_names_are_shown() -> None:
    text = plain(tricky_inventory(), width=200)
    assert "ñandú" in text
    assert "日本語パッケージ" in text


def test_control_characters_from_the_artifact_never_reach_the_terminal() -> None:
    text = plain(tricky_inventory(), width=200)
    assert ESCAPE not in text
    assert "\u202e" not in text
    assert "evil\\x1b[31mred\\u202ename" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("tab\there", "tab\\x09here"),
        ("bell\x07", "bell\\x07"),
        ("rtl\u202e", "rtl\\u202e"),
        ("nbsp\u00a0space", "nbsp space"),
        ("ñandú", "ñandú"),
        ("\U000e0001tag", "\\U000e0001tag"),
    ],
)
def test_printable(text: str, expected: str) -> None:
    assert printable(text) == expected


def test_no_escape_codes_without_colour_and_some_with_it() -> None:
    inventory = tricky_inventory()
    assert ESCAPE not in render_table(inventory, color=False, width=100)
    assert SGR.search(render_table(inventory, color=True, width=100))


def test_no_colour_when_writing_to_a_file_or_pipe(no_color_env: None) -> None:
    out = io.StringIO()
    TableRenderer().render(tricky_inventory(), out)
    assert ESCAPE not in out.getvalue()


@pytest.fixture
def terminal() -> Iterator[tuple[int, io.TextIOWrapper]]:
    """A real pseudo-terminal: what we write to the slave end is read from the master."""
    master, slave = pty.openpty()
    out = open(slave, "w", encoding="utf-8", closefd=True)  # noqa: SIM115 - closed below
    try:
        yield master, out
    finally:
        out.close()
        os.close(master)


def read_all(master: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
        if len(chunk) < 65536:
            break
    return b"".join(chunks).decode("utf-8", "replace")


def render_to_terminal(terminal: tuple[int, io.TextIOWrapper], renderer: TableRenderer) -> str:
    master, out = terminal
    small = Inventory(artifact=DIRECTORY, os=DEBIAN, packages=tricky_inventory().packages[:3])
    renderer.render(small, out)
    out.flush()
    return read_all(master)


def test_colour_at_a_terminal(terminal: tuple[int, io.TextIOWrapper], no_color_env: None) -> None:
    assert SGR.search(render_to_terminal(terminal, TableRenderer()))


def test_no_colour_at_a_terminal_with_no_color(
    terminal: tuple[int, io.TextIOWrapper], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    text = render_to_terminal(terminal, TableRenderer())
    assert "libc6" in text
    assert not SGR.search(text)


def test_colour_can_be_forced_off() -> None:
    out = io.StringIO()
    TableRenderer(color=False).render(tricky_inventory(), out)
    assert ESCAPE not in out.getvalue()


def test_an_output_that_cannot_encode_a_name_gets_a_placeholder() -> None:
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="ascii")
    TableRenderer().render(tricky_inventory(), out)
    out.flush()
    text = raw.getvalue().decode("ascii")
    assert "?and?" in text  # ñandú
    assert "libc6" in text


def test_the_renderer_is_registered_under_its_format_name() -> None:
    assert isinstance(sbom_renderer("table"), TableRenderer)


@settings(max_examples=60, deadline=None)
@given(inventories())
def test_any_inventory_renders_without_escape_codes(inventory: Inventory) -> None:
    text = render_table(inventory, color=False, width=80)
    assert ESCAPE not in text
    assert text.splitlines()[-1].startswith(f"{len(inventory.packages)} package")
