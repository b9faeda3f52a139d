"""Talking to the Console: reports with a disk buffer (nothing acknowledged is lost,
nothing is stored twice), and the runtime policy, cached for when the Console is down.

**Reports.** Every report (an incident, a model, optionally a raw event) gets the next
sequence number and is appended to ``spool.jsonl`` in the Defender's data dir before
anything is sent. A sender thread posts the unacknowledged records in order, in batches,
to ``POST /api/v1/events`` with the Defender's token; the Console stores each sequence
number once (see the Console's Defender docs) and answers the highest it holds, which
becomes the acknowledged point (``acked``, kept in ``spool-state.json``). A batch the
Console stored whose answer was lost is simply sent again: the Console skips the numbers
it holds. While the Console is unreachable the sender backs off (0.5 s doubling to 30 s)
and the spool grows, up to ``max_bytes``; past that the oldest unacknowledged records are
dropped and counted in :attr:`ConsoleReporter.dropped` (a bounded buffer must give
something up; the log says how much, and they stay dropped across restarts). On start the
sender asks the Console where it stands (``GET /api/v1/defenders/self``): records it
stored are not resent, and a Defender whose data dir was wiped continues numbering after
the Console's last number instead of having its new records taken for duplicates.

The spool is append-only; acknowledged records are cut from it when they outweigh the
rest (or all at once when everything is acknowledged), so a long outage costs one
rewrite, not one per batch.

**Policy.** :class:`PolicySync` reads the Defenders' runtime policy
(``GET /api/v1/defenders/policy``) at start and every minute, applies it when it changed,
and keeps the last one read in the data dir, so a Defender that starts while the Console
is down protects with the policy it last had.

With no Console configured the Defender logs JSON lines and keeps working; neither class
is used.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx
import orjson

from stockade.runtime.defender import DefenderPolicy, PolicyError

__all__ = ["ConsoleReporter", "PolicySync", "ReporterError", "ReporterSettings", "tls_verify"]

_log = logging.getLogger("stockade.defender")
BATCH: Final = 500
COMPACT_BYTES: Final = 1024 * 1024
"""Acknowledged bytes left in the spool before it is rewritten (when they also outweigh
the unacknowledged records)."""
POLICY_INTERVAL: Final = 60.0
POLICY_CACHE: Final = "console-policy.yaml"


class ReporterError(Exception):
    """A setting the reporter cannot use (an unreadable CA bundle)."""


def tls_verify(verify: bool | str) -> bool | ssl.SSLContext:
    """``verify=`` for httpx: ``True`` (system CAs), or a context trusting a CA bundle file
    (the Console's own certificate)."""
    if not isinstance(verify, str):
        return verify
    try:
        return ssl.create_default_context(cafile=verify)
    except (OSError, ssl.SSLError) as exc:
        raise ReporterError(f"cannot read the CA bundle {verify}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class ReporterSettings:
    url: str
    token: str = field(repr=False)
    host: str
    spool_dir: Path
    verify: bool | str = True
    """``True`` (system CAs), a CA bundle path (the Console's self-signed certificate)."""
    max_bytes: int = 64 * 1024 * 1024
    version: str | None = None
    min_backoff: float = 0.5
    max_backoff: float = 30.0
    timeout: float = 10.0


def _client(
    settings: ReporterSettings, transport: httpx.BaseTransport | None = None
) -> httpx.Client:
    return httpx.Client(
        base_url=settings.url,
        headers={"Authorization": f"Bearer {settings.token}"},
        verify=tls_verify(settings.verify),
        timeout=settings.timeout,
        transport=transport,
    )


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
        self._floor: int = state.get("floor", 0)
        """Records numbered below this were dropped (the spool overflowed)."""
        self.sent = 0
        """Records the Console stored from this process (duplicates not counted)."""
        self.duplicates = 0
        """Records the Console already held when they were sent (a lost answer)."""
        records = _read_spool(self._spool)
        self._pending: list[tuple[dict[str, Any], int]] = [
            (r, size) for r, size in records if r["seq"] > self.acked and r["seq"] >= self._floor
        ]
        if records:
            self.next_seq = max(self.next_seq, max(r["seq"] for r, _ in records) + 1)
        self._size = sum(size for _, size in self._pending)
        self._garbage = sum(size for _, size in records) - self._size
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._client = _client(settings, transport)
        self._thread = threading.Thread(target=self._run, name="console-reporter", daemon=True)
        self.connected = False
        self.last_error: str | None = None

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
            line = orjson.dumps(record) + b"\n"
            with self._spool.open("ab") as handle:
                handle.write(line)
            self._pending.append((record, len(line)))
            self._size += len(line)
            dropped = 0
            while self._size > self.settings.max_bytes and len(self._pending) > 1:
                _, size = self._pending.pop(0)
                self._size -= size
                self._garbage += size
                dropped += 1
            if dropped:
                self.dropped += dropped
                self._floor = self._pending[0][0]["seq"]
                _log.warning(
                    "the spool is full (%d bytes): %d oldest record(s) dropped, %d in all",
                    self.settings.max_bytes,
                    dropped,
                    self.dropped,
                )
            self._save_state()
            self._lock.notify_all()
            return seq

    # -- sending -------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self, *, flush_timeout: float = 5.0) -> None:
        """Try to send what is spooled for up to ``flush_timeout`` seconds, then stop; what
        is left stays in the spool for the next start."""
        if self._thread.is_alive():
            with self._lock:
                self._lock.wait_for(lambda: not self._pending, timeout=flush_timeout)
        self._stop.set()
        with self._lock:
            self._lock.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=self.settings.timeout + 5)
        self._client.close()

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def wait_sent(self, timeout: float) -> bool:
        """Wait until everything spooled is acknowledged; whether it was."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._pending, timeout=timeout)

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
                    batch = [record for record, _ in self._pending[:BATCH]]
                self._send(batch)
                backoff = self.settings.min_backoff
                self.connected = True
                self.last_error = None
            except (httpx.HTTPError, OSError, _Refused, ValueError) as exc:
                self.connected = False
                self.last_error = str(exc) or type(exc).__name__
                _log.warning(
                    "reporting to the Console failed (%s); retrying in %.1f s",
                    self.last_error,
                    backoff,
                )
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.settings.max_backoff)

    def _resume(self) -> None:
        answer = self._client.get("/api/v1/defenders/self")
        if answer.status_code != 200:
            raise _Refused(f"GET /api/v1/defenders/self answered {answer.status_code}")
        last = int(answer.json().get("lastSeq", 0))
        with self._lock:
            if last >= self.next_seq:
                # The Console holds numbers this spool never issued: the data dir was
                # wiped or restored. Number what is waiting after the Console's last.
                _log.warning(
                    "the Console already holds records up to #%d from this host; numbering "
                    "continues from #%d",
                    last,
                    last + 1,
                )
                renumbered = []
                for offset, (old, _) in enumerate(self._pending):
                    record = {**old, "seq": last + 1 + offset}
                    renumbered.append((record, len(orjson.dumps(record)) + 1))
                self._pending = renumbered
                self.next_seq = last + 1 + len(renumbered)
                self._floor = 0
                self.acked = last
                self._size = sum(size for _, size in renumbered)
                self._rewrite()
                self._save_state()
                return
        self._acknowledge(last)

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
        result = answer.json()
        self.sent += int(result.get("accepted", 0))
        self.duplicates += int(result.get("duplicates", 0))
        # 202: the whole batch is stored (now or before).
        self._acknowledge(max(int(result.get("lastSeq", 0)), batch[-1]["seq"]))

    def _acknowledge(self, seq: int) -> None:
        with self._lock:
            if seq <= self.acked:
                return
            self.acked = seq
            keep = 0
            while keep < len(self._pending) and self._pending[keep][0]["seq"] <= seq:
                keep += 1
            if keep:
                done = sum(size for _, size in self._pending[:keep])
                self._pending = self._pending[keep:]
                self._size -= done
                self._garbage += done
            # the acknowledged point goes to disk first: a crash before the spool is
            # compacted leaves records the next start skips
            self._save_state()
            if not self._pending or (self._garbage > COMPACT_BYTES and self._garbage > self._size):
                self._rewrite()
            self._lock.notify_all()

    def _rewrite(self) -> None:
        temporary = self._spool.with_suffix(".tmp")
        with temporary.open("wb") as handle:
            for record, _ in self._pending:
                handle.write(orjson.dumps(record) + b"\n")
        os.replace(temporary, self._spool)
        self._garbage = 0

    def _save_state(self) -> None:
        temporary = self._state.with_suffix(".tmp")
        temporary.write_bytes(
            orjson.dumps(
                {
                    "next": self.next_seq,
                    "acked": self.acked,
                    "dropped": self.dropped,
                    "floor": self._floor,
                }
            )
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


def _read_spool(path: Path) -> list[tuple[dict[str, Any], int]]:
    """The spool's records, each with its size on disk (for the size budget)."""
    records = []
    try:
        with path.open("rb") as handle:
            for line in handle:
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue  # a line cut by a crash mid-write
                if isinstance(record, dict) and isinstance(record.get("seq"), int):
                    records.append((record, len(line)))
    except FileNotFoundError:
        pass
    return records


# -- the runtime policy -------------------------------------------------------------------


class PolicySync:
    """The Console's runtime policy for this Defender: fetched now and every ``interval``
    seconds, handed to ``apply`` when it changes, and cached in ``cache`` (a policy file,
    the format of ``--policy``) for starts while the Console is down."""

    def __init__(
        self,
        settings: ReporterSettings,
        apply: Callable[[DefenderPolicy], None],
        *,
        cache: Path,
        interval: float = POLICY_INTERVAL,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.cache = cache
        self.interval = interval
        self._apply = apply
        self._client = _client(settings, transport)
        self._text: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="console-policy", daemon=True)
        self.fetched = 0
        self.failures = 0
        self.source = "default"
        """Where the policy in force came from: ``console``, ``cache`` or ``default``."""

    def load(self) -> DefenderPolicy:
        """The policy to start with: the Console's if it answers now, else the cached
        copy, else the default (alert on everything). Applied before it is returned."""
        policy = self.fetch()
        if policy is not None:
            return policy
        cached = self.load_cached()
        if cached is not None:
            self.source = "cache"
            _log.warning(
                "the Console's policy could not be read; using the copy cached at %s",
                self.cache,
            )
            self._apply(cached)
            return cached
        _log.warning("the Console's policy could not be read and none is cached: alerting")
        default = DefenderPolicy()
        self._apply(default)
        return default

    def load_cached(self) -> DefenderPolicy | None:
        try:
            text = self.cache.read_text()
        except FileNotFoundError:
            return None
        except OSError as exc:
            _log.warning("the cached policy %s cannot be read: %s", self.cache, exc)
            return None
        try:
            policy = DefenderPolicy.from_yaml(text, where=str(self.cache))
        except PolicyError as exc:
            _log.warning("the cached policy is not usable: %s", exc)
            return None
        self._text = text
        return policy

    def fetch(self) -> DefenderPolicy | None:
        """Read the Console's policy once; apply and cache it when it changed. None when
        the Console could not be read (the policy in force stays)."""
        try:
            answer = self._client.get("/api/v1/defenders/policy")
            if answer.status_code != 200:
                raise _Refused(f"GET /api/v1/defenders/policy answered {answer.status_code}")
            text = answer.json()["yaml"]
            if not isinstance(text, str):
                raise _Refused("the Console's policy has no 'yaml' text")
            policy = DefenderPolicy.from_yaml(text, where="the Console's policy")
        except (httpx.HTTPError, OSError, _Refused, PolicyError, ValueError, KeyError) as exc:
            self.failures += 1
            _log.warning("the Console's policy could not be read: %s", exc)
            return None
        self.fetched += 1
        self.source = "console"
        if text != self._text:
            self._text = text
            _atomic_write(self.cache, text)
            self._apply(policy)
            _log.info("runtime policy from the Console applied (cached at %s)", self.cache)
        return policy

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.settings.timeout + 5)
        self._client.close()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.fetch()


def _atomic_write(path: Path, text: str) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    try:
        temporary.write_text(text)
        os.replace(temporary, path)
    except OSError as exc:
        _log.warning("the policy could not be cached at %s: %s", path, exc)
