"""The scan table: grouped like Trivy's, counts per severity, hostile text escaped."""

from __future__ import annotations

import io
import os
import pty
import re
from collections.abc import Iterator
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from tests.policy.samples import (
    BOOKWORM,
    HOSTILE_TITLE,
    IMAGE,
    OPENSSL_CVE,
    ZLIB_CVE,
    scan_result,
    scan_results,
)

from stockade.core.finding import ScanResult
from stockade.report.interface import scan_renderer
from stockade.report.scan_table import MAX_TITLE, ScanTableRenderer, render_scan_table

SGR = re.compile(r"\x1b\[[0-9;]*m")


def plain(result: ScanResult, width: int = 140) -> str:
    return render_scan_table(result, color=False, width=width)


@pytest.fixture
def no_color_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_COLOR", "FORCE_COLOR", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)


def test_header_names_the_artifact_os_image_and_advisory_age() -> None:
    lines = plain(scan_result()).splitlines()
    assert lines[0] == f"{IMAGE.name} (docker-archive)"
    assert f"OS: {BOOKWORM.pretty_name}" in lines
    assert f"Image ID: {IMAGE.digest}" in lines
    assert "Advisory data: 2024-05-01 (2 days)" in lines


def test_findings_are_grouped_os_first_then_by_ecosystem() -> None:
    lines = plain(scan_result()).splitlines()
    # each group's title is the line above its count line
    titles = [lines[n - 1] for n, line in enumerate(lines) if " (CRITICAL: " in line][:-1]
    assert titles == [
        "Debian GNU/Linux 12 (bookworm) (deb)",
        "Python (pypi)",
        "Node.js (npm)",
        "PHP (composer)",
    ]
    deb = lines.index("Debian GNU/Linux 12 (bookworm) (deb)")
    assert lines[deb + 1] == (
        "2 vulnerabilities (CRITICAL: 1, HIGH: 0, MEDIUM: 1, LOW: 0, NEGLIGIBLE: 0, UNKNOWN: 0)"
    )


def test_a_row_has_package_id_severity_versions_title_and_link() -> None:
    text = plain(scan_result(), width=200)
    header = next(line for line in text.splitlines() if line.startswith("PACKAGE   VULN"))
    assert header.split() == [
        "PACKAGE",
        "VULNERABILITY",
        "SEVERITY",
        "INSTALLED",
        "FIXED",
        "TITLE",
    ]
    row = next(line for line in text.splitlines() if line.startswith("libssl3"))
    assert row.split()[:5] == [
        "libssl3",
        "CVE-2024-0727",
        "MEDIUM",
        "3.0.11-1~deb12u2",
        "3.0.13-1~deb12u1",
    ]
    assert OPENSSL_CVE.title in row
    assert OPENSSL_CVE.url in text
    zlib = next(line for line in text.splitlines() if line.startswith("zlib1g"))
    assert "won't fix" in zlib
    # a GHSA with a CVE alias is listed under its CVE, as people search for it
    assert "CVE-2024-35195" in text
    assert "CVE-2023-45133" in text


def test_rows_sort_by_package_then_worst_first() -> None:
    text = plain(scan_result((OPENSSL_CVE, ZLIB_CVE)))
    rows = [line.split()[0] for line in text.splitlines() if line.startswith(("libssl3", "zlib1g"))]
    assert rows == ["libssl3", "zlib1g"]


def test_suppressed_findings_are_listed_apart_with_their_reason() -> None:
    text = plain(scan_result())
    lines = text.splitlines()
    start = lines.index("Suppressed (2)")
    section = "\n".join(lines[start:])
    assert "not-affected   vulnerable_code_not_in_execute_path: DH is never used" in section
    assert "ignored        proxies are not used; review again in Q3" in section
    # they are not in the per-ecosystem tables
    before = "\n".join(lines[:start])
    assert "CVE-2023-5678" not in before
    assert "CVE-2023-32681" not in before


def test_the_summary_totals_active_findings_per_severity() -> None:
    last = plain(scan_result()).splitlines()[-1]
    assert last == (
        "Total: 6 vulnerabilities (CRITICAL: 2, HIGH: 1, MEDIUM: 2, LOW: 0, NEGLIGIBLE: 0, "
        "UNKNOWN: 1), 2 suppressed"
    )


