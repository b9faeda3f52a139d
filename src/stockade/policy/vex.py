"""VEX: statements from a product's authors that a vulnerability does not affect it.

Two formats are read, both as JSON:

OpenVEX (https://openvex.dev, v0.2.0 and the earlier drafts)
    A document with ``@context`` ``https://openvex.dev/ns…`` and ``statements``. Each
    statement names a ``vulnerability`` (``name``, ``@id`` and ``aliases``), the
    ``products`` it is about (``@id`` or ``identifiers.purl``, each with optional
    ``subcomponents``), a ``status`` and, for ``not_affected``, a ``justification`` or an
    ``impact_statement``. A statement's time is its ``last_updated`` or ``timestamp``,
    else the document's.
CycloneDX VEX (a BOM with ``vulnerabilities``)
    Each vulnerability has an ``id`` (and ``references`` as aliases), an ``analysis``
    with a ``state`` and a ``justification``, and ``affects[].ref``. A ref is a bom-ref
    resolved through the BOM's components to their purl, a BOM-Link
    (``urn:cdx:…#bom-ref``) resolved the same way, or a purl itself. Its time is the
    analysis's ``lastUpdated`` or ``firstIssued``, else the BOM's ``metadata.timestamp``.

How statements apply (:func:`apply_vex`):

* The vulnerability matches when any of the statement's names equals the finding's
  advisory id or one of its aliases (ignoring case).
* The product matches when its purl names the finding's package, as
  :func:`stockade.policy.purls.purl_matches` compares them: the version, qualifiers and
  subpath count only where the statement gives them.
* A product with ``subcomponents`` is a thing that *contains* the vulnerable packages
  (an image, an application): the statement applies to a package named by a
  subcomponent only when the product names the scanned artifact too
  (``artifact_purl``). Without an artifact purl (a directory scan) such statements are
  not applied: a statement about one product says nothing about another that happens
  to contain the same package.
* The latest statement that matches decides. ``not_affected`` (CycloneDX:
  ``not_affected``, ``false_positive``) and ``fixed`` (``resolved``,
  ``resolved_with_pedigree``) mark the finding :attr:`Suppression.NOT_AFFECTED`;
  ``affected`` and ``under_investigation`` (``exploitable``, ``in_triage``) leave it
  active, even if an earlier statement had said otherwise. Statements without a time
  come before those with one; ties keep document order.

The suppression reason starts with the machine-readable label (the justification, or
``fixed``), followed by ``": "`` and the author's explanation when there is one, so that
a renderer can recover the label: ``vulnerable_code_not_in_execute_path: log4j-core is
not on the classpath``.
"""

from __future__ import annotations

import enum
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote

from stockade.core.finding import Finding, Suppression
from stockade.policy.errors import VexError
from stockade.policy.purls import is_purl, parse_purl, purl_matches

MAX_VEX_BYTES: Final = 32 << 20
"""VEX documents for a large product run to a few megabytes; more is not a VEX file."""

OPENVEX_CONTEXT_PREFIX: Final = "https://openvex.dev/ns"

OPENVEX_JUSTIFICATIONS: Final = frozenset(
    {
        "component_not_present",
        "vulnerable_code_not_present",
        "vulnerable_code_not_in_execute_path",
        "vulnerable_code_cannot_be_controlled_by_adversary",
        "inline_mitigations_already_exist",
    }
)
CYCLONEDX_JUSTIFICATIONS: Final = frozenset(
    {
        "code_not_present",
        "code_not_reachable",
        "requires_configuration",
        "requires_dependency",
        "requires_environment",
        "protected_by_compiler",
        "protected_at_runtime",
        "protected_at_perimeter",
        "protected_by_mitigating_control",
    }
)


class VexStatus(enum.StrEnum):
    """OpenVEX's status labels; CycloneDX analysis states are read as one of these."""

    NOT_AFFECTED = "not_affected"
    AFFECTED = "affected"
    FIXED = "fixed"
    UNDER_INVESTIGATION = "under_investigation"

    @property
    def suppresses(self) -> bool:
        return self in (VexStatus.NOT_AFFECTED, VexStatus.FIXED)


