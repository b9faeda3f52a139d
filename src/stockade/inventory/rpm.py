"""Red Hat family and SUSE packages from rpm's database, in any of its three formats.

rpm keeps its database in ``/var/lib/rpm`` (RHEL, CentOS, Amazon Linux, SUSE) or
``/usr/lib/sysimage/rpm`` (Fedora 36+, openSUSE Tumbleweed; ``/var/lib/rpm`` is then a
link), and rpm-ostree systems in ``/usr/share/rpm``. The format is told by the content,
not the name: SQLite ``rpmdb.sqlite``, Berkeley DB hash ``Packages`` or ndb
``Packages.db``. Each installed package is one header blob; see :mod:`.rpmdb`.
"""

from __future__ import annotations

import re

from stockade.core.errors import CatalogError
from stockade.core.models import Package, PackageType
from stockade.inventory.interface import (
    EMPTY,
    CatalogContext,
    Cataloger,
    CatalogResult,
    FileContent,
)
from stockade.inventory.rpmdb import (
    RpmHeader,
    parse_header_blob,
    read_bdb_hash_blobs,
    read_ndb_blobs,
    read_sqlite_blobs,
)
from stockade.inventory.rpmdb.bdb import is_berkeley_db
from stockade.inventory.rpmdb.ndb import NDB_MAGIC
from stockade.inventory.rpmdb.sqlite import SQLITE_MAGIC

RPMDB_DIRECTORIES = ("var/lib/rpm/", "usr/lib/sysimage/rpm/", "usr/share/rpm/")
RPMDB_FILES = frozenset({"rpmdb.sqlite", "Packages", "Packages.db"})

# Imported signing keys are listed by rpm as packages named gpg-pubkey; they are keys,
# not software, and no advisory names them.
_PUBKEY_PACKAGE = "gpg-pubkey"

_MAX_WARNINGS = 20

# "name-version-release.src.rpm"; name may hold dashes, version and release may not.
_SOURCE_RPM = re.compile(r"(?P<name>.+)-(?P<version>[^-]+)-(?P<release>[^-]+)\.(?:no)?src\.rpm")


class RpmCataloger(Cataloger):
    """Installed rpm packages from rpmdb.sqlite, Berkeley DB Packages or ndb Packages.db."""

    name = "rpm"

    def wants(self, path: str, size: int, mode: int, ctx: CatalogContext) -> bool:
        directory, _, filename = path.rpartition("/")
        return filename in RPMDB_FILES and directory + "/" in RPMDB_DIRECTORIES

    def parse(self, file: FileContent, ctx: CatalogContext) -> CatalogResult:
        data = file.read()
        if not data:
            return EMPTY  # rpm leaves an empty Packages behind after moving to SQLite
        packages = []
        damaged: list[str] = []
        for instance, blob in read_blobs(data, where=file.path):
            # A damaged database (its pages, slots or tables) is an error; one damaged
            # header in a sound database is skipped, as `rpm -qa` skips it, so that the
            # other packages are still reported.
            try:
                header = parse_header_blob(blob, where=f"package {instance}")
            except CatalogError as exc:
                damaged.append(exc.message)
                continue
            if header.name == _PUBKEY_PACKAGE:
                continue
            packages.append(package_from_header(header, cataloger=self.name))
        warnings = damaged[:_MAX_WARNINGS]
        if len(damaged) > _MAX_WARNINGS:
            warnings.append(f"… and {len(damaged) - _MAX_WARNINGS} more damaged headers skipped")
        return CatalogResult(packages=packages, warnings=warnings)


def read_blobs(data: bytes, *, where: str) -> list[tuple[int, bytes]]:
    """The header blobs of an rpm database, whichever of the three formats it is in."""
    if data.startswith(SQLITE_MAGIC):
        return read_sqlite_blobs(data, where=where)
    if data.startswith(NDB_MAGIC):
        return read_ndb_blobs(data, where=where)
    if is_berkeley_db(data):
        return read_bdb_hash_blobs(data, where=where)
    raise CatalogError(
        f"{where}: not an rpm database (neither SQLite, Berkeley DB hash nor ndb)",
        hint="the file may be damaged, or belong to something other than rpm",
    )


def package_from_header(header: RpmHeader, *, cataloger: str = "") -> Package:
    """The Package record of one installed rpm header."""
    source_name: str | None = None
    source_version: str | None = None
    if header.source_rpm:
        match = _SOURCE_RPM.fullmatch(header.source_rpm)
        if match:
            source_name = match.group("name")
            source_version = f"{match.group('version')}-{match.group('release')}"
    version = f"{header.version}-{header.release}" if header.release else header.version
    return Package(
        name=header.name,
        version=version,
        type=PackageType.RPM,
        arch=header.arch,
        epoch=header.epoch,
        source_name=source_name,
        source_version=source_version,
        licenses=(header.license,) if header.license else (),
        cataloger=cataloger,
    )
