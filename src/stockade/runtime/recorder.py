"""The flight recorder: recent events per container on disk, frozen when an alert fires.

Each container gets a bounded ring of its latest events as JSON lines — two files that
take turns (``current.jsonl`` fills to half the budget, then replaces ``previous.jsonl``),
so at most ``bytes_per_container`` is kept and the latest half-budget always is. When an
incident fires, :meth:`FlightRecorder.freeze` copies the container's ring and the
incident into ``incidents/<id>.jsonl``: the evidence survives the container and the ring's
turnover. ``stockade forensics export ID`` writes such a bundle out.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Final

import orjson

from stockade.runtime.events import Event
from stockade.runtime.incidents import Incident, event_record

__all__ = ["FlightRecorder", "RecorderError", "read_bundle"]

DEFAULT_BYTES: Final = 4 * 1024 * 1024
MAX_OPEN: Final = 256
_ID = re.compile(r"[0-9a-f]{16}")
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


class RecorderError(Exception):
    """No such incident, or a bundle that cannot be read."""


class FlightRecorder:
    def __init__(self, directory: Path, *, bytes_per_container: int = DEFAULT_BYTES) -> None:
        self.directory = directory
        self.budget = max(4096, bytes_per_container)
        (directory / "containers").mkdir(parents=True, exist_ok=True)
        (directory / "incidents").mkdir(parents=True, exist_ok=True)
        self._files: dict[str, tuple[IO[bytes], int]] = {}
        self._lock = threading.Lock()

    def _ring(self, container: str) -> Path:
        return self.directory / "containers" / _SAFE.sub("_", container)[:64]

    def record(self, event: Event) -> None:
        container = event.process.container.id
        line = orjson.dumps(event_record(event)) + b"\n"
        with self._lock:
            handle, size = self._files.get(container, (None, 0))
            if handle is None:
                if len(self._files) >= MAX_OPEN:
                    self._close_one()
                ring = self._ring(container)
                ring.mkdir(exist_ok=True)
                handle = open(ring / "current.jsonl", "ab")  # noqa: SIM115  # kept open
                size = handle.tell()
            if size + len(line) > self.budget // 2:
                handle.close()
                ring = self._ring(container)
                os.replace(ring / "current.jsonl", ring / "previous.jsonl")
                handle = open(ring / "current.jsonl", "ab")  # noqa: SIM115
                size = 0
            handle.write(line)
            self._files[container] = (handle, size + len(line))

    def _close_one(self) -> None:
        container, (handle, _) = next(iter(self._files.items()))
        handle.close()
        del self._files[container]

    def freeze(self, incident: Incident) -> Path:
        """Write the incident and its container's recent events to a bundle."""
        container = incident.container.id
        target = self.directory / "incidents" / f"{incident.id}.jsonl"
        with self._lock:
            entry = self._files.get(container)
            if entry is not None:
                entry[0].flush()
            ring = self._ring(container)
            with open(target, "wb") as out:
                out.write(orjson.dumps({"incident": incident.record()}) + b"\n")
                for name in ("previous.jsonl", "current.jsonl"):
                    try:
                        with open(ring / name, "rb") as source:
                            shutil.copyfileobj(source, out)
                    except FileNotFoundError:
                        continue
        return target

    def close(self) -> None:
        with self._lock:
            for handle, _ in self._files.values():
                handle.close()
            self._files.clear()

    def incidents(self) -> list[str]:
        return sorted(p.stem for p in (self.directory / "incidents").glob("*.jsonl"))


def read_bundle(directory: Path, incident_id: str) -> Iterator[dict[str, Any]]:
    """The records of an incident bundle: the incident first, then its events."""
    if not _ID.fullmatch(incident_id):
        raise RecorderError(f"not an incident id: {incident_id[:40]!r}")
    path = directory / "incidents" / f"{incident_id}.jsonl"
    try:
        handle = path.open("rb")
    except FileNotFoundError as exc:
        raise RecorderError(f"no incident {incident_id} in {directory}") from exc
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                yield orjson.loads(line)
            except orjson.JSONDecodeError:
                # a line cut by a crash mid-write: say so, keep the rest
                yield {"error": f"line {number} is not JSON (cut short?)"}
