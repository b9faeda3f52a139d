"""RubySec's ruby-advisory-db (https://github.com/rubysec/ruby-advisory-db), YAML.

One file per gem and issue (``gems/<gem>/<id>.yml``)::

    gem: actionpack
    cve: 2008-7248
    ghsa: 8fqx-7pv4-3jwm
    title: …
    date: 2017-10-24
    cvss_v3: 6.3
    unaffected_versions: ["< 2.1.0"]
    patched_versions: ["~> 2.1.3", ">= 2.2.2"]

The requirement strings are kept as they are in a ``GEM-CONSTRAINT`` range (see
:mod:`stockade.core.advisory`): a version is affected unless it satisfies one of the
``patched_versions`` or ``unaffected_versions``. RubySec gives CVSS scores without
vectors, so :class:`~stockade.core.advisory.Cvss` entries carry the score alone.

The advisory id is the CVE when there is one, else the GHSA, else the OSVDB id, else
``RUBYSEC-<gem>-<file name>``; the other ids become aliases. Since several gems may share
one CVE, records are merged into the store package by package. Advisories about Ruby
interpreters (``rubies/``, with ``engine:`` instead of ``gem:``) name no gem and are
left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import PurePosixPath
from typing import Any, Final

from stockade.core.advisory import (
    Advisory,
    AdvisoryId,
    Affected,
    Cvss,
    Event,
    EventKind,
    FixState,
    Range,
    RangeType,
    Reference,
    Severity,
)
from stockade.vulndb.errors import InvalidAdvisory
from stockade.vulndb.importers import _fields as f
from stockade.vulndb.importers._constraints import fix_versions
from stockade.vulndb.importers.interface import Importer
from stockade.vulndb.reading import Warn

_CVE_NUMBER: Final = re.compile(r"(?:CVE-)?(\d{4}-\d{4,})")
_GHSA_NUMBER: Final = re.compile(r"(?:GHSA-)?([0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4})")
_MAX_CONSTRAINTS: Final = 1000
_CVSS_KEYS: Final = (("cvss_v4", 4), ("cvss_v3", 3), ("cvss_v2", 2))


class RubySecImporter(Importer):
    format = "rubysec"
    source = "rubysec"
    merge = True

    def recognizes(self, document: object) -> bool:
        return (
            isinstance(document, dict)
            and ("gem" in document or "engine" in document)
            and "id" not in document
            and ("url" in document or "patched_versions" in document or "title" in document)
        )

    def parse(
        self, document: object, *, origin: str, source: str, warn: Warn
    ) -> Iterator[Advisory]:
        body = f.mapping(document, "advisory")
        if "gem" not in body:
            return
        yield _advisory(body, origin, source, warn)


def _advisory(body: Mapping[str, Any], origin: str, source: str, warn: Warn) -> Advisory:
    gem = f.required_text(body, "gem", "advisory")
    ids = _ids(body, gem, origin)
    cvss: list[Cvss] = []
    for key, major in _CVSS_KEYS:
        if body.get(key) is not None:
            try:
                cvss.append(f.cvss_score(major, body[key], key))
            except InvalidAdvisory as exc:
                warn(f"{origin}: ignored {exc.message}")

    patched = _constraints(body, "patched_versions")
    unaffected = _constraints(body, "unaffected_versions")
    events = tuple(
        [Event(EventKind.PATCHED, c) for c in patched]
        + [Event(EventKind.UNAFFECTED, c) for c in unaffected]
    )
    platform = body.get("platform")
    affected = Affected(
        ecosystem="RubyGems",
        name=gem,
        ranges=(Range(RangeType.GEM_CONSTRAINT, events),),
        fix_state=FixState.FIXED if patched else FixState.NOT_FIXED,
        fixed_versions=fix_versions(patched),
        purl=f"pkg:gem/{gem}",
        ecosystem_specific={"platform": platform} if isinstance(platform, str) else {},
    )

    references: list[Reference] = []
    url = f.optional_text(body, "url", "advisory", limit=f.MAX_URL).strip()
    if url:
        references.append(Reference("ADVISORY", url))
    related = f.optional_mapping(body, "related", "advisory")
    for link in f.text_list(related, "url", "related", limit=f.MAX_URL):
        if link.strip():
            references.append(Reference("WEB", link.strip()))
    related_ids = [
        *(_prefixed("CVE", value, _CVE_NUMBER) for value in _scalars(related, "cve")),
        *(_prefixed("GHSA", value, _GHSA_NUMBER) for value in _scalars(related, "ghsa")),
    ]
    notes = f.optional_text(body, "notes", "advisory").strip()

    return Advisory(
        id=AdvisoryId(ids[0]),
        source=source,
        summary=f.optional_text(body, "title", "advisory").strip(),
        details=f.optional_text(body, "description", "advisory").strip(),
        aliases=ids[1:],
        related=f.unique([i for i in related_ids if i and i not in ids]),
        severity=cvss[0].severity if cvss else Severity.UNKNOWN,
        cvss=tuple(cvss),
        published=f.timestamp(body.get("date")),
        references=tuple(dict.fromkeys(references)),
        affected=(affected,),
        database_specific={"notes": notes} if notes else {},
    )


def _ids(body: Mapping[str, Any], gem: str, origin: str) -> tuple[str, ...]:
    found: list[str] = []
    cve = body.get("cve")
    if cve is not None:
        found.append(_prefixed("CVE", f.text(cve, "cve", limit=64), _CVE_NUMBER))
    ghsa = body.get("ghsa")
    if ghsa is not None:
        found.append(_prefixed("GHSA", f.text(ghsa, "ghsa", limit=64), _GHSA_NUMBER))
    osvdb = body.get("osvdb")
    if isinstance(osvdb, int) and not isinstance(osvdb, bool) and 0 < osvdb < 2**31:
        found.append(f"OSVDB-{osvdb}")
    found = [i for i in found if i]
    if not found:
        stem = PurePosixPath(origin.replace("\\", "/").split("!")[-1]).stem
        fallback = f"RUBYSEC-{gem}-{stem}"
        if not f.is_identifier(fallback):
            raise InvalidAdvisory("the advisory has no CVE, GHSA or OSVDB id")
        found.append(fallback)
    return f.unique(found)


def _prefixed(prefix: str, value: str, pattern: re.Pattern[str]) -> str:
    match = pattern.fullmatch(value.strip())
    if match is None:
        raise InvalidAdvisory(f"{prefix.lower()} {value[:40]!r} is not a {prefix} id")
    return f"{prefix}-{match.group(1)}"


def _scalars(related: Mapping[str, Any], key: str) -> list[str]:
    return [value for value in f.text_list(related, key, "related", limit=64) if value.strip()]


def _constraints(body: Mapping[str, Any], key: str) -> list[str]:
    values = f.optional_sequence(body, key, "advisory")
    if len(values) > _MAX_CONSTRAINTS:
        raise InvalidAdvisory(f"{key} has more than {_MAX_CONSTRAINTS} entries")
    return [f.version(value, f"{key}[{index}]") for index, value in enumerate(values)]
