"""Debian packages: dpkg's status database and the distroless ``status.d`` directory.

``/var/lib/dpkg/status`` is a sequence of deb822 stanzas, one per package dpkg knows of,
installed or not: the third word of ``Status`` is the package's state, and only some
states leave its files on disk (see :data:`FILES_ON_DISK_STATES`). Distroless images
have no status file; each package's control stanza is written to its own file in
``/var/lib/dpkg/status.d/`` instead, without a ``Status`` field, and every package there
is installed. The ``*.md5sums`` files next to them are file lists.

dpkg's database declares no licences. Each package's ``/usr/share/doc/<name>/copyright``
does; when it is machine-readable (DEP-5, ``Format: …/copyright-format/1.0/``) the short
names in its ``License:`` fields are the package's licences, matched to the package by
name once every file has been read (:meth:`DpkgCataloger.finalize`). Free-form copyright
files, and images that strip ``/usr/share/doc``, leave the licences empty.

dpkg itself refuses a status file with a malformed line. A scanner that did the same
would report an image with one damaged stanza as having no packages at all, so here a
malformed line is skipped, the stanza around it is still read, and the file gets one
warning; only a file with no stanza at all in it is an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import replace

from stockade.core.errors import CatalogError
from stockade.core.models import Package, PackageType
from stockade.inventory.interface import (
    EMPTY,
    CatalogContext,
    Cataloger,
    CatalogResult,
    FileContent,
)

STATUS_PATH = "var/lib/dpkg/status"
STATUS_DIR = "var/lib/dpkg/status.d/"
DOC_DIR = "usr/share/doc/"
COPYRIGHT_FILE = "/copyright"

# Copyright files are a few kilobytes; Boost's, the largest in Debian, are 2 MiB.
_MAX_COPYRIGHT_BYTES = 4 << 20
# A package declaring more distinct licences than this is listing something else.
_MAX_LICENSES = 64
_LICENSES_FACT = "copyright_licenses"

FILES_ON_DISK_STATES = frozenset(
    {"installed", "unpacked", "half-configured", "triggers-awaited", "triggers-pending"}
)
"""dpkg states in which the package's files are on disk (dpkg-query(1), "Package states").

