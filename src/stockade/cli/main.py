"""Entry point. Every StockadeError is caught here, once, and mapped to an exit code.

Exit codes: 0 ok, 1 policy failure, 2 usage or input error, 3 internal error.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence

import click

from stockade import __version__
from stockade.cli.output import UI
from stockade.core.errors import EXIT_INPUT, EXIT_INTERNAL, EXIT_OK, StockadeError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="stockade")
@click.option("-q", "--quiet", is_flag=True, help="No progress or informational messages.")
@click.option("--no-color", is_flag=True, help="Never colour output (also NO_COLOR=1).")
@click.pass_context
def cli(ctx: click.Context, quiet: bool, no_color: bool) -> None:
    """Stockade: inventory, vulnerabilities and compliance for cloud-native workloads."""
    ctx.obj = UI(quiet=quiet, color=not no_color and "NO_COLOR" not in os.environ)


def _register_commands() -> None:
    from stockade.cli.sbom import sbom

    cli.add_command(sbom)


_register_commands()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns (and, as a script, exits with) the documented exit code."""
    try:
        cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except click.exceptions.Exit as exc:
        return _exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return _exit(EXIT_INPUT)
    except click.ClickException as exc:
        exc.show()
        return _exit(EXIT_INPUT)
    except StockadeError as exc:
        click.echo(f"error: {exc.diagnostics()}", err=True)
        return _exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return _exit(130)
    except BrokenPipeError:
        # stdout closed early (| head): not an error of ours.
        sys.stderr.close()
        return _exit(EXIT_OK)
    except Exception:  # a bug: say so without a traceback, keep it for the report
        detail = traceback.format_exc()
        if os.environ.get("STOCKADE_DEBUG"):
            click.echo(detail, err=True)
        else:
            last = detail.strip().splitlines()[-1]
            click.echo(
                f"internal error: {last}\n"
                "hint: this is a bug in Stockade; rerun with STOCKADE_DEBUG=1 and report "
                "the output",
                err=True,
            )
        return _exit(EXIT_INTERNAL)
    return _exit(EXIT_OK)


def _exit(code: int) -> int:
    return code


def run() -> None:
    sys.exit(main())
