"""Walks an artifact's layers, runs catalogers on wanted files, squashes the results.

Each layer is analysed on its own (in worker processes when there are several), giving
packages keyed by the path they were found in. Results are then applied in layer order
as the container runtime would apply the layers: a later file replaces an earlier one,
whiteouts delete, opaque directories hide everything below them from earlier layers.
Only results are kept, never file contents, so memory does not grow with image size.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from typing import IO, cast

from stockade.artifact.interface import Entry, EntryType, Layer, Limits, Source
from stockade.core.errors import CatalogError, StockadeError, UnsafeArtifactError
from stockade.core.models import Digest, Inventory, Location, OSInfo, Package
from stockade.inventory.interface import (
    CatalogContext,
    Cataloger,
    CatalogResult,
    FileContent,
)
from stockade.inventory.purls import with_purl

ProgressCallback = Callable[[int, int], None]
"""Called with (layers done, layers total)."""


@dataclass(slots=True)
class LayerResult:
    diff_id: Digest | None
    found: dict[str, list[CatalogResult]] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    """Paths whited out by this layer (files or whole directories)."""
    opaque: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    entries: int = 0
    bytes: int = 0


def analyze_layer(
    layer: Layer,
    catalogers: Sequence[Cataloger],
    ctx: CatalogContext,
    limits: Limits,
) -> LayerResult:
    """Run every cataloger over one layer's wanted files."""
    result = LayerResult(diff_id=layer.info.diff_id)
    # Hard links name an earlier member of the same layer; keep what it gave.
    by_path: dict[str, list[CatalogResult]] = {}
    for entry in layer.walk(limits):
        result.entries += 1
        if entry.type is EntryType.WHITEOUT:
            result.deleted.append(entry.path)
            _forget(result.found, entry.path)
            continue
        if entry.type is EntryType.OPAQUE:
            result.opaque.append(entry.path)
            continue
        if entry.type is EntryType.HARDLINK:
            if entry.linkname in by_path:
                result.found[entry.path] = by_path[entry.linkname]
            continue
        if entry.type is not EntryType.FILE:
            continue
        result.bytes += entry.size
        wanted = [c for c in catalogers if c.wants(entry.path, entry.size, entry.mode, ctx)]
        if not wanted:
            continue
        outcomes = _parse_entry(entry, wanted, ctx, limits, result.warnings)
        by_path[entry.path] = outcomes
        if outcomes:
            result.found[entry.path] = outcomes
        else:
            result.found.pop(entry.path, None)
    return result


def _parse_entry(
    entry: Entry,
    wanted: Sequence[Cataloger],
    ctx: CatalogContext,
    limits: Limits,
    warnings: list[str],
) -> list[CatalogResult]:
    if entry.size > limits.max_file_bytes:
        warnings.append(
            f"{entry.path}: {entry.size} bytes is over the per-file limit "
            f"({limits.max_file_bytes}); not catalogued"
        )
        return []
    outcomes: list[CatalogResult] = []
    with entry.open() as stream:
        if len(wanted) == 1:
            views: Iterator[IO[bytes]] = iter([stream])
        else:
            # Several catalogers want the same file (executables: Go and Rust both look):
            # copy it once into a seekable buffer, in memory when small, so each gets
            # the bytes from the start and can jump to the parts it needs.
            views = _rewound(_spool(stream, limits.max_file_bytes), len(wanted))
        for cataloger, view in zip(wanted, views, strict=True):
            content = FileContent(entry.path, entry.size, view, limits.max_file_bytes)
            try:
                outcome = cataloger.parse(content, ctx)
            except CatalogError as exc:
                warnings.append(f"{entry.path}: {exc.message}")
                continue
            warnings.extend(f"{entry.path}: {w}" for w in outcome.warnings)
            if outcome.packages or outcome.os or outcome.facts:
                outcomes.append(replace(outcome, warnings=(), producer=cataloger.name))
    return outcomes


_SPOOL_IN_MEMORY_BYTES = 16 << 20
"""Files shared by several catalogers stay in memory up to this size, then spill."""


def _spool(stream: IO[bytes], limit: int) -> IO[bytes]:
    buffer = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY_BYTES)  # noqa: SIM115
    copied = 0
    while copied < limit:
        chunk = stream.read(min(1 << 20, limit - copied))
        if not chunk:
            break
        buffer.write(chunk)
        copied += len(chunk)
    return cast(IO[bytes], buffer)


def _rewound(buffer: IO[bytes], times: int) -> Iterator[IO[bytes]]:
    with buffer:
        for _ in range(times):
            buffer.seek(0)
            yield buffer


def _forget(found: dict[str, list[CatalogResult]], path: str) -> None:
    prefix = path + "/"
    for key in [k for k in found if k == path or k.startswith(prefix)]:
        del found[key]


@dataclass(slots=True)
class _Squashed:
    results: dict[str, tuple[Digest | None, list[CatalogResult]]] = field(default_factory=dict)

    def apply(self, layer: LayerResult) -> None:
        for path in layer.opaque:
            prefix = path + "/" if path else ""
            for key in [k for k in self.results if k.startswith(prefix)]:
                del self.results[key]
        for path in layer.deleted:
            prefix = path + "/"
            for key in [k for k in self.results if k == path or k.startswith(prefix)]:
                del self.results[key]
        for path, outcomes in layer.found.items():
            self.results[path] = (layer.diff_id, outcomes)


