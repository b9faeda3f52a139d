"""Scanning artifacts for secrets: images layer by layer, directories, zip packages.

Every layer of a :class:`~stockade.artifact.interface.Source` is walked in order and each
regular file is read in chunks of about 100 kB (extended to the next newline when one is
near, as gitleaks does), so memory stays flat whatever the file size. A file is skipped
when a global allowlist names its path, when it is larger than
:attr:`ScanOptions.max_file_bytes`, or when it looks binary (a NUL byte in its first
8 KiB, or the magic number of an executable, archive or compressed stream). A file whose
scan runs past :attr:`ScanOptions.file_timeout` keeps what was found so far and is
reported in the warnings.

Findings are then squashed as the container runtime squashes layers: a whiteout deletes
a path (and everything below it), an opaque directory hides what earlier layers put below
it, and a later entry at the same path replaces the earlier file — its findings go with
it. Set :attr:`ScanOptions.include_removed` to keep those too: the bytes of a file that a
later layer deletes are still in the image for anyone who unpacks that layer.
"""

from __future__ import annotations

import codecs
import functools
import os
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import IO, Final

from stockade.artifact.interface import Entry, EntryType, Limits, Source
from stockade.compliance.interface import SecretFinding
from stockade.compliance.secrets.config import load_rules
from stockade.compliance.secrets.detect import Detection, Detector
from stockade.compliance.secrets.engine import Deadline, DeadlineExceeded, Engine
from stockade.compliance.secrets.model import RuleSet
from stockade.core.errors import ArtifactError, UnsafeArtifactError

DEFAULT_MAX_FILE_BYTES: Final = 10 * 1024**2
DEFAULT_FILE_TIMEOUT: Final = 60.0
DEFAULT_MAX_FINDINGS_PER_FILE: Final = 1000
CHUNK_BYTES: Final = 100_000
PEEK_BYTES: Final = 25_000
"""How far past a chunk to look for a newline to end it on (else it is cut there)."""
SNIFF_BYTES: Final = 8192

_BINARY_MAGIC: Final = (
    b"\x7fELF",  # ELF executables and libraries
    b"MZ",  # PE executables
    b"\xcf\xfa\xed\xfe",  # Mach-O
    b"\xca\xfe\xba\xbe",  # Mach-O fat binary, Java class
    b"PK\x03\x04",  # zip, jar, wheel
    b"\x1f\x8b",  # gzip
    b"BZh",  # bzip2
    b"\xfd7zXZ\x00",  # xz
    b"\x28\xb5\x2f\xfd",  # zstd
    b"7z\xbc\xaf\x27\x1c",  # 7-zip
    b"Rar!\x1a\x07",  # rar
    b"%PDF-",  # PDF
    b"SQLite format 3\x00",  # SQLite
    b"\x89PNG",  # PNG
    b"GIF8",  # GIF
    b"\xff\xd8\xff",  # JPEG
)

SKIP_REASONS: Final = ("allowlisted", "binary", "too large", "timed out", "unreadable")


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """Bounds and choices of a secret scan."""

    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    """Larger files are not read (only rules that match on the path alone apply)."""
    file_timeout: float | None = DEFAULT_FILE_TIMEOUT
    """Seconds one file may take; then its scan stops with a warning (None: no limit)."""
    max_findings_per_file: int = DEFAULT_MAX_FINDINGS_PER_FILE
    """More findings than this in one file stop its scan (with a warning): a file with
    thousands of matches is generated or hostile, and the first ones tell the story."""
    include_removed: bool = False
    """Also report secrets in files that a later layer deletes or replaces."""
    engine: str = "auto"
    """Regular-expression engine: ``auto`` (RE2 when installed), ``re2`` or ``python``."""


@dataclass(frozen=True, slots=True)
class SecretScanResult:
    findings: tuple[SecretFinding, ...]
    warnings: tuple[str, ...] = ()
    files: int = 0
    """Files whose content was scanned."""
    bytes: int = 0
    """Bytes of content scanned."""
    skipped: Mapping[str, int] = field(default_factory=dict)
    """Files not scanned, by reason (see :data:`SKIP_REASONS`)."""
    engine: str = ""


