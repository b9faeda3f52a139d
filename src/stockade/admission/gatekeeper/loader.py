"""Reading policy files: YAML or JSON, one or many documents, through the bounded loader.

This is the I/O edge of the package: everything else takes mappings. Every failure
(unreadable file, malformed or hostile YAML, a document that is not a mapping) becomes a
:class:`PolicyLoadError` naming the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from stockade.admission.gatekeeper.errors import PolicyLoadError
from stockade.compliance.yamlload import YamlLoadError, load_documents

__all__ = ["POLICY_SUFFIXES", "load_file", "policy_files"]

POLICY_SUFFIXES: Final = (".yaml", ".yml", ".json")


def load_file(path: Path) -> list[Mapping[str, Any]]:
    """Every document of a YAML/JSON file, each a mapping; empty documents are skipped."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise PolicyLoadError(f"cannot read: {exc.strerror or exc}", source=str(path)) from exc
    try:
        documents = load_documents(text, name=str(path))
    except YamlLoadError as exc:
        where = f"{exc.file}:{exc.line}" if exc.line is not None else exc.file
        raise PolicyLoadError(
            exc.message.removeprefix(f"{where}: "), source=where, hint=exc.hint
        ) from exc
    loaded: list[Mapping[str, Any]] = []
    for document in documents:
        if document.data is None:
            continue
        if not isinstance(document.data, Mapping):
            raise PolicyLoadError(
                f"document at line {document.line} is not a mapping", source=str(path)
            )
        loaded.append(document.data)
    return loaded


def policy_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Files named, and the ``*.yaml``/``*.yml``/``*.json`` files under directories named,
    in a stable order."""
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix in POLICY_SUFFIXES
            )
        elif path.exists():
            yield path
        else:
            raise PolicyLoadError("no such file or directory", source=str(path))
