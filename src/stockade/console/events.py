"""What happens in the Console that others may react to: the hook alert channels use.

A :class:`PublishListener` is called after a published result is committed, in the
request's worker thread; it must be quick and must not raise (queue real work).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

__all__ = ["PublishListener", "ResultPublished"]


@dataclass(frozen=True, slots=True)
class ResultPublished:
    scan_id: int
    kind: str
    """``vulnerabilities`` or ``compliance``."""
    artifact_key: str
    artifact_name: str
    published_at: dt.datetime
    publisher: str
    summary: dict[str, object]


class PublishListener(Protocol):
    def __call__(self, event: ResultPublished) -> None: ...
