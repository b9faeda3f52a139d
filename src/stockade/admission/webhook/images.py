"""Images of a pod: where they come from, how they are pinned, what a scan found in them.

Pure: :func:`normalise_image` and :class:`VulnerabilityIndex` take data; the scan
results are read from disk by :func:`load_scan_results`, the one function here with I/O.

A scan result is the JSON of ``stockade scan IMAGE -f json`` (``schemaVersion`` 1). Each
file is indexed under every name the image is known by: ``artifact.name``,
``artifact.repoTags``, ``artifact.repoDigests`` and the digests in those, all
normalised, so a pod that names ``nginx:1.27`` finds the result of a scan of
``docker.io/library/nginx:1.27`` and one pinned ``@sha256:…`` finds it by digest.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from stockade.admission.webhook.errors import WebhookConfigError
from stockade.compliance.kubernetes.podspec import parse_image
from stockade.core.advisory import Severity
from stockade.policy.images import has_digest, is_trusted, normalise_reference

__all__ = [
    "DEFAULT_REGISTRY",
    "ImageVulnerabilities",
    "VulnerabilityIndex",
    "has_digest",
    "is_trusted",
    "load_scan_results",
    "normalise_image",
]

DEFAULT_REGISTRY: Final = "docker.io"
MAX_SCAN_FILE_BYTES: Final = 64 * 1024 * 1024
MAX_SCAN_FILES: Final = 10_000


def normalise_image(reference: str) -> str:
    """The reference as the runtime resolves it: ``nginx`` → ``docker.io/library/nginx:latest``."""
    return normalise_reference(reference)


@dataclass(frozen=True, slots=True)
class ImageVulnerabilities:
    """The active (not suppressed) findings of one scanned image, by severity."""

    image: str
    counts: Mapping[Severity, int]
    worst_ids: tuple[str, ...]
    """Up to five advisory ids, worst first, to name in a message."""
    source: str = ""

    def at_or_above(self, severity: Severity) -> int:
        return sum(n for s, n in self.counts.items() if s >= severity)

    def ids_at_or_above(self, severity: Severity) -> tuple[str, ...]:
        return self.worst_ids if self.at_or_above(severity) else ()


@dataclass(frozen=True, slots=True)
class VulnerabilityIndex:
    """Scan results keyed by every name and digest of each image."""

    by_name: Mapping[str, ImageVulnerabilities]
    by_digest: Mapping[str, ImageVulnerabilities]

    @classmethod
    def empty(cls) -> VulnerabilityIndex:
        return cls({}, {})

    def __len__(self) -> int:
        return len({id(v) for v in (*self.by_name.values(), *self.by_digest.values())})

    def lookup(self, reference: str) -> ImageVulnerabilities | None:
        ref = parse_image(reference)
        if ref.digest is not None and ref.digest in self.by_digest:
            return self.by_digest[ref.digest]
        normal = normalise_image(reference)
        found = self.by_name.get(normal)
        if found is None and ref.digest is not None:
            # A name pinned by digest but scanned by tag: the tag part is not comparable.
            found = self.by_name.get(normal.partition("@")[0])
        return found

    @classmethod
    def from_documents(cls, documents: Iterable[tuple[str, Any]]) -> VulnerabilityIndex:
        """An index of (source name, parsed scan JSON) pairs; unusable documents raise."""
        by_name: dict[str, ImageVulnerabilities] = {}
        by_digest: dict[str, ImageVulnerabilities] = {}
        for source, document in documents:
            entry, names, digests = _entry(source, document)
            for name in names:
                by_name[name] = entry
            for digest in digests:
                by_digest[digest] = entry
        return cls(by_name, by_digest)


def _entry(source: str, document: Any) -> tuple[ImageVulnerabilities, set[str], set[str]]:
    if not isinstance(document, Mapping) or document.get("schemaVersion") != 1:
        raise WebhookConfigError(
            f"{source}: not a `stockade scan -f json` result (schemaVersion 1)"
        )
    artifact = document.get("artifact")
    findings = document.get("findings")
    if not isinstance(artifact, Mapping) or not isinstance(findings, list):
        raise WebhookConfigError(f"{source}: artifact or findings missing")
    names: set[str] = set()
    digests: set[str] = set()
    candidates = [artifact.get("name")]
    for key in ("repoTags", "repoDigests"):
        listed = artifact.get(key)
        if isinstance(listed, list):
            candidates.extend(listed)
    for candidate in candidates:
        if not isinstance(candidate, str) or not candidate or "/" in candidate[:1]:
            continue  # a file path (an image tarball's name) is no image reference
        ref = parse_image(candidate)
        if ref.digest is not None:
            digests.add(ref.digest)
        names.add(normalise_image(candidate))
    if not names and not digests:
        raise WebhookConfigError(
            f"{source}: the scanned artifact has no image name, tag or digest",
            hint="scan the image by reference, or a tarball that records its repo tags",
        )
    counts: dict[Severity, int] = {}
    active: list[tuple[Severity, str]] = []
    for finding in findings:
        if not isinstance(finding, Mapping) or finding.get("suppressed") is True:
            continue
        severity = Severity.parse(str(finding.get("severity") or ""))
        counts[severity] = counts.get(severity, 0) + 1
        advisory = finding.get("id")
        if isinstance(advisory, str):
            active.append((severity, advisory))
    worst = tuple(dict.fromkeys(a for _, a in sorted(active, key=lambda p: (-p[0], p[1]))))[:5]
    image = sorted(names)[0] if names else sorted(digests)[0]
    return ImageVulnerabilities(image, counts, worst, source), names, digests


def load_scan_results(directory: Path) -> VulnerabilityIndex:
    """Every ``*.json`` scan result under ``directory`` (not following links to folders)."""
    if not directory.is_dir():
        raise WebhookConfigError(
            f"scan results folder {directory} does not exist or is not a directory"
        )
    documents: list[tuple[str, Any]] = []
    for root, folders, files in os.walk(directory):
        folders.sort()
        for name in sorted(files):
            if not name.endswith(".json"):
                continue
            if len(documents) >= MAX_SCAN_FILES:
                raise WebhookConfigError(
                    f"more than {MAX_SCAN_FILES} scan results under {directory}"
                )
            path = Path(root, name)
            documents.append((str(path), _read_json(path)))
    return VulnerabilityIndex.from_documents(documents)


def _read_json(path: Path) -> Any:
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_SCAN_FILE_BYTES + 1)
    except OSError as exc:
        raise WebhookConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(data) > MAX_SCAN_FILE_BYTES:
        raise WebhookConfigError(f"{path} is over {MAX_SCAN_FILE_BYTES} bytes")
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise WebhookConfigError(f"{path} is not JSON: {exc}") from None
