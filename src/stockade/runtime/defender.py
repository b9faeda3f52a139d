"""The Defender's judgement: events in, incidents out, actions taken.

For each sensor event, :class:`Defender`:

1. finds the image's model (created on first sight) and advances its lifecycle;
2. while the model learns, adds what the event shows to it;
3. collects findings: the built-in detections, the Falco rules, and — once the model has
   learned — the deviations from it;
4. drops findings an exception covers, and turns what is left into one
   :class:`~stockade.runtime.incidents.Incident` (the most severe finding leads; the others
   are listed in it), acting on it as the policy says: alert, prevent (kill the process)
   or stop (kill the container's init). Deviations of a model in dry run are reported as
   ``dry-run`` and never acted on;
5. suppresses repeats (same rule, container and program within a minute; or a finding
   less severe than an incident already raised for the same process), counting them.
   With ``hold_seconds``, model deviations wait that long before they are told, so that
   a more severe finding about the same process arriving from another sensor a moment
   later (the reverse shell after its connection) absorbs them; :meth:`flush` tells the
   ones that are due.

It reads no sockets: the sensors feed it, sinks (log, Console, flight recorder) take its
incidents. That keeps it testable on events as data, and the same code runs on real ones.
"""

from __future__ import annotations

import fnmatch
import os
import signal
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stockade.runtime.detections import Finding, builtin_findings, describe
from stockade.runtime.events import Event, FileEvent, NetworkEvent, Process, ProcessEvent
from stockade.runtime.incidents import Action, Incident, new_incident_id
from stockade.runtime.models import Model, ModelState, ModelStore, process_identity
from stockade.runtime.rules import Priority, RuleSet

__all__ = ["Defender", "DefenderPolicy", "PolicyError", "RuleException"]

REPEAT_WINDOW_NS = 60 * 1_000_000_000


class PolicyError(ValueError):
    """A Defender policy file that cannot be used."""


@dataclass(frozen=True, slots=True)
class RuleException:
    """Findings this covers are dropped. Every given pattern must match (shell globs);
    one line in the policy file: ``- {rule: model:process, image: "shop/*", process: "*/nc"}``."""

    rule: str = "*"
    image: str = "*"
    process: str = "*"
    """Matched against the executable's path and the name it was called by."""
    path: str = "*"
    """For file events: the file."""
    destination: str = "*"
    """For network events: ``ADDRESS:PORT`` or ``NAME:PORT``."""

    def covers(self, finding: Finding, event: Event) -> bool:
        process = event.process
        if not fnmatch.fnmatchcase(finding.rule, self.rule):
            return False
        if self.image != "*" and not fnmatch.fnmatchcase(process.container.image or "", self.image):
            return False
        if self.process != "*" and not any(
            fnmatch.fnmatchcase(candidate, self.process)
            for candidate in (process.exepath, process.exe, process.name)
        ):
            return False
        if self.path != "*" and not (
            isinstance(event, FileEvent) and fnmatch.fnmatchcase(event.path, self.path)
        ):
            return False
        return self.destination == "*" or (
            isinstance(event, NetworkEvent)
            and any(fnmatch.fnmatchcase(d, self.destination) for d in _destinations(event))
        )


@dataclass
class DefenderPolicy:
    """What to do when something fires. ``actions`` maps rule names or globs
    (``builtin:*``, ``model:process``, a Falco rule's name) to an action; the first
    matching entry wins, else ``default``."""

    default: Action = Action.ALERT
    actions: list[tuple[str, Action]] = field(default_factory=list)
    exceptions: list[RuleException] = field(default_factory=list)

    def action_for(self, rule: str) -> Action:
        for pattern, action in self.actions:
            if fnmatch.fnmatchcase(rule, pattern):
                return action
        return self.default

    @classmethod
    def from_yaml(cls, text: str, *, where: str = "policy") -> DefenderPolicy:
        try:
            document = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise PolicyError(f"{where}: not YAML: {exc}") from exc
        if not isinstance(document, dict):
            raise PolicyError(f"{where}: expected a mapping")
        try:
            default = Action(document.get("default", "alert"))
            actions = [
                (str(pattern), Action(action))
                for pattern, action in (document.get("actions") or {}).items()
            ]
            exceptions = [
                RuleException(**_strings(item)) for item in document.get("exceptions") or []
            ]
        except (ValueError, TypeError) as exc:
            raise PolicyError(f"{where}: {exc}") from exc
        return cls(default=default, actions=actions, exceptions=exceptions)


def _strings(item: object) -> dict[str, str]:
    if not isinstance(item, dict):
        raise PolicyError("each exception is a mapping of rule/image/process/path/destination")
    return {str(k): str(v) for k, v in item.items()}


