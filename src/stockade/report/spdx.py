"""SPDX 2.3 JSON, built with spdx-tools.

Shape of the document:

* creation info: creator ``Tool: stockade-VERSION``, the creation time, and a namespace
  that is new for every document (``https://spdx.org/spdxdocs/stockade-NAME-UUID``, the
  form the SPDX specification suggests for creators without a web site of their own).
* one root package for what was scanned (purpose ``CONTAINER`` for images, with a
  ``pkg:oci`` purl where known; ``FILE`` for a directory, ``ARCHIVE`` for a zip) that the
  document ``DESCRIBES``; it ``CONTAINS`` the operating system (an ``OPERATING-SYSTEM``
  package) and every package.
* every package: an SPDXID made only of ``[A-Za-z0-9.-]`` and unique in the document,
  ``versionInfo``, ``downloadLocation`` NOASSERTION (we read installed packages, not
  where they came from), the purl as a ``PACKAGE-MANAGER`` external reference, and
  ``licenseDeclared`` — an SPDX expression where the package's licences are SPDX, with a
  ``LicenseRef-`` carrying the original text for each one that is not, NOASSERTION when
  there is none. Where the package was found and its source package are told in
  ``sourceInfo`` (annotations would be the structured place, but spdx-tools writes them
  in time quadratic in their number; the CycloneDX output has them as properties).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import IO, Any

from spdx_tools.common.spdx_licensing import spdx_licensing
from spdx_tools.spdx.jsonschema.document_converter import DocumentConverter
from spdx_tools.spdx.model.actor import Actor, ActorType
from spdx_tools.spdx.model.document import CreationInfo, Document
from spdx_tools.spdx.model.extracted_licensing_info import ExtractedLicensingInfo
from spdx_tools.spdx.model.package import (
    ExternalPackageRef,
    ExternalPackageRefCategory,
    PackagePurpose,
)
from spdx_tools.spdx.model.package import Package as SpdxPackage
from spdx_tools.spdx.model.relationship import Relationship, RelationshipType
from spdx_tools.spdx.model.spdx_no_assertion import SpdxNoAssertion

from stockade import __version__
from stockade.core.errors import ReportError
from stockade.core.models import ArtifactInfo, Inventory, OSInfo, Package
from stockade.report.cyclonedx import (
    IMAGE_KINDS,
    image_purl,
    is_compound,
    spdx_license_expression,
    unique_refs,
)
from stockade.report.interface import Renderer

SPDX_VERSION = "SPDX-2.3"
DOCUMENT_ID = "SPDXRef-DOCUMENT"
NAMESPACE_BASE = "https://spdx.org/spdxdocs/"

_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9.-]+")
_LONGEST_ID_PART = 64


def safe_id_part(text: str) -> str:
    """``text`` reduced to the characters SPDX allows in an identifier."""
    return _UNSAFE_ID_CHARS.sub("-", text).strip("-")[:_LONGEST_ID_PART].strip("-")


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]


class _Ids:
    """Hands out SPDX identifiers, never the same one twice in a document."""

    def __init__(self) -> None:
        self._taken: set[str] = {DOCUMENT_ID}

    def claim(self, *parts: str) -> str:
        """``SPDXRef-`` and the parts made safe, with a suffix if it was handed out before."""
        base = "SPDXRef-" + "-".join(p for p in map(safe_id_part, parts) if p)
        candidate = base
        copy = 1
        while candidate in self._taken:
            copy += 1
            candidate = f"{base}-{copy}"
        self._taken.add(candidate)
        return candidate


class _LicenseRefs:
    """``LicenseRef-`` identifiers for licence texts that are not SPDX expressions."""

    def __init__(self) -> None:
        self._by_text: dict[str, str] = {}
        self._taken: set[str] = set()
        self.extracted: list[ExtractedLicensingInfo] = []

    def ref_for(self, text: str) -> str:
        if text in self._by_text:
            return self._by_text[text]
        # A package that names a LicenseRef of its own keeps that name, not a doubled prefix.
        readable = safe_id_part(text.removeprefix("LicenseRef-"))
        ref = f"LicenseRef-{readable or _short_hash(text)}"
        if ref in self._taken:  # another text folded to the same characters
            ref = "-".join(p for p in ("LicenseRef", readable, _short_hash(text)) if p)
        self._by_text[text] = ref
        self._taken.add(ref)
        self.extracted.append(
            ExtractedLicensingInfo(
                license_id=ref,
                extracted_text=text,
                license_name=text,
                comment="licence as the package declares it; not an SPDX identifier",
            )
        )
        return ref


def declared_license(values: Sequence[str], refs: _LicenseRefs) -> Any:
    """The package's licences as one SPDX expression (NOASSERTION when it has none)."""
    distinct = list(dict.fromkeys(v.strip() for v in values if v.strip()))
    parts: list[str] = []
    for raw in distinct:
        expression = spdx_license_expression(raw)
        if expression is None:
            parts.append(refs.ref_for(raw))
        elif is_compound(expression) and len(distinct) > 1:
            parts.append(f"({expression})")
        else:
            parts.append(expression)
    if not parts:
        return SpdxNoAssertion()
    return _parse_expression(" AND ".join(dict.fromkeys(parts)))


@functools.lru_cache(maxsize=4096)
def _parse_expression(expression: str) -> Any:
    # LicenseRef- symbols are unknown to the licence list, so no validation here; the
    # parts were checked one by one above.
    return spdx_licensing.parse(expression)


