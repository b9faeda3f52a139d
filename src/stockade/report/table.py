"""A table for people at a terminal."""

from __future__ import annotations

from typing import IO

from rich.console import Console
from rich.table import Table

from stockade.core.models import Inventory
from stockade.report.interface import Renderer


class TableRenderer(Renderer):
    format = "table"

    def render(self, inventory: Inventory, out: IO[str]) -> None:
        console = Console(file=out, highlight=False, soft_wrap=True)
        os_text = inventory.os.pretty_name or inventory.os.distro_qualifier if inventory.os else "-"
        console.print(f"{inventory.artifact.name} ({inventory.artifact.kind}), OS: {os_text}")
        table = Table(box=None, pad_edge=False)
        for column in ("NAME", "VERSION", "TYPE", "LOCATION"):
            table.add_column(column, overflow="fold")
        for pkg in inventory.packages:
            where = "/" + pkg.locations[0].path if pkg.locations else ""
            table.add_row(pkg.name, pkg.version, pkg.type.value, where)
        console.print(table)
        console.print(f"{len(inventory.packages)} packages")
