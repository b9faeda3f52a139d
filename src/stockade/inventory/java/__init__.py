"""Java packages: archives (jar, war, ear, …) in every scan; Gradle lock files and Maven
``pom.xml`` in filesystem scans.

The parsers live one per format: :mod:`.archive` (zip archives, nested ones included),
:mod:`.metadata` (``pom.properties``, ``MANIFEST.MF``, file names), :mod:`.gradle` and
:mod:`.pom`.
"""

from __future__ import annotations

import posixpath
from typing import ClassVar

from stockade.inventory.interface import (
    CatalogContext,
    Cataloger,
    CatalogResult,
    FileContent,
    ScanMode,
)
from stockade.inventory.java.archive import (
    NESTED_SEPARATOR,
    ArchiveLimits,
    ArchiveScan,
    is_java_archive,
    scan_archive,
)
from stockade.inventory.java.gradle import parse_gradle_lockfile
from stockade.inventory.java.pom import parse_pom

__all__ = ["ArchiveLimits", "ArchiveScan", "JavaCataloger", "scan_archive"]


class JavaCataloger(Cataloger):
    name: ClassVar[str] = "java"

    def wants(self, path: str, size: int, mode: int, ctx: CatalogContext) -> bool:
        base = path.rsplit("/", 1)[-1]
        if is_java_archive(base):
            return True
        if ctx.mode is not ScanMode.FILESYSTEM:
            return False
        return base == "pom.xml" or base.endswith("gradle.lockfile")

    def parse(self, file: FileContent, ctx: CatalogContext) -> CatalogResult:
        base = posixpath.basename(file.path)
        if is_java_archive(base):
            scan = scan_archive(file.read(), file.path, cataloger=self.name)
            # The engine puts the archive's path in front of each warning, so name only the
            # member concerned (`WEB-INF/lib/x.jar: …`, not `a.war!/WEB-INF/lib/x.jar: …`).
            inside = file.path + NESTED_SEPARATOR
            warnings = tuple(w.removeprefix(inside) for w in scan.warnings)
            return CatalogResult(packages=scan.packages, warnings=warnings)
        if base == "pom.xml":
            return CatalogResult(packages=parse_pom(file.read(), cataloger=self.name))
        return CatalogResult(packages=parse_gradle_lockfile(file.text(), cataloger=self.name))
