"""The UI object: what reaches stderr, and when."""

from __future__ import annotations

import pytest

from stockade.cli.output import UI


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_COLOR", "FORCE_COLOR", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)


def test_info_goes_to_stderr_unless_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    UI().info("wrote 3 packages")
    UI(quiet=True).info("wrote 3 packages")
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "wrote 3 packages\n"


def test_warnings_are_shown_even_when_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    UI(quiet=True).warn("var/lib/dpkg/status: stanza 3 has no Package field")
    assert capsys.readouterr().err == (
        "warning: var/lib/dpkg/status: stanza 3 has no Package field\n"
    )


def test_text_from_the_artifact_is_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    UI().warn("usr/lib/\x1b]0;owned\x07/METADATA: bad header")
    UI().info("[bold]not markup[/bold]")
    err = capsys.readouterr().err
    assert "\x1b" not in err
    assert "\x07" not in err
    assert "usr/lib/\\x1b]0;owned\\x07/METADATA" in err
    assert "[bold]not markup[/bold]" in err


def test_not_interactive_when_stderr_is_not_a_terminal() -> None:
    assert not UI().interactive  # pytest captures stderr: not a terminal


def test_progress_is_a_no_op_when_not_interactive(capsys: pytest.CaptureFixture[str]) -> None:
    with UI().progress("cataloguing x") as update:
        update(1, 2)
        update(2, 2)
    assert capsys.readouterr().err == ""
