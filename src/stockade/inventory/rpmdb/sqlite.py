"""rpm's SQLite database (``rpmdb.sqlite``): one header blob per row of ``Packages``.

The file is opened in memory (``deserialize``), never written to disk: a scanner must not
leave copies of an image's files behind, and an in-memory database cannot touch any
file. rpm runs the database in WAL mode, which an in-memory database cannot open;
the two header bytes that select it are switched back to the rollback journal first.
A WAL file left beside the database (``rpmdb.sqlite-wal``) holds changes not yet
checkpointed; images are built with the database closed cleanly, so it is not read.
"""

from __future__ import annotations

import contextlib
import sqlite3

from stockade.core.errors import CatalogError

SQLITE_MAGIC = b"SQLite format 3\x00"
_HEADER_BYTES = 100
# Byte offsets of the file format write/read versions: 1 = rollback journal, 2 = WAL.
_WRITE_VERSION_OFFSET = 18
_READ_VERSION_OFFSET = 19
_LEGACY_JOURNAL = 1


def read_sqlite_blobs(data: bytes, *, where: str = "rpmdb.sqlite") -> list[tuple[int, bytes]]:
    """``(hnum, header blob)`` of every row of the ``Packages`` table, in hnum order."""
    if len(data) < _HEADER_BYTES or not data.startswith(SQLITE_MAGIC):
        raise CatalogError(f"{where}: not an SQLite database", hint=_HINT)
    image = bytearray(data)
    image[_WRITE_VERSION_OFFSET] = _LEGACY_JOURNAL
    image[_READ_VERSION_OFFSET] = _LEGACY_JOURNAL
    connection = sqlite3.connect(":memory:")
    # Text from a damaged schema need not be UTF-8: keep it as bytes, never decode it.
    connection.text_factory = bytes
    try:
        with contextlib.closing(connection):
            connection.deserialize(image)
            # The database is the image's, not ours: no writes, and no functions a
            # hostile schema (views, triggers) could smuggle into our queries.
            connection.execute("PRAGMA query_only = ON")
            connection.execute("PRAGMA trusted_schema = OFF")
            connection.execute("PRAGMA cell_size_check = ON")
            kind = connection.execute(
                "SELECT type FROM sqlite_master WHERE name = 'Packages'"
            ).fetchone()
            if kind is None or kind[0] != b"table":
                raise CatalogError(f"{where}: no Packages table", hint=_HINT)
            rows = connection.execute("SELECT hnum, blob FROM Packages ORDER BY hnum").fetchall()
    except (sqlite3.Error, OverflowError, UnicodeDecodeError) as exc:
        # sqlite3 builds some error messages from the damaged schema's own text, and
        # fails to decode them when that text is not UTF-8.
        detail = exc if isinstance(exc, sqlite3.Error) else "malformed database schema"
        raise CatalogError(
            f"{where}: cannot read the SQLite rpm database: {detail}", hint=_HINT
        ) from exc
    blobs: list[tuple[int, bytes]] = []
    for hnum, blob in rows:
        if not isinstance(hnum, int) or not isinstance(blob, bytes):
            raise CatalogError(f"{where}: Packages row {hnum!r} does not hold a blob", hint=_HINT)
        blobs.append((hnum, blob))
    return blobs


_HINT = "the rpm database is corrupt or not rpm's; `rpm --rebuilddb` on the host may repair it"
