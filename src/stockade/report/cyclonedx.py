"""CycloneDX 1.6 JSON, built with cyclonedx-python-lib.

Shape of the document:

* ``metadata.component`` is what was scanned: a ``container`` for images (with a
  ``pkg:oci`` purl when a repository name and a digest are known), a ``file`` for a
  directory or a zip.
* the operating system, when one was found, is an ``operating-system`` component.
* every package is a ``library`` component (OS packages too, as CycloneDX intends) with
  its purl, its licences and ``stockade:`` properties for what the format has no field
  for; where it was found is also given as ``evidence.occurrences`` (a property set is
  sorted, so with several locations only the occurrences keep a path with its layer).
* dependencies: the scanned artifact depends on the OS and on the application packages,
  the OS on its packages. Package-to-package edges are not known yet.

Bom-refs are the purl when that is unique in the document, and are made unique otherwise:
the engine merges identical packages, but an inventory built by other code may not.

Licences are classified once, by :func:`spdx_license_expression`, for both this renderer
and the SPDX one, so the two formats agree on what is an SPDX expression.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Sequence
from typing import IO

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.exception import CycloneDxException
from cyclonedx.model import Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.component_evidence import ComponentEvidence, Occurrence
from cyclonedx.model.dependency import Dependency
from cyclonedx.model.license import License
from cyclonedx.model.tool import ToolRepository
from cyclonedx.schema.schema import SchemaVersion1Dot6
from cyclonedx.spdx import fixup_id
from license_expression import (  # type: ignore[import-untyped]  # the library ships no type hints
    get_spdx_licensing,
)
from packageurl import PackageURL

from stockade import __version__
from stockade.core.errors import ReportError
from stockade.core.models import ArtifactInfo, Inventory, OSInfo, Package
from stockade.report.interface import Renderer

SPEC_VERSION = "1.6"
PROPERTY_PREFIX = "stockade:"
IMAGE_KINDS = frozenset({"docker-archive", "oci", "registry"})

ROOT_REF = "stockade:artifact"
"""Bom-ref of the scanned artifact; cannot collide with a purl (those start ``pkg:``)."""

_OPERATORS = frozenset({"AND", "OR", "WITH"})
_TOKEN = re.compile(r"[^\s()]+")
_SPDX_LICENSING = get_spdx_licensing()


@functools.lru_cache(maxsize=4096)  # an image repeats a few dozen licences thousands of times
def spdx_license_expression(text: str) -> str | None:
    """``text`` as a canonical SPDX licence expression, or None when it is not one.

    Every licence and exception token must be an identifier of the SPDX licence list
    (matched without regard to case, as SPDX requires) and the whole must parse as an
    expression, so ``apache-2.0 or mit`` becomes ``Apache-2.0 OR MIT`` while
    ``GPLv2+ and LGPL`` is refused. The license-expression library alone would also
    accept aliases such as ``GPL`` and rewrite them to an identifier the package never
    named; a declared licence must not be guessed, so tokens are checked first.
    """
    if not text.strip():
        return None
    invalid = False

    def canonical(match: re.Match[str]) -> str:
        nonlocal invalid
        token = match.group(0)
        if token.upper() in _OPERATORS:
            return token.upper()
        known = fixup_id(token)
        if known is None:
            invalid = True
            return token
        return known

    expression = _without_outer_parentheses(" ".join(_TOKEN.sub(canonical, text).split()))
    if invalid:
        return None
    try:
        _SPDX_LICENSING.parse(expression, validate=True, strict=True)
    except Exception:  # ExpressionError, or a bare error on odd input: not SPDX either
        return None
    return expression


def _without_outer_parentheses(expression: str) -> str:
    """``(A OR B)`` as ``A OR B``: the parentheses are added back where it is combined."""
    while expression.startswith("(") and expression.endswith(")"):
        depth = 0
        for index, char in enumerate(expression):
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth == 0 and index < len(expression) - 1:
                return expression  # the first "(" closes early: "(A) AND (B)"
        expression = expression[1:-1].strip()
    return expression


def is_compound(expression: str) -> bool:
    """Whether a canonical expression is more than one identifier."""
    return " " in expression or "(" in expression


def _licenses(values: Sequence[str]) -> list[License]:
    """CycloneDX licences for a package's licence strings.

    The schema allows either licences (by SPDX id or by name) or one expression, never
    both, so several strings that are all SPDX become one ``AND`` expression and any
    string that is not SPDX turns the whole list into licences by id or by name.
    """
    factory = LicenseFactory()
    distinct = list(dict.fromkeys(v.strip() for v in values if v.strip()))
    classified = [(raw, spdx_license_expression(raw)) for raw in distinct]
    expressions = list(dict.fromkeys(expr for _, expr in classified if expr is not None))
    if not classified:
        return []
    if all(expr is not None for _, expr in classified):
        if not any(is_compound(e) for e in expressions):
            return [factory.make_with_id(e) for e in expressions]
        joined = " AND ".join(f"({e})" if is_compound(e) else e for e in expressions)
        return [factory.make_with_expression(expressions[0] if len(expressions) == 1 else joined)]
    return [
        factory.make_with_id(expr)
        if expr is not None and not is_compound(expr)
        else factory.make_with_name(raw)
        for raw, expr in classified
    ]


def _properties(pairs: Iterable[tuple[str, str | None]]) -> list[Property]:
    return [Property(name=PROPERTY_PREFIX + name, value=value) for name, value in pairs if value]


def _package_properties(pkg: Package) -> list[Property]:
    pairs: list[tuple[str, str | None]] = [
        ("package:type", pkg.type.value),
        ("package:arch", pkg.arch),
        ("package:epoch", None if pkg.epoch is None else str(pkg.epoch)),
        ("package:source-name", pkg.source_name),
        ("package:source-version", pkg.source_version),
        ("package:cataloger", pkg.cataloger),
        ("package:dev", "true" if pkg.dev else None),
    ]
    for loc in pkg.locations:
        pairs.append(("location:path", "/" + loc.path))
        pairs.append(("location:layer", loc.layer))
    return _properties(pairs)


def _evidence(pkg: Package) -> ComponentEvidence | None:
    if not pkg.locations:
        return None
    return ComponentEvidence(
        occurrences=[
            Occurrence(
                location="/" + loc.path,
                additional_context=f"layer {loc.layer}" if loc.layer else None,
            )
            for loc in pkg.locations
        ]
    )


def _purl(text: str, *, what: str) -> PackageURL | None:
    if not text:
        return None
    try:
        return PackageURL.from_string(text)
    except ValueError as exc:
        raise ReportError(
            f"{what}: {text!r} is not a valid purl ({exc})",
            hint="this is a bug in the cataloger that produced the package; please report it",
        ) from exc


def unique_refs(packages: Sequence[Package]) -> list[str]:
    """One reference per package, the purl where that is unique, distinct in any case."""
    refs: list[str] = []
    taken: set[str] = set()
    for pkg in packages:
        base = pkg.purl or f"stockade:package:{pkg.type.value}:{pkg.name}@{pkg.version}"
        ref = base
        copy = 1
        while ref in taken:
            copy += 1
            ref = f"{base}#{copy}"
        taken.add(ref)
        refs.append(ref)
    return refs


def split_image_reference(reference: str) -> tuple[str, str | None, str | None]:
    """``registry/repo:tag`` or ``repo@sha256:…`` as (repository, tag, digest)."""
    digest: str | None = None
    if "@" in reference:
        reference, digest = reference.split("@", 1)
    tag: str | None = None
    last_colon = reference.rfind(":")
    if last_colon > reference.rfind("/"):
        reference, tag = reference[:last_colon], reference[last_colon + 1 :]
    return reference, tag, digest


def image_purl(artifact: ArtifactInfo) -> PackageURL | None:
    """``pkg:oci/NAME@DIGEST?repository_url=…&tag=…&arch=…`` for an image, when known.

    The version is the manifest digest from a repo digest where there is one, else the
    image id: a local image saved without ever being pushed has only the latter. Without
    a repository name (an untagged, unpushed image) there is no name for the purl.
    """
    repository: str | None = None
    digest: str | None = None
    tag: str | None = None
    for ref in artifact.repo_digests:
        repository, _, digest = split_image_reference(ref)
        if digest:
            break
    for ref in artifact.repo_tags:
        tagged_repo, tag, _ = split_image_reference(ref)
        repository = repository or tagged_repo
        if tagged_repo == repository:
            break
    digest = digest or artifact.digest
    if not repository or not digest:
        return None
    qualifiers = {"repository_url": repository}
    if tag:
        qualifiers["tag"] = tag
    if artifact.architecture:
        qualifiers["arch"] = artifact.architecture
    name = repository.rsplit("/", 1)[-1].lower()
    return PackageURL(type="oci", name=name, version=digest, qualifiers=qualifiers)


def _artifact_properties(artifact: ArtifactInfo) -> list[Property]:
    pairs: list[tuple[str, str | None]] = [
        ("artifact:type", artifact.kind),
        ("image:id", artifact.digest),
        ("image:architecture", artifact.architecture),
        ("image:os", artifact.os),
    ]
    pairs += [("image:tag", t) for t in artifact.repo_tags]
    pairs += [("image:repo-digest", d) for d in artifact.repo_digests]
    pairs += [("image:diff-id", layer.diff_id) for layer in artifact.layers]
    return _properties(pairs)


def _root_component(artifact: ArtifactInfo) -> Component:
    if artifact.kind in IMAGE_KINDS:
        return Component(
            type=ComponentType.CONTAINER,
            name=artifact.name,
            version=artifact.digest,
            bom_ref=ROOT_REF,
            purl=image_purl(artifact),
            properties=_artifact_properties(artifact),
        )
    return Component(
        type=ComponentType.FILE,
        name=artifact.name,
        bom_ref=ROOT_REF,
        properties=_artifact_properties(artifact),
    )


def _os_component(os_info: OSInfo) -> Component:
    return Component(
        type=ComponentType.OPERATING_SYSTEM,
        name=os_info.family,
        version=os_info.version or None,
        description=os_info.pretty_name or None,
        bom_ref=f"stockade:os:{os_info.distro_qualifier}",
        properties=_properties([("os:codename", os_info.codename)]),
    )


def _package_component(pkg: Package, ref: str) -> Component:
    return Component(
        type=ComponentType.LIBRARY,
        name=pkg.name,
        group=pkg.namespace or None,
        version=pkg.version or None,
        bom_ref=ref,
        purl=_purl(pkg.purl, what=pkg.name),
        licenses=_licenses(pkg.licenses),
        properties=_package_properties(pkg),
        evidence=_evidence(pkg),
    )


def inventory_to_bom(inventory: Inventory) -> Bom:
    """The inventory as a CycloneDX document model (timestamp and serial number: now)."""
    tool = Component(
        type=ComponentType.APPLICATION,
        name="stockade",
        version=__version__,
        bom_ref="stockade:tool",
    )
    root = _root_component(inventory.artifact)
    os_component = _os_component(inventory.os) if inventory.os else None
    os_packages: list[Component] = []
    app_packages: list[Component] = []
    for pkg, ref in zip(inventory.packages, unique_refs(inventory.packages), strict=True):
        component = _package_component(pkg, ref)
        (os_packages if pkg.type.is_os else app_packages).append(component)

    # The graph is built here in one pass: Bom.register_dependency searches the whole
    # graph on every call, which is quadratic and takes minutes on a large image.
    dependencies = [Dependency(ref=c.bom_ref) for c in (*os_packages, *app_packages)]
    direct = [*os_packages, *app_packages]
    if os_component is not None:
        dependencies.append(_depends(os_component, os_packages))
        direct = [os_component, *app_packages]
    if direct:
        dependencies.append(_depends(root, direct))
    components = [*os_packages, *app_packages]
    if os_component is not None:
        components.append(os_component)
    return Bom(
        metadata=BomMetaData(tools=ToolRepository(components=[tool]), component=root),
        components=components,
        dependencies=dependencies,
    )


def _depends(component: Component, on: Iterable[Component]) -> Dependency:
    return Dependency(ref=component.bom_ref, dependencies=[Dependency(ref=c.bom_ref) for c in on])


def render_cyclonedx(inventory: Inventory) -> str:
    """The inventory as CycloneDX 1.6 JSON text."""
    try:
        bom = inventory_to_bom(inventory)
        # What JsonV1Dot6.output_as_string does, less Bom.validate(): that deprecated check
        # is quadratic in the number of components, and what it checks holds by
        # construction here (every component is in the graph, no licence expression sits
        # beside other licences); the tests validate the output against the 1.6 schema.
        text = bom.as_json(view_=SchemaVersion1Dot6)  # type: ignore[attr-defined]  # added by py-serializable
    except CycloneDxException as exc:
        raise ReportError(f"cannot render CycloneDX: {exc}") from exc
    document = json.loads(text)
    header = {
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
    }
    return json.dumps({**header, **document}, indent=2)


class CycloneDXRenderer(Renderer):
    format = "cyclonedx"

    def render(self, inventory: Inventory, out: IO[str]) -> None:
        # Rendered whole before writing: a failure never leaves half a document behind.
        out.write(render_cyclonedx(inventory))
        out.write("\n")
