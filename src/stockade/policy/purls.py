"""Matching a package against a Package URL written by a person or another tool.

A pattern matches a package purl when type, namespace and name are the same and, where
the pattern gives them, the version, each qualifier and the subpath are the same too. So
``pkg:deb/debian/openssl`` names every openssl, ``pkg:deb/debian/openssl@3.0.11-1`` one
version of it on any architecture, and ``…?arch=amd64`` only the amd64 build.

Names compare as the purl specification normalises them for each type (PyPI's PEP 503
spelling, lower case where the type is case-insensitive), so ``pkg:pypi/Django`` matches
the ``pkg:pypi/django`` the catalogers write.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from packageurl import PackageURL

from stockade.core.models import pep503_name

_SCHEME = "pkg:"

# Types whose namespace, or name, the purl specification declares case-insensitive.
_CASELESS_NAMESPACE = frozenset(
    {"alpm", "apk", "bitbucket", "composer", "deb", "github", "huggingface", "rpm"}
)
_CASELESS_NAME = frozenset(
    {"alpm", "apk", "bitbucket", "composer", "deb", "github", "npm", "nuget", "pypi"}
)


@dataclass(frozen=True, slots=True)
class ParsedPurl:
    """A purl split into comparable parts (the version and qualifiers decoded)."""

    type: str
    namespace: str
    name: str
    version: str | None
    qualifiers: tuple[tuple[str, str], ...]
    subpath: str | None


def is_purl(text: str) -> bool:
    """Whether ``text`` is written as a purl (the scheme is case-insensitive)."""
    return text[: len(_SCHEME)].lower() == _SCHEME


@functools.lru_cache(maxsize=4096)  # the same few patterns are compared with every finding
def parse_purl(text: str) -> ParsedPurl:
    """``text`` as comparable parts; ValueError when it is not a valid purl."""
    if not is_purl(text):
        raise ValueError("a purl starts with 'pkg:'")
    try:
        purl = PackageURL.from_string(_SCHEME + text[len(_SCHEME) :])
    # packageurl signals bad input with ValueError and, for some malformed strings,
    # with other built-in errors; all of them mean "not a purl".
    except Exception as exc:
        raise ValueError(str(exc) or "not a valid purl") from exc
    kind = purl.type.lower()
    namespace = purl.namespace or ""
    name = purl.name
    if kind in _CASELESS_NAMESPACE:
        namespace = namespace.lower()
    if kind == "pypi":
        name = pep503_name(name)
    elif kind in _CASELESS_NAME:
        name = name.lower()
    qualifiers = purl.qualifiers if isinstance(purl.qualifiers, dict) else {}
    return ParsedPurl(
        type=kind,
        namespace=namespace,
        name=name,
        version=purl.version or None,
        qualifiers=tuple(sorted((str(k), str(v)) for k, v in qualifiers.items())),
        subpath=purl.subpath or None,
    )


def purl_matches(pattern: str, purl: str) -> bool:
    """Whether the package ``purl`` is one that ``pattern`` names (see the module docs).

    Either string being empty or not a valid purl means no match.
    """
    if not pattern or not purl:
        return False
    try:
        want = parse_purl(pattern)
        have = parse_purl(purl)
    except ValueError:
        return False
    if (want.type, want.namespace, want.name) != (have.type, have.namespace, have.name):
        return False
    if want.version is not None and want.version != have.version:
        return False
    if want.subpath is not None and want.subpath != have.subpath:
        return False
    have_qualifiers = dict(have.qualifiers)
    return all(have_qualifiers.get(key) == value for key, value in want.qualifiers)
