"""The ignore file: findings a team has looked at and decided to accept, for a while.

``.stockadeignore.yaml`` is a YAML list; each entry names a vulnerability and says why::

    - id: CVE-2023-44487            # an advisory id or any of its aliases
      package: pkg:golang/golang.org/x/net   # optional: a name or a purl
      expires: 2025-06-30           # optional: the entry stops suppressing on this date
      reason: HTTP/2 is not exposed; tracked in SEC-142

* ``id`` matches the advisory id or any alias (``CVE-…``, ``GHSA-…``), ignoring case.
* ``package`` narrows the entry to one package: a purl (the version, qualifiers and
  subpath may be left out, see :mod:`stockade.policy.purls`) or a name, compared with
  the package's name, its ``namespace/name`` (``group:artifact`` for Maven) and the name
  the advisory was matched on (the source package for distribution packages). Without
  it the entry covers the vulnerability in every package.
* ``expires`` is an ISO date. On and after that date the entry no longer suppresses
  anything and :func:`apply_ignores` returns a notice saying so, so an exception granted
  for a quarter does not silently become permanent.
* ``resource`` and ``file`` narrow an entry for a *check* (``stockade check``; ``id`` is
  then a check id such as ``STK-K8S-001`` or ``CKV_K8S_16``, or a secret rule id): globs
  over the checked object (``Deployment/prod/*``) and over the file's path
  (``charts/**/values.yaml``). An entry with either applies only to checks.
* ``reason`` (or ``justification``, the same field under the name VEX uses) is
  required: an ignore entry without a reason is a finding nobody can review.

Unknown keys are errors, not warnings: a misspelt ``expire:`` would otherwise turn a
temporary exception into a permanent one.
"""

from __future__ import annotations

import os
import reprlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

import yaml

from stockade.core.finding import Finding, Suppression
from stockade.core.models import PackageType, pep503_name
from stockade.policy.errors import IgnoreFileError
from stockade.policy.purls import is_purl, parse_purl, purl_matches

IGNORE_FILE_NAME: Final = ".stockadeignore.yaml"
MAX_IGNORE_FILE_BYTES: Final = 1 << 20
"""An ignore file is a list a team writes by hand; anything larger is a mistake."""

_Fail = Callable[[str], IgnoreFileError]
"""Builds the error for the entry being read, with its index and the example hint."""

_REPR: Final = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict = 2, 3, 3
_REPR.maxstring = _REPR.maxother = 60
_KEYS: Final = frozenset(
    {"id", "package", "resource", "file", "expires", "reason", "justification"}
)
_EXAMPLE: Final = (
    "each entry looks like:\n"
    "  - id: CVE-2023-44487\n"
    "    package: pkg:golang/golang.org/x/net   # optional\n"
    "    expires: 2025-06-30                    # optional\n"
    "    reason: why this finding is accepted"
)


@dataclass(frozen=True, slots=True)
class IgnoreEntry:
    """One entry of the ignore file; ``index`` is its position in the file (0-based)."""

    id: str
    reason: str
    package: str | None = None
    expires: date | None = None
    index: int = 0
    source: str = IGNORE_FILE_NAME
    resource: str | None = None
    """For checks: a glob over the checked object's ``Kind/namespace/name``."""
    file: str | None = None
    """For checks and secrets: a glob over the file's path."""

    def is_expired(self, today: date) -> bool:
        """Whether the entry has stopped suppressing: ``today`` is on or after ``expires``."""
        return self.expires is not None and today >= self.expires

    def matches(self, finding: Finding) -> bool:
        """Whether the entry names this finding's vulnerability (and package, if given)."""
        if self.resource is not None or self.file is not None:
            return False  # an entry scoped to a resource or file is for checks
        wanted = self.id.upper()
        if not any(name.upper() == wanted for name in finding.ids):
            return False
        if self.package is None:
            return True
        if is_purl(self.package):
            return purl_matches(self.package, finding.package.purl)
        return _names_package(self.package, finding)


@dataclass(frozen=True, slots=True)
class IgnoreNotice:
    """Something about the ignore file the user should hear: an entry that expired."""

    entry: IgnoreEntry
    message: str

    def __str__(self) -> str:
        return self.message


def _names_package(name: str, finding: Finding) -> bool:
    pkg = finding.package
    candidates = {pkg.name, finding.matched_name}
    if pkg.namespace:
        separator = ":" if pkg.type is PackageType.MAVEN else "/"
        candidates.add(f"{pkg.namespace}{separator}{pkg.name}")
    if pkg.type is PackageType.PYPI:
        return pep503_name(name) in {pep503_name(c) for c in candidates}
    return name in candidates


def parse_ignore_file(text: str, source: str = IGNORE_FILE_NAME) -> tuple[IgnoreEntry, ...]:
    """The entries of an ignore file's text; :class:`IgnoreFileError` when malformed.

    An empty file (or one holding only comments) has no entries.
    """
    try:
        document = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f" at line {mark.line + 1}" if mark is not None else ""
        problem = exc.problem or "invalid YAML"
        raise IgnoreFileError(f"not valid YAML{line}: {problem}", source=source) from exc
    # PyYAML raises ValueError for timestamps it cannot represent (year 0) and
    # RecursionError for absurdly nested input; both mean the file is unusable.
    except (yaml.YAMLError, ValueError, OverflowError, RecursionError) as exc:
        raise IgnoreFileError(f"not valid YAML: {exc}", source=source) from exc
    if document is None:
        return ()
    if not isinstance(document, list):
        raise IgnoreFileError(
            f"expected a list of entries, found {_kind(document)}", source=source, hint=_EXAMPLE
        )
    return tuple(_entry(item, index, source) for index, item in enumerate(document))


