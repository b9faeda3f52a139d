"""What the installed command shows: silence with --quiet, escape codes only at a terminal,
a progress bar on stderr only when stderr is a terminal. Terminals are real
pseudo-terminals (``pty.openpty``), so ``isatty()`` is the kernel's answer."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from tests.cli.support import STOCKADE, clean_env, make_rootfs, run_stockade

ESCAPE = "\x1b"
SGR = re.compile(r"\x1b\[[0-9;]*m")
PROGRESS_TEXT = "cataloguing"


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_rootfs(tmp_path_factory.mktemp("terminal") / "rootfs")


# -- --quiet ------------------------------------------------------------------------------


def test_quiet_prints_nothing_on_stderr_for_a_successful_run(rootfs: Path, tmp_path: Path) -> None:
    target = tmp_path / "sbom.json"
    run = run_stockade("-q", "sbom", str(rootfs), "-o", str(target))
    assert run.code == 0
    assert run.stderr == ""
    assert run.stdout == ""
    assert json.loads(target.read_text())["packages"]


def test_quiet_is_silent_even_at_a_terminal(rootfs: Path) -> None:
    run = run_stockade("-q", "sbom", str(rootfs), "-f", "json", stderr_tty=True)
    assert run.code == 0
    assert run.stderr == ""
    assert json.loads(run.stdout)["packages"]


def test_without_quiet_the_written_file_is_announced(rootfs: Path, tmp_path: Path) -> None:
    target = tmp_path / "sbom.json"
    run = run_stockade("sbom", str(rootfs), "-o", str(target))
    assert run.code == 0
    assert run.stderr == f"wrote 3 packages to {target}\n"


def test_quiet_still_reports_errors() -> None:
    run = run_stockade("-q", "sbom", "/no/such/path/anywhere")
    assert run.code == 2
    assert run.stderr.startswith("error: ")


# -- escape codes -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["table", "json", "cyclonedx", "spdx"])
def test_no_escape_codes_when_not_at_a_terminal(rootfs: Path, fmt: str) -> None:
    run = run_stockade("sbom", str(rootfs), "-f", fmt)
    assert run.code == 0
    assert ESCAPE not in run.stdout
    assert ESCAPE not in run.stderr


def test_at_a_terminal_the_default_is_a_coloured_table(rootfs: Path) -> None:
    run = run_stockade("sbom", str(rootfs), stdout_tty=True)
    assert run.code == 0
    plain = SGR.sub("", run.stdout)
    assert plain.splitlines()[0] == f"{rootfs} (rootfs)"
    assert "libc6" in plain
    assert SGR.search(run.stdout)


def test_no_color_flag_at_a_terminal(rootfs: Path) -> None:
    run = run_stockade("--no-color", "sbom", str(rootfs), stdout_tty=True)
    assert run.code == 0
    assert "libc6" in run.stdout
    assert not SGR.search(run.stdout)


def test_no_color_variable_at_a_terminal(rootfs: Path) -> None:
    run = run_stockade("sbom", str(rootfs), stdout_tty=True, env=clean_env(NO_COLOR="1"))
    assert run.code == 0
    assert "libc6" in run.stdout
    assert not SGR.search(run.stdout)


# -- progress -----------------------------------------------------------------------------


def test_a_progress_bar_is_drawn_when_stderr_is_a_terminal(rootfs: Path) -> None:
    run = run_stockade("sbom", str(rootfs), "-f", "json", stderr_tty=True)
    assert run.code == 0
    assert PROGRESS_TEXT in run.stderr
    assert ESCAPE in run.stderr  # drawn and then erased with cursor movements
    assert ESCAPE not in run.stdout  # the report itself stays clean
    assert json.loads(run.stdout)["packages"]


def test_no_progress_when_stderr_is_not_a_terminal(rootfs: Path) -> None:
    run = run_stockade("sbom", str(rootfs), "-f", "json", stdout_tty=True)
    assert run.code == 0
    assert run.stderr == ""


def test_no_progress_on_a_dumb_terminal(rootfs: Path) -> None:
    run = run_stockade(
        "sbom", str(rootfs), "-f", "json", stderr_tty=True, env=clean_env(TERM="dumb")
    )
    assert run.code == 0
    assert PROGRESS_TEXT not in run.stderr


# -- a reader that goes away --------------------------------------------------------------


def test_a_closed_pipe_is_not_an_error(rootfs: Path) -> None:
    if not STOCKADE.exists():
        pytest.skip(f"the console script is not installed at {STOCKADE}")
    # The reader closes its end before the command writes (it takes far longer than
    # this to start), as `stockade sbom … | head -c0` would.
    proc = subprocess.Popen(
        [str(STOCKADE), "sbom", str(rootfs), "-f", "spdx"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 0
    assert err == ""
