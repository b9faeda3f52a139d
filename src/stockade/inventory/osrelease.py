"""The operating system of an artifact, from ``os-release`` and the older release files.

``/etc/os-release`` (or ``/usr/lib/os-release``) names the distribution in ``ID`` and its
release in ``VERSION_ID``. Images without it still carry a distribution-specific file:
``/etc/alpine-release``, ``/etc/debian_version``, ``/etc/redhat-release`` (and
``/etc/centos-release``) or ``/etc/lsb-release``. Every one of them is read here; the
engine keeps the best-ranked answer (``_OS_FILE_RANK`` in the engine), so a legacy file
only decides when no os-release file exists.

A file that does not say which release it is yields no OS at all rather than a
versionless one: a versionless answer from a better-ranked file would hide the version
a legacy file does state, and matching advisories needs the release.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from stockade.core.models import OSInfo
from stockade.inventory.interface import (
    EMPTY,
    CatalogContext,
    Cataloger,
    CatalogResult,
    FileContent,
)

OS_RELEASE_PATHS = frozenset({"etc/os-release", "usr/lib/os-release"})
ALPINE_RELEASE = "etc/alpine-release"
DEBIAN_VERSION = "etc/debian_version"
REDHAT_RELEASES = frozenset({"etc/redhat-release", "etc/centos-release"})
LSB_RELEASE = "etc/lsb-release"

_WANTED = OS_RELEASE_PATHS | REDHAT_RELEASES | {ALPINE_RELEASE, DEBIAN_VERSION, LSB_RELEASE}

# Release files are a few hundred bytes; anything far bigger is not one.
_MAX_RELEASE_FILE_BYTES = 64 * 1024

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class OSReleaseCataloger(Cataloger):
    """Reads the distribution and release from os-release and legacy release files."""

    name = "os-release"

    def wants(self, path: str, size: int, mode: int, ctx: CatalogContext) -> bool:
        return path in _WANTED and size <= _MAX_RELEASE_FILE_BYTES

    def parse(self, file: FileContent, ctx: CatalogContext) -> CatalogResult:
        text = file.text()
        if file.path in REDHAT_RELEASES:
            os_info = parse_redhat_release(text)
        elif file.path == ALPINE_RELEASE:
            os_info = parse_alpine_release(text)
        elif file.path == DEBIAN_VERSION:
            os_info = parse_debian_version(text)
        elif file.path == LSB_RELEASE:
            os_info = parse_lsb_release(text)
        else:
            os_info = os_info_from_fields(parse_env_file(text))
        return CatalogResult(os=os_info) if os_info else EMPTY


def parse_env_file(text: str) -> dict[str, str]:
    """``KEY=value`` assignments of an os-release style file, shell quoting undone.

    os-release(5) allows double quotes (with ``\\"``, ``\\\\``, ``\\$`` and ``\\```
    escapes), single quotes (literal), or a bare value; ``#`` starts a comment line.
    Lines that are not assignments are ignored, as systemd ignores them.
    """
    fields: dict[str, str] = {}
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip()
        if not _KEY.fullmatch(key):
            continue
        fields[key] = _unquote(value.strip())
    return fields


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    if len(value) >= 2 and value[0] == value[-1] == '"':
        inner = value[1:-1]
        return re.sub(r"\\([\"\\$`])", r"\1", inner)
    # A bare value ends at an unquoted comment, as in a shell.
    return value.split(" #", 1)[0].strip().strip("\"'")


def os_info_from_fields(fields: Mapping[str, str]) -> OSInfo | None:
    """The OS an os-release file describes, or None when it lacks ID or any version."""
    family = fields.get("ID", "").strip().lower()
    if not family:
        return None
    codename = fields.get("VERSION_CODENAME", "").strip()
    pretty_name = fields.get("PRETTY_NAME", "").strip()
    version = fields.get("VERSION_ID", "").strip()
    if not version:
        # Debian testing and sid carry no VERSION_ID, only the codename of the next
        # release; that codename is what their advisories are filed under.
        version = codename or _codename_from_pretty_name(pretty_name)
    if not version:
        return None
    return OSInfo(
        family=family,
        version=version,
        name=fields.get("NAME", "").strip(),
        pretty_name=pretty_name,
        codename=codename,
    )


def _codename_from_pretty_name(pretty_name: str) -> str:
    # "Debian GNU/Linux trixie/sid": the word before "/sid" names the testing release.
    # Matched word by word: a regular expression searching for "<word>/sid" anywhere
    # backtracks quadratically over a long run of letters.
    for word in pretty_name.split():
        match = _TESTING_CODENAME.fullmatch(word.strip("()[]{}<>,.;:!?\"'"))
        if match:
            return match.group(1)
    return ""


_TESTING_CODENAME = re.compile(r"([a-z][a-z0-9]*)/sid")


def parse_alpine_release(text: str) -> OSInfo | None:
    """``/etc/alpine-release`` holds the full release (``3.19.1``), kept whole."""
    version = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not re.fullmatch(r"[0-9][0-9A-Za-z._+-]*", version):
        return None
    return OSInfo(family="alpine", version=version, name="Alpine Linux")


def parse_debian_version(text: str) -> OSInfo | None:
    """``/etc/debian_version``: ``12.5`` on a release, ``trixie/sid`` on testing.

    A point release is reduced to its major number, which is what Debian's own
    os-release calls ``VERSION_ID`` (``12``), so both files give one distro qualifier.
    """
    value = text.strip().splitlines()[0].strip() if text.strip() else ""
    if re.fullmatch(r"[0-9]+(\.[0-9]+)*", value):
        return OSInfo(family="debian", version=value.split(".")[0], pretty_name=value)
    match = _TESTING_CODENAME.fullmatch(value)
    if match:
        return OSInfo(family="debian", version=match.group(1), codename=match.group(1))
    return None


# "<name> release <version> (<codename>)", as every Red Hat derivative writes it. The
# name is what precedes the first " release "; searching for that separator (rather than
# matching a lazy name before it) keeps the work linear on hostile lines.
_REDHAT_RELEASE_WORD = re.compile(r"\srelease\s+(?=[0-9])")
_REDHAT_VERSION = re.compile(r"(?P<version>[0-9][0-9.]*)\s*(?:\((?P<codename>[^)]*)\))?")
# Distribution names in release lines, mapped to the os-release ID each one uses.
_REDHAT_FAMILIES: tuple[tuple[str, str], ...] = (
    ("centos", "centos"),
    ("red hat enterprise linux", "rhel"),
    ("rocky linux", "rocky"),
    ("almalinux", "almalinux"),
    ("oracle linux", "ol"),
    ("fedora", "fedora"),
    ("amazon linux", "amzn"),
    ("cloudlinux", "cloudlinux"),
    ("eurolinux", "eurolinux"),
)


def parse_redhat_release(text: str) -> OSInfo | None:
    """``CentOS Linux release 7.9.2009 (Core)`` and its siblings.

    CentOS is reduced to its major release, as its os-release ``VERSION_ID`` is; the
    others keep ``major.minor`` as written, as theirs do.
    """
    first_line = text.strip().splitlines()[0].strip() if text.strip() else ""
    separator = _REDHAT_RELEASE_WORD.search(first_line)
    if not separator:
        return None
    name = first_line[: separator.start()].strip()
    match = _REDHAT_VERSION.match(first_line, separator.end())
    if not name or not match:
        return None
    lowered = name.lower()
    family = next((fid for marker, fid in _REDHAT_FAMILIES if marker in lowered), None)
    if family is None:
        return None
    version = match.group("version").rstrip(".")
    if family == "centos":
        version = version.split(".")[0]
    return OSInfo(
        family=family,
        version=version,
        name=name,
        pretty_name=first_line,
        codename=(match.group("codename") or "").strip(),
    )


def parse_lsb_release(text: str) -> OSInfo | None:
    """``/etc/lsb-release``: ``DISTRIB_ID`` and ``DISTRIB_RELEASE`` (Ubuntu, Mint, …)."""
    fields = parse_env_file(text)
    family = fields.get("DISTRIB_ID", "").strip().lower()
    version = fields.get("DISTRIB_RELEASE", "").strip()
    if not family or not version:
        return None
    return OSInfo(
        family=family,
        version=version,
        name=fields.get("DISTRIB_ID", "").strip(),
        pretty_name=fields.get("DISTRIB_DESCRIPTION", "").strip(),
        codename=fields.get("DISTRIB_CODENAME", "").strip(),
    )
