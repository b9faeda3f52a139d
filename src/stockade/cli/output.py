"""Terminal behaviour: progress on stderr at a terminal, silence with --quiet or in CI.

Everything for people goes to standard error, so standard output holds only the
report and can be piped. Colour and the progress bar only reach a terminal: a log file
or a CI job gets plain lines, never escape codes. Text that comes from the artifact
(paths in warnings) is shown with control characters escaped.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from stockade.core.advisory import Severity
from stockade.core.errors import ReportError, UsageError
from stockade.report.table import printable

ProgressCallback = Callable[[int, int], None]


def stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):  # replaced by something that is not a stream
        return False


@dataclass
class UI:
    """How this run talks to the person: ``quiet`` silences all but warnings and errors."""

    quiet: bool = False
    color: bool = True

    @property
    def stderr(self) -> Console:
        # Made on each use: tests and rich's progress display swap sys.stderr.
        return Console(
            file=sys.stderr,
            color_system="auto" if self.color else None,
            highlight=False,
            markup=False,
            emoji=False,
            soft_wrap=True,
        )

    @property
    def interactive(self) -> bool:
        """Whether to draw a progress bar: a terminal on stderr and not --quiet."""
        return not self.quiet and stderr_is_terminal()

    def info(self, message: str) -> None:
        if not self.quiet:
            self.stderr.print(Text(printable(message)))

    def warn(self, message: str) -> None:
        text = Text("warning: ", style="yellow")
        text.append(printable(message))
        self.stderr.print(text)

    @contextmanager
    def progress(self, description: str) -> Iterator[ProgressCallback]:
        """A callback (done, total) that draws a bar when stderr is a terminal."""
        if not self.interactive:
            yield lambda done, total: None
            return
        bar = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.stderr,
            transient=True,
        )
        with bar:
            task = bar.add_task(printable(description), total=None)

            def update(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            yield update


def write_atomically(path: Path, write: Callable[[TextIO], None]) -> None:
    """Write a report to ``path`` whole or not at all.

    The text goes to a temporary file in the same directory, renamed over ``path`` once
    complete, so a reader never sees half a report and a failure (a full disk, a
    renderer error, Ctrl-C) leaves any earlier file at ``path`` untouched.
    """
    directory = path.parent if str(path.parent) else Path()
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise ReportError(f"cannot write {path}: {exc.strerror}") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            write(fh)
        os.chmod(tmp, 0o666 & ~_umask())
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ReportError(f"cannot write {path}: {exc.strerror}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


SEVERITY_NAMES = tuple(s.name.lower() for s in Severity)


def parse_severity(value: str) -> Severity:
    """A severity as the user typed it (``high``, ``CRITICAL``); UsageError otherwise."""
    try:
        return Severity[value.strip().upper()]
    except KeyError:
        raise UsageError(
            f"unknown severity {value!r}", hint=f"choose from: {', '.join(SEVERITY_NAMES)}"
        ) from None


def gate_threshold(fail_on: str | None, exit_code: int | None) -> Severity | None:
    """The severity at which the CI gate fails: ``--fail-on``, or any finding when only
    ``--exit-code`` was given; None when no gate was asked for."""
    if fail_on:
        return parse_severity(fail_on)
    return Severity.UNKNOWN if exit_code is not None else None


def threshold_words(threshold: Severity) -> str:
    """How a failed gate names its bar in its message."""
    return "any severity" if threshold is Severity.UNKNOWN else f"severity {threshold}"
