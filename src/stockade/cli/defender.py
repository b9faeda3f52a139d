"""``stockade defender …``: runtime protection (the Defender).

* ``defender run`` runs the Defender on this host until SIGINT or SIGTERM, then stops
  cleanly (models saved, the Console's spool flushed for a moment).
* ``defender models list|export|import`` show and move what it learned.
* ``defender rules check`` validates Falco rules files offline.

Exit codes: 0 success (for ``run``: stopped by SIGINT or SIGTERM), 1 ``rules check``
found errors, 2 a usage error or an unusable file (rules with errors, a bad policy or
model file, an unreadable CA bundle, the data dir in use by a running Defender), 5 the
Defender cannot watch this host (not root, or the kernel's proc connector is missing).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import signal
import socket
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ClassVar

import click

from stockade.cli.output import UI
from stockade.core.errors import PolicyFailure, StockadeError, UsageError

if TYPE_CHECKING:
    from stockade.runtime.defender import DefenderPolicy
    from stockade.runtime.models import Model

FORMATS = ("table", "json")
DEFAULT_DATA_DIR = Path("/var/lib/stockade/defender")
TOKEN_VARIABLE = "STOCKADE_DEFENDER_TOKEN"  # noqa: S105  # the variable's name
EXIT_UNAVAILABLE = 5
LOCK_FILE = "defender.lock"

_log = logging.getLogger("stockade.defender")


class DefenderUnavailable(StockadeError):
    """The Defender cannot watch this host: not root, or a kernel interface is missing."""

    exit_code: ClassVar[int] = EXIT_UNAVAILABLE


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """``90s``, ``30m``, ``1h``, ``2d`` or plain seconds, as seconds."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise click.BadParameter(f"{text!r} is not a duration such as 90s, 30m, 1h or 2d")
    return float(match.group(1)) * _UNIT[match.group(2)]


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> float:
    del ctx, param
    return parse_duration(value)


def _data_dir_option(command: Any) -> Any:
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=DEFAULT_DATA_DIR,
        show_default=True,
        help="The Defender's models, flight recorder, spool and cached policy.",
    )(command)


@contextlib.contextmanager
def data_dir_lock(data_dir: Path, *, purpose: str) -> Iterator[None]:
    """Hold the data dir for a running Defender (or a change to its models): a second
    Defender on the same data dir, or an import under a running one, is refused."""
    data_dir.mkdir(parents=True, exist_ok=True)
    handle = (data_dir / LOCK_FILE).open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise UsageError(
                f"{data_dir} is in use ({holder}): cannot {purpose}",
                "stop the running Defender first, or use another --data-dir",
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}: {purpose}\n")
        handle.flush()
        yield
    finally:
        handle.close()


@click.group()
def defender() -> None:
    """Runtime protection of running containers (the Defender)."""


@defender.command("run")
@_data_dir_option
@click.option(
    "--console",
    "console_url",
    metavar="URL",
    help="Report incidents to this Console and apply its runtime policy.",
)
@click.option(
    "--token",
    envvar=TOKEN_VARIABLE,
    help=f"The Defender's token from its enrolment (also {TOKEN_VARIABLE}).",
)
@click.option(
    "--console-ca",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CA bundle to trust for the Console's certificate.",
)
@click.option(
    "--host",
    help="The host name this Defender was enrolled as (default: this host's name).",
)
@click.option(
    "--rules",
    "rules_files",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Falco rules file or directory (repeatable; loaded together, in order).",
)
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A local policy file; it overrides the Console's policy.",
)
@click.option(
    "--learning",
    default="1h",
    show_default=True,
    callback=_duration,
    help="How long a new image's model learns (activity time: 90s, 30m, 1h, 2d).",
)
@click.option(
    "--dry-run",
    "dry_run",
    default="24h",
    show_default=True,
    callback=_duration,
    help="How long a learned model reports deviations without acting on them.",
)
@click.option("--no-network", is_flag=True, help="Do not watch network connections.")
@click.option(
    "--no-open-records",
    is_flag=True,
    help=(
        "Do not trace opens for writing in the kernel (every system call then stays on "
        "the kernel's fast path; writes are told when the file is closed)."
    ),
)
@click.option(
    "--log",
    "log_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Append incidents to this file as JSON lines (default: standard output).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log more on standard error.")
