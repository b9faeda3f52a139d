"""Runtime models: what each image normally does, learned from what its containers do.

One :class:`Model` per image (split by Kubernetes namespace when known): the processes it
runs, the ports it listens on, where it connects to, and the directories it writes to.
A model is **learning** until it has observed enough activity (default one hour of
containers running, counted from the events, not the wall clock: a model whose containers
are stopped does not age), then in **dry run** (deviations are reported as such, nothing
is blocked; default 24 h), then **active**. Static hints from the image configuration
(entrypoint, command, exposed ports) seed a new model.

Models persist as YAML (one file per model) in the Defender's data directory, written
atomically, so they survive restarts and upgrades; :func:`export_models` and
:func:`import_models` move them between hosts or through a person's editor.
"""

from __future__ import annotations

import enum
import hashlib
import os
import posixpath
import re
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from stockade.runtime.events import Container, Process

__all__ = [
    "DEFAULT_DRY_RUN",
    "DEFAULT_LEARNING",
    "Model",
    "ModelError",
    "ModelState",
    "ModelStore",
    "export_models",
    "import_models",
    "model_key",
    "process_identity",
]

DEFAULT_LEARNING: Final = 3600.0
DEFAULT_DRY_RUN: Final = 24 * 3600.0
ACTIVITY_GAP: Final = 60.0
"""Gaps between events longer than this count as this much activity (a quiet container
is still running; a stopped one sends no events)."""
FORMAT_VERSION: Final = 1


class ModelError(ValueError):
    """A model file that cannot be read (bad YAML, wrong types)."""


class ModelState(enum.StrEnum):
    LEARNING = "learning"
    DRY_RUN = "dry-run"
    ACTIVE = "active"


def model_key(container: Container) -> str | None:
    """The model a container belongs to: its image (and namespace), or None when its
    image is unknown (such containers are judged by rules and built-ins only)."""
    image = container.image or container.image_digest
    if not image:
        return None
    return f"{container.k8s_namespace}/{image}" if container.k8s_namespace else image


def process_identity(process: Process) -> str:
    """How a model names a program: the executable's path, and the name it was called
    by when that differs (multi-call binaries like busybox run many programs); only the
    kernel's name when the process was gone before its executable could be read."""
    called = posixpath.basename(process.exe) if process.exe else ""
    path = process.exepath or process.exe or process.name
    if called and called != posixpath.basename(path):
        return f"{path}[{called}]"
    return path


def _directory(path: str) -> str:
    return posixpath.dirname(posixpath.normpath(path)) or "/"


@dataclass
class Model:
    key: str
    image: str
    namespace: str | None = None
    state: ModelState = ModelState.LEARNING
    learning_seconds: float = DEFAULT_LEARNING
    dry_run_seconds: float = DEFAULT_DRY_RUN
    observed_seconds: float = 0.0
    """Activity observed while learning (or since dry run began, in that state)."""
    last_event_ns: int | None = None
    processes: set[str] = field(default_factory=set)
    listening: set[str] = field(default_factory=set)
    """``tcp/8080``"""
    outbound: set[str] = field(default_factory=set)
    """``tcp/10.0.0.5:5432`` or ``tcp/db.internal:5432``"""
    written_dirs: set[str] = field(default_factory=set)
    hints: dict[str, list[str]] = field(default_factory=dict)
    """Static hints the model was seeded with (``entrypoint``, ``exposedPorts``)."""

    # -- lifecycle -----------------------------------------------------------------------

    def observe_time(self, ts_ns: int) -> None:
        """Count activity up to event time ``ts_ns`` and move through the lifecycle."""
        if self.last_event_ns is not None and ts_ns > self.last_event_ns:
            gap = (ts_ns - self.last_event_ns) / 1e9
            self.observed_seconds += min(gap, ACTIVITY_GAP)
        if self.last_event_ns is None or ts_ns > self.last_event_ns:
            self.last_event_ns = ts_ns
        if self.state is ModelState.LEARNING and self.observed_seconds >= self.learning_seconds:
            self.state, self.observed_seconds = ModelState.DRY_RUN, 0.0
        if self.state is ModelState.DRY_RUN and self.observed_seconds >= self.dry_run_seconds:
            self.state = ModelState.ACTIVE

    @property
    def learning(self) -> bool:
        return self.state is ModelState.LEARNING

    def learned_for(self) -> str:
        """How long the model learned, in words (for explanations)."""
        seconds = self.learning_seconds if not self.learning else self.observed_seconds
        if seconds >= 3600:
            return f"{seconds / 3600:.0f} h"
        if seconds >= 60:
            return f"{seconds / 60:.0f} min"
        return f"{seconds:.0f} s"

    # -- persistence ---------------------------------------------------------------------

    def to_document(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "key": self.key,
            "image": self.image,
            "namespace": self.namespace,
            "state": self.state.value,
            "learningSeconds": self.learning_seconds,
            "dryRunSeconds": self.dry_run_seconds,
            "observedSeconds": round(self.observed_seconds, 3),
            "processes": sorted(self.processes),
            "listening": sorted(self.listening),
            "outbound": sorted(self.outbound),
            "writtenDirectories": sorted(self.written_dirs),
            "hints": {k: list(v) for k, v in sorted(self.hints.items())},
        }

    @classmethod
    def from_document(cls, document: object, *, where: str = "model") -> Model:
        if not isinstance(document, dict):
            raise ModelError(f"{where}: a model is a mapping")
        try:
            version = document.get("version", FORMAT_VERSION)
            if version != FORMAT_VERSION:
                raise ModelError(f"{where}: model format {version!r} is not {FORMAT_VERSION}")
            return cls(
                key=_text(document["key"], "key", where),
                image=_text(document["image"], "image", where),
                namespace=_optional_text(document.get("namespace"), "namespace", where),
                state=ModelState(document.get("state", "learning")),
                learning_seconds=float(document.get("learningSeconds", DEFAULT_LEARNING)),
                dry_run_seconds=float(document.get("dryRunSeconds", DEFAULT_DRY_RUN)),
                observed_seconds=float(document.get("observedSeconds", 0.0)),
                processes=_texts(document.get("processes"), "processes", where),
                listening=_texts(document.get("listening"), "listening", where),
                outbound=_texts(document.get("outbound"), "outbound", where),
                written_dirs=_texts(
                    document.get("writtenDirectories"), "writtenDirectories", where
                ),
                hints={
                    _text(k, "hints", where): sorted(_texts(v, f"hints.{k}", where))
                    for k, v in (document.get("hints") or {}).items()
                },
            )
        except KeyError as exc:
            raise ModelError(f"{where}: missing {exc.args[0]!r}") from exc
        except (TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, ModelError):
                raise
            raise ModelError(f"{where}: {exc}") from exc


