"""Exit codes and error reporting, in-process through ``main()`` and as the installed command.

0 ok, 1 policy failure (alone), 2 usage or input error, 3 internal error, 130 interrupted.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tarfile
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import click
import pytest
from tests.cli.support import EXPECTED_PACKAGES, make_rootfs, run_stockade

from stockade import __version__
from stockade.cli.main import cli, main
from stockade.core.errors import (
    ArtifactError,
    CatalogError,
    InternalError,
    PolicyFailure,
    ReportError,
    StockadeError,
    UsageError,
)
from stockade.core.models import Inventory
from stockade.inventory.interface import CatalogContext, Cataloger, CatalogResult, FileContent
from stockade.report.json import JsonRenderer


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    return make_rootfs(tmp_path / "rootfs")


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_COLOR", "FORCE_COLOR", "STOCKADE_DEBUG", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def add_command() -> Iterator[Callable[[click.Command], None]]:
    """Registers a command on the real ``stockade`` group for one test only."""
    added: list[str] = []

    def add(command: click.Command) -> None:
        assert command.name is not None
        cli.add_command(command)
        added.append(command.name)

    yield add
    for name in added:
        cli.commands.pop(name, None)


class ExplodingCataloger(Cataloger):
    """A cataloger with a bug: the one fault a real cataloger cannot be made to have."""

    name = "exploding"

    def wants(self, path: str, size: int, mode: int, ctx: CatalogContext) -> bool:
        return path == "var/lib/dpkg/status"

    def parse(self, file: FileContent, ctx: CatalogContext) -> CatalogResult:
        raise RuntimeError("cataloger exploded")


# -- success ------------------------------------------------------------------------------


def test_a_scan_exits_0_and_prints_json_when_not_at_a_terminal(
    rootfs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sbom", str(rootfs)]) == 0
    out, err = capsys.readouterr()
    document = json.loads(out)
    found = {(p["name"], p["version"]) for p in document["packages"] if p["type"] == "deb"}
    assert found == EXPECTED_PACKAGES
    assert document["os"]["family"] == "debian"
    assert "Traceback" not in err


@pytest.mark.parametrize("fmt", ["table", "json", "cyclonedx", "spdx"])
def test_every_format_lists_the_packages(
    fmt: str, rootfs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sbom", str(rootfs), "-f", fmt]) == 0
    out = capsys.readouterr().out
    for name, version in EXPECTED_PACKAGES:
        assert name in out
        assert version in out


def test_help_and_version_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "sbom" in capsys.readouterr().out
    assert main(["sbom", "--help"]) == 0
    assert "TARGET" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


# -- usage and input errors: 2 ------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sbom", "--bogus", "x"], "No such option"),
        (["sbom"], "Missing argument"),
        (["sbom", "x", "-f", "pdf"], "Invalid value"),
        (["sbom", "x", "--max-size", "0"], "Invalid value"),
        (["no-such-command"], "No such command"),
        ([], "Usage"),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert message in out + err


def test_a_missing_target_exits_2_with_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sbom", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert "no such file or directory" in err
    assert "hint: " in err
    assert "Traceback" not in err


def corrupt_files(tmp_path: Path) -> dict[str, Path]:
    garbage = tmp_path / "garbage.tar"
    garbage.write_bytes(bytes(range(256)) * 64)
    not_an_image = tmp_path / "not-an-image.tar"
    with tarfile.open(not_an_image, "w") as tar:
        data = b"hello"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    truncated_zip = tmp_path / "truncated.zip"
    truncated_zip.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    return {"garbage": garbage, "tar without manifest": not_an_image, "zip": truncated_zip}


@pytest.mark.parametrize("kind", ["garbage", "tar without manifest", "zip"])
def test_a_corrupt_artifact_exits_2(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = corrupt_files(tmp_path)[kind]
    assert main(["sbom", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert str(target) in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UsageError("bad"), 2),
        (ArtifactError("bad"), 2),
        (CatalogError("bad"), 2),
        (ReportError("bad"), 2),
        (PolicyFailure("bad"), 1),
        (InternalError("bad"), 3),
    ],
)
def test_each_error_maps_to_its_exit_code(
    error: StockadeError,
    code: int,
    add_command: Callable[[click.Command], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    @click.command("fail-test")
    def fail() -> None:
        raise error

    add_command(fail)
    assert main(["fail-test"]) == code
    # A policy failure is the tool working: it is reported, not called an error.
    expected = "bad\n" if isinstance(error, PolicyFailure) else "error: bad\n"
    assert capsys.readouterr().err == expected


def test_a_policy_failure_can_carry_its_own_exit_status(
    add_command: Callable[[click.Command], None], capsys: pytest.CaptureFixture[str]
) -> None:
    @click.command("gate-test")
    def gate() -> None:
        raise PolicyFailure("policy failed: 2 findings", exit_code=9)

    add_command(gate)
    assert main(["gate-test"]) == 9
    assert capsys.readouterr().err == "policy failed: 2 findings\n"


# -- policy failure: 1, and only then ----------------------------------------------------


def test_a_policy_failure_exits_1_with_its_diagnostics(
    add_command: Callable[[click.Command], None], capsys: pytest.CaptureFixture[str]
) -> None:
    @click.command("policy-test")
    def policy() -> None:
        raise PolicyFailure("2 critical vulnerabilities", hint="see the table above")

    add_command(policy)
    assert main(["policy-test"]) == 1
    assert capsys.readouterr().err == ("2 critical vulnerabilities\nhint: see the table above\n")


# -- internal errors: 3 -------------------------------------------------------------------


def test_a_bug_exits_3_without_a_traceback(
    rootfs: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        "stockade.inventory.registry.default_catalogers", lambda: [ExplodingCataloger()]
    )
    assert main(["sbom", str(rootfs)]) == 3
    out, err = capsys.readouterr()
    assert out == ""
    assert "internal error: RuntimeError: cataloger exploded" in err
    assert "STOCKADE_DEBUG=1" in err
    assert "Traceback" not in err


def test_stockade_debug_shows_the_traceback(
    rootfs: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        "stockade.inventory.registry.default_catalogers", lambda: [ExplodingCataloger()]
    )
    monkeypatch.setenv("STOCKADE_DEBUG", "1")
    assert main(["sbom", str(rootfs)]) == 3
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert "RuntimeError: cataloger exploded" in err


def test_ctrl_c_exits_130(
    add_command: Callable[[click.Command], None], capsys: pytest.CaptureFixture[str]
) -> None:
    @click.command("interrupt-test")
    def interrupt() -> None:
        raise KeyboardInterrupt

    add_command(interrupt)
    assert main(["interrupt-test"]) == 130
    assert "interrupted" in capsys.readouterr().err


# -- writing to a file --------------------------------------------------------------------


def test_output_file_gets_the_report_and_stdout_stays_empty(
    rootfs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "sbom.cdx.json"
    assert main(["sbom", str(rootfs), "-f", "cyclonedx", "-o", str(target)]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert f"wrote 3 packages to {target}" in err
    assert json.loads(target.read_text())["bomFormat"] == "CycloneDX"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rootfs", "sbom.cdx.json"]


def _half_then_fail(self: JsonRenderer, inventory: Inventory, out: IO[str]) -> None:
    out.write('{"packages": [')
    raise ReportError("renderer failed half way")


def test_a_failed_render_leaves_an_existing_output_untouched(
    rootfs: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A renderer that fails after writing: the fault our own renderers never have
    # (they render whole before writing), so it is simulated.
    monkeypatch.setattr(JsonRenderer, "render", _half_then_fail)
    target = tmp_path / "sbom.json"
    target.write_text("previous report\n")
    assert main(["sbom", str(rootfs), "-f", "json", "-o", str(target)]) == 2
    assert "error: renderer failed half way" in capsys.readouterr().err
    assert target.read_text() == "previous report\n"


def test_a_failed_render_creates_no_output_file(
    rootfs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(JsonRenderer, "render", _half_then_fail)
    target = tmp_path / "out" / "sbom.json"
    target.parent.mkdir()
    assert main(["sbom", str(rootfs), "-f", "json", "-o", str(target)]) == 2
    assert not target.exists()


def test_a_failed_render_leaves_no_temporary_file(
    rootfs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(JsonRenderer, "render", _half_then_fail)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert main(["sbom", str(rootfs), "-f", "json", "-o", str(out_dir / "sbom.json")]) == 2
    assert list(out_dir.iterdir()) == []


def test_a_failed_render_keeps_the_previous_report(
    rootfs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "sbom.json"
    assert main(["sbom", str(rootfs), "-f", "json", "-o", str(target)]) == 0
    before = target.read_bytes()
    monkeypatch.setattr(JsonRenderer, "render", _half_then_fail)
    assert main(["sbom", str(rootfs), "-f", "json", "-o", str(target)]) == 2
    assert target.read_bytes() == before
    assert [p.name for p in out_dir.iterdir()] == ["sbom.json"]


def test_an_unwritable_output_exits_2(
    rootfs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "no-such-dir" / "sbom.json"
    assert main(["sbom", str(rootfs), "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert f"error: cannot write {target}" in err


# -- the installed command: exit codes and stderr of a real process ------------------------


def test_installed_command_success(rootfs: Path) -> None:
    run = run_stockade("sbom", str(rootfs), "-f", "json")
    assert run.code == 0, run.stderr
    found = {(p["name"], p["version"]) for p in json.loads(run.stdout)["packages"]}
    assert found >= EXPECTED_PACKAGES


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sbom", "--bogus"], "No such option '--bogus'"),
        (["sbom"], "Missing argument 'TARGET'"),
        (["sbom", "/no/such/path/anywhere"], "error: /no/such/path/anywhere: no such file"),
    ],
)
def test_installed_command_usage_errors_exit_2(args: list[str], message: str) -> None:
    run = run_stockade(*args)
    assert run.code == 2
    assert message in run.stderr
    assert run.stdout == ""
    assert "Traceback" not in run.stderr


def test_installed_command_corrupt_artifact_exits_2(tmp_path: Path) -> None:
    target = corrupt_files(tmp_path)["garbage"]
    run = run_stockade("sbom", str(target))
    assert run.code == 2
    assert run.stderr.startswith(f"error: {target}: ")
    assert "Traceback" not in run.stderr


INTERNAL_ERROR_SCRIPT = textwrap.dedent(
    """
    import sys
    import stockade.inventory.registry
    from stockade.inventory.interface import Cataloger

    class Exploding(Cataloger):
        name = "exploding"
        def wants(self, path, size, mode, ctx):
            return path == "var/lib/dpkg/status"
        def parse(self, file, ctx):
            raise RuntimeError("cataloger exploded")

    stockade.inventory.registry.default_catalogers = lambda: [Exploding()]
    sys.argv[0] = "stockade"
    from stockade.cli.main import run
    run()
    """
)


def test_installed_entry_point_internal_error_exits_3_without_traceback(rootfs: Path) -> None:
    # The console script's own function, in a real process, with a cataloger that has a
    # bug patched in (the one fault that cannot be caused from outside).
    run = run_stockade("sbom", str(rootfs), command=[sys.executable, "-c", INTERNAL_ERROR_SCRIPT])
    assert run.code == 3
    assert run.stdout == ""
    assert run.stderr == (
        "internal error: RuntimeError: cataloger exploded\n"
        "hint: this is a bug in Stockade; rerun with STOCKADE_DEBUG=1 and report the output\n"
    )


def test_no_color_lasts_for_one_run_only(rootfs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The flag is NO_COLOR for the run; an embedding program's environment is restored.
    assert main(["--no-color", "sbom", str(rootfs), "-f", "table"]) == 0
    assert "\x1b" not in capsys.readouterr().out
    assert "NO_COLOR" not in os.environ


def test_a_file_over_max_file_size_is_skipped_with_a_warning(
    rootfs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = rootfs / "var/lib/dpkg/status"
    size = status.stat().st_size
    assert main(["sbom", str(rootfs), "-f", "json", "--max-file-size", str(size - 1)]) == 0
    captured = capsys.readouterr()
    assert {p["type"] for p in json.loads(captured.out)["packages"]} == {"pypi"}
    assert f"var/lib/dpkg/status: {size} bytes is over the per-file limit" in captured.err
