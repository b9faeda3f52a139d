"""Readers of rpm's package databases, pure Python: no librpm, no Berkeley DB library.

rpm keeps one header blob per installed package; the databases differ only in how they
store those blobs: SQLite (``rpmdb.sqlite``, rpm >= 4.16: Fedora 33+, RHEL 9, Amazon
Linux 2023), Berkeley DB hash (``Packages``: RHEL/CentOS 7 and 8, Amazon Linux 2) and
ndb (``Packages.db``: SUSE). Each reader here yields the blobs; :mod:`.header` decodes
one blob into the fields the inventory needs. Every reader raises only CatalogError.
"""

from stockade.inventory.rpmdb.bdb import read_bdb_hash_blobs
from stockade.inventory.rpmdb.header import RpmHeader, parse_header_blob
from stockade.inventory.rpmdb.ndb import read_ndb_blobs
from stockade.inventory.rpmdb.sqlite import read_sqlite_blobs

__all__ = [
    "RpmHeader",
    "parse_header_blob",
    "read_bdb_hash_blobs",
    "read_ndb_blobs",
    "read_sqlite_blobs",
]
