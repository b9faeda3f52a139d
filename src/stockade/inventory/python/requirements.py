"""pip requirement files (``requirements.txt`` and its ``requirements-dev.txt`` kin).

A requirement file names what *may* be installed; only an exact pin (``name==1.2`` or
``name===1.2``) says which version, so only pinned lines give packages. Ranges, bare
names, URLs, editable installs and option lines (``-r other.txt``, ``--index-url``) are
skipped: they would need a resolver and the index to turn into versions.

The syntax handled is pip's: ``#`` comments, ``\\`` line continuations, per-requirement
options such as ``--hash=…``, extras (``celery[redis]``), environment markers after
``;`` (kept or not, the pin is what the file states) and UTF-16 files with a BOM.
Names and versions must be valid PEP 508 names and PEP 440 versions: files that are
really templates (cookiecutter's ``{{ … }}``) give nothing rather than nonsense.
"""

from __future__ import annotations

import re

from stockade.core.models import Package, PackageType
from stockade.inventory.python._formats import decode_text, is_pep440_version, is_project_name

# An option that follows the requirement on the same line: `--hash=…`, `-e`, `--config-settings`.
_TRAILING_OPTION = re.compile(r"\s-{1,2}[A-Za-z]")
_EXTRAS = re.compile(r"\[[^\]]*\]")
_SPECIFIER = re.compile(r"^(===|==|~=|!=|<=|>=|<|>)\s*(.*)$")


def is_requirements_path(basename: str) -> bool:
    """``requirements.txt``, ``requirements-dev.txt``, ``test-requirements.txt`` …"""
    if not basename.endswith(".txt"):
        return False
    stem = basename[:-4]
    return stem.startswith("requirements") or stem.endswith(
        ("-requirements", "_requirements", ".requirements")
    )


def logical_lines(text: str) -> list[str]:
    """Lines with comments removed, joined where one ends with a backslash."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        # pip's own rule is "# after whitespace"; no valid pin contains "#" at all, and
        # hand-written files do have `Jinja2==3.0.0#comment`.
        line = raw.split("#", 1)[0].rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    if pending:
        lines.append(pending)
    return lines


def pinned_requirement(line: str) -> tuple[str, str] | None:
    """(name, version) when ``line`` pins exactly one version, else None."""
    line = line.strip()
    if not line or line.startswith("-"):
        return None
    option = _TRAILING_OPTION.search(line)
    if option:
        line = line[: option.start()]
    line = line.split(";", 1)[0]
    line = _EXTRAS.sub("", line, count=1).strip()
    cut = next((i for i, ch in enumerate(line) if ch in "=<>!~ (@"), len(line))
    name, rest = line[:cut].strip(), line[cut:].strip()
    if not is_project_name(name) or not rest:
        return None
    if rest.startswith("(") and rest.endswith(")"):
        rest = rest[1:-1]  # the old `name (==1.0)` spelling
    version: str | None = None
    for clause in rest.split(","):
        match = _SPECIFIER.match(clause.strip())
        if match is None:
            return None
        operator, value = match.group(1), match.group(2).strip()
        if operator not in ("==", "==="):
            continue
        if not _is_exact(operator, value):
            return None  # a wildcard (`==2.*`) or an invalid version: not a pin
        version = value
    return (name, version) if version else None


def _is_exact(operator: str, value: str) -> bool:
    if operator == "===":
        # Arbitrary equality compares strings: any non-blank token is a pin.
        return bool(value) and not any(ch.isspace() for ch in value)
    return is_pep440_version(value)


def parse_requirements(data: bytes, *, where: str) -> list[Package]:
    """Pinned packages of one requirement file, in file order, each once."""
    seen: set[tuple[str, str]] = set()
    packages: list[Package] = []
    for line in logical_lines(decode_text(data, where=where)):
        pinned = pinned_requirement(line)
        if pinned is None or pinned in seen:
            continue
        seen.add(pinned)
        packages.append(Package(name=pinned[0], version=pinned[1], type=PackageType.PYPI))
    return packages