_CYCLONEDX_STATES: Final = {
    "not_affected": VexStatus.NOT_AFFECTED,
    "false_positive": VexStatus.NOT_AFFECTED,
    "resolved": VexStatus.FIXED,
    "resolved_with_pedigree": VexStatus.FIXED,
    "exploitable": VexStatus.AFFECTED,
    "in_triage": VexStatus.UNDER_INVESTIGATION,
}


class VexFormat(enum.StrEnum):
    OPENVEX = "openvex"
    CYCLONEDX = "cyclonedx"


@dataclass(frozen=True, slots=True)
class VexProduct:
    """What a statement is about: a purl, and the purls of the components it contains.

    ``purl`` is empty when the product is identified some other way (an IRI, hashes):
    such a product never matches a package.
    """

    purl: str
    subcomponents: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class VexStatement:
    """One statement: these vulnerability names, these products, this status."""

    vulnerabilities: tuple[str, ...]
    products: tuple[VexProduct, ...]
    status: VexStatus
    justification: str = ""
    detail: str = ""
    timestamp: datetime | None = None
    """When the statement was made (timezone-aware); None when the document says not."""

    @property
    def reason(self) -> str:
        """The suppression reason for a finding this statement marks (module docs)."""
        if self.status is VexStatus.NOT_AFFECTED and self.justification:
            label = self.justification
        else:
            label = self.status.value
        return f"{label}: {self.detail}" if self.detail else label


@dataclass(frozen=True, slots=True)
class VexDocument:
    """The statements of one VEX document, in document order; ``source`` names it."""

    source: str
    format: VexFormat
    statements: tuple[VexStatement, ...]


