"""The running Defender: sensors feeding the judgement, incidents going to the sinks.

Threads: one reads the proc connector (process events must be read at once: processes
vanish; the kernel's exec records, where eBPF is available, say what a vanished one ran),
one polls the network tables, one reads fanotify's file events and the kernel's open
records (unless turned off), one keeps house (saves changed models, marks new
sensitive files, forgets gone containers; lifecycles move with events). The process
sensor tells the file sensor about each container it meets, so its mounts are watched
from its first process on; processes that exited are remembered a while, so a file
event read after its writer is gone still names it. A sensitive open waits for the
judgement; prevent and stop refuse it.

Every event goes to the flight recorder and to
:class:`~stockade.runtime.defender.Defender`; every incident is frozen into a forensics
bundle, logged as a JSON line, and reported to the Console when one is configured. Held
model deviations are told once every sensor has caught up with the end of their hold.
"""

from __future__ import annotations

import logging
import select
import socket
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import orjson

from stockade import __version__
from stockade.runtime.defender import Defender, DefenderPolicy
from stockade.runtime.events import Event, FileEvent, Process, ProcessEvent
from stockade.runtime.incidents import Action, Incident
from stockade.runtime.models import DEFAULT_DRY_RUN, DEFAULT_LEARNING, ModelStore
from stockade.runtime.recorder import DEFAULT_BYTES, FlightRecorder
from stockade.runtime.reporting import ConsoleReporter, ReporterSettings
from stockade.runtime.rules import RuleSet
from stockade.runtime.sensors.bpf import BpfUnavailable, Btf
from stockade.runtime.sensors.connects import ConnectRecorder
from stockade.runtime.sensors.containers import ContainerResolver
from stockade.runtime.sensors.dns import DnsNames
from stockade.runtime.sensors.execs import ExecRecorder
from stockade.runtime.sensors.files import DEFAULT_SENSITIVE_READS, FileSensor
from stockade.runtime.sensors.network import NetworkSensor
from stockade.runtime.sensors.opens import OpenRecorder
from stockade.runtime.sensors.procconn import ProcConnector
from stockade.runtime.sensors.processes import ProcessTracker

__all__ = ["AgentSettings", "DefenderAgent"]

_log = logging.getLogger("stockade.defender")

EXITED_REMEMBERED = 4096
"""Exited processes kept for file events that arrive after their process is gone."""
MAX_EXTRA_HOLD_NS = 5_000_000_000
"""How much longer than the hold a deviation may wait for a sensor running behind."""
_WAIT = 0.2


@dataclass
class AgentSettings:
    data_dir: Path
    learning_seconds: float = DEFAULT_LEARNING
    dry_run_seconds: float = DEFAULT_DRY_RUN
    policy: DefenderPolicy = field(default_factory=DefenderPolicy)
    rules: RuleSet | None = None
    network_interval: float = 0.2
    dns_names: bool = True
    """Name the addresses connected to from the DNS answers in each network namespace."""
    exec_records: bool = True
    """Record each exec in the kernel (eBPF), for processes gone before ``/proc`` is
    read; where eBPF is not available the Defender says so once and reads ``/proc``."""
    connect_records: bool = True
    """Record each ``connect`` outside the host's network namespace in the kernel
    (eBPF), so a connection that ends between two polls is still told."""
    open_records: bool = True
    """Record each open for writing in a watched container in the kernel (eBPF), told
    with its flags and descriptor as it happens; without it (or eBPF) writes are told
    when the file is closed."""
    file_sensor: bool = True
    """Watch containers' files with fanotify (sensitive reads, writes, executions)."""
    file_permission_events: bool = True
    """Sensitive opens wait for the judgement (and prevent refuses them); False: notify."""
    sensitive_reads: tuple[str, ...] = DEFAULT_SENSITIVE_READS
    """Files inside containers whose every open is reported (shell patterns)."""
    hold_seconds: float = 1.0
    """How long model deviations wait for a more severe finding about the same process."""
    recorder_bytes: int = DEFAULT_BYTES
    console: ReporterSettings | None = None
    log: IO[str] | None = None
    """Where incidents go as JSON lines (stdout by default)."""
    host: str = field(default_factory=socket.gethostname)


