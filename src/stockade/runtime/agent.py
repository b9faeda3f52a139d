"""The running Defender: sensors feeding the judgement, incidents going to the sinks.

Threads: one reads the proc connector (process events must be read at once: processes
vanish), one polls the network tables, one keeps house (saves changed models, advances
nothing else — lifecycles move with events). Every event goes to the flight recorder and
to :class:`~stockade.runtime.defender.Defender`; every incident is frozen into a forensics
bundle, logged as a JSON line, and reported to the Console when one is configured.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from stockade import __version__
from stockade.runtime.defender import Defender, DefenderPolicy
from stockade.runtime.events import Event
from stockade.runtime.incidents import Incident
from stockade.runtime.models import DEFAULT_DRY_RUN, DEFAULT_LEARNING, ModelStore
from stockade.runtime.recorder import DEFAULT_BYTES, FlightRecorder
from stockade.runtime.reporting import ConsoleReporter, ReporterSettings
from stockade.runtime.rules import RuleSet
from stockade.runtime.sensors.containers import ContainerResolver
from stockade.runtime.sensors.network import NetworkSensor
from stockade.runtime.sensors.procconn import ProcConnector
from stockade.runtime.sensors.processes import ProcessTracker, watch

__all__ = ["AgentSettings", "DefenderAgent"]

_log = logging.getLogger("stockade.defender")


@dataclass
class AgentSettings:
    data_dir: Path
    learning_seconds: float = DEFAULT_LEARNING
    dry_run_seconds: float = DEFAULT_DRY_RUN
    policy: DefenderPolicy = field(default_factory=DefenderPolicy)
    rules: RuleSet | None = None
    network_interval: float = 0.2
    hold_seconds: float = 1.0
    """How long model deviations wait for a more severe finding about the same process."""
    recorder_bytes: int = DEFAULT_BYTES
    console: ReporterSettings | None = None
    log: IO[str] | None = None
    """Where incidents go as JSON lines (stdout by default)."""
    host: str = field(default_factory=socket.gethostname)


class DefenderAgent:
    def __init__(self, settings: AgentSettings) -> None:
        self.settings = settings
        data = settings.data_dir
        data.mkdir(parents=True, exist_ok=True)
        self.models = ModelStore(
            data / "models",
            learning_seconds=settings.learning_seconds,
            dry_run_seconds=settings.dry_run_seconds,
        )
        for problem in self.models.errors:
            _log.warning("model not loaded: %s", problem)
        self.recorder = FlightRecorder(
            data / "recorder", bytes_per_container=settings.recorder_bytes
        )
        self.reporter = ConsoleReporter(settings.console) if settings.console else None
        self.incidents: list[Incident] = []
        self.defender = Defender(
            self.models,
            rules=settings.rules,
            policy=settings.policy,
            sinks=[self._incident],
            hold_seconds=settings.hold_seconds,
        )
        self.tracker = ProcessTracker(containers=ContainerResolver())
        self.network = NetworkSensor(self.tracker.lookup, pids=self._pids)
        self._connector: ProcConnector | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.events_seen = 0

    # -- sinks ---------------------------------------------------------------------------

    def _incident(self, incident: Incident) -> None:
        self.incidents.append(incident)
        bundle = self.recorder.freeze(incident)
        record: dict[str, Any] = {**incident.record(), "bundle": str(bundle)}
        stream = self.settings.log or sys.stdout
        with self._lock:
            stream.write(orjson.dumps(record).decode() + "\n")
            stream.flush()
        if self.reporter is not None:
            self.reporter.report("incident", {**record, "host": self.settings.host})

    def handle(self, event: Event) -> Incident | None:
        self.events_seen += 1
        self.recorder.record(event)
        return self.defender.handle(event)

    # -- sensors -------------------------------------------------------------------------

    def _pids(self) -> Sequence[int]:
        from os import listdir

        return [int(name) for name in listdir("/proc") if name.isdigit()]

    def start(self) -> None:
        self._connector = ProcConnector()
        self.tracker.seed()
        self.network.prime()
        if self.reporter is not None:
            self.reporter.start()
        self._spawn("process-sensor", self._process_loop)
        self._spawn("network-sensor", self._network_loop)
        self._spawn("housekeeping", self._housekeeping)

    def _spawn(self, name: str, target: Any) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _process_loop(self) -> None:
        assert self._connector is not None  # noqa: S101 - set by start()
        for event in watch(self.tracker, self._connector, timeout=0.2):
            if self._stop.is_set():
                return
            try:
                self.handle(event)
            except Exception:  # one bad event must not blind the Defender
                _log.exception("event not judged")

    def _network_loop(self) -> None:
        while not self._stop.wait(self.settings.network_interval):
            try:
                for event in self.network.poll():
                    self.handle(event)
            except Exception:
                _log.exception("network poll failed")

    def _housekeeping(self) -> None:
        ticks = 0
        while not self._stop.wait(0.25):
            ticks += 1
            try:
                self.defender.flush(time.time_ns())
                if ticks % 20 == 0:
                    self.models.save()
            except Exception:
                _log.exception("housekeeping failed")

    def stop(self) -> None:
        self._stop.set()
        if self._connector is not None:
            self._connector.close()
        for thread in self._threads:
            thread.join(timeout=5)
        self.defender.flush(time.time_ns() + self.defender.hold_ns)
        self.models.save()
        self.recorder.close()
        if self.reporter is not None:
            self.reporter.stop()

    @property
    def lost_events(self) -> int:
        return self._connector.lost if self._connector else 0

    @staticmethod
    def version() -> str:
        return __version__