def parse_vex(data: str | bytes, source: str = "<vex>") -> VexDocument:
    """A VEX document from JSON text, OpenVEX or CycloneDX; :class:`VexError` if malformed."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError
        raise VexError(f"not valid JSON: {exc}", source=source) from exc
    return vex_from_json(document, source)


def load_vex(path: str | os.PathLike[str]) -> VexDocument:
    """Read and parse a VEX file; :class:`VexError` when unreadable or malformed."""
    source = os.fspath(path)
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(MAX_VEX_BYTES + 1)
    except OSError as exc:
        raise VexError(f"cannot read the VEX document: {exc.strerror}", source=source) from exc
    if len(data) > MAX_VEX_BYTES:
        raise VexError(f"the VEX document is larger than {MAX_VEX_BYTES} bytes", source=source)
    return parse_vex(data, source)


def vex_from_json(document: object, source: str = "<vex>") -> VexDocument:
    """A VEX document from parsed JSON, recognising the format by its marker fields."""
    if isinstance(document, Mapping):
        context = document.get("@context")
        if isinstance(context, str) and context.startswith(OPENVEX_CONTEXT_PREFIX):
            return _Reader(source).openvex(document)
        if document.get("bomFormat") == "CycloneDX":
            return _Reader(source).cyclonedx(document)
    raise VexError(
        "not an OpenVEX or CycloneDX VEX document",
        source=source,
        hint="OpenVEX documents have an @context of https://openvex.dev/ns/…; "
        'CycloneDX ones have "bomFormat": "CycloneDX"',
    )


class _Reader:
    """Checks a document's shape as it reads it, naming the JSON path of any problem."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> VexError:
        return VexError(message, source=self.source, where=where)

    # -- shape helpers -------------------------------------------------------------

    def mapping(self, value: object, where: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(where, f"expected an object, found {_kind(value)}")
        return value

    def items(self, value: object, where: str) -> Sequence[Any]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(where, f"expected a list, found {_kind(value)}")
        return value

    def text(self, value: object, where: str, *, required: bool = False) -> str:
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            raise self.fail(where, f"expected text, found {_kind(value)}")
        return value.strip()

    def time(self, value: object, where: str) -> datetime | None:
        text = self.text(value, where)
        if not text:
            return None
        try:
            # Python 3.11 reads at most microseconds; OpenVEX tools write nanoseconds.
            moment = datetime.fromisoformat(_trim_fraction(text))
        except ValueError as exc:
            raise self.fail(where, f"{_shown(text)} is not an RFC 3339 timestamp") from exc
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

    def purl(self, value: object, where: str) -> str:
        text = self.text(value, where)
        if not is_purl(text):
            return ""  # an IRI or other identifier: it names nothing we can match
        try:
            parse_purl(text)
        except ValueError as exc:
            raise self.fail(where, f"{_shown(text)} is not a valid purl: {exc}") from exc
        return text

    # -- OpenVEX -------------------------------------------------------------------

    def openvex(self, document: Mapping[str, Any]) -> VexDocument:
        # Statements inherit the document's issue time, not its last update: an update
        # adds statements, and the old ones keep the time they were made (OpenVEX spec).
        issued = self.time(document.get("timestamp"), "timestamp") or self.time(
            document.get("last_updated"), "last_updated"
        )
        statements = tuple(
            self.openvex_statement(
                self.mapping(item, f"statements[{n}]"), f"statements[{n}]", issued
            )
            for n, item in enumerate(self.items(document.get("statements"), "statements"))
        )
        return VexDocument(source=self.source, format=VexFormat.OPENVEX, statements=statements)

    def openvex_statement(
        self, statement: Mapping[str, Any], where: str, issued: datetime | None
    ) -> VexStatement:
        names = self.openvex_vulnerability(statement.get("vulnerability"), f"{where}.vulnerability")
        raw_status = self.text(statement.get("status"), f"{where}.status", required=True)
        try:
            status = VexStatus(raw_status)
        except ValueError:
            known = ", ".join(s.value for s in VexStatus)
            raise self.fail(
                f"{where}.status", f"unknown status {_shown(raw_status)} (known: {known})"
            ) from None
        justification = self.text(statement.get("justification"), f"{where}.justification")
        if justification and justification not in OPENVEX_JUSTIFICATIONS:
            known = ", ".join(sorted(OPENVEX_JUSTIFICATIONS))
            raise self.fail(
                f"{where}.justification",
                f"unknown justification {_shown(justification)} (known: {known})",
            )
        impact = self.text(statement.get("impact_statement"), f"{where}.impact_statement")
        if status is VexStatus.NOT_AFFECTED and not (justification or impact):
            raise self.fail(
                where, "a not_affected statement needs a justification or an impact_statement"
            )
        products = tuple(
            self.openvex_product(
                self.mapping(item, f"{where}.products[{n}]"), f"{where}.products[{n}]"
            )
            for n, item in enumerate(self.items(statement.get("products"), f"{where}.products"))
        )
        moment = (
            self.time(statement.get("last_updated"), f"{where}.last_updated")
            or self.time(statement.get("timestamp"), f"{where}.timestamp")
            or issued
        )
        detail = impact if status is VexStatus.NOT_AFFECTED else ""
        if status is VexStatus.FIXED:
            detail = self.text(statement.get("status_notes"), f"{where}.status_notes")
        return VexStatement(
            vulnerabilities=names,
            products=products,
            status=status,
            justification=justification,
            detail=detail,
            timestamp=moment,
        )

    def openvex_vulnerability(self, value: object, where: str) -> tuple[str, ...]:
        if isinstance(value, str):  # the v0.0.1 drafts wrote the name alone
            return (self.text(value, where, required=True),)
        vulnerability = self.mapping(value, where)
        names = [self.text(vulnerability.get("name"), f"{where}.name", required=True)]
        identifier = self.text(vulnerability.get("@id"), f"{where}.@id")
        if identifier:
            names.append(identifier)
        for n, alias in enumerate(self.items(vulnerability.get("aliases"), f"{where}.aliases")):
            names.append(self.text(alias, f"{where}.aliases[{n}]", required=True))
        return tuple(dict.fromkeys(names))

    def openvex_component(self, component: Mapping[str, Any], where: str) -> str:
        purl = self.purl(component.get("@id"), f"{where}.@id")
        identifiers = component.get("identifiers")
        if identifiers is not None:
            ids = self.mapping(identifiers, f"{where}.identifiers")
            purl = purl or self.purl(ids.get("purl"), f"{where}.identifiers.purl")
        return purl

    def openvex_product(self, product: Mapping[str, Any], where: str) -> VexProduct:
        subcomponents = tuple(
            self.openvex_component(
                self.mapping(item, f"{where}.subcomponents[{n}]"), f"{where}.subcomponents[{n}]"
            )
            for n, item in enumerate(
                self.items(product.get("subcomponents"), f"{where}.subcomponents")
            )
        )
        return VexProduct(
            purl=self.openvex_component(product, where),
            subcomponents=tuple(p for p in subcomponents if p),
        )

    # -- CycloneDX -----------------------------------------------------------------

    def cyclonedx(self, bom: Mapping[str, Any]) -> VexDocument:
        refs: dict[str, str] = {}
        metadata = bom.get("metadata")
        issued: datetime | None = None
        if metadata is not None:
            meta = self.mapping(metadata, "metadata")
            issued = self.time(meta.get("timestamp"), "metadata.timestamp")
            if meta.get("component") is not None:
                self.collect_refs([meta["component"]], "metadata.component", refs)
        self.collect_refs(self.items(bom.get("components"), "components"), "components", refs)
        statements: list[VexStatement] = []
        for n, item in enumerate(self.items(bom.get("vulnerabilities"), "vulnerabilities")):
            where = f"vulnerabilities[{n}]"
            statement = self.cyclonedx_vulnerability(self.mapping(item, where), where, refs, issued)
            if statement is not None:
                statements.append(statement)
        return VexDocument(
            source=self.source, format=VexFormat.CYCLONEDX, statements=tuple(statements)
        )

    def collect_refs(self, components: Iterable[Any], where: str, refs: dict[str, str]) -> None:
        # Components nest (an application's libraries inside it); walked without
        # recursion so that a hostile document cannot exhaust the stack.
        pending = [(f"{where}[{n}]", item) for n, item in enumerate(components)]
        while pending:
            path, item = pending.pop()
            component = self.mapping(item, path)
            ref = self.text(component.get("bom-ref"), f"{path}.bom-ref")
            purl = self.purl(component.get("purl"), f"{path}.purl")
            if ref and purl:
                refs[ref] = purl
            children = self.items(component.get("components"), f"{path}.components")
            pending.extend((f"{path}.components[{m}]", child) for m, child in enumerate(children))

    def cyclonedx_vulnerability(
        self,
        vulnerability: Mapping[str, Any],
        where: str,
        refs: Mapping[str, str],
        issued: datetime | None,
    ) -> VexStatement | None:
        names = [self.text(vulnerability.get("id"), f"{where}.id", required=True)]
        for n, item in enumerate(
            self.items(vulnerability.get("references"), f"{where}.references")
        ):
            reference = self.mapping(item, f"{where}.references[{n}]")
            names.append(
                self.text(reference.get("id"), f"{where}.references[{n}].id", required=True)
            )
        if vulnerability.get("analysis") is None:
            return None  # a plain vulnerability report, not a VEX statement
        analysis = self.mapping(vulnerability["analysis"], f"{where}.analysis")
        state = self.text(analysis.get("state"), f"{where}.analysis.state")
        if not state:
            return None
        if state not in _CYCLONEDX_STATES:
            known = ", ".join(sorted(_CYCLONEDX_STATES))
            raise self.fail(
                f"{where}.analysis.state", f"unknown state {_shown(state)} (known: {known})"
            )
        justification = self.text(analysis.get("justification"), f"{where}.analysis.justification")
        if justification and justification not in CYCLONEDX_JUSTIFICATIONS:
            known = ", ".join(sorted(CYCLONEDX_JUSTIFICATIONS))
            raise self.fail(
                f"{where}.analysis.justification",
                f"unknown justification {_shown(justification)} (known: {known})",
            )
        status = _CYCLONEDX_STATES[state]
        if state == "false_positive" and not justification:
            justification = "false_positive"
        products: list[VexProduct] = []
        for n, item in enumerate(self.items(vulnerability.get("affects"), f"{where}.affects")):
            target = self.mapping(item, f"{where}.affects[{n}]")
            ref = self.text(target.get("ref"), f"{where}.affects[{n}].ref", required=True)
            purl = self.resolve(ref, refs, f"{where}.affects[{n}].ref")
            if purl:
                products.append(VexProduct(purl=purl))
        moment = (
            self.time(analysis.get("lastUpdated"), f"{where}.analysis.lastUpdated")
            or self.time(analysis.get("firstIssued"), f"{where}.analysis.firstIssued")
            or issued
        )
        return VexStatement(
            vulnerabilities=tuple(dict.fromkeys(names)),
            products=tuple(products),
            status=status,
            justification=justification,
            detail=self.text(analysis.get("detail"), f"{where}.analysis.detail"),
            timestamp=moment,
        )

    def resolve(self, ref: str, refs: Mapping[str, str], where: str) -> str:
        """The purl a CycloneDX ``affects`` ref names; empty when it names none we know."""
        if ref.startswith("urn:cdx:") and "#" in ref:
            ref = unquote(ref.split("#", 1)[1])  # a BOM-Link into another BOM
        if ref in refs:
            return refs[ref]
        return self.purl(ref, where)


def _trim_fraction(text: str) -> str:
    """``…:03.647787998-06:00`` as ``…:03.647787-06:00``; Z as +00:00."""
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    dot = text.find(".")
    if dot == -1:
        return text
    end = dot + 1
    while end < len(text) and text[end].isdigit():
        end += 1
    digits = text[dot + 1 : end]
    return text[: dot + 1] + (digits[:6] or "0") + text[end:]


def _shown(text: str) -> str:
    """``text`` quoted for an error message, cut short: documents can be megabytes."""
    return repr(text if len(text) <= 80 else text[:79] + "…")


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text" if value.strip() else "empty text"
    return type(value).__name__


_EARLIEST: Final = datetime.min.replace(tzinfo=UTC)


def apply_vex(
    findings: Iterable[Finding],
    documents: Sequence[VexDocument],
    *,
    artifact_purl: str | None = None,
) -> tuple[Finding, ...]:
    """Mark the findings that VEX statements say do not apply as ``NOT_AFFECTED``.

    ``documents`` are read in order, ``artifact_purl`` is the purl of the scanned
    artifact (``pkg:oci/…`` for an image) for statements with subcomponents; see the
    module documentation for the rules. Findings already suppressed are left alone.
    """
    statements = [s for document in documents for s in document.statements]
    # Position in time order, document order breaking ties (sorted() is stable).
    order = sorted(range(len(statements)), key=lambda n: statements[n].timestamp or _EARLIEST)
    by_name: dict[str, list[tuple[int, VexStatement]]] = {}
    for rank, n in enumerate(order):
        for name in statements[n].vulnerabilities:
            by_name.setdefault(name.upper(), []).append((rank, statements[n]))

    return tuple(_decide(finding, by_name, artifact_purl) for finding in findings)


def _decide(
    finding: Finding,
    by_name: Mapping[str, list[tuple[int, VexStatement]]],
    artifact_purl: str | None,
) -> Finding:
    """The finding, marked when the latest statement about it that applies suppresses it."""
    if finding.suppressed is not None:
        return finding
    candidates = dict(item for name in finding.ids for item in by_name.get(name.upper(), ()))
    deciding = None
    for rank in sorted(candidates):
        if _applies(candidates[rank], finding.package.purl, artifact_purl):
            deciding = candidates[rank]
    if deciding is None or not deciding.status.suppresses:
        return finding
    return replace(finding, suppressed=Suppression.NOT_AFFECTED, suppression_reason=deciding.reason)


def _applies(statement: VexStatement, package_purl: str, artifact_purl: str | None) -> bool:
    for product in statement.products:
        if purl_matches(product.purl, package_purl):
            return True
        if (
            artifact_purl
            and product.subcomponents
            and purl_matches(product.purl, artifact_purl)
            and any(purl_matches(sub, package_purl) for sub in product.subcomponents)
        ):
            return True
    return False
