"""Alpine (and Wolfi, Chainguard) packages from apk's ``installed`` database.

``/lib/apk/db/installed`` (``/usr/lib/apk/db/installed`` from apk-tools 3 on) is a
sequence of records separated by blank lines; each line is one letter, a colon and a
value: ``P`` name, ``V`` version, ``A`` architecture, ``o`` origin (the source package,
aports' APKBUILD name), ``L`` license, and many more (files, checksums, dependencies)
that the inventory does not need. Every record in the file is an installed package.
"""

from __future__ import annotations

from collections.abc import Iterator

from stockade.core.errors import CatalogError
from stockade.core.models import Package, PackageType
from stockade.inventory.interface import (
    CatalogContext,
    Cataloger,
    CatalogResult,
    FileContent,
)

INSTALLED_PATHS = frozenset({"lib/apk/db/installed", "usr/lib/apk/db/installed"})

_HINT = "the apk database is damaged; `apk audit` on the host explains"


class ApkCataloger(Cataloger):
    """Installed apk packages."""

    name = "apk"

    def wants(self, path: str, size: int, mode: int, ctx: CatalogContext) -> bool:
        return path in INSTALLED_PATHS

    def parse(self, file: FileContent, ctx: CatalogContext) -> CatalogResult:
        database = InstalledDatabase()
        packages: list[Package] = []
        skipped: list[str] = []
        records = 0
        for record in database.records(file.text()):
            records += 1
            package = package_from_record(record, cataloger=self.name)
            if package is not None:
                packages.append(package)
            else:
                skipped.append(record.get("P", "")[:60])
        if records == 0 and database.malformed_lines:
            raise CatalogError(
                f"{file.path}: not an apk installed database ({database.summary()})", _HINT
            )
        warnings = [database.summary()] if database.malformed_lines else []
        if skipped:
            shown = ", ".join(repr(name) for name in skipped[:5])
            more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
            warnings.append(
                f"{len(skipped)} record(s) without a name or version skipped: {shown}{more}"
            )
        return CatalogResult(packages=packages, warnings=warnings)


class InstalledDatabase:
    """Splits an apk ``installed`` file into records, counting the lines it skipped.

    apk-tools writes one ``X:value`` per line; a line of any other shape is damage,
    skipped so that one bad line does not hide every package of the image.
    """

    def __init__(self) -> None:
        self.malformed_lines = 0
        self.first_malformed: tuple[int, str] = (0, "")

    def records(self, text: str) -> Iterator[dict[str, str]]:
        """Records as {letter: value}.

        Letters that repeat within a record (``F`` directories, ``R`` files, ``Z``
        checksums) keep their first value; none of them is used here.
        """
        record: dict[str, str] = {}
        # apk splits on "\n" only (see dpkg.py: splitlines would split on more).
        for number, raw in enumerate(text.split("\n"), start=1):
            line = raw.removesuffix("\r")
            if not line.strip():
                if record:
                    yield record
                record = {}
                continue
            if len(line) < 2 or line[1] != ":" or not line[0].isascii():
                self.malformed_lines += 1
                if self.malformed_lines == 1:
                    self.first_malformed = (number, line[:60])
                continue
            record.setdefault(line[0], line[2:])
        if record:
            yield record

    def summary(self) -> str:
        number, line = self.first_malformed
        return (
            f"{self.malformed_lines} malformed line(s) skipped, the first at line "
            f"{number}: {line!r}"
        )


def package_from_record(record: dict[str, str], *, cataloger: str = "") -> Package | None:
    """The package one record describes; None when it has no name or no version."""
    name = record.get("P", "").strip()
    version = record.get("V", "").strip()
    if not name or not version or any(c.isspace() for c in name + version):
        return None
    license_expression = record.get("L", "").strip()
    return Package(
        name=name,
        version=version,
        type=PackageType.APK,
        arch=record.get("A", "").strip() or None,
        # An apk's origin is built from the same APKBUILD run, so it has the same version.
        source_name=record.get("o", "").strip() or name,
        source_version=version,
        licenses=(license_expression,) if license_expression else (),
        cataloger=cataloger,
    )
