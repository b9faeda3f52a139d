"""Reporting to the Console with a disk buffer: nothing acknowledged is lost, nothing is
sent twice into the store.

Every report (an incident, a model, optionally a raw event) gets the next sequence number
and is appended to ``spool.jsonl`` in the Defender's data dir before anything is sent. A
sender thread posts the unacknowledged records in order, in batches, to
``POST /api/v1/events`` with the Defender's token; the Console stores each sequence number
once (see the Console's Defender docs) and answers the highest it holds, which becomes
the acknowledged point (``acked``, also on disk). While the Console is unreachable the
sender backs off (0.5 s doubling to 30 s) and the spool grows, up to ``max_bytes``; past
that the oldest unacknowledged records are dropped and counted in :attr:`dropped` (a
bounded buffer must give something up; the log says how much). On start the sender asks
the Console where it stands (``GET /api/v1/defenders/self``), so records it stored whose
answer was lost are not resent.

With no Console configured the Defender logs JSON lines and keeps working; this class is
not used.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
import orjson

__all__ = ["ConsoleReporter", "ReporterSettings"]

_log = logging.getLogger("stockade.defender")
BATCH: Final = 500


@dataclass(frozen=True, slots=True)
class ReporterSettings:
    url: str
    token: str
    host: str
    spool_dir: Path
    verify: bool | str = True
    """``True`` (system CAs), a CA bundle path (the Console's self-signed certificate)."""
    max_bytes: int = 64 * 1024 * 1024
    version: str | None = None
    min_backoff: float = 0.5
    max_backoff: float = 30.0


class ConsoleReporter:
    def __init__(
        self,
        settings: ReporterSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.settings = settings
        self._clock = clock
        settings.spool_dir.mkdir(parents=True, exist_ok=True)
        self._spool = settings.spool_dir / "spool.jsonl"
        self._state = settings.spool_dir / "spool-state.json"
        state = _read_state(self._state)
        self.next_seq: int = state.get("next", 1)
        self.acked: int = state.get("acked", 0)
        self.dropped: int = state.get("dropped", 0)
        self.sent = 0
        self._pending: list[dict[str, Any]] = [
            r for r in _read_spool(self._spool) if r["seq"] > self.acked
        ]
        if self._pending:
            self.next_seq = max(self.next_seq, self._pending[-1]["seq"] + 1)
        self._size = sum(len(orjson.dumps(r)) + 1 for r in self._pending)
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._client = httpx.Client(
            base_url=settings.url,
            headers={"Authorization": f"Bearer {settings.token}"},
            verify=settings.verify,
            timeout=10,
            transport=transport,
        )
        self._thread = threading.Thread(target=self._run, name="console-reporter", daemon=True)
        self.connected = False

    # -- producing -----------------------------------------------------------------------

    def report(
        self, kind: str, payload: dict[str, Any], occurred_at: dt.datetime | None = None
    ) -> int:
        """Spool a record; its sequence number."""
        when = (occurred_at or self._clock()).isoformat()
        with self._lock:
            seq = self.next_seq
            record = {"seq": seq, "kind": kind, "occurredAt": when, "payload": payload}
            self.next_seq += 1
            line = orjson.dumps(record)
            with self._spool.open("ab") as handle:
                handle.write(line + b"\n")
            self._pending.append(record)
            self._size += len(line) + 1
            while self._size > self.settings.max_bytes and len(self._pending) > 1:
                gone = self._pending.pop(0)
                self._size -= len(orjson.dumps(gone)) + 1
                self.dropped += 1
            self._save_state()
            self._lock.notify()
            return seq

    # -- sending -------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self, *, flush_timeout: float = 5.0) -> None:
        """Try to send what is spooled for up to ``flush_timeout`` seconds, then stop."""
        with self._lock:
            self._lock.wait_for(lambda: not self._pending, timeout=flush_timeout)
        self._stop.set()
        with self._lock:
            self._lock.notify_all()
        self._thread.join(timeout=15)
        self._client.close()

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def _run(self) -> None:
        backoff = self.settings.min_backoff
        resumed = False
        while not self._stop.is_set():
            try:
                if not resumed:
                    self._resume()
                    resumed = True
                with self._lock:
                    if not self._pending:
                        self._lock.wait(timeout=1.0)
                        continue
                    batch = self._pending[:BATCH]
                self._send(batch)
                backoff = self.settings.min_backoff
                self.connected = True
            except (httpx.HTTPError, OSError, _Refused) as exc:
                self.connected = False
                _log.warning("the Console is unreachable (%s); retrying in %.1f s", exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.settings.max_backoff)

    def _resume(self) -> None:
        answer = self._client.get("/api/v1/defenders/self")
        if answer.status_code != 200:
            raise _Refused(f"GET /api/v1/defenders/self answered {answer.status_code}")
        self._acknowledge(int(answer.json().get("lastSeq", 0)))

    def _send(self, batch: list[dict[str, Any]]) -> None:
        body = {"host": self.settings.host, "version": self.settings.version, "events": batch}
        answer = self._client.post(
            "/api/v1/events",
            content=orjson.dumps(body),
            headers={"Content-Type": "application/json"},
        )
        if answer.status_code != 202:
            raise _Refused(
                f"POST /api/v1/events answered {answer.status_code}: {answer.text[:200]}"
            )
        self.sent += int(answer.json().get("accepted", 0))
        self._acknowledge(max(int(answer.json().get("lastSeq", 0)), batch[-1]["seq"]))

    def _acknowledge(self, seq: int) -> None:
        with self._lock:
            if seq <= self.acked:
                return
            self.acked = seq
            before = len(self._pending)
            self._pending = [r for r in self._pending if r["seq"] > seq]
            if len(self._pending) != before:
                self._size = sum(len(orjson.dumps(r)) + 1 for r in self._pending)
                self._rewrite()
            self._save_state()
            self._lock.notify_all()

    def _rewrite(self) -> None:
        temporary = self._spool.with_suffix(".tmp")
        with temporary.open("wb") as handle:
            for record in self._pending:
                handle.write(orjson.dumps(record) + b"\n")
        os.replace(temporary, self._spool)

    def _save_state(self) -> None:
        temporary = self._state.with_suffix(".tmp")
        temporary.write_bytes(
            orjson.dumps({"next": self.next_seq, "acked": self.acked, "dropped": self.dropped})
        )
        os.replace(temporary, self._state)


class _Refused(Exception):
    """The Console answered, but not with success."""


def _read_state(path: Path) -> dict[str, int]:
    try:
        state = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return (
        {k: int(v) for k, v in state.items() if isinstance(v, int)}
        if isinstance(state, dict)
        else {}
    )


def _read_spool(path: Path) -> list[dict[str, Any]]:
    records = []
    try:
        with path.open("rb") as handle:
            for line in handle:
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue  # a line cut by a crash mid-write
                if isinstance(record, dict) and isinstance(record.get("seq"), int):
                    records.append(record)
    except FileNotFoundError:
        pass
    return records
