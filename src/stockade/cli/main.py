"""Entry point. Every StockadeError is caught here, once, and mapped to an exit code.

Exit codes (documented for CI pipelines; 1 is kept for policy failures alone, so a
pipeline can tell "the image fails our rules" from "the scan could not run"):

* 0: success (also when the reader of our output went away early, as ``| head`` does)
* 1: the scan worked and what it found fails the user's policy (:class:`PolicyFailure`)
* 2: usage or input error: a bad option, a missing or unreadable or corrupt artifact
* 3: internal error: a bug in Stockade, reported without a traceback unless
  ``STOCKADE_DEBUG`` is set
* 4: the Console could not be reached or refused (``--publish``, ``--policy-from``); the
  report was still written
* 130: interrupted (Ctrl-C)
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from collections.abc import Sequence

import click

from stockade import __version__
from stockade.cli.output import UI
from stockade.core.errors import EXIT_INPUT, EXIT_INTERNAL, EXIT_OK, PolicyFailure, StockadeError

EXIT_INTERRUPTED = 130
DEBUG_VARIABLE = "STOCKADE_DEBUG"


class _OutputClosed(Exception):
    """Standard output was closed by its reader while we were still writing."""


_COMMANDS = {
    "admission": "stockade.cli.admission:admission",
    "check": "stockade.cli.check:check",
    "console": "stockade.cli.console:console",
    "db": "stockade.cli.db:db",
    "defender": "stockade.cli.defender:defender",
    "forensics": "stockade.cli.forensics:forensics",
    "policy": "stockade.cli.policy:policy",
    "sbom": "stockade.cli.sbom:sbom",
    "scan": "stockade.cli.scan:scan",
    "waf": "stockade.cli.waf:waf",
}
"""Commands, imported when used: a command's start-up does not pay for the others."""


class _StockadeGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in _COMMANDS:
            module_name, attribute = _COMMANDS[cmd_name].split(":")
            command = getattr(importlib.import_module(module_name), attribute)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # Click would answer a broken pipe with exit status 1, which is ours for
            # policy failures; take it out of Click's hands.
            raise _OutputClosed from None


@click.group(cls=_StockadeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="stockade")
@click.option("-q", "--quiet", is_flag=True, help="No progress or informational messages.")
@click.option("--no-color", is_flag=True, help="Never colour output (also NO_COLOR=1).")
@click.pass_context
def cli(ctx: click.Context, quiet: bool, no_color: bool) -> None:
    """Stockade: inventory, vulnerabilities and compliance for cloud-native workloads."""
    if no_color and "NO_COLOR" not in os.environ:
        # The flag is NO_COLOR for this run: every renderer and library that honours
        # the convention (rich does) then agrees, without a flag threaded through each.
        os.environ["NO_COLOR"] = "1"
        ctx.call_on_close(lambda: os.environ.pop("NO_COLOR", None))
    ctx.obj = UI(quiet=quiet, color="NO_COLOR" not in os.environ)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns (and, as a script, exits with) the documented exit code."""
    try:
        result = cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):
            click.echo("interrupted", err=True)
            return EXIT_INTERRUPTED
        click.echo("aborted", err=True)
        return EXIT_INPUT
    except click.ClickException as exc:
        exc.show()
        return EXIT_INPUT
    except StockadeError as exc:
        if isinstance(exc, PolicyFailure):
            click.echo(exc.diagnostics(), err=True)
        else:
            click.echo(f"error: {exc.diagnostics()}", err=True)
        return exc.status
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except _OutputClosed:
        _discard_stdout()
        return EXIT_OK
    except Exception:  # a bug: say so without a traceback, keep it for the report
        _report_bug(traceback.format_exc())
        return EXIT_INTERNAL
    # Click hands back the code of an explicit ctx.exit (--help, --version); our
    # commands themselves return None.
    return result if isinstance(result, int) else EXIT_OK


def _report_bug(detail: str) -> None:
    if os.environ.get(DEBUG_VARIABLE):
        click.echo(detail, err=True)
        return
    last = detail.strip().splitlines()[-1]
    click.echo(
        f"internal error: {last}\n"
        f"hint: this is a bug in Stockade; rerun with {DEBUG_VARIABLE}=1 and report "
        "the output",
        err=True,
    )


def _discard_stdout() -> None:
    """Point stdout at /dev/null so that flushing it at exit cannot fail again."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (a test's capture): nothing is flushed to a pipe
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def run() -> None:
    """The ``stockade`` console script."""
    code = main()
    try:
        # Flush here, where a closed pipe can still be handled, not at interpreter exit.
        sys.stdout.flush()
    except BrokenPipeError:
        _discard_stdout()
    sys.exit(code)