def _default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def build_inventory(
    source: Source,
    catalogers: Sequence[Cataloger],
    *,
    ctx: CatalogContext | None = None,
    limits: Limits | None = None,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    warn: Callable[[str], None] | None = None,
) -> Inventory:
    """Inventory every package in ``source``."""
    ctx = ctx or CatalogContext()
    limits = limits or Limits()
    info = source.info()
    layers = list(source.layers())
    workers = _default_workers() if workers is None else max(1, workers)
    results = _analyze_all(
        layers, catalogers=catalogers, ctx=ctx, limits=limits, workers=workers, progress=progress
    )

    total_entries = sum(r.entries for r in results)
    total_bytes = sum(r.bytes for r in results)
    if total_entries > limits.max_entries:
        raise UnsafeArtifactError(
            f"{info.name}: {total_entries} entries exceed the limit of {limits.max_entries}",
            hint="raise --max-entries if this artifact is trusted",
        )
    if total_bytes > limits.max_total_bytes:
        raise UnsafeArtifactError(
            f"{info.name}: {total_bytes} bytes exceed the limit of {limits.max_total_bytes}",
            hint="raise --max-size if this artifact is trusted",
        )

    squashed = _Squashed()
    for result in results:
        squashed.apply(result)
        if warn:
            for message in result.warnings:
                warn(message)

    os_info = _pick_os(squashed)
    merged: dict[tuple[str, str, str, str, str], Package] = {}
    for path, diff_id, pkg in _finalized(squashed, catalogers, ctx, warn):
        located = _located(pkg, path, diff_id)
        try:
            located = with_purl(located, os_info)
        except CatalogError as exc:
            if warn:
                warn(f"{path}: {exc.message}")
            continue
        previous = merged.get(located.key)
        merged[located.key] = located if previous is None else _merge(previous, located)
    packages = tuple(
        sorted(merged.values(), key=lambda p: (p.type.value, p.namespace or "", p.name, p.version))
    )
    return Inventory(artifact=info, os=os_info, packages=packages)


def _finalized(
    squashed: _Squashed,
    catalogers: Sequence[Cataloger],
    ctx: CatalogContext,
    warn: Callable[[str], None] | None,
) -> Iterator[tuple[str, Digest | None, Package]]:
    """Every package left in the squashed artifact, after each cataloger's cross-file pass."""
    by_producer: dict[str, dict[str, CatalogResult]] = {}
    layer_of: dict[str, Digest | None] = {}
    for path in sorted(squashed.results):
        diff_id, outcomes = squashed.results[path]
        layer_of[path] = diff_id
        for outcome in outcomes:
            by_producer.setdefault(outcome.producer, {})[path] = outcome
    for cataloger in catalogers:
        mine = by_producer.pop(cataloger.name, None)
        if not mine:
            continue
        try:
            final: Mapping[str, CatalogResult] = cataloger.finalize(mine, ctx)
        except CatalogError as exc:
            if warn:
                warn(f"{cataloger.name}: {exc.message}")
            final = mine
        for path in sorted(final):
            if warn:
                for message in final[path].warnings:
                    warn(f"{path}: {message}")
            for pkg in final[path].packages:
                yield path, layer_of.get(path), pkg
    for leftover in by_producer.values():  # results of catalogers not in the list given
        for path in sorted(leftover):
            for pkg in leftover[path].packages:
                yield path, layer_of.get(path), pkg


def _located(pkg: Package, path: str, diff_id: Digest | None) -> Package:
    if not pkg.locations:
        return replace(pkg, locations=(Location(path, diff_id),))
    if all(loc.layer is not None for loc in pkg.locations):
        return pkg
    # A cataloger may name the exact file (a nested jar, a package.json); the engine
    # knows the layer.
    return replace(
        pkg,
        locations=tuple(
            loc if loc.layer is not None else replace(loc, layer=diff_id) for loc in pkg.locations
        ),
    )


def _merge(previous: Package, found: Package) -> Package:
    """The same package seen twice: one package, every location, dev only if always dev."""
    extra = tuple(loc for loc in found.locations if loc not in previous.locations)
    licenses = previous.licenses + tuple(
        lic for lic in found.licenses if lic not in previous.licenses
    )
    return replace(
        previous,
        locations=previous.locations + extra,
        licenses=licenses,
        dev=previous.dev and found.dev,
    )


def _analyze_all(
    layers: Sequence[Layer],
    *,
    catalogers: Sequence[Cataloger],
    ctx: CatalogContext,
    limits: Limits,
    workers: int,
    progress: ProgressCallback | None,
) -> list[LayerResult]:
    total = len(layers)
    if workers == 1 or total <= 1:
        out = []
        for i, layer in enumerate(layers):
            out.append(analyze_layer(layer, catalogers, ctx, limits))
            if progress:
                progress(i + 1, total)
        return out
    # fork keeps start-up cheap; the workers only read their own layer.
    mp = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=min(workers, total), mp_context=mp) as pool:
        futures = [pool.submit(analyze_layer, lyr, catalogers, ctx, limits) for lyr in layers]
        out = []
        for done, future in enumerate(futures, start=1):
            try:
                out.append(future.result())
            except StockadeError:
                for f in futures:
                    f.cancel()
                raise
            if progress:
                progress(done, total)
        return out


def _pick_os(squashed: _Squashed) -> OSInfo | None:
    # /etc/os-release wins over /usr/lib/os-release, which wins over legacy files.
    best: tuple[int, OSInfo] | None = None
    for path, (_, outcomes) in squashed.results.items():
        for outcome in outcomes:
            if outcome.os is None:
                continue
            rank = _OS_FILE_RANK.get(path, 99)
            if best is None or rank < best[0]:
                best = (rank, outcome.os)
    return best[1] if best else None


_OS_FILE_RANK = {
    "etc/os-release": 0,
    "usr/lib/os-release": 1,
    "etc/alpine-release": 2,
    "etc/debian_version": 3,
    "etc/redhat-release": 4,
    "etc/centos-release": 4,
    "etc/lsb-release": 5,
}