def _destinations(event: NetworkEvent) -> list[str]:
    port = event.server_port
    found = [f"{event.server_ip}:{port}"] if event.server_ip is not None else []
    if event.server_name:
        found.append(f"{event.server_name}:{port}")
    return found


Sink = Callable[[Incident], None]


class Defender:
    def __init__(
        self,
        models: ModelStore,
        *,
        rules: RuleSet | None = None,
        policy: DefenderPolicy | None = None,
        sinks: Iterable[Sink] = (),
        act: bool = True,
        hold_seconds: float = 0.0,
    ) -> None:
        self.models = models
        self.rules = rules
        self.policy = policy or DefenderPolicy()
        self.sinks = list(sinks)
        self.act = act
        """False: decide and report actions, but never kill (for tests and audits)."""
        self._recent: dict[tuple[str, str, str], int] = {}
        self._by_process: dict[tuple[str, int], tuple[int, int]] = {}
        self.hold_ns = int(hold_seconds * 1e9)
        self._pending: list[tuple[int, Finding, list[Finding], Event, Model | None]] = []
        self.suppressed = 0
        self._lock = threading.Lock()

    # -- the pipeline ------------------------------------------------------------------

    def handle(self, event: Event) -> Incident | None:
        process = event.process
        model = None if process.container.is_host else self.models.for_container(process.container)
        with self._lock:
            if model is not None:
                before = model.state
                model.observe_time(event.ts)
                if model.state is not before:
                    self.models.changed(model)
            findings = builtin_findings(event, model)
            if self.rules is not None:
                findings.extend(
                    Finding(a.rule, a.priority, a.rule, a.output, source="falco")
                    for a in self.rules.match(event)
                )
            if model is not None:
                if model.state is ModelState.LEARNING:
                    if _learn(model, event):
                        self.models.changed(model)
                else:
                    findings.extend(_deviations(model, event))
        findings = [
            f for f in findings if not any(x.covers(f, event) for x in self.policy.exceptions)
        ]
        if not findings:
            return None
        findings.sort(key=lambda f: (f.priority.value, f.source != "builtin"))
        lead = findings[0]
        with self._lock:  # sensors' threads judge at once: one of two repeats is told
            repeat = self._repeat(lead, event)
        if repeat:
            return None
        if self.hold_ns and lead.source == "model":
            with self._lock:
                self._pending.append((event.ts + self.hold_ns, lead, findings[1:], event, model))
            return None
        return self._emit(lead, findings[1:], event, model)

    def flush(self, now_ns: int) -> list[Incident]:
        """Emit the held model deviations that are due, unless a more severe incident for
        the same process was raised meanwhile (then the deviation is part of it)."""
        with self._lock:
            due = [p for p in self._pending if p[0] <= now_ns]
            self._pending = [p for p in self._pending if p[0] > now_ns]
        emitted = []
        for _, lead, others, event, model in due:
            worst = self._by_process.get((event.process.container.id, event.process.pid))
            if worst is not None and worst[1] < lead.priority.value:
                self.suppressed += 1
                continue
            emitted.append(self._emit(lead, others, event, model))
        return emitted

    def _emit(
        self, lead: Finding, others: list[Finding], event: Event, model: Model | None
    ) -> Incident:
        incident = self._incident(lead, others, event, model)
        for sink in self.sinks:
            sink(incident)
        return incident

    def _repeat(self, lead: Finding, event: Event) -> bool:
        """Whether ``lead`` repeats a recent incident: the same rule for the same program
        in the same container, or less severe than an incident already raised for the
        same process (one attack, one incident: the connection a reverse shell makes is
        part of the reverse shell)."""
        container = event.process.container.id
        key = (lead.rule, container, process_identity(event.process))
        last = self._recent.get(key)
        same_process = self._by_process.get((container, event.process.pid))
        # abs(): sensors hand events over out of time order (a file event read before
        # the exec event of the same program)
        if (last is not None and abs(event.ts - last) < REPEAT_WINDOW_NS) or (
            same_process is not None
            and abs(event.ts - same_process[0]) < REPEAT_WINDOW_NS
            and lead.priority.value > same_process[1]
        ):
            self.suppressed += 1
            return True
        if len(self._recent) > 10_000:
            self._recent.clear()
            self._by_process.clear()
        self._recent[key] = event.ts
        earlier = self._by_process.get((container, event.process.pid))
        if (
            earlier is None
            or lead.priority.value < earlier[1]
            or event.ts - earlier[0] >= REPEAT_WINDOW_NS
        ):
            self._by_process[(container, event.process.pid)] = (event.ts, lead.priority.value)
        return False

    def _incident(
        self, lead: Finding, others: list[Finding], event: Event, model: Model | None
    ) -> Incident:
        dry_run = lead.source == "model" and model is not None and model.state is ModelState.DRY_RUN
        action = self.policy.action_for(lead.rule)
        outcome = "dry-run" if dry_run else "alerted"
        if not dry_run and action is not Action.ALERT:
            outcome = self._perform(action, event.process)
        fields: dict[str, Any] = {}
        if others:
            fields["alsoMatched"] = [
                {"rule": f.rule, "priority": f.priority.label, "explanation": f.explanation}
                for f in others
            ]
        if model is not None:
            fields["model"] = {"key": model.key, "state": model.state.value}
        return Incident(
            id=new_incident_id(),
            rule=lead.rule,
            source=lead.source,
            priority=lead.priority,
            title=lead.title,
            explanation=lead.explanation,
            event=event,
            action=Action.ALERT if dry_run else action,
            outcome=outcome,
            fields=fields,
        )

    def _perform(self, action: Action, process: Process) -> str:
        target = process.pid if action is Action.PREVENT else _container_init(process)
        if target is None:
            return "stop failed: the container's init process is unknown"
        if not self.act:
            return (
                "killed (not acted: act=False)"
                if action is Action.PREVENT
                else "stopped (not acted)"
            )
        try:
            os.kill(target, signal.SIGKILL)
        except ProcessLookupError:
            return "process already gone"
        except PermissionError:
            return "kill refused: not permitted"
        return "killed" if action is Action.PREVENT else "stopped"