def document_namespace(artifact_name: str) -> str:
    """A URI unique to this document: the artifact's name and a fresh UUID."""
    return f"{NAMESPACE_BASE}stockade-{safe_id_part(artifact_name) or 'artifact'}-{uuid.uuid4()}"


def _purl_ref(purl: str) -> list[ExternalPackageRef]:
    if not purl:
        return []
    return [ExternalPackageRef(ExternalPackageRefCategory.PACKAGE_MANAGER, "purl", purl)]


def _source_info(pkg: Package) -> str | None:
    """Where the package was found and what it was built from, for a person to read."""
    facts: list[str] = []
    if pkg.locations:
        places = ", ".join(
            f"/{loc.path} (layer {loc.layer})" if loc.layer else f"/{loc.path}"
            for loc in pkg.locations
        )
        facts.append(f"found by stockade at {places}")
    if pkg.source_name:
        version = f" {pkg.source_version}" if pkg.source_version else ""
        facts.append(f"built from source package {pkg.source_name}{version}")
    return "; ".join(facts) or None


def _root_package(artifact: ArtifactInfo, ids: _Ids) -> SpdxPackage:
    if artifact.kind in IMAGE_KINDS:
        purpose = PackagePurpose.CONTAINER
    elif artifact.kind == "zip":
        purpose = PackagePurpose.ARCHIVE
    else:
        purpose = PackagePurpose.FILE
    purl = image_purl(artifact) if artifact.kind in IMAGE_KINDS else None
    return SpdxPackage(
        spdx_id=ids.claim("Artifact", artifact.kind),
        name=artifact.name,
        download_location=SpdxNoAssertion(),
        version=artifact.digest or None,
        files_analyzed=False,
        primary_package_purpose=purpose,
        external_references=_purl_ref(purl.to_string() if purl else ""),
    )


def _os_package(os_info: OSInfo, ids: _Ids) -> SpdxPackage:
    return SpdxPackage(
        spdx_id=ids.claim("OperatingSystem", os_info.distro_qualifier),
        name=os_info.family,
        download_location=SpdxNoAssertion(),
        version=os_info.version or None,
        files_analyzed=False,
        primary_package_purpose=PackagePurpose.OPERATING_SYSTEM,
        description=os_info.pretty_name or None,
    )


def inventory_to_document(inventory: Inventory) -> Document:
    """The inventory as an SPDX document model (created now, with a fresh namespace)."""
    when = datetime.now(UTC).replace(microsecond=0)
    tool = Actor(ActorType.TOOL, f"stockade-{__version__}")
    artifact = inventory.artifact
    ids = _Ids()
    licence_refs = _LicenseRefs()
    root = _root_package(artifact, ids)
    packages: list[SpdxPackage] = [root]
    relationships = [Relationship(DOCUMENT_ID, RelationshipType.DESCRIBES, root.spdx_id)]
    if inventory.os is not None:
        os_package = _os_package(inventory.os, ids)
        packages.append(os_package)
        relationships.append(
            Relationship(root.spdx_id, RelationshipType.CONTAINS, os_package.spdx_id)
        )
    for pkg, ref in zip(inventory.packages, unique_refs(inventory.packages), strict=True):
        # The hash of the (unique) reference keeps ids distinct when names fold together.
        spdx_id = ids.claim("Package", pkg.type.value, pkg.name, _short_hash(ref))
        packages.append(
            SpdxPackage(
                spdx_id=spdx_id,
                name=pkg.name,
                download_location=SpdxNoAssertion(),
                version=pkg.version or None,
                files_analyzed=False,
                source_info=_source_info(pkg),
                license_concluded=SpdxNoAssertion(),
                license_declared=declared_license(pkg.licenses, licence_refs),
                external_references=_purl_ref(pkg.purl),
                primary_package_purpose=PackagePurpose.LIBRARY,
            )
        )
        relationships.append(Relationship(root.spdx_id, RelationshipType.CONTAINS, spdx_id))
    creation = CreationInfo(
        spdx_version=SPDX_VERSION,
        spdx_id=DOCUMENT_ID,
        name=artifact.name or "artifact",
        document_namespace=document_namespace(artifact.name),
        creators=[tool],
        created=when,
    )
    return Document(
        creation_info=creation,
        packages=packages,
        relationships=relationships,
        extracted_licensing_info=licence_refs.extracted,
    )


def render_spdx(inventory: Inventory) -> str:
    """The inventory as SPDX 2.3 JSON text.

    spdx-tools' validator and its de-duplication take time quadratic in the number of
    packages (minutes for a large image), so neither runs here: the tests validate what
    this module builds, for every kind of package data, with ``validate_full_spdx_document``.
    """
    try:
        converter = DocumentConverter()  # type: ignore[no-untyped-call]  # spdx-tools leaves __init__ unannotated
        document: dict[str, Any] = converter.convert(inventory_to_document(inventory))
    except (TypeError, ValueError) as exc:  # spdx-tools checks the type of every field
        raise ReportError(f"cannot render SPDX: {exc}") from exc
    for package in document.get("packages", []):
        for ref in package.get("externalRefs", []):
            # The SPDX 2.3 specification and its release schema spell the categories
            # with a hyphen; spdx-tools writes the SPDX 2.2 underscore, which strict
            # 2.3 validators refuse. Readers (spdx-tools included) accept both.
            ref["referenceCategory"] = ref["referenceCategory"].replace("_", "-")
    return json.dumps(document, indent=2)


class SPDXRenderer(Renderer):
    format = "spdx"

    def render(self, inventory: Inventory, out: IO[str]) -> None:
        # Rendered whole before writing: a failure never leaves half a document behind.
        out.write(render_spdx(inventory))
        out.write("\n")
