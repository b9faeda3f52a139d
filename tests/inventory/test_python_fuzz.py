"""Fuzzing the Python parsers: whatever the bytes, only CatalogError may escape."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockade.core.errors import CatalogError
from stockade.core.models import Package
from stockade.inventory import CatalogContext, FileContent, ScanMode
from stockade.inventory.python import PythonCataloger
from stockade.inventory.python.metadata import parse_metadata
from stockade.inventory.python.pipenv import parse_pipfile_lock, pipfile_lock_packages
from stockade.inventory.python.poetry import (
    dev_only_names,
    parse_poetry_lock,
    poetry_lock_packages,
    read_poetry_lock,
)
from stockade.inventory.python.pyproject import parse_poetry_project
from stockade.inventory.python.requirements import parse_requirements
from stockade.inventory.python.uv import parse_uv_lock, uv_lock_packages

TRIVY = Path(__file__).parents[1] / "data" / "trivy"
POETRY18 = Path(__file__).parents[1] / "data" / "python" / "poetry18" / "poetry.lock"
PYPROJECTS = [
    POETRY18.with_name("pyproject.toml"),
    TRIVY / "e2e" / "repo" / "poetry" / "pyproject.toml",
    Path(__file__).parents[2] / "pyproject.toml",
]
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

BytesParser = Callable[..., list[Package]]
PARSERS: dict[str, tuple[BytesParser, list[Path]]] = {
    "metadata": (
        lambda data, where: [parse_metadata(data, where=where)],
        sorted((TRIVY / "python-packaging").iterdir()),
    ),
    "requirements": (parse_requirements, sorted((TRIVY / "lockfiles" / "pip").iterdir())),
    "pipenv": (parse_pipfile_lock, sorted((TRIVY / "lockfiles" / "pipenv").iterdir())),
    "poetry": (parse_poetry_lock, [*sorted((TRIVY / "lockfiles" / "poetry").iterdir()), POETRY18]),
    "uv": (parse_uv_lock, sorted((TRIVY / "lockfiles" / "uv").iterdir())),
}


def only_catalog_errors(parser: BytesParser, data: bytes) -> None:
    try:
        packages = parser(data, where="fuzz")
    except CatalogError as exc:
        message = exc.message
    else:
        assert all(isinstance(p, Package) and p.name for p in packages)
        return
    assert message.startswith("fuzz"), "an error names the file it is about"


@st.composite
def mutated(draw: st.DrawFn, seeds: list[Path]) -> bytes:
    """A valid fixture with bytes flipped, inserted, deleted, and maybe truncated."""
    data = bytearray(draw(st.sampled_from(seeds)).read_bytes())
    for _ in range(draw(st.integers(1, 8))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "insert", "delete", "duplicate"]))
        if action == "flip":
            data[at] = draw(st.integers(0, 255))
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        else:
            end = min(len(data), at + draw(st.integers(1, 64)))
            data[at:at] = data[at:end]
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


@pytest.mark.parametrize("kind", PARSERS)
@FUZZ
@given(data=st.binary(max_size=2048))
def test_random_bytes(kind: str, data: bytes) -> None:
    only_catalog_errors(PARSERS[kind][0], data)


@pytest.mark.parametrize("kind", PARSERS)
@FUZZ
@given(data=st.data())
def test_mutated_fixtures(kind: str, data: st.DataObject) -> None:
    parser, seeds = PARSERS[kind]
    only_catalog_errors(parser, data.draw(mutated(seeds)))


# Documents of any shape, as json.loads / tomllib.loads could return them.
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12)
)
keys = st.sampled_from(
    [
        "package",
        "name",
        "version",
        "source",
        "virtual",
        "editable",
        ".",
        "dependencies",
        "optional-dependencies",
        "dev-dependencies",
        "extra",
        "groups",
        "category",
        "default",
        "develop",
        "main",
        "dev",
    ]
) | st.text(max_size=6)
documents = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=30,
)


@pytest.mark.parametrize(
    "interpret", [pipfile_lock_packages, poetry_lock_packages, uv_lock_packages]
)
@FUZZ
@given(document=st.dictionaries(keys, documents, max_size=4))
def test_documents_of_any_shape(
    interpret: Callable[..., list[Package]], document: dict[str, Any]
) -> None:
    with contextlib.suppress(CatalogError):
        interpret(document, where="fuzz")


@FUZZ
@given(
    path=st.sampled_from(
        [
            "a/x.dist-info/METADATA",
            "a/x.egg-info",
            "requirements.txt",
            "Pipfile.lock",
            "poetry.lock",
            "pyproject.toml",
            "uv.lock",
        ]
    ),
    data=st.binary(max_size=1024),
)
def test_cataloger_parse(path: str, data: bytes) -> None:
    ctx = CatalogContext(mode=ScanMode.FILESYSTEM)
    cataloger = PythonCataloger()
    assert cataloger.wants(path, len(data), 0o644, ctx)
    try:
        result = cataloger.parse(FileContent(path, len(data), io.BytesIO(data), 1 << 20), ctx)
    except CatalogError:
        return
    assert all(p.cataloger == "python" for p in result.packages)


def _pyproject(document: dict[str, Any], where: str) -> object:
    text = "\n".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in document.items())
    return parse_poetry_project(text.encode(), where=where)


def toml_value(value: Any) -> str:
    """``value`` written as TOML (None, which TOML lacks, as an empty table)."""
    if value is None:
        return "{}"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


@FUZZ
@given(data=st.data())
def test_pyproject_of_any_bytes_or_shape(data: st.DataObject) -> None:
    raw = data.draw(st.binary(max_size=512) | mutated(PYPROJECTS))
    with contextlib.suppress(CatalogError):
        parse_poetry_project(raw, where="fuzz")
    tool = data.draw(st.dictionaries(keys | st.just("poetry") | st.just("group"), documents))
    with contextlib.suppress(CatalogError):
        _pyproject({"tool": tool}, where="fuzz")


@FUZZ
@given(
    data=st.data(),
    production=st.lists(st.sampled_from(["requests", "idna", "Flask"]) | st.text(max_size=6)),
    development=st.lists(st.sampled_from(["pytest", "markdown"]) | st.text(max_size=6)),
)
def test_poetry_dev_marks_of_any_lock_and_names(
    data: st.DataObject, production: list[str], development: list[str]
) -> None:
    try:
        lock = read_poetry_lock(data.draw(mutated([POETRY18])), where="fuzz")
    except CatalogError:
        return
    if lock.graph is None:
        return
    dev = dev_only_names(lock.graph, production, development)
    assert dev is None or dev <= set(lock.graph.dependencies)
