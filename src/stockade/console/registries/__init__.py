"""Registry scanning: registries, schedules, rescans.

An administrator registers an OCI distribution registry (``/api/v1/registries``) with
the repositories to scan (a list, or the catalog narrowed by include/exclude globs), how
many of each repository's most recent tags to scan, and an interval. A worker thread in
each Console process (:mod:`.scheduler`) claims due registries (:mod:`.runner`), lists
them (:mod:`.distribution`), scans each new image with Stockade's own pipeline
(:mod:`.scanning`) and stores it as a published scan. Images are rescanned when the
advisory data changes, and only then or when their digest does.

The parts: :mod:`.model` (pure choices), :mod:`.credentials` (sealed at rest),
:mod:`.api` (the REST API).
"""

from __future__ import annotations

from fastapi import APIRouter

from stockade.console.context import ConsoleContext
from stockade.console.registries.api import SCHEDULERS, router
from stockade.console.registries.runner import RegistryScanner
from stockade.console.registries.scheduler import RegistryScheduler

__all__ = ["ROUTERS", "RegistryScanner", "RegistryScheduler", "install", "scheduler_of"]

ROUTERS: tuple[APIRouter, ...] = (router,)


def install(context: ConsoleContext) -> None:
    """Hook this feature into a Console process: the scan thread starts with the app and
    stops with it."""
    scheduler = RegistryScheduler(RegistryScanner(context))

    def start() -> None:
        SCHEDULERS[id(context)] = scheduler
        scheduler.start()

    def stop() -> None:
        SCHEDULERS.pop(id(context), None)
        scheduler.stop()

    context.on_start.append(start)
    context.on_close.append(stop)


def scheduler_of(context: ConsoleContext) -> RegistryScheduler | None:
    """The started scheduler of the app over ``context`` (None before start, after stop)."""
    return SCHEDULERS.get(id(context))
