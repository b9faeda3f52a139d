"""Installed Python distributions: core metadata in ``METADATA`` and ``PKG-INFO`` files.

pip and friends leave one metadata file per installed distribution: wheels install
``<name>-<version>.dist-info/METADATA``, setuptools eggs ``<name>.egg-info/PKG-INFO``
(or a single ``<name>.egg-info`` file, as Debian's python3-* packages ship), zipped or
unpacked eggs ``EGG-INFO/PKG-INFO``. All hold the same RFC 822 style header block
(PyPA "core metadata"): ``Name:``, ``Version:``, licence fields, classifiers. The block
ends at the first empty line; what follows is the long description and is not read.

Licences, most precise first: ``License-Expression`` (an SPDX expression, metadata 2.4),
else the specific ``License :: …`` trove classifiers, else the free-text ``License``
field (its first line: some projects paste their whole licence text there). The
``UNKNOWN`` placeholder old setuptools wrote for "not given" is not a licence.
"""

from __future__ import annotations

from stockade.core.errors import CatalogError
from stockade.core.models import Package, PackageType
from stockade.inventory.python._formats import decode_text

# Trove classifiers that name a category, not a licence ("License :: OSI Approved").
_CATEGORY_CLASSIFIERS = frozenset({"OSI Approved", "DFSG approved"})
_NOT_A_LICENSE = frozenset({"", "UNKNOWN", "UNKNOWN LICENSE", "NONE"})
_METADATA_SUFFIXES = (
    ".dist-info/METADATA",
    ".egg-info/PKG-INFO",
    "/EGG-INFO/PKG-INFO",
    ".egg-info",
)


def is_metadata_path(path: str) -> bool:
    """Whether ``path`` is the metadata file of an installed distribution."""
    return path.endswith(_METADATA_SUFFIXES)


def read_headers(text: str) -> dict[str, list[str]]:
    """The header block as {lower-case field name: [values in order]}.

    Folded lines (starting with a space or tab) continue the previous field. Lines are
    split on LF only: descriptions of old sdists carry stray carriage returns, which
    must not start new "fields".
    """
    headers: dict[str, list[str]] = {}
    current: list[str] | None = None
    for raw in text.split("\n"):
        line = raw.removesuffix("\r")
        if not line.strip():
            break
        if line[0] in " \t":
            if current is not None:
                current[-1] += "\n" + line.strip()
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip() or " " in name.strip():
            # Not a field; the metadata writers never emit this, so skip the line
            # rather than guess what it meant.
            current = None
            continue
        current = headers.setdefault(name.strip().lower(), [])
        current.append(value.strip())
    return headers


def parse_metadata(data: bytes, *, where: str) -> Package:
    """The distribution described by one METADATA / PKG-INFO file."""
    headers = read_headers(decode_text(data, where=where))
    name = _single(headers, "name")
    version = _single(headers, "version")
    if not name or not version:
        missing = " and ".join(f for f, v in (("Name", name), ("Version", version)) if not v)
        raise CatalogError(
            f"{where}: core metadata without {missing}",
            hint="the distribution's metadata file is truncated or not core metadata",
        )
    return Package(
        name=name,
        version=version,
        type=PackageType.PYPI,
        licenses=licenses_from_headers(headers),
    )


def licenses_from_headers(headers: dict[str, list[str]]) -> tuple[str, ...]:
    expression = _single(headers, "license-expression")
    if expression:
        return (expression,)
    from_classifiers: list[str] = []
    for classifier in headers.get("classifier", []):
        parts = [part.strip() for part in classifier.split("::")]
        if len(parts) < 2 or parts[0] != "License":
            continue
        specific = parts[-1]
        if specific in _CATEGORY_CLASSIFIERS or specific in from_classifiers:
            continue
        from_classifiers.append(specific)
    if from_classifiers:
        return tuple(from_classifiers)
    free_text = _single(headers, "license").split("\n", 1)[0].strip()
    if free_text.upper() in _NOT_A_LICENSE:
        return ()
    return (free_text,)


def _single(headers: dict[str, list[str]], key: str) -> str:
    values = headers.get(key)
    return values[0].strip() if values else ""
