"""What the Defender reports: runtime alerts that explain themselves, and events as JSON.

An :class:`Incident` says what happened, where (container, image, host), the process tree,
and why it is worth a look — in a sentence a person can act on ("``/usr/bin/nc`` was never
seen in 3 h of learning for image shop/web:1.2"). :func:`event_record` turns any sensor
event into a JSON-ready dict: the flight recorder, the Console and ``forensics export``
all use the same form.
"""

from __future__ import annotations

import enum
import ipaddress
import secrets
from dataclasses import dataclass, field
from typing import Any

from stockade.runtime.events import Container, Event, FileEvent, NetworkEvent, Process
from stockade.runtime.rules import Priority

__all__ = ["Action", "Incident", "event_record", "new_incident_id", "process_record"]


class Action(enum.StrEnum):
    """What a rule or model does when it fires."""

    ALERT = "alert"
    PREVENT = "prevent"
    """Kill the offending process."""
    STOP = "stop"
    """Stop the whole container (kill its init process)."""


def new_incident_id() -> str:
    return secrets.token_hex(8)


@dataclass(frozen=True, slots=True)
class Incident:
    id: str
    rule: str
    """``model:process``, ``builtin:reverse-shell``, or a Falco rule's name."""
    source: str
    """``model``, ``builtin`` or ``falco``."""
    priority: Priority
    title: str
    explanation: str
    """Why this deviates, in words."""
    event: Event = field(repr=False, compare=False)
    action: Action = Action.ALERT
    outcome: str = "alerted"
    """``alerted``, ``killed``, ``stopped``, ``dry-run`` (a model not yet active), or why an
    action failed (``process already gone``)."""
    tags: tuple[str, ...] = ()
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def container(self) -> Container:
        return self.event.process.container

    def record(self) -> dict[str, Any]:
        """JSON-ready, as the Console, the log and the forensics bundle carry it."""
        container = self.container
        return {
            "id": self.id,
            "rule": self.rule,
            "source": self.source,
            "priority": self.priority.label,
            "title": self.title,
            "explanation": self.explanation,
            "action": self.action.value,
            "outcome": self.outcome,
            "tags": list(self.tags),
            "container": container.id,
            "containerName": container.name,
            "image": container.image,
            "namespace": container.k8s_namespace,
            "processTree": [process_record(p) for p in _chain(self.event.process)],
            "event": event_record(self.event),
            "fields": self.fields,
        }


def _chain(process: Process) -> list[Process]:
    return [process, *process.ancestors()]


def process_record(process: Process) -> dict[str, Any]:
    return {
        "pid": process.pid,
        "name": process.name,
        "exe": process.exe,
        "exepath": process.exepath,
        "args": list(process.args),
        "cwd": process.cwd,
        "uid": process.uid,
        "user": process.user_name,
    }


def _ip(value: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> str | None:
    return None if value is None else str(value)


def event_record(event: Event) -> dict[str, Any]:
    """A sensor event as JSON-ready data: type, time, process (no ancestors), container,
    and the fields of its kind."""
    process = event.process
    record: dict[str, Any] = {
        "type": event.type,
        "ts": event.ts,
        "num": event.num,
        "process": {**process_record(process), "ppid": process.ppid},
        "container": process.container.id,
        "image": process.container.image,
    }
    if isinstance(event, FileEvent):
        record.update(
            path=event.path,
            flags=event.flags,
            created=event.created,
            sourcePath=event.source_path,
        )
    elif isinstance(event, NetworkEvent):
        record.update(
            family=event.family,
            proto=event.l4proto,
            clientIp=_ip(event.client_ip),
            clientPort=event.client_port,
            serverIp=_ip(event.server_ip),
            serverPort=event.server_port,
            serverName=event.server_name,
        )
    else:
        record["res"] = event.res
    return record