def _container_init(process: Process) -> int | None:
    """The pid (on the host) of the container's init: the process whose pid inside the
    container is 1, found up the parent chain or from ``/proc``."""
    if process.container.is_host:
        return None
    for candidate in (process, *process.ancestors()):
        if candidate.vpid == 1 and candidate.container.id == process.container.id:
            return candidate.pid
    pid = process.pid
    for _ in range(64):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return None
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("NSpid", "").split()[-1:] == ["1"]:
            return pid
        parent = int(fields.get("PPid", "0").strip() or 0)
        if parent <= 1:
            return None
        pid = parent
    return None


# -- learning and deviations --------------------------------------------------------------


def _learn(model: Model, event: Event) -> bool:
    """Add what ``event`` shows to ``model``; True when the model changed."""
    if isinstance(event, ProcessEvent):
        if event.type != "execve":
            return False
        return _add(model.processes, process_identity(event.process))
    if isinstance(event, NetworkEvent):
        if event.type == "listen":
            return _add(model.listening, f"{event.l4proto}/{event.server_port}")
        if event.type == "connect":
            destination = event.server_name or str(event.server_ip)
            return _add(model.outbound, f"{event.l4proto}/{destination}:{event.server_port}")
        return False
    if isinstance(event, FileEvent) and (event.flags & 0o3 or event.created):
        directory = os.path.dirname(event.path) or "/"
        return _add(model.written_dirs, directory)
    return False


def _add(values: set[str], value: str) -> bool:
    if value in values:
        return False
    values.add(value)
    return True


def _deviations(model: Model, event: Event) -> list[Finding]:
    learned = f"in {model.learned_for()} of learning for image {model.image}"
    if isinstance(event, ProcessEvent) and event.type == "execve":
        identity = process_identity(event.process)
        if identity in model.processes:
            return []
        return [
            Finding(
                "model:process",
                Priority.WARNING,
                f"Unexpected process in {_container_name(event)}",
                f"{describe(event.process)}: {identity} was never seen {learned}",
                source="model",
            )
        ]
    if isinstance(event, NetworkEvent) and event.type == "listen":
        port = f"{event.l4proto}/{event.server_port}"
        if port in model.listening:
            return []
        return [
            Finding(
                "model:listen",
                Priority.WARNING,
                f"New listening port in {_container_name(event)}",
                f"{describe(event.process)} listens on {port}, which no container of this "
                f"image listened on {learned}",
                source="model",
            )
        ]
    if isinstance(event, NetworkEvent) and event.type == "connect":
        ports = {entry.rsplit(":", 1)[-1] for entry in model.outbound}
        if str(event.server_port) in ports:
            return []
        target = event.server_name or str(event.server_ip)
        return [
            Finding(
                "model:outbound",
                Priority.WARNING,
                f"Connection to a new port from {_container_name(event)}",
                f"{describe(event.process)} connected to {target}:{event.server_port}; port "
                f"{event.server_port} was never connected to {learned}",
                source="model",
            )
        ]
    return []


def _container_name(event: Event) -> str:
    container = event.process.container
    return container.name or container.id
