"""The Node.js security working group's npm advisories (``vuln/npm/<n>.json``).

https://github.com/nodejs/security-wg keeps the advisories of the former Node Security
Project, one JSON file per issue::

    {"id": 1, "module_name": "bassmaster", "cves": ["CVE-2014-7205"],
     "vulnerable_versions": "<=1.5.1", "patched_versions": ">=1.5.2",
     "cvss_vector": "CVSS:3.0/AV:N/…", "cvss_score": 6.5, "title": …, "overview": …}

The advisory id is ``NSWG-ECO-<id>``, as the working group names them. The
node-semver ranges are kept as they are in an ``NPM-CONSTRAINT`` range (see
:mod:`stockade.core.advisory`): ``vulnerable_versions`` as a ``vulnerable`` event and
``patched_versions`` as a ``patched`` one; ``<0.0.0``, which the feed writes for "no
patch", is dropped. ``vuln/npm/index.json``, the same advisories in one mapping keyed by
id, is read too. The CVSS score is recomputed from the vector when there is one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
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

_NO_PATCH: Final = frozenset({"", "<0.0.0", "<0.0.0-0"})
_ADVISORY_URL: Final = "https://github.com/nodejs/security-wg/blob/main/vuln/npm/{id}.json"


class NodejsSecurityWgImporter(Importer):
    format = "nodejs-security-wg"
    source = "nodejs-security-wg"

    def recognizes(self, document: object) -> bool:
        if _looks_like_advisory(document):
            return True
        if isinstance(document, dict) and document:
            first_key, first = next(iter(document.items()))
            return (
                isinstance(first_key, str) and first_key.isdigit() and _looks_like_advisory(first)
            )
        return False

    def parse(
        self, document: object, *, origin: str, source: str, warn: Warn
    ) -> Iterator[Advisory]:
        body = f.mapping(document, "advisory")
        if _looks_like_advisory(body):
            yield _advisory(body, source, warn, origin)
            return
        for key, entry in body.items():
            try:
                yield _advisory(f.mapping(entry, str(key)[:40]), source, warn, origin)
            except InvalidAdvisory as exc:
                warn(f"{origin}[{str(key)[:40]}]: skipped: {exc.message}")


def _looks_like_advisory(document: object) -> bool:
    return (
        isinstance(document, dict)
        and "module_name" in document
        and "vulnerable_versions" in document
    )


def _advisory(body: Mapping[str, Any], source: str, warn: Warn, origin: str) -> Advisory:
    number = body.get("id")
    if isinstance(number, bool) or not isinstance(number, int) or not 0 < number < 2**31:
        raise InvalidAdvisory("id is not a positive integer")
    module = f.required_text(body, "module_name", "advisory")
    vulnerable = f.required_text(body, "vulnerable_versions", "advisory", limit=f.MAX_VERSION)
    patched = f.optional_text(body, "patched_versions", "advisory", limit=f.MAX_VERSION).strip()
    has_patch = patched not in _NO_PATCH

    events = [Event(EventKind.VULNERABLE, vulnerable)]
    if has_patch:
        events.append(Event(EventKind.PATCHED, patched))
    affected = Affected(
        ecosystem="npm",
        name=module,
        ranges=(Range(RangeType.NPM_CONSTRAINT, tuple(events)),),
        fix_state=FixState.FIXED if has_patch else FixState.NOT_FIXED,
        fixed_versions=fix_versions([patched]) if has_patch else (),
        purl=f"pkg:npm/{module.replace('@', '%40')}",
    )

    cvss = _cvss(body, warn, origin)
    references = [Reference("ADVISORY", _ADVISORY_URL.format(id=number))]
    references.extend(
        Reference("WEB", url.strip())
        for url in f.text_list(body, "references", "advisory", limit=f.MAX_URL)
        if url.strip()
    )
    recommendation = f.optional_text(body, "recommendation", "advisory").strip()
    aliases = [
        alias.strip()
        for alias in f.text_list(body, "cves", "advisory", limit=f.MAX_ID)
        if f.is_identifier(alias.strip())
    ]
    return Advisory(
        id=AdvisoryId(f"NSWG-ECO-{number}"),
        source=source,
        summary=f.optional_text(body, "title", "advisory").strip(),
        details=f.optional_text(body, "overview", "advisory").strip(),
        aliases=f.unique(aliases),
        severity=cvss[0].severity if cvss else Severity.UNKNOWN,
        cvss=tuple(cvss),
        published=f.timestamp(body.get("publish_date")) or f.timestamp(body.get("created_at")),
        modified=f.timestamp(body.get("updated_at")),
        references=tuple(dict.fromkeys(references)),
        affected=(affected,),
        database_specific={"recommendation": recommendation} if recommendation else {},
    )


def _cvss(body: Mapping[str, Any], warn: Warn, origin: str) -> list[Cvss]:
    vector = body.get("cvss_vector")
    if isinstance(vector, str) and vector.strip():
        try:
            return [f.cvss_vector(vector, "cvss_vector")]
        except InvalidAdvisory as exc:
            warn(f"{origin}: ignored {exc.message}")
    score = body.get("cvss_score")
    # The feed writes -1 for "not scored".
    if isinstance(score, int | float) and not isinstance(score, bool) and score < 0:
        return []
    if score is not None:
        # Every vector this feed prints is CVSS 3.0, so a bare score is taken as one.
        try:
            return [f.cvss_score(3, score, "cvss_score")]
        except InvalidAdvisory as exc:
            warn(f"{origin}: ignored {exc.message}")
    return []