def is_binary(head: bytes) -> bool:
    """Whether the first bytes of a file say it is not text."""
    return b"\x00" in head[:SNIFF_BYTES] or head.startswith(_BINARY_MAGIC)


def to_finding(detection: Detection, path: str, layer: str | None) -> SecretFinding:
    entropy = None if detection.entropy is None else round(detection.entropy, 3)
    return SecretFinding(
        rule_id=detection.rule.id,
        description=detection.rule.description,
        file=path,
        line=detection.line,
        redacted=detection.redacted,
        layer=layer,
        entropy=entropy,
        tags=detection.rule.tags,
    )


@dataclass(slots=True)
class _Stats:
    files: int = 0
    bytes: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    warn: Callable[[str], None] | None = None

    def warning(self, message: str) -> None:
        self.warnings.append(message)
        if self.warn is not None:
            self.warn(message)


class _Squash:
    """Findings by path, as the layers so far leave the filesystem."""

    def __init__(self) -> None:
        self.current: dict[str, list[SecretFinding]] = {}

    def _drop(self, path: str, *, below_only: bool = False) -> list[SecretFinding]:
        prefix = path + "/" if path else ""
        gone = [
            key
            for key in self.current
            if key.startswith(prefix) or (key == path and not below_only)
        ]
        return [finding for key in gone for finding in self.current.pop(key)]

    def apply(self, entry: Entry) -> list[SecretFinding]:
        """Apply ``entry`` of a later layer to the earlier layers' files; what it removes."""
        if entry.type is EntryType.OPAQUE:
            return self._drop(entry.path, below_only=True)
        if entry.type is EntryType.DIR:
            # A directory replaces a file at its path; over a directory it merges.
            return self.current.pop(entry.path, [])
        return self._drop(entry.path)  # a whiteout, or a file or link put in its place


def _chunks(stream: IO[bytes], limit: int) -> Iterator[bytes]:
    """The stream in ~``CHUNK_BYTES`` pieces, each ended on a newline when one is near."""
    carry = b""
    total = 0
    while True:
        data = carry + stream.read(CHUNK_BYTES)
        carry = b""
        if not data:
            return
        if not data.endswith(b"\n"):
            more = stream.read(PEEK_BYTES)
            cut = more.find(b"\n")
            if cut >= 0:
                data, carry = data + more[: cut + 1], more[cut + 1 :]
            else:
                data += more
        total += len(data)
        if total > limit:
            raise _TooLarge
        yield data


class _TooLarge(Exception):
    pass


def _scan_content(
    entry: Entry,
    detector: Detector,
    options: ScanOptions,
    stats: _Stats,
) -> list[Detection]:
    path = entry.path
    deadline = Deadline.after(options.file_timeout) if options.file_timeout is not None else None
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    found: list[Detection] = []
    line = 1
    scanned = 0
    try:
        with entry.open() as stream:
            for number, chunk in enumerate(_chunks(stream, options.max_file_bytes)):
                if number == 0 and is_binary(chunk):
                    stats.skipped["binary"] += 1
                    return found
                text = decoder.decode(chunk)
                scanned += len(chunk)
                found.extend(detector.detect(text, path, first_line=line, deadline=deadline))
                line += text.count("\n")
                if len(found) > options.max_findings_per_file:
                    del found[options.max_findings_per_file :]
                    stats.warning(
                        f"{path}: more than {options.max_findings_per_file} findings; the "
                        f"scan of this file stopped at line {line}"
                    )
                    break
    except DeadlineExceeded:
        stats.skipped["timed out"] += 1
        stats.warning(
            f"{path}: secret scan stopped after {options.file_timeout:g}s at line {line}; "
            "findings before that are kept (install google-re2 for linear-time matching)"
        )
    except _TooLarge:
        stats.skipped["too large"] += 1
        stats.warning(f"{path}: grew past {options.max_file_bytes} bytes while read; not scanned")
        return []
    except UnsafeArtifactError:
        raise
    except (ArtifactError, OSError) as exc:
        stats.skipped["unreadable"] += 1
        stats.warning(f"{path}: cannot be read for the secret scan ({exc})")
        return found
    stats.files += 1
    stats.bytes += scanned
    return found


