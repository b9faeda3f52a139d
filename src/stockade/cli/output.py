"""Terminal behaviour: progress on stderr at a terminal, silence with --quiet or in CI."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


@dataclass
class UI:
    quiet: bool = False
    color: bool = True

    @property
    def stderr(self) -> Console:
        return Console(
            file=sys.stderr,
            no_color=not self.color,
            highlight=False,
            soft_wrap=True,
        )

    @property
    def interactive(self) -> bool:
        return not self.quiet and sys.stderr.isatty()

    def info(self, message: str) -> None:
        if not self.quiet:
            self.stderr.print(message, markup=False)

    def warn(self, message: str) -> None:
        self.stderr.print(f"warning: {message}", markup=False)

    @contextmanager
    def progress(self, description: str) -> Iterator[Callable[[int, int], None]]:
        """A callback (done, total) that draws a bar when stderr is a terminal."""
        if not self.interactive:
            yield lambda done, total: None
            return
        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.stderr,
            transient=True,
        )
        with bar:
            task = bar.add_task(description, total=None)

            def update(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            yield update