@click.pass_obj
def run(
    ui: UI,
    data_dir: Path,
    console_url: str | None,
    token: str | None,
    console_ca: Path | None,
    host: str | None,
    rules_files: Sequence[Path],
    policy_file: Path | None,
    learning: float,
    dry_run: float,
    no_network: bool,
    no_open_records: bool,
    log_file: Path | None,
    verbose: bool,
) -> None:
    """Run the Defender on this host until SIGINT or SIGTERM (needs root).

    Incidents are logged as JSON lines and, with --console, reported to the Console
    (spooled on disk while it is unreachable). The policy comes from --policy, else
    from the Console (read every minute, cached in the data dir for when the Console
    is down), else every finding alerts.
    """
    del ui
    if console_url is None and (token or console_ca):
        raise UsageError("--token and --console-ca go with --console URL")
    if console_url is not None:
        if not console_url.startswith(("https://", "http://")):
            raise UsageError(f"--console {console_url!r} is not an http(s):// URL")
        if not token:
            raise UsageError(
                "--console needs the Defender's token",
                f"pass --token or set {TOKEN_VARIABLE} (from POST /api/v1/defenders)",
            )
    rules = _load_rules(rules_files) if rules_files else None
    policy = _load_policy(policy_file) if policy_file else None
    if os.geteuid() != 0:
        raise DefenderUnavailable(
            "the Defender needs root: it reads the kernel's process events and every "
            "process's /proc entries",
            "run it as root (sudo stockade defender run …)",
        )
    _configure_logging(verbose)
    with data_dir_lock(data_dir, purpose="run the Defender"), _incident_log(log_file) as log:
        _run_agent(
            data_dir=data_dir,
            console_url=console_url,
            token=token,
            console_ca=console_ca,
            host=host or socket.gethostname(),
            rules=rules,
            policy=policy,
            learning=learning,
            dry_run=dry_run,
            network=not no_network,
            open_records=not no_open_records,
            log=log,
        )