def _scan_file(
    entry: Entry, detector: Detector, options: ScanOptions, stats: _Stats
) -> list[Detection]:
    path = entry.path
    if detector.file_allowed(path):
        stats.skipped["allowlisted"] += 1
        return []
    found = detector.detect_path(path) if entry.size > 0 else []
    if entry.size > options.max_file_bytes:
        stats.skipped["too large"] += 1
        return found
    if entry.size == 0:
        return found
    return found + _scan_content(entry, detector, options, stats)


def scan_source(
    source: Source,
    rules: RuleSet | Detector | None = None,
    *,
    options: ScanOptions | None = None,
    limits: Limits | None = None,
    warn: Callable[[str], None] | None = None,
) -> SecretScanResult:
    """Scan every layer of ``source``; findings of the squashed filesystem (see module)."""
    options = options or ScanOptions()
    limits = limits or Limits()
    detector = rules if isinstance(rules, Detector) else Detector(rules, options.engine)
    stats = _Stats(warn=warn)
    squash = _Squash()
    removed: list[SecretFinding] = []
    for layer in source.layers():
        layer_id = layer.info.diff_id
        found: dict[str, list[SecretFinding]] = {}
        for entry in layer.walk(limits):
            if squash.current:
                gone = squash.apply(entry)
                if options.include_removed:
                    removed.extend(gone)
            if entry.type is EntryType.FILE:
                detections = _scan_file(entry, detector, options, stats)
                found[entry.path] = [to_finding(d, entry.path, layer_id) for d in detections]
            elif entry.type is EntryType.HARDLINK:
                found[entry.path] = [
                    replace(f, file=entry.path) for f in found.get(entry.linkname, [])
                ]
        squash.current.update((path, items) for path, items in found.items() if items)
    findings = [f for items in squash.current.values() for f in items] + removed
    findings.sort(key=lambda f: (f.file, f.line, f.rule_id, f.layer or ""))
    return SecretScanResult(
        findings=tuple(findings),
        warnings=tuple(stats.warnings),
        files=stats.files,
        bytes=stats.bytes,
        skipped=dict(stats.skipped),
        engine=detector.engine.name,
    )


def scan_target(
    target: str,
    *,
    rules: RuleSet | None = None,
    config: str | os.PathLike[str] | None = None,
    artifact_type: str | None = None,
    options: ScanOptions | None = None,
    limits: Limits | None = None,
    warn: Callable[[str], None] | None = None,
    artifact_options: Mapping[str, object] | None = None,
) -> SecretScanResult:
    """Open ``target`` (image tarball, OCI layout, registry reference, directory, zip; type
    detected unless given) and scan it: what ``stockade check secrets TARGET`` runs.

    ``config`` is a gitleaks TOML file; without it (and without ``rules``) the default
    rules apply. ``artifact_options`` go to ``open_artifact`` (``platform``, registry
    credentials).
    """
    from stockade.artifact.detect import open_artifact

    if rules is None:
        rules = load_rules(config)
    with open_artifact(target, artifact_type, **dict(artifact_options or {})) as source:
        return scan_source(source, rules, options=options, limits=limits, warn=warn)


def scan_secrets(
    source: Source | str | os.PathLike[str],
    rules: RuleSet | None = None,
    *,
    options: ScanOptions | None = None,
) -> list[SecretFinding]:
    """Secrets in ``source`` (a :class:`Source`, or a path to open as one)."""
    if isinstance(source, Source):
        return list(scan_source(source, rules, options=options).findings)
    return list(scan_target(os.fspath(source), rules=rules, options=options).findings)


@functools.lru_cache(maxsize=8)
def _cached_detector(rules: RuleSet | None, engine: str) -> Detector:
    return Detector(rules, engine)


def scan_text(
    text: str,
    path: str = "",
    rules: RuleSet | None = None,
    *,
    engine: str | Engine = "auto",
) -> list[SecretFinding]:
    """Secrets in a string (a config value, an environment variable), as one fragment."""
    detector = (
        _cached_detector(rules, engine) if isinstance(engine, str) else Detector(rules, engine)
    )
    detections = detector.detect_path(path) if path else []
    detections += detector.detect(text, path)
    return [to_finding(d, path, None) for d in detections]
