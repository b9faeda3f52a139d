"""A table for people at a terminal.

OS packages come first, then each ecosystem in turn, each group sorted by name, with a
blank line between groups. Colour (bold headers, dimmed locations) only when the output
is a terminal and ``NO_COLOR`` is not set; long values fold onto the next line rather than
being cut, so a name is never shown half. Package data comes from the artifact, so any
control character in it (an escape sequence in a hostile package name could rewrite the
user's terminal) is shown escaped, never sent to the terminal.
"""

from __future__ import annotations

import io
import os
import unicodedata
from collections import Counter
from typing import IO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from stockade.core.models import Inventory, Package, PackageType
from stockade.report.interface import Renderer

DEFAULT_WIDTH = 100
"""Width when the output is not a terminal and COLUMNS is unset (a file, a pipe)."""

_TYPE_ORDER = {t: i for i, t in enumerate(PackageType)}


def printable(text: str) -> str:
    """``text`` with control and format characters (ESC, BIDI overrides) escaped."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


def _escape(ch: str) -> str:
    if unicodedata.category(ch) == "Zs":
        return " "  # an exotic space is harmless; show it as one
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def display_name(pkg: Package) -> str:
    """The name as its ecosystem writes it: ``group:artifact`` for Maven, else ``ns/name``."""
    if not pkg.namespace:
        return pkg.name
    separator = ":" if pkg.type is PackageType.MAVEN else "/"
    return f"{pkg.namespace}{separator}{pkg.name}"


def sort_key(pkg: Package) -> tuple[int, int, str, str, str]:
    """OS packages first, then by ecosystem, then by name (case folded) and version."""
    name = display_name(pkg)
    return (
        0 if pkg.type.is_os else 1,
        _TYPE_ORDER[pkg.type],
        name.casefold(),
        name,
        pkg.version,
    )


def _location(pkg: Package) -> str:
    if not pkg.locations:
        return ""
    first = "/" + pkg.locations[0].path
    more = len(pkg.locations) - 1
    return f"{first} (+{more} more)" if more else first


def wants_color(out: IO[str]) -> bool:
    """Colour for a terminal, unless the user asked for none (``NO_COLOR``, --no-color)."""
    if "NO_COLOR" in os.environ:
        return False
    try:
        return out.isatty()
    except (AttributeError, ValueError):  # not a real stream, or closed
        return False


def _width(out: IO[str]) -> int:
    try:
        columns = os.get_terminal_size(out.fileno()).columns
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        columns = 0
    if columns > 0:  # a terminal whose size was never set reports 0
        return columns
    try:
        return int(os.environ.get("COLUMNS", "")) or DEFAULT_WIDTH
    except ValueError:
        return DEFAULT_WIDTH


def _summary(inventory: Inventory) -> str:
    counts = Counter(p.type for p in inventory.packages)
    total = len(inventory.packages)
    noun = "package" if total == 1 else "packages"
    if not counts:
        return f"0 {noun} found"
    ordered = sorted(counts, key=lambda t: (0 if t.is_os else 1, _TYPE_ORDER[t]))
    return f"{total} {noun}: " + ", ".join(f"{counts[t]} {t.value}" for t in ordered)


class _Buffer(io.StringIO):
    """Collects the table; tells rich the real output's encoding so that it draws
    rules with ASCII where the output cannot show box-drawing characters."""

    def __init__(self, encoding: str) -> None:
        super().__init__()
        self._encoding = encoding

    @property
    def encoding(self) -> str:  # type: ignore[override]  # StringIO's is always None
        return self._encoding


def render_table(inventory: Inventory, *, color: bool, width: int, encoding: str = "utf-8") -> str:
    """The inventory as text for a person, ``width`` columns wide."""
    buffer = _Buffer(encoding)
    console = Console(
        file=buffer,
        width=max(width, 40),
        force_terminal=color,
        color_system="standard" if color else None,
        highlight=False,
        emoji=False,
        markup=False,
    )
    art = inventory.artifact
    # Header lines are never folded: a digest cut in two cannot be copied.
    console.print(Text(f"{printable(art.name)} ({art.kind})", style="bold"), soft_wrap=True)
    if inventory.os is not None:
        os_text = inventory.os.pretty_name or inventory.os.distro_qualifier
        console.print(Text(f"OS: {printable(os_text)}"), soft_wrap=True)
    if art.digest:
        console.print(Text(f"Image ID: {printable(art.digest)}"), soft_wrap=True)
    for tag in art.repo_tags:
        console.print(Text(f"Tag: {printable(tag)}"), soft_wrap=True)
    console.print()

    packages = sorted(inventory.packages, key=sort_key)
    if packages:
        table = Table(
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            header_style="bold" if color else "",
        )
        table.add_column("NAME", overflow="fold")
        table.add_column("VERSION", overflow="fold")
        table.add_column("TYPE", overflow="fold", no_wrap=True)
        table.add_column("LOCATION", overflow="fold", style="dim" if color else "")
        for index, pkg in enumerate(packages):
            next_pkg = packages[index + 1] if index + 1 < len(packages) else None
            table.add_row(
                Text(printable(display_name(pkg))),
                Text(printable(pkg.version) or "-"),
                Text(pkg.type.value),
                Text(printable(_location(pkg))),
                end_section=next_pkg is not None and next_pkg.type is not pkg.type,
            )
        console.print(table)
    console.print(Text(_summary(inventory)))
    # Cells are padded to the column width; trailing blanks only get in the way of diff.
    return "".join(line.rstrip(" ") + "\n" for line in buffer.getvalue().splitlines())


class TableRenderer(Renderer):
    format = "table"

    def __init__(self, color: bool | None = None) -> None:
        self.color = color
        """None: colour when writing to a terminal and NO_COLOR is unset."""

    def render(self, inventory: Inventory, out: IO[str]) -> None:
        color = wants_color(out) if self.color is None else self.color
        encoding = getattr(out, "encoding", None) or "utf-8"
        text = render_table(inventory, color=color, width=_width(out), encoding=encoding)
        # A terminal or pipe that cannot show a character gets a '?', not a crash.
        out.write(text.encode(encoding, "replace").decode(encoding))