``config-files`` and ``not-installed`` have none; ``half-installed`` is an unpack that
failed part-way, whose files may be partly the old and partly the new version."""

# "Source: util-linux (2.31.1-0.4ubuntu3.1)" when the binary was rebuilt (binNMU) or
# versioned apart from its source; plain "Source: util-linux" otherwise.
_SOURCE_FIELD = re.compile(r"(?P<name>[^\s()]+)\s*(?:\((?P<version>[^()]*)\))?")
# deb822 field names: printable ASCII but the colon, not starting with "#" or "-".
_FIELD_NAME = re.compile(r"[!-\"$-,.-9;-~][!-9;-~]*")
# What dpkg's version parser accepts in each part of [epoch:]upstream[-revision].
_EPOCH = re.compile(r"[0-9]+")
_UPSTREAM = re.compile(r"[A-Za-z0-9.+~:-]+")
_REVISION = re.compile(r"[A-Za-z0-9.+~]+")
_MAX_EPOCH = 2**31 - 1

_HINT = "the dpkg database is damaged; `dpkg --audit` on the host explains"


class DpkgCataloger(Cataloger):
    """Installed Debian packages from ``var/lib/dpkg/status`` or ``status.d/*``, with the
    licences their ``usr/share/doc/<name>/copyright`` files declare."""

    name = "dpkg"

    def wants(self, path: str, size: int, mode: int, ctx: CatalogContext) -> bool:
        if path == STATUS_PATH:
            return True
        if path.startswith(STATUS_DIR):
            entry = path[len(STATUS_DIR) :]
            return bool(entry) and "/" not in entry and not entry.endswith(".md5sums")
        if path.startswith(DOC_DIR) and path.endswith(COPYRIGHT_FILE):
            return _documented_package(path) is not None and size <= _MAX_COPYRIGHT_BYTES
        return False

    def parse(self, file: FileContent, ctx: CatalogContext) -> CatalogResult:
        if file.path.startswith(DOC_DIR):
            licenses = copyright_licenses(file.text())
            return CatalogResult(facts={_LICENSES_FACT: licenses}) if licenses else EMPTY
        in_status_dir = file.path.startswith(STATUS_DIR)
        document = Deb822Document()
        packages: list[Package] = []
        warnings: list[str] = []
        stanzas = 0
        for stanza in document.stanzas(file.text()):
            stanzas += 1
            package, problem = package_from_stanza(
                stanza, status_required=not in_status_dir, cataloger=self.name
            )
            if package is not None:
                packages.append(package)
            elif problem is not None:
                warnings.append(problem)
        if stanzas == 0 and document.malformed_lines:
            raise CatalogError(f"{file.path}: not a deb822 file ({document.summary()})", _HINT)
        if document.malformed_lines:
            warnings.insert(0, document.summary())
        return CatalogResult(packages=packages, warnings=_capped(warnings))

    def finalize(
        self, results: Mapping[str, CatalogResult], ctx: CatalogContext
    ) -> Mapping[str, CatalogResult]:
        """Give each package the licences its copyright file declares."""
        licenses_of: dict[str, tuple[str, ...]] = {}
        for path, result in results.items():
            licenses = result.facts.get(_LICENSES_FACT)
            name = _documented_package(path)
            if name is not None and isinstance(licenses, tuple):
                licenses_of[name] = licenses
        if not licenses_of:
            return results
        final = dict(results)
        for path, result in results.items():
            if result.packages:
                final[path] = replace(
                    result,
                    packages=[
                        replace(p, licenses=licenses_of[p.name])
                        if not p.licenses and p.name in licenses_of
                        else p
                        for p in result.packages
                    ],
                )
        return final


def _documented_package(path: str) -> str | None:
    """``name`` for ``usr/share/doc/name/copyright``; None for any other path."""
    if not (path.startswith(DOC_DIR) and path.endswith(COPYRIGHT_FILE)):
        return None
    name = path[len(DOC_DIR) : -len(COPYRIGHT_FILE)]
    return name if name and "/" not in name else None


def copyright_licenses(text: str) -> tuple[str, ...]:
    """The distinct licence short names of a machine-readable copyright file, in order.

    A file whose first stanza has no ``Format`` naming the copyright format or one of
    its DEP-5 drafts (or the drafts' ``Format-Specification``) is free-form, and gives
    none. Lines of free text before that stanza are not fields and are skipped: a few
    real files (libgstreamer1.0-0's) open with such a preamble. Each
    ``License:`` field's first line is a short name or an expression of them
    (``GPL-2+ or Artistic``); the lines after it are the licence text.
    """
    licenses: list[str] = []
    for number, stanza in enumerate(Deb822Document().stanzas(text)):
        if number == 0:
            declared = stanza.get("format", "") + stanza.get("format-specification", "")
            if "copyright-format" not in declared and "dep5" not in declared.lower():
                return ()
        license_field = stanza.get("license")
        if license_field is None:
            continue
        short_name = " ".join(license_field.partition("\n")[0].split())[:200]
        if short_name and short_name not in licenses:
            licenses.append(short_name)
            if len(licenses) == _MAX_LICENSES:
                break
    return tuple(licenses)


class Deb822Document:
    """Splits deb822 text into stanzas, counting the lines it had to skip."""

    def __init__(self) -> None:
        self.malformed_lines = 0
        self.first_malformed: tuple[int, str] = (0, "")

    def stanzas(self, text: str) -> Iterator[dict[str, str]]:
        """Stanzas as {field name (lower-case): value}, continuation lines joined by "\\n".

        A line starting with a space or tab continues the previous field; blank lines
        separate stanzas; ``#`` starts a comment line. Any other line that is not
        ``Name: value`` is malformed: inside a field it is kept as part of that field
        (the usual damage is a description whose leading spaces were lost), elsewhere
        it is dropped.
        """
        # Values are collected as lists and joined once: appending to a string would
        # copy it for every continuation line, quadratic in a long field.
        fields: dict[str, list[str]] = {}
        last: list[str] | None = None
        # dpkg splits on "\n" only; str.splitlines would also split on form feeds and
        # other characters that may legitimately appear inside a description.
        for number, raw in enumerate(text.split("\n"), start=1):
            line = raw.removesuffix("\r")
            if not line.strip():
                if fields:
                    yield _joined(fields)
                fields, last = {}, None
                continue
            if line[0] in " \t":
                if last is None:
                    self._malformed(number, line)
                else:
                    last.append(line.strip())
                continue
            if line.startswith("#"):
                continue
            name, colon, value = line.partition(":")
            name = name.strip()
            if not colon or not _FIELD_NAME.fullmatch(name):
                self._malformed(number, line)
                if last is not None:
                    last.append(line.strip())
                continue
            last = [value.strip()]
            fields[name.lower()] = last
        if fields:
            yield _joined(fields)

    def _malformed(self, number: int, line: str) -> None:
        self.malformed_lines += 1
        if self.malformed_lines == 1:
            self.first_malformed = (number, line[:60])

    def summary(self) -> str:
        number, line = self.first_malformed
        return (
            f"{self.malformed_lines} malformed line(s) skipped, the first at line "
            f"{number}: {line!r}"
        )


def _joined(fields: dict[str, list[str]]) -> dict[str, str]:
    return {name: "\n".join(parts) for name, parts in fields.items()}


def is_installed(status: str) -> bool:
    """Whether a ``Status`` value (``want flag state``) means the files are on disk."""
    words = status.split()
    return len(words) == 3 and words[2] in FILES_ON_DISK_STATES


def version_problem(version: str) -> str | None:
    """Why dpkg would reject ``version``, or None when it is a valid Debian version."""
    if not version:
        return "empty version"
    if any(c.isspace() for c in version):
        return "version contains a space"
    epoch, colon, rest = version.partition(":")
    if colon:
        # The length test comes first: int() refuses strings of thousands of digits.
        if len(epoch) > 10 or not _EPOCH.fullmatch(epoch) or int(epoch) > _MAX_EPOCH:
            return "epoch is not a number"
    else:
        rest = epoch
    upstream, hyphen, revision = rest.rpartition("-")
    if not hyphen:
        upstream = rest
    if not upstream:
        return "empty upstream version"
    if not _UPSTREAM.fullmatch(upstream):
        return "invalid character in the upstream version"
    if hyphen and not _REVISION.fullmatch(revision):
        return "invalid or empty revision"
    return None


def package_from_stanza(
    stanza: dict[str, str], *, status_required: bool, cataloger: str = ""
) -> tuple[Package | None, str | None]:
    """The installed package a stanza describes, or None and why (None when not installed).

    A package that is not installed is no problem; one whose name or version is
    missing or malformed is, and the second value says so.
    """
    status = stanza.get("status")
    if status is None:
        if status_required:
            return None, None
    elif not is_installed(status):
        return None, None
    name = stanza.get("package", "").strip()
    version = stanza.get("version", "").strip()
    if not name or any(c.isspace() for c in name):
        return (
            None,
            f"a stanza with a missing or malformed Package field ({name[:60]!r}) was skipped",
        )
    problem = version_problem(version)
    if problem is not None:
        return None, f"package {name[:60]!r} skipped: {problem} ({version[:60]!r})"
    source_name, source_version = name, version
    source = stanza.get("source", "").strip()
    if source:
        match = _SOURCE_FIELD.match(source)
        if match:
            source_name = match.group("name")
            stated = (match.group("version") or "").strip()
            # A stated version dpkg would reject is ignored rather than reported.
            if stated and version_problem(stated) is None:
                source_version = stated
    return (
        Package(
            name=name,
            version=version,
            type=PackageType.DEB,
            arch=stanza.get("architecture", "").strip() or None,
            source_name=source_name,
            source_version=source_version,
            cataloger=cataloger,
        ),
        None,
    )


_MAX_WARNINGS = 20


def _capped(warnings: list[str]) -> list[str]:
    # One damaged file must not flood the report: keep the first few and count the rest.
    if len(warnings) <= _MAX_WARNINGS:
        return warnings
    rest = len(warnings) - _MAX_WARNINGS
    return [*warnings[:_MAX_WARNINGS], f"… and {rest} more skipped stanza(s)"]