def _text(value: object, name: str, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ModelError(f"{where}: {name} must be a non-empty string")
    return value


def _optional_text(value: object, name: str, where: str) -> str | None:
    return None if value is None else _text(value, name, where)


def _texts(value: object, name: str, where: str) -> set[str]:
    if value is None:
        return set()
    if not isinstance(value, list):
        raise ModelError(f"{where}: {name} must be a list of strings")
    return {_text(v, name, where) for v in value}


_SLUG = re.compile(r"[^A-Za-z0-9_.-]+")


def _file_name(key: str) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return f"{_SLUG.sub('_', key)[:80]}-{digest}.yaml"


class ModelStore:
    """The models of one Defender, kept in ``directory`` (one YAML file each)."""

    def __init__(
        self,
        directory: Path,
        *,
        learning_seconds: float = DEFAULT_LEARNING,
        dry_run_seconds: float = DEFAULT_DRY_RUN,
    ) -> None:
        self.directory = directory
        self.learning_seconds = learning_seconds
        self.dry_run_seconds = dry_run_seconds
        self._models: dict[str, Model] = {}
        self._dirty: set[str] = set()
        self._lock = threading.Lock()
        directory.mkdir(parents=True, exist_ok=True)
        self.errors: list[str] = []
        for path in sorted(directory.glob("*.yaml")):
            try:
                model = Model.from_document(yaml.safe_load(path.read_text()), where=str(path))
            except (OSError, yaml.YAMLError, ModelError) as exc:
                self.errors.append(str(exc))  # a damaged file is reported, not fatal
                continue
            self._models[model.key] = model

    def __iter__(self) -> Iterator[Model]:
        with self._lock:
            return iter(list(self._models.values()))

    def get(self, key: str) -> Model | None:
        return self._models.get(key)

    def for_container(self, container: Container) -> Model | None:
        """The container's model, created (learning) on first sight."""
        key = model_key(container)
        if key is None:
            return None
        model = self._models.get(key)
        if model is None:
            with self._lock:
                model = self._models.get(key)
                if model is None:
                    model = Model(
                        key=key,
                        image=container.image or container.image_digest or key,
                        namespace=container.k8s_namespace,
                        learning_seconds=self.learning_seconds,
                        dry_run_seconds=self.dry_run_seconds,
                    )
                    self._models[key] = model
                    self._dirty.add(key)
        return model

    def changed(self, model: Model) -> None:
        self._dirty.add(model.key)

    def put(self, model: Model) -> None:
        with self._lock:
            self._models[model.key] = model
            self._dirty.add(model.key)

    def save(self) -> int:
        """Write changed models (atomically); how many were written."""
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            models = [self._models[k] for k in dirty if k in self._models]
        for model in models:
            _atomic_write(
                self.directory / _file_name(model.key),
                yaml.safe_dump(model.to_document(), sort_keys=False),
            )
        return len(models)


def _atomic_write(path: Path, text: str) -> None:
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".model-")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def export_models(models: Iterable[Model]) -> str:
    """Models as one YAML document (``models: [...]``), for people and other hosts."""
    return yaml.safe_dump(
        {"version": FORMAT_VERSION, "models": [m.to_document() for m in models]}, sort_keys=False
    )


def import_models(text: str, *, where: str = "models") -> list[Model]:
    """Models from :func:`export_models`' YAML (edited or not); :class:`ModelError` on any
    problem, naming the model."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ModelError(f"{where}: not YAML: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("models"), list):
        raise ModelError(f"{where}: expected a mapping with a 'models' list")
    return [
        Model.from_document(item, where=f"{where}: models[{index}]")
        for index, item in enumerate(document["models"])
    ]
