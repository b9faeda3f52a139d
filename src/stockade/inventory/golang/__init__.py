"""Go modules: build info of Go executables (any scan) and ``go.mod`` (filesystem scans).

Choices, following Trivy where it states one:

* Binaries: the Go toolchain becomes the package ``stdlib`` (``go1.22.5`` → ``v1.22.5``);
  each dependency is reported as built, i.e. with its ``=>`` replacement applied; a
  dependency replaced by a local directory is dropped (it is the project's own code and
  has no module version), as ``go.mod`` handling drops it too. The main module is kept;
  ``(devel)`` becomes the version stamped with ``-ldflags -X …version=`` (given Go's
  ``v`` prefix, which Trivy leaves off), else empty.
* ``go.mod``: the main module (no version), every requirement with ``replace`` applied,
  indirect ones skipped for modules older than Go 1.17 (their ``go.mod`` is incomplete).
  The ``toolchain`` line is not reported as ``stdlib``: it is a minimum, not what builds
  the code (Trivy reports it only in its "comprehensive" mode).
* Versions keep Go's ``v`` prefix, as Go and the purl spec write them.

``go.sum`` is read in filesystem scans too, never for its own sake: once every file is
known (:meth:`GoCataloger.finalize`), a pre-1.17 ``go.mod`` is completed with the
modules the ``go.sum`` beside it lists (:func:`merge_go_sum`), as Trivy does.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import ClassVar

from stockade.core.errors import CatalogError
from stockade.core.models import Package, PackageType
from stockade.inventory.binary import is_candidate_executable, random_access
from stockade.inventory.golang.buildinfo import (
    BuildInfo,
    build_info_from_file,
    build_info_from_stream,
    is_local_path,
    main_module_version,
    stdlib_version,
)
from stockade.inventory.golang.modfile import GoMod, parse_go_mod, parse_go_sum
from stockade.inventory.interface import (
    EMPTY,
    CatalogContext,
    Cataloger,
    CatalogResult,
    FileContent,
    ScanMode,
)

__all__ = [
    "GoCataloger",
    "merge_go_sum",
    "packages_from_build_info",
    "packages_from_go_mod",
]

_MAX_MODULE_FILE_BYTES = 8 << 20
_STDLIB = "stdlib"
CATALOGER_NAME = "go"
GO_MOD = "go.mod"
GO_SUM = "go.sum"
_NEEDS_GO_SUM = "go.mod.needs-go.sum"
_GO_SUM_MODULES = "go.sum.modules"


class GoCataloger(Cataloger):
    name: ClassVar[str] = CATALOGER_NAME

    def wants(self, path: str, size: int, mode: int, ctx: CatalogContext) -> bool:
        if posixpath.basename(path) in (GO_MOD, GO_SUM):
            return ctx.mode is ScanMode.FILESYSTEM and not _in_module_cache(path)
        return is_candidate_executable(size, mode)

    def parse(self, file: FileContent, ctx: CatalogContext) -> CatalogResult:
        base = posixpath.basename(file.path)
        if base in (GO_MOD, GO_SUM) and file.size > _MAX_MODULE_FILE_BYTES:
            raise CatalogError(f"{base} of {file.size} bytes is too large to be real")
        if base == GO_MOD:
            mod = parse_go_mod(file.text())
            # Only a module older than Go 1.17 leaves indirect dependencies to go.sum.
            facts = {_NEEDS_GO_SUM: True} if mod.before_go_117 else {}
            return CatalogResult(packages_from_go_mod(mod), facts=facts)
        if base == GO_SUM:
            return CatalogResult(facts={_GO_SUM_MODULES: parse_go_sum(file.text())})
        reader = random_access(file)
        if reader is not None:
            info = build_info_from_file(reader)
        else:
            info = build_info_from_stream(file.stream)
        if info is None:
            return EMPTY
        return CatalogResult(packages_from_build_info(info))

    def finalize(
        self, results: Mapping[str, CatalogResult], ctx: CatalogContext
    ) -> Mapping[str, CatalogResult]:
        final = dict(results)
        for path, result in results.items():
            if not result.facts.get(_NEEDS_GO_SUM):
                continue
            beside = results.get(posixpath.join(posixpath.dirname(path), GO_SUM))
            modules = beside.facts.get(_GO_SUM_MODULES) if beside else None
            if isinstance(modules, dict):
                final[path] = replace(result, packages=merge_go_sum(result.packages, modules))
        return final


def _in_module_cache(path: str) -> bool:
    # $GOPATH/pkg/mod/<module>@<version>/go.mod: every downloaded module's own manifest,
    # not something the scanned project builds.
    return "pkg/mod/" in path and "@v" in path


def _golang(name: str, version: str) -> Package:
    return Package(name=name, version=version, type=PackageType.GOLANG, cataloger=CATALOGER_NAME)


def packages_from_build_info(info: BuildInfo) -> list[Package]:
    """What a Go executable was built from: stdlib, its dependencies, its main module."""
    packages: list[Package] = []
    stdlib = stdlib_version(info.go_version)
    if stdlib:
        packages.append(_golang(_STDLIB, stdlib))
    for dep in info.deps:
        module = dep.replaced_by or dep
        if not dep.path or is_local_path(module.path):
            continue
        packages.append(_golang(module.path, "" if module.version == "(devel)" else module.version))
    if info.main is not None and info.main.path:
        packages.append(_golang(info.main.path, main_module_version(info)))
    return packages


def packages_from_go_mod(mod: GoMod) -> list[Package]:
    """The modules a ``go.mod`` declares, with its ``replace`` directives applied."""
    found: dict[str, Package] = {}
    if mod.module:
        found[mod.module] = _golang(mod.module, "")
    skip_indirect = mod.before_go_117
    for req in mod.requires:
        if skip_indirect and req.indirect:
            continue
        found[req.path] = _golang(req.path, req.version)
    for rep in mod.replaces:
        old = found.get(rep.old_path)
        if old is None or (rep.old_version and old.version != rep.old_version):
            continue
        del found[rep.old_path]
        if rep.new_version:  # else a local directory: the project's own code
            found[rep.new_path] = _golang(rep.new_path, rep.new_version)
    return list(found.values())


def merge_go_sum(declared: Sequence[Package], go_sum: Mapping[str, str]) -> list[Package]:
    """Complete a pre-Go 1.17 module's packages with the modules its ``go.sum`` lists.

    Such a ``go.mod`` omits most indirect dependencies; ``go.sum`` (module path → the
    highest version it lists, see :func:`parse_go_sum`) names them. ``go.mod`` wins
    where both name a module.
    """
    merged = {pkg.name: pkg for pkg in declared}
    for path, version in go_sum.items():
        merged.setdefault(path, _golang(path, version))
    return list(merged.values())
