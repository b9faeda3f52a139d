"""A stand-in policy engine for tests and benchmarks, shipped with the webhook.

:func:`scripted_evaluator` behaves as a Gatekeeper engine whose constraints are written
in the object's own annotations, so a test drives the real worker processes through a
real AdmissionReview:

* ``test.stockade.io/spin: "SECONDS"`` busy-loops in the worker for that long
  (``forever`` never returns): a policy that hangs, as a runaway Rego rule would;
* ``test.stockade.io/violation: "ACTION:KIND:NAME:MESSAGE"`` reports one violation
  (ACTION is ``deny``, ``warn`` or ``dryrun``);
* ``test.stockade.io/crash: "yes"`` ends the worker process abruptly.

Use it as ``WorkerPool(scripted_factory())``; it is never loaded by ``stockade admission
serve`` itself.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Mapping
from typing import Any, Final

from stockade.admission.webhook.workers import Evaluator, EvaluatorFactory, PolicyViolation

__all__ = ["ANNOTATION_PREFIX", "scripted_evaluator", "scripted_factory"]

ANNOTATION_PREFIX: Final = "test.stockade.io/"


def _annotations(request: Any) -> Mapping[str, Any]:
    obj = request.get("object") if isinstance(request, Mapping) else None
    metadata = obj.get("metadata") if isinstance(obj, Mapping) else None
    annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    return annotations if isinstance(annotations, Mapping) else {}


def _spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    counter = 0
    while time.monotonic() < end:
        counter += 1  # real work for the CPU, not a sleep: what a runaway rule does


def scripted_evaluator(startup_delay: float = 0.0) -> Evaluator:
    """Build the scripted engine (after ``startup_delay`` s, like loading a big policy)."""
    if startup_delay:
        time.sleep(startup_delay)

    def review(request: Any) -> list[PolicyViolation]:
        annotations = _annotations(request)
        if annotations.get(ANNOTATION_PREFIX + "crash") == "yes":
            os._exit(70)
        spin = annotations.get(ANNOTATION_PREFIX + "spin")
        if spin == "forever":
            while True:
                _spin(3600.0)
        if isinstance(spin, str):
            _spin(float(spin))
        written = annotations.get(ANNOTATION_PREFIX + "violation")
        if not isinstance(written, str):
            return []
        action, kind, name, message = written.split(":", 3)
        return [PolicyViolation(kind, name, message, action)]

    return review


def scripted_factory(startup_delay: float = 0.0) -> EvaluatorFactory:
    """A picklable factory of :func:`scripted_evaluator` for :class:`WorkerPool`."""
    return functools.partial(scripted_evaluator, startup_delay)
