"""A scan's findings as tables for people at a terminal.

A header names what was scanned, its OS and how old the advisory data is. Then one table
per kind of package (OS packages first, then each ecosystem), each headed by a count per
severity, with a row per finding: package, vulnerability, severity, installed version,
fixed version, and the title with its link below. Findings an ignore entry or a VEX
statement suppressed are not in those tables: a short section after them lists each with
its reason, so nothing disappears without a trace. A last line totals the active findings
per severity.

Colour (severity, bold headers) only when the output is a terminal and ``NO_COLOR`` is
unset. Titles, names, versions and reasons come from the artifact, the advisory feeds or
the user's files, so control characters in them are shown escaped, never sent to the
terminal.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby
from typing import IO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from stockade.core.advisory import FixState, Severity
from stockade.core.finding import Finding, ScanResult
from stockade.core.models import OSInfo, PackageType
from stockade.report.interface import ScanRenderer
from stockade.report.scan_json import severity_counts
from stockade.report.table import (
    _Buffer,  # the SBOM table's encoding-aware buffer, shared so the two draw alike
    _width,
    display_name,
    printable,
    wants_color,
)

MAX_TITLE = 100
"""Longer advisory titles are cut (with an ellipsis): the link below has the rest."""

SEVERITY_STYLES = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "blue",
    Severity.NEGLIGIBLE: "dim",
    Severity.UNKNOWN: "dim",
}

ECOSYSTEM_NAMES = {
    PackageType.PYPI: "Python",
    PackageType.NPM: "Node.js",
    PackageType.GOLANG: "Go",
    PackageType.MAVEN: "Java",
    PackageType.GEM: "Ruby",
    PackageType.COMPOSER: "PHP",
    PackageType.CARGO: "Rust",
    PackageType.NUGET: ".NET",
}

_FIX_WORDS = {
    FixState.NOT_FIXED: "not fixed",
    FixState.WONT_FIX: "won't fix",
    FixState.NOT_AFFECTED: "not affected",
}
_TYPE_ORDER = {t: i for i, t in enumerate(PackageType)}


def _group_title(kind: PackageType, os_info: OSInfo | None) -> str:
    if kind.is_os:
        name = (os_info.pretty_name or os_info.distro_qualifier) if os_info else "OS packages"
        return f"{printable(name)} ({kind.value})"
    return f"{ECOSYSTEM_NAMES.get(kind, kind.value)} ({kind.value})"


def _counts(findings: Sequence[Finding]) -> str:
    counts = severity_counts(findings)
    return ", ".join(f"{str(s).upper()}: {n}" for s, n in counts.items())


def _severity(finding: Finding, color: bool) -> Text:
    word = str(finding.severity).upper()
    return Text(word, style=SEVERITY_STYLES[finding.severity] if color else "")


def _fixed(finding: Finding) -> str:
    if finding.fixed_versions:
        return ", ".join(printable(v) for v in finding.fixed_versions)
    return _FIX_WORDS.get(finding.fix_state, "")


def _title(finding: Finding) -> str:
    title = " ".join(finding.title.split())  # one line: a feed's newlines would break rows
    if len(title) > MAX_TITLE:
        title = title[: MAX_TITLE - 1].rstrip() + "…"
    lines = [printable(title)] if title else []
    if finding.url:
        lines.append(printable(finding.url))
    return "\n".join(lines)


def _row_key(finding: Finding) -> tuple[str, str, int, str]:
    name = display_name(finding.package)
    return (name.casefold(), finding.package.version, -finding.severity, finding.advisory_id)


def _findings_table(findings: Sequence[Finding], color: bool) -> Table:
    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        header_style="bold" if color else "",
    )
    table.add_column("PACKAGE", overflow="fold")
    table.add_column("VULNERABILITY", overflow="fold")
    table.add_column("SEVERITY", no_wrap=True)
    table.add_column("INSTALLED", overflow="fold")
    table.add_column("FIXED", overflow="fold")
    table.add_column("TITLE", overflow="fold", ratio=1)
    for finding in sorted(findings, key=_row_key):
        table.add_row(
            Text(printable(display_name(finding.package))),
            Text(printable(finding.cve or finding.advisory_id)),
            _severity(finding, color),
            Text(printable(finding.package.version or finding.installed_version) or "-"),
            Text(_fixed(finding)),
            Text(_title(finding)),
        )
    return table


def _suppressed_table(findings: Sequence[Finding], color: bool) -> Table:
    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        header_style="bold" if color else "",
    )
    table.add_column("PACKAGE", overflow="fold")
    table.add_column("VULNERABILITY", overflow="fold")
    table.add_column("STATUS", no_wrap=True)
    table.add_column("REASON", overflow="fold", ratio=1)
    for finding in sorted(findings, key=_row_key):
        status = finding.suppressed.value if finding.suppressed is not None else ""
        table.add_row(
            Text(printable(display_name(finding.package))),
            Text(printable(finding.cve or finding.advisory_id)),
            Text(status),
            Text(printable(" ".join(finding.suppression_reason.split()))),
        )
    return table


def _summary(active: Sequence[Finding], suppressed: int) -> str:
    if not active and not suppressed:
        return "No vulnerabilities found"
    noun = "vulnerability" if len(active) == 1 else "vulnerabilities"
    text = f"Total: {len(active)} {noun} ({_counts(active)})"
    if suppressed:
        text += f", {suppressed} suppressed"
    return text


def render_scan_table(
    result: ScanResult, *, color: bool, width: int, encoding: str = "utf-8"
) -> str:
    """The scan as text for a person, ``width`` columns wide."""
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
    inventory = result.inventory
    art = inventory.artifact
    # Header lines are never folded: a digest cut in two cannot be copied.
    console.print(Text(f"{printable(art.name)} ({art.kind})", style="bold"), soft_wrap=True)
    if inventory.os is not None:
        os_text = inventory.os.pretty_name or inventory.os.distro_qualifier
        console.print(Text(f"OS: {printable(os_text)}"), soft_wrap=True)
    if art.digest:
        console.print(Text(f"Image ID: {printable(art.digest)}"), soft_wrap=True)
    if result.advisories_age:
        console.print(Text(f"Advisory data: {printable(result.advisories_age)}"), soft_wrap=True)

    active = [f for f in result.findings if f.suppressed is None]
    suppressed = [f for f in result.findings if f.suppressed is not None]
    by_type = sorted(
        active, key=lambda f: (0 if f.package.type.is_os else 1, _TYPE_ORDER[f.package.type])
    )
    for kind, group in groupby(by_type, key=lambda f: f.package.type):
        findings = list(group)
        console.print()
        console.print(Text(_group_title(kind, inventory.os), style="bold" if color else ""))
        noun = "vulnerability" if len(findings) == 1 else "vulnerabilities"
        console.print(Text(f"{len(findings)} {noun} ({_counts(findings)})"), soft_wrap=True)
        console.print()
        console.print(_findings_table(findings, color))
    if suppressed:
        console.print()
        console.print(
            Text(f"Suppressed ({len(suppressed)})", style="bold" if color else ""),
        )
        console.print()
        console.print(_suppressed_table(suppressed, color))
    console.print()
    # Counts stay on one line, whatever the width, for people who grep the output.
    console.print(Text(_summary(active, len(suppressed))), soft_wrap=True)
    # Cells are padded to the column width; trailing blanks only get in the way of diff.
    return "".join(line.rstrip(" ") + "\n" for line in buffer.getvalue().splitlines())


class ScanTableRenderer(ScanRenderer):
    format = "table"

    def __init__(self, color: bool | None = None) -> None:
        self.color = color
        """None: colour when writing to a terminal and NO_COLOR is unset."""

    def render(self, result: ScanResult, out: IO[str]) -> None:
        color = wants_color(out) if self.color is None else self.color
        encoding = getattr(out, "encoding", None) or "utf-8"
        text = render_scan_table(result, color=color, width=_width(out), encoding=encoding)
        # A terminal or pipe that cannot show a character gets a '?', not a crash.
        out.write(text.encode(encoding, "replace").decode(encoding))
