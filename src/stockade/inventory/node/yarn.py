"""Yarn's ``yarn.lock``: the classic (v1) format and the YAML format of Yarn 2+ (Berry).

Classic entries start with a line listing the requested patterns that resolved to one
release, followed by indented fields::

    "lodash@^4.17.4", lodash@4.17.11:
      version "4.17.11"
      resolved "https://registry.yarnpkg.com/lodash/-/lodash-4.17.11.tgz#…"

Berry lockfiles are YAML with a ``__metadata`` entry; each entry has a ``resolution``
such as ``"lodash@npm:4.17.11"`` whose protocol says where the release came from.

Only registry releases are packages: patterns without a protocol or with ``npm:``.
Workspaces and links (the project's own code), ``file:``/``portal:`` folders, git
checkouts, tarball URLs and ``patch:`` variants (a local patch over a registry release
that is listed on its own too) name no release an advisory could know. Aliases
(``foo@npm:bar@^1``) are the aliased package, ``bar``.

The lockfile does not say which packages are development-only; the ``package.json``
beside it does. Each entry keeps the patterns of its dependencies, so that
:func:`dev_only_releases` can follow them from that manifest's ``devDependencies`` and
``dependencies`` once both files are known.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from stockade.core.errors import CatalogError
from stockade.core.models import Package
from stockade.inventory.node._formats import load_yaml_documents, npm_packages

REGISTRY_PROTOCOLS = frozenset({"", "npm"})
_PROTOCOL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_BERRY_MARKER = re.compile(r"^__metadata:", re.MULTILINE)
# Dependency sections of a classic entry; Berry lists optional ones under `dependencies`.
_CLASSIC_DEPENDENCY_SECTIONS = frozenset({"dependencies", "optionalDependencies"})
# Protocols of the project's own folders, which Yarn 1 leaves out of the lockfile.
_UNLOCKED_PROTOCOLS = frozenset({"link"})


@dataclass(frozen=True, slots=True)
class YarnEntry:
    """One resolution of a lockfile: the patterns it satisfies and what it needs."""

    patterns: tuple[str, ...]
    release: tuple[str, str] | None
    """(name, version) of a registry release; None for anything else."""
    dependencies: tuple[str, ...]
    """Patterns (``name@range``) of the entries this one depends on."""


@dataclass(frozen=True, slots=True)
class YarnLock:
    packages: tuple[Package, ...]
    entries: tuple[YarnEntry, ...]


def parse_yarn_lock(text: str, *, where: str) -> list[Package]:
    return list(read_yarn_lock(text, where=where).packages)


def read_yarn_lock(text: str, *, where: str) -> YarnLock:
    """The registry releases of a ``yarn.lock`` and the dependency graph between entries."""
    if _BERRY_MARKER.search(text):
        documents = load_yaml_documents(text, where=where, what="yarn.lock")
        entries = tuple(berry_entries(documents, where=where))
    else:
        entries = tuple(_classic_entries(text, where=where))
    packages = npm_packages(
        (entry.release[0], entry.release[1], False, ()) for entry in entries if entry.release
    )
    return YarnLock(packages=tuple(packages), entries=entries)


def dev_only_releases(
    entries: Iterable[YarnEntry], production: Iterable[str], development: Iterable[str]
) -> set[tuple[str, str]] | None:
    """Releases reached from the ``development`` patterns and not from ``production`` ones.

    Patterns are ``name@range`` as a ``package.json`` writes them. None when a production
    pattern is not in the lockfile: the two files disagree, and what is only needed for
    development cannot be told.
    """
    listed = tuple(entries)
    by_pattern: dict[str, int] = {}
    for index, entry in enumerate(listed):
        for pattern in entry.patterns:
            by_pattern.setdefault(pattern, index)

    def find(pattern: str) -> int | None:
        # Yarn 2+ keys a range without a protocol under `npm:`; a Yarn 1 lock as written.
        found = by_pattern.get(pattern)
        if found is None:
            name, protocol, spec = split_pattern(pattern)
            if not protocol:
                found = by_pattern.get(f"{name}@npm:{spec}")
        return found

    def reach(patterns: Iterable[str]) -> set[tuple[str, str]]:
        seen: set[int] = set()
        releases: set[tuple[str, str]] = set()
        todo: list[str] = list(patterns)
        while todo:
            index = find(todo.pop())
            if index is None or index in seen:
                continue
            seen.add(index)
            entry = listed[index]
            if entry.release:
                releases.add(entry.release)
            todo.extend(entry.dependencies)
        return releases

    production = list(production)
    for pattern in production:
        if find(pattern) is None and split_pattern(pattern)[1] not in _UNLOCKED_PROTOCOLS:
            return None
    return reach(development) - reach(production)


def split_pattern(pattern: str) -> tuple[str, str, str]:
    """``@scope/name@npm:^1.0`` → (``@scope/name``, ``npm``, ``^1.0``).

    The name ends at the first ``@`` after its first character (scoped names start
    with one). A pattern without a range (``lodash``) has an empty one.
    """
    at = pattern.find("@", 1)
    if at < 0:
        return pattern, "", ""
    name, spec = pattern[:at], pattern[at + 1 :]
    match = _PROTOCOL.match(spec)
    if match is None:
        return name, "", spec
    return name, match.group(1).lower(), spec[match.end() :]


def registry_name(pattern: str) -> str | None:
    """The package a pattern or resolution installs from the registry; None otherwise."""
    name, protocol, spec = split_pattern(pattern.strip())
    if protocol not in REGISTRY_PROTOCOLS or not name:
        return None
    if not protocol and "/" in spec:
        return None  # GitHub shorthand, `user/repo#ref`: a git checkout
    if protocol == "npm" and spec.find("@", 1) > 0:
        return split_pattern(spec)[0]  # an alias: `foo@npm:bar@^1` installs bar
    return name


def _classic_entries(text: str, *, where: str) -> Iterator[YarnEntry]:
    header: str | None = None
    version = ""
    dependencies: list[str] = []
    in_dependencies = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            if header is not None:
                yield _classic_entry(header, version, dependencies)
            if not line.endswith(":"):
                raise CatalogError(
                    f"{where}:{number}: expected an entry header ending with ':', "
                    f"found {line[:60]!r}",
                    hint="the yarn.lock is corrupt; regenerate it with `yarn install`",
                )
            header, version, dependencies = line[:-1], "", []
            in_dependencies = False
            continue
        if header is None:
            raise CatalogError(f"{where}:{number}: indented field before any entry")
        field = line.strip()
        if line.startswith("  ") and not line.startswith("   "):  # a field of the entry
            key, _, value = field.partition(" ")
            in_dependencies = key.endswith(":") and key[:-1] in _CLASSIC_DEPENDENCY_SECTIONS
            if _unquote(key) == "version":
                version = _unquote(value.strip())
        elif in_dependencies:  # `    name "range"` below a dependency section
            dependency = _classic_dependency(field)
            if dependency:
                dependencies.append(dependency)
    if header is not None:
        yield _classic_entry(header, version, dependencies)


def _classic_entry(header: str, version: str, dependencies: list[str]) -> YarnEntry:
    patterns = _split_patterns(header)
    name = registry_name(patterns[0]) if patterns and version else None
    return YarnEntry(
        patterns=tuple(patterns),
        release=(name, version) if name is not None else None,
        dependencies=tuple(dependencies),
    )


def _classic_dependency(field: str) -> str | None:
    """``asap "~2.0.6"`` or ``"@scope/x" "^1"`` → ``asap@~2.0.6``."""
    if field.startswith('"'):
        end = field.find('"', 1)
        if end < 0:
            return None
        name, rest = field[1:end], field[end + 1 :]
    else:
        name, _, rest = field.partition(" ")
    spec = _unquote(rest.strip())
    return f"{name}@{spec}" if name else None


def _split_patterns(header: str) -> list[str]:
    """Comma-separated, possibly quoted patterns of a classic header."""
    patterns: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in header:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            patterns.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    patterns.append("".join(current).strip())
    return [p for p in patterns if p]


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return text


def berry_releases(documents: list[Any], *, where: str) -> Iterator[tuple[str, str]]:
    """(name, version) of the registry releases in a parsed Yarn 2+ lockfile."""
    return (entry.release for entry in berry_entries(documents, where=where) if entry.release)


def berry_entries(documents: list[Any], *, where: str) -> Iterator[YarnEntry]:
    """Every entry of a parsed Yarn 2+ lockfile."""
    if len(documents) != 1 or not isinstance(documents[0], dict):
        raise CatalogError(f"{where}: a Yarn 2+ lockfile is one YAML mapping")
    entries: dict[Any, Any] = documents[0]
    for patterns, entry in entries.items():
        if patterns == "__metadata":
            continue
        if not isinstance(entry, dict) or not isinstance(patterns, str):
            raise CatalogError(f"{where}: entry {str(patterns)[:60]!r} must be a mapping")
        version = entry.get("version")
        resolution = entry.get("resolution")
        release: tuple[str, str] | None = None
        if isinstance(version, str) and version.strip():
            if isinstance(resolution, str) and resolution.strip():
                name = registry_name(resolution)
            else:
                first = _split_patterns(patterns)
                name = registry_name(first[0]) if first else None
            release = (name, version.strip()) if name is not None else None
        needs = entry.get("dependencies")
        yield YarnEntry(
            patterns=tuple(_split_patterns(patterns)),
            release=release,
            dependencies=tuple(
                f"{dep}@{spec}"
                for dep, spec in (needs.items() if isinstance(needs, dict) else ())
                if isinstance(dep, str) and isinstance(spec, str)
            ),
        )