def _run_agent(
    *,
    data_dir: Path,
    console_url: str | None,
    token: str | None,
    console_ca: Path | None,
    host: str,
    rules: Any,
    policy: DefenderPolicy | None,
    learning: float,
    dry_run: float,
    network: bool,
    open_records: bool,
    log: IO[str],
) -> None:
    from stockade import __version__
    from stockade.runtime.agent import AgentSettings, DefenderAgent
    from stockade.runtime.defender import DefenderPolicy
    from stockade.runtime.reporting import (
        POLICY_CACHE,
        PolicySync,
        ReporterError,
        ReporterSettings,
    )
    from stockade.runtime.sensors.procconn import SensorUnavailable

    reporting = (
        ReporterSettings(
            url=console_url,
            token=token,
            host=host,
            spool_dir=data_dir / "spool",
            verify=str(console_ca) if console_ca else True,
            version=__version__,
        )
        if console_url and token
        else None
    )
    settings = AgentSettings(
        data_dir=data_dir,
        learning_seconds=learning,
        dry_run_seconds=dry_run,
        policy=policy or DefenderPolicy(),
        rules=rules,
        console=reporting,
        log=log,
        host=host,
        open_records=open_records,
        connect_records=network,
    )
    try:
        agent = DefenderAgent(settings)
    except ReporterError as exc:
        raise UsageError(str(exc), "check --console-ca") from exc
    if not network:
        agent.network = _network_off(agent)
    sync = None
    if reporting is not None and policy is None:

        def apply(new: DefenderPolicy) -> None:
            agent.defender.policy = new

        sync = PolicySync(reporting, apply, cache=data_dir / POLICY_CACHE)
        sync.load()
    stop = threading.Event()
    previous = {
        number: signal.signal(number, lambda *_: stop.set())
        for number in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        try:
            agent.start()
        except SensorUnavailable as exc:
            agent.stop()
            raise DefenderUnavailable(
                f"the Defender cannot watch processes here: {exc.strerror or exc}",
                "run it as root on a Linux kernel with the proc connector (CONFIG_PROC_EVENTS)",
            ) from exc
        if sync is not None:
            sync.start()
        source = "--policy" if policy else (sync.source if sync else "default")
        recorded = [
            kind
            for kind, on in (
                ("execs", agent.tracker.execs is not None),
                ("opens for writing", agent.files is not None and agent.files.opens is not None),
                ("connects", agent.network.connects is not None),
            )
            if on
        ]
        _log.info(
            "stockade defender %s running on %s: data in %s, %s, policy from %s%s; "
            "recorded in the kernel (eBPF): %s",
            __version__,
            host,
            data_dir,
            f"reporting to {console_url}" if console_url else "no Console (incidents logged)",
            source,
            "" if network else ", network sensor off",
            ", ".join(recorded) or "nothing",
        )
        reported_loss = 0
        while not stop.wait(1.0):
            if agent.lost_events != reported_loss:
                reported_loss = agent.lost_events
                _log.warning("the kernel dropped process events %d time(s)", reported_loss)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    _log.info("stopping")
    if sync is not None:
        sync.stop()
    agent.stop()
    pending = agent.reporter.pending() if agent.reporter else 0
    _log.info(
        "stopped: %d events judged, %d incidents, %d kernel loss reports%s",
        agent.events_seen,
        len(agent.incidents),
        agent.lost_events,
        f", {pending} report(s) spooled for the next start" if pending else "",
    )


def _network_off(agent: Any) -> Any:
    """A network sensor that watches nothing (``--no-network``)."""
    from stockade.runtime.events import NetworkEvent
    from stockade.runtime.sensors.network import NetworkSensor

    class NetworkOff(NetworkSensor):
        def prime(self) -> None:
            return None

        def poll(self, *, report: bool = True) -> list[NetworkEvent]:
            del report
            return []

    return NetworkOff(agent.tracker.lookup, pids=lambda: [])


def _load_rules(paths: Sequence[Path]) -> Any:
    from stockade.runtime.rules import RulesError, load_rules

    try:
        loaded = load_rules(paths)
    except RulesError as exc:
        raise UsageError(str(exc)) from exc
    if loaded.errors:
        lines = "\n".join(str(error) for error in loaded.errors[:20])
        raise UsageError(
            f"{len(loaded.errors)} error(s) in the rules files:\n{lines}",
            "see `stockade defender rules check FILES` for the whole report",
        )
    return loaded.ruleset


def _load_policy(path: Path) -> DefenderPolicy:
    from stockade.runtime.defender import DefenderPolicy, PolicyError

    try:
        return DefenderPolicy.from_yaml(path.read_text(), where=str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the policy file {path}: {exc}") from exc
    except PolicyError as exc:
        raise UsageError(
            f"the policy file is not usable: {exc}",
            "actions are alert, prevent or stop; exceptions take rule, image, process, "
            "path and destination",
        ) from exc


def _configure_logging(verbose: bool) -> None:
    logger = logging.getLogger("stockade")
    if not any(getattr(h, "_stockade_defender", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        handler._stockade_defender = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)


@contextlib.contextmanager
def _incident_log(path: Path | None) -> Iterator[IO[str]]:
    if path is None:
        yield sys.stdout
        return
    try:
        handle = path.open("a", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot open the incident log {path}: {exc.strerror}") from exc
    with handle:
        yield handle


# -- models --------------------------------------------------------------------------------


@defender.group()
def models() -> None:
    """What the Defender learned: one model per image (processes, ports, connections,
    written directories), learning, then in dry run, then active."""


def _store(data_dir: Path) -> Any:
    from stockade.runtime.models import ModelStore

    store = ModelStore(data_dir / "models")
    for problem in store.errors:
        click.echo(f"warning: model not loaded: {problem}", err=True)
    return store


@models.command("list")
@_data_dir_option
@click.option(
    "-f", "--format", "fmt", type=click.Choice(FORMATS), default="table", help="Output format."
)
def models_list(data_dir: Path, fmt: str) -> None:
    """The models in the data dir, with their state and size."""
    found: list[Model] = (
        sorted(_store(data_dir), key=lambda m: m.key) if (data_dir / "models").is_dir() else []
    )
    if fmt == "json":
        rows = [
            {
                "key": m.key,
                "image": m.image,
                "namespace": m.namespace,
                "state": m.state.value,
                "observedSeconds": round(m.observed_seconds, 3),
                "learningSeconds": m.learning_seconds,
                "dryRunSeconds": m.dry_run_seconds,
                "processes": len(m.processes),
                "listening": len(m.listening),
                "outbound": len(m.outbound),
                "writtenDirectories": len(m.written_dirs),
            }
            for m in found
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    if not found:
        click.echo(f"no models in {data_dir}")
        return
    click.echo(
        f"{'MODEL':<48} {'STATE':<9} {'OBSERVED':>9} {'PROCS':>6} {'PORTS':>6} "
        f"{'OUTBOUND':>8} {'DIRS':>5}"
    )
    for m in found:
        click.echo(
            f"{m.key[:48]:<48} {m.state.value:<9} {_span(m.observed_seconds):>9} "
            f"{len(m.processes):>6} {len(m.listening):>6} {len(m.outbound):>8} "
            f"{len(m.written_dirs):>5}"
        )


def _span(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    if seconds >= 60:
        return f"{seconds / 60:.0f}m"
    return f"{seconds:.0f}s"


@models.command("export")
@_data_dir_option
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here instead of standard output.",
)
def models_export(data_dir: Path, output: Path | None) -> None:
    """Write every model as one YAML document (for review, editing or another host)."""
    from stockade.runtime.models import export_models

    if not (data_dir / "models").is_dir():
        raise UsageError(f"no models in {data_dir}", "is --data-dir the Defender's data dir?")
    text = export_models(sorted(_store(data_dir), key=lambda m: m.key))
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text)
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror}") from exc


@models.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_data_dir_option
def models_import(file: Path, data_dir: Path) -> None:
    """Add the models in FILE (from `models export`, edited or not) to the data dir; a
    model with the same key is replaced. Nothing is written unless every model is valid.
    Run it while the Defender is stopped: it loads models when it starts."""
    try:
        text = file.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {file}: {exc}") from exc
    imported = _validate_models(text, str(file))
    with data_dir_lock(data_dir, purpose="import models"):
        store = _store(data_dir)
        for model in imported:
            store.put(model)
        store.save()
    for model in imported:
        click.echo(f"imported {model.key} ({model.state.value})")


def _validate_models(text: str, where: str) -> list[Model]:
    """Every model in an export, or a :class:`UsageError` naming the first bad one."""
    import yaml

    from stockade.runtime.models import Model, ModelError

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"{where}: not YAML: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("models"), list):
        raise UsageError(
            f"{where}: expected a mapping with a 'models' list",
            "use the output of `stockade defender models export`",
        )
    found: list[Model] = []
    seen: set[str] = set()
    for index, item in enumerate(document["models"]):
        key = item.get("key") if isinstance(item, dict) else None
        name = f"model {key!r}" if isinstance(key, str) and key else f"models[{index}]"
        try:
            model = Model.from_document(item, where=f"{where}: {name}")
        except ModelError as exc:
            raise UsageError(
                str(exc),
                "states are learning, dry-run or active; lists hold strings",
            ) from exc
        if model.key in seen:
            raise UsageError(f"{where}: {name} appears twice")
        seen.add(model.key)
        found.append(model)
    return found


@defender.group()
def rules() -> None:
    """Falco rules files for the Defender."""


@rules.command("check")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "-f", "--format", "fmt", type=click.Choice(FORMATS), default="table", help="Output format."
)
@click.pass_obj
def rules_check(ui: UI, paths: Sequence[Path], fmt: str) -> None:
    """Validate Falco rules FILES offline (loaded together, in order; a directory stands
    for its YAML files): what loads, what is disabled and why, warnings and errors."""
    from stockade.runtime.rules import load_rules

    loaded = load_rules(paths)
    if fmt == "json":
        click.echo(json.dumps(_report(loaded), indent=2))
    else:
        _print_table(loaded)
    if loaded.errors:
        raise PolicyFailure(
            f"{len(loaded.errors)} error(s) in the rules files",
            "fix the errors above; warnings and disabled rules do not fail the check",
        )
    del ui


def _report(loaded: object) -> dict[str, object]:
    from stockade.runtime.rules import LoadedRules

    assert isinstance(loaded, LoadedRules)  # noqa: S101 - narrowing for the type checker
    return {
        "ok": loaded.ok,
        "files": [
            {
                "file": summary.file,
                "rules": summary.rules,
                "loaded": summary.loaded,
                "disabled": dict(summary.disabled),
                "errors": summary.errors,
                "warnings": summary.warnings,
            }
            for summary in loaded.files
        ],
        "loaded": [
            {"rule": rule.name, "priority": rule.priority.label, "event_types": _types(rule)}
            for rule in loaded.ruleset
        ],
        "disabled": [
            {
                "rule": d.name,
                "kind": d.kind,
                "reason": d.reason,
                "missing_fields": list(d.missing_fields),
                "file": d.file,
                "line": d.line,
            }
            for d in loaded.disabled
        ],
        "diagnostics": [
            {
                "severity": d.severity,
                "code": d.code,
                "item_type": d.item_type,
                "item_name": d.item_name,
                "message": d.message,
                "file": d.file,
                "line": d.line,
            }
            for d in loaded.diagnostics
        ],
    }


def _types(rule: object) -> list[str] | None:
    types = getattr(rule, "event_types", None)
    return None if types is None else sorted(types)


def _print_table(loaded: object) -> None:
    from stockade.runtime.rules import LoadedRules

    assert isinstance(loaded, LoadedRules)  # noqa: S101 - narrowing for the type checker
    for diagnostic in loaded.diagnostics:
        click.echo(str(diagnostic))
    for disabled in loaded.disabled:
        where = f"{disabled.file}:{disabled.line}" if disabled.line else disabled.file
        click.echo(f"{where}: disabled: rule {disabled.name!r}: {disabled.reason}")
    for summary in loaded.files:
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(summary.disabled.items()))
        click.echo(
            f"{summary.file}: {summary.rules} rules, {summary.loaded} loaded, "
            f"{sum(summary.disabled.values())} disabled{f' ({kinds})' if kinds else ''}, "
            f"{summary.errors} errors, {summary.warnings} warnings"
        )
    click.echo(
        f"{len(loaded.ruleset)} rules loaded, {len(loaded.disabled)} disabled, "
        f"{len(loaded.errors)} errors, {len(loaded.warnings)} warnings"
    )
