"""Reading the parts of an image config document the checks share, defensively."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from stockade.compliance.image.check import ImageSubject


@dataclass(frozen=True, slots=True)
class HistoryStep:
    index: int
    created_by: str
    layer: str | None
    """diff_id of the layer the step made; None for steps that made none."""


def history_steps(subject: ImageSubject) -> Iterator[HistoryStep]:
    """History entries with their layer, skipping entries that are not objects."""
    history = subject.config.get("history")
    if not isinstance(history, list):
        return
    layer_index = 0
    for index, step in enumerate(history):
        if not isinstance(step, dict):
            continue
        empty = step.get("empty_layer") is True
        layer = None if empty else subject.layer_of(layer_index)
        if not empty:
            layer_index += 1
        created_by = step.get("created_by")
        if isinstance(created_by, str):
            yield HistoryStep(index, created_by, layer)