def load_ignore_file(path: str | os.PathLike[str]) -> tuple[IgnoreEntry, ...]:
    """Read and parse an ignore file; :class:`IgnoreFileError` when unreadable or malformed."""
    source = os.fspath(path)
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(MAX_IGNORE_FILE_BYTES + 1)
    except OSError as exc:
        raise IgnoreFileError(
            f"cannot read the ignore file: {exc.strerror}", source=source
        ) from exc
    if len(data) > MAX_IGNORE_FILE_BYTES:
        raise IgnoreFileError(
            f"the ignore file is larger than {MAX_IGNORE_FILE_BYTES} bytes", source=source
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IgnoreFileError("the ignore file is not UTF-8 text", source=source) from exc
    return parse_ignore_file(text, source)


def _entry(item: object, index: int, source: str) -> IgnoreEntry:
    def fail(message: str) -> IgnoreFileError:
        return IgnoreFileError(message, source=source, index=index, hint=_EXAMPLE)

    if not isinstance(item, Mapping):
        raise fail(f"expected a mapping with id and reason, found {_kind(item)}")
    unknown = sorted(_short(key) for key in item if key not in _KEYS)
    if unknown:
        raise fail(f"unknown key {', '.join(unknown)} (known: {', '.join(sorted(_KEYS))})")
    vuln_id = _text(item, "id", fail)
    if vuln_id is None:
        raise fail("missing 'id': name the advisory or CVE to ignore")
    if "reason" in item and "justification" in item:
        raise fail("give either reason or justification, not both")
    reason = _text(item, "reason", fail) or _text(item, "justification", fail)
    if reason is None:
        raise fail(f"entry for {vuln_id} has no reason: say why the finding is accepted")
    package = _text(item, "package", fail)
    if package is not None and ("resource" in item or "file" in item):
        raise fail("'package' is for vulnerabilities, 'resource' and 'file' for checks: not both")
    if package is not None and is_purl(package):
        try:
            parse_purl(package)
        except ValueError as exc:
            raise fail(f"package {_short(package)} is not a valid purl: {exc}") from exc
    return IgnoreEntry(
        id=vuln_id,
        reason=reason,
        package=package,
        expires=_expiry(item.get("expires"), fail),
        index=index,
        source=source,
        resource=_text(item, "resource", fail),
        file=_text(item, "file", fail),
    )


def _text(item: Mapping[Any, Any], key: str, fail: _Fail) -> str | None:
    if item.get(key) is None:
        return None
    value = item[key]
    if not isinstance(value, str):
        raise fail(f"{key!r} must be text, found {_kind(value)}")
    value = value.strip()
    if not value:
        raise fail(f"{key!r} is empty")
    return value


def _expiry(value: object, fail: _Fail) -> date | None:
    if value is None:
        return None
    # YAML turns an unquoted 2025-06-30 into a date and a full timestamp into a datetime.
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise fail(f"'expires' must be a date written YYYY-MM-DD, found {_short(value)}")


def _short(value: object) -> str:
    # Bounded: YAML aliases can make a small file describe an exponentially large
    # structure, which a plain repr() would spend forever writing out.
    return _REPR.repr(value)


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text"
    return type(value).__name__


def apply_ignores(
    findings: Iterable[Finding], entries: Sequence[IgnoreEntry], today: date
) -> tuple[tuple[Finding, ...], tuple[IgnoreNotice, ...]]:
    """Mark the findings the ignore entries name as :attr:`Suppression.IGNORED`.

    The first entry (in file order) that matches gives the reason. Findings already
    suppressed (by a VEX statement) are left as they are. Entries that have expired
    suppress nothing; each one yields a notice, in file order, naming its id, its
    expiry date and how many findings it would have hidden.
    """
    active = [e for e in entries if not e.is_expired(today)]
    expired = [e for e in entries if e.is_expired(today)]
    result: list[Finding] = []
    revived = dict.fromkeys(range(len(expired)), 0)
    for finding in findings:
        if finding.suppressed is not None:
            result.append(finding)
            continue
        entry = next((e for e in active if e.matches(finding)), None)
        if entry is not None:
            result.append(
                replace(finding, suppressed=Suppression.IGNORED, suppression_reason=entry.reason)
            )
            continue
        for number, old in enumerate(expired):
            if old.matches(finding):
                revived[number] += 1
        result.append(finding)
    notices = tuple(expired_notice(e, revived[n]) for n, e in enumerate(expired))
    return tuple(result), notices


def expired_notice(entry: IgnoreEntry, revived: int, noun: str = "finding") -> IgnoreNotice:
    """The notice for an expired entry that would have suppressed ``revived`` ``noun``s."""
    expires = entry.expires.isoformat() if entry.expires else "?"
    what = entry.id if entry.package is None else f"{entry.id} in {entry.package}"
    if revived:
        noun = noun if revived == 1 else f"{noun}s"
        effect = f"{revived} {noun} it suppressed {'is' if revived == 1 else 'are'} reported again"
    else:
        effect = "it no longer suppresses anything"
    message = f"{entry.source}: entry {entry.index + 1} for {what} expired on {expires}; {effect}"
    return IgnoreNotice(entry=entry, message=message)