_Recorder = TypeVar("_Recorder")


def _optional(make: Callable[[], _Recorder], unavailable: str) -> _Recorder | None:
    """``make()``, or None with ``unavailable`` logged (``%s``: why) where eBPF refuses."""
    try:
        return make()
    except BpfUnavailable as exc:
        _log.warning(unavailable, exc.strerror or exc)
        return None


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
        self.network = NetworkSensor(
            self.tracker.lookup,
            describe=self._describe,
            pids=self._pids,
            names=DnsNames() if settings.dns_names else None,
        )
        self.files: FileSensor | None = None
        self._exited: OrderedDict[int, Process] = OrderedDict()
        self._caught_up: dict[str, int] = {}
        """Sensor → wall-clock time before which it has handed over every event."""
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

    def _process_of(self, pid: int) -> Process | None:
        """What is known of ``pid``: the tracker's knowledge or ``/proc``, else the
        process as it was when it exited (file events are read after their writer may
        have gone)."""
        return self.tracker.lookup(pid) or self._exited.get(pid)

    def _describe(self, pid: int) -> Process | None:
        """``pid`` as ``/proc`` shows it now (what the tracker knows may predate an exec
        it has not handled yet)."""
        return self.tracker.lookup(pid, fresh=True) or self._exited.get(pid)

    def _kernel_records(self) -> tuple[ExecRecorder | None, OpenRecorder | None]:
        """The eBPF exec and open recorders the settings ask for, sharing one reading of
        the kernel's BTF; each that cannot be had is said once, and left out."""
        settings = self.settings
        opens_wanted = settings.open_records and settings.file_sensor
        if not (settings.exec_records or opens_wanted or settings.connect_records):
            return None, None
        try:
            btf = Btf.kernel()
        except BpfUnavailable as exc:
            _log.warning("nothing is recorded in the kernel (eBPF): %s", exc.strerror or exc)
            return None, None
        execs = opens = None
        if settings.exec_records:
            execs = _optional(
                lambda: ExecRecorder(btf=btf),
                "execs are not recorded in the kernel (%s): a process gone before /proc "
                "is read is known only by what it was forked from",
            )
        if opens_wanted:
            opens = _optional(
                lambda: OpenRecorder(btf=btf),
                "opens are not recorded in the kernel (%s): writes are told when the file "
                "is closed, without the open's flags",
            )
        if settings.connect_records:
            self.network.connects = _optional(
                lambda: ConnectRecorder(btf=btf),
                "connects are not recorded in the kernel (%s): a connection shorter than "
                "the network poll interval can be missed",
            )
        return execs, opens

    def start(self) -> None:
        self._connector = ProcConnector()
        self.tracker.execs, opens = self._kernel_records()
        if self.settings.file_sensor:
            try:
                self.files = FileSensor(
                    self._process_of,
                    describe=self._describe,
                    sensitive_reads=self.settings.sensitive_reads,
                    permission=self.settings.file_permission_events,
                    opens=opens,
                )
            except Exception:
                self._connector.close()
                if opens is not None:
                    opens.close()
                raise
        self.tracker.seed()
        self.network.prime()
        if self.files is not None:
            for pid in self._pids():
                process = self.tracker.known(pid)
                if process is not None:
                    self._watch_container(process)
        if self.reporter is not None:
            self.reporter.start()
        self._spawn("process-sensor", self._process_loop)
        self._spawn("network-sensor", self._network_loop)
        if self.files is not None:
            self._spawn("file-sensor", self._file_loop)
        self._spawn("housekeeping", self._housekeeping)

    def _spawn(self, name: str, target: Any) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _process_loop(self) -> None:
        connector = self._connector
        assert connector is not None  # noqa: S101 - set by start()
        while not self._stop.is_set():
            started = time.time_ns()
            try:
                if not select.select([connector], [], [], 0)[0]:
                    self._caught_up["process"] = started  # nothing queued: all handed over
                raws = connector.read(_WAIT)
            except (OSError, ValueError):
                if self._stop.is_set():
                    return  # closed by stop()
                raise
            for raw in raws:
                try:
                    event = self.tracker.handle(raw)
                    if event is not None:
                        self._learn_process(event)
                        self.handle(event)
                except Exception:  # one bad event must not blind the Defender
                    _log.exception("event not judged")

    def _learn_process(self, event: ProcessEvent) -> None:
        if event.type == "procexit":
            self._exited[event.process.pid] = event.process
            self._exited.move_to_end(event.process.pid)
            while len(self._exited) > EXITED_REMEMBERED:
                self._exited.popitem(last=False)
        else:
            self._watch_container(event.process)

    def _watch_container(self, process: Process) -> None:
        container = process.container
        if self.files is None or container.is_host or self.files.is_watching(container.id):
            return
        if self.files.watch(container, process.pid):
            _log.info("watching the files of container %s", container.name or container.id)

    def _file_loop(self) -> None:
        assert self.files is not None  # noqa: S101 - set by start()
        while not self._stop.is_set():
            try:
                self.files.read(_WAIT, self._judge_file)
            except Exception:  # the loop must live: sensitive opens wait for it
                _log.exception("file events not read")
            self._caught_up["files"] = self.files.caught_up_ns

    def _judge_file(self, event: FileEvent) -> bool:
        """Judge a file event; False refuses an open that waits for the verdict (the
        incident's action is prevent or stop)."""
        try:
            incident = self.handle(event)
        except Exception:
            _log.exception("event not judged")
            return True
        return incident is None or incident.action is Action.ALERT

    def _network_loop(self) -> None:
        while not self._stop.wait(self.settings.network_interval):
            started = time.time_ns()
            try:
                for event in self.network.poll():
                    self.handle(event)
            except Exception:
                _log.exception("network poll failed")
            self._caught_up["network"] = started

    def _housekeeping(self) -> None:
        ticks = 0
        while not self._stop.wait(0.25):
            ticks += 1
            try:
                self.defender.flush(self._watermark())
                if self.files is not None:
                    self.files.refresh(everything=ticks % 20 == 0)
                    if ticks % 4 == 0:
                        self.files.prune()
                if ticks % 20 == 0:
                    self.models.save()
            except Exception:
                _log.exception("housekeeping failed")

    def _watermark(self) -> int:
        """The time before which every sensor has handed over what it saw: a held
        deviation is told once the sensors are past its hold, so that a more severe
        finding about the same process from a sensor running behind (a loaded machine)
        still absorbs it; never more than :data:`MAX_EXTRA_HOLD_NS` behind the clock."""
        now = time.time_ns()
        return max(min([now, *self._caught_up.values()]), now - MAX_EXTRA_HOLD_NS)

    def stop(self) -> None:
        self._stop.set()
        if self._connector is not None:
            self._connector.close()
        for thread in self._threads:
            thread.join(timeout=5)
        if self.files is not None:
            self.files.close()  # opens waiting for a verdict are allowed
            if self.files.opens is not None:
                self.files.opens.close()
        if self.network.names is not None:
            self.network.names.close()
        if self.tracker.execs is not None:
            self.tracker.execs.close()
        if self.network.connects is not None:
            self.network.connects.close()
        self.defender.flush(time.time_ns() + self.defender.hold_ns)
        self.models.save()
        self.recorder.close()
        if self.reporter is not None:
            self.reporter.stop()

    @property
    def lost_events(self) -> int:
        """Loss reports of the process sensor (proc connector buffer overruns)."""
        return self._connector.lost if self._connector else 0

    @property
    def lost_file_events(self) -> int:
        """Loss reports of the file sensor (fanotify queue overflows)."""
        return self.files.lost if self.files else 0

    @staticmethod
    def version() -> str:
        return __version__
