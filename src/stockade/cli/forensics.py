"""``stockade forensics …``: the evidence the Defender froze when an incident fired.

Each incident's bundle (the incident, then the recent events of its container) lives in
the Defender's data dir; ``export`` writes it out as JSON lines, ``list`` shows what is
there. Exit codes: 0 success, 2 no such incident, a bad id, or an unwritable output.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import IO, Any

import click
import orjson

from stockade.cli.defender import DEFAULT_DATA_DIR
from stockade.core.errors import UsageError


def _data_dir(command: Any) -> Any:
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=DEFAULT_DATA_DIR,
        show_default=True,
        help="The Defender's data dir.",
    )(command)


@click.group()
def forensics() -> None:
    """Evidence the Defender kept for its incidents (flight recorder bundles)."""


@forensics.command("export")
@click.argument("incident_id")
@_data_dir
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here instead of standard output.",
)
def export(incident_id: str, data_dir: Path, output: Path | None) -> None:
    """Write INCIDENT_ID's bundle as JSON lines: the incident first, then the events the
    flight recorder held for its container when it fired."""
    records = _bundle(data_dir, incident_id)
    if output is None:
        _write(sys.stdout, records)
        return
    try:
        with output.open("w", encoding="utf-8") as handle:
            _write(handle, records)
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror}") from exc


def _bundle(data_dir: Path, incident_id: str) -> list[dict[str, Any]]:
    from stockade.runtime.recorder import RecorderError, read_bundle

    try:
        return list(read_bundle(data_dir / "recorder", incident_id.strip().lower()))
    except RecorderError as exc:
        raise UsageError(
            str(exc), "`stockade forensics list` shows the incidents kept in the data dir"
        ) from exc


def _write(stream: IO[str], records: list[dict[str, Any]]) -> None:
    for record in records:
        stream.write(orjson.dumps(record).decode() + "\n")
    stream.flush()


@forensics.command("list")
@_data_dir
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(("table", "json")),
    default="table",
    help="Output format.",
)
def list_incidents(data_dir: Path, fmt: str) -> None:
    """The incidents whose bundles are kept, newest first."""
    folder = data_dir / "recorder" / "incidents"
    rows = []
    paths = sorted(folder.glob("*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in paths if folder.is_dir() else []:
        incident = _first_incident(path)
        rows.append(
            {
                "id": path.stem,
                "frozenAt": dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).isoformat(
                    timespec="seconds"
                ),
                "rule": incident.get("rule"),
                "priority": incident.get("priority"),
                "container": incident.get("containerName") or incident.get("container"),
                "title": incident.get("title"),
            }
        )
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no incidents in {data_dir}")
        return
    for row in rows:
        click.echo(
            f"{row['id']}  {row['frozenAt']}  {row['priority'] or '?':<8}  "
            f"{row['rule'] or '?'}  {row['container'] or '?'}: {row['title'] or ''}"
        )


def _first_incident(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            first = orjson.loads(handle.readline())
    except (OSError, orjson.JSONDecodeError):
        return {}
    incident = first.get("incident") if isinstance(first, dict) else None
    return incident if isinstance(incident, dict) else {}