def test_no_findings_says_so() -> None:
    text = plain(scan_result(()))
    assert text.splitlines()[-1] == "No vulnerabilities found"
    assert "PACKAGE" not in text


def test_only_suppressed_findings() -> None:
    result = scan_result(tuple(f for f in scan_result().findings if f.suppressed))
    last = plain(result).splitlines()[-1]
    assert last.startswith("Total: 0 vulnerabilities (CRITICAL: 0")
    assert last.endswith(", 2 suppressed")


def test_hostile_text_is_escaped_never_sent_to_the_terminal() -> None:
    text = plain(scan_result(), width=300)
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "\u202e" not in text
    assert "\r" not in text
    assert "evil\\x1b[31mpkg" in text
    assert "1.0\\x1b[0m" in text
    assert "evil \\x1b[2J\\x1b[31mred\\x07 title\\u202e with BIDI and a newline" in text
    assert "review again in Q3\\x1b[2J" in text
    # and with colour on, the only escapes are the renderer's own SGR codes
    coloured = render_scan_table(scan_result(), color=True, width=300)
    assert "\x1b" not in SGR.sub("", coloured)
    assert HOSTILE_TITLE not in coloured


def test_long_titles_are_cut_with_an_ellipsis() -> None:
    long = scan_result((replace(OPENSSL_CVE, title="x" * 500),))
    text = plain(long, width=400)
    assert "x" * (MAX_TITLE - 1) + "…" in text
    assert "x" * MAX_TITLE not in text


def test_colour_marks_severities() -> None:
    coloured = render_scan_table(scan_result(), color=True, width=200)
    assert "\x1b[1;31mCRITICAL" in coloured
    assert "\x1b[33mMEDIUM" in coloured


def test_plain_output_has_no_escape_codes_and_no_trailing_blanks() -> None:
    text = plain(scan_result())
    assert "\x1b" not in text
    assert all(line == line.rstrip() for line in text.splitlines())


@pytest.mark.parametrize("width", [40, 60, 80, 120])
def test_narrow_terminals_fold_rather_than_cut(width: int) -> None:
    text = render_scan_table(scan_result(), color=False, width=width)
    # header and count lines are kept whole (they are copied and grepped); tables fold
    table_lines = [line for line in text.splitlines()[4:] if "CRITICAL: " not in line]
    assert all(len(line) <= max(width, 40) for line in table_lines)


def test_registered_as_the_table_scan_format(no_color_env: None) -> None:
    renderer = scan_renderer("table")
    assert isinstance(renderer, ScanTableRenderer)
    out = io.StringIO()
    renderer.render(scan_result(), out)
    assert "\x1b" not in out.getvalue()  # a StringIO is no terminal
    assert out.getvalue() == plain(scan_result(), width=100)


@pytest.fixture
def terminal() -> Iterator[io.TextIOWrapper]:
    leader, follower = pty.openpty()
    stream = open(follower, "w", encoding="utf-8", closefd=True)  # noqa: SIM115
    try:
        yield stream
    finally:
        stream.close()
        os.close(leader)


def test_colour_when_writing_to_a_terminal(no_color_env: None, terminal: io.TextIOWrapper) -> None:
    renderer = ScanTableRenderer()
    captured = io.StringIO()
    captured.isatty = terminal.isatty  # type: ignore[method-assign]
    renderer.render(scan_result(), captured)
    assert "\x1b[" in captured.getvalue()


def test_no_color_wins_over_a_terminal(
    monkeypatch: pytest.MonkeyPatch, terminal: io.TextIOWrapper
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    captured = io.StringIO()
    captured.isatty = terminal.isatty  # type: ignore[method-assign]
    ScanTableRenderer().render(scan_result(), captured)
    assert "\x1b" not in captured.getvalue()


def test_an_ascii_terminal_gets_question_marks_not_a_crash() -> None:
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="ascii")
    ScanTableRenderer(color=False).render(scan_result(), out)
    out.flush()
    assert b"Total: 6" in raw.getvalue()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scan_results())
def test_any_scan_renders_without_control_characters(result: ScanResult) -> None:
    text = render_scan_table(result, color=False, width=100)
    assert all(ch == "\n" or ch.isprintable() for ch in text)
    assert text.splitlines()[-1].startswith(("Total:", "No vulnerabilities"))
