#!/bin/sh
# Regenerate the rpm databases in this directory from specs/ (see README.md).
#
# Needs: rpmbuild and rpm (Debian: `apt-get install rpm`), db5.3_load (`db5.3-util`),
# gpg, python3; for ndb, an rpm built with --enable-ndb named by NDB_RPM_DIR (the build
# tree holding `rpm` and `rpmkeys`; Debian's rpm has no ndb backend).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
QF='%{NAME}\t%{EPOCH}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\t%{LICENSE}\t%{SOURCERPM}\n'

# 1. Build the fixture packages.
for spec in "$HERE"/specs/*.spec; do
    rpmbuild --quiet --define "_topdir $WORK/build" --define 'debug_package %{nil}' \
        --define '_build_id_links none' -bb "$spec"
done
RPMS=$(find "$WORK/build/RPMS" -name '*.rpm' | sort)

# 2. A throwaway signing key, so the database also holds a gpg-pubkey entry.
export GNUPGHOME="$WORK/gnupg"
mkdir -m 700 "$GNUPGHOME"
gpg --batch --passphrase '' --quick-gen-key 'Stockade Fixture Key <fixtures@stockade.invalid>' \
    ed25519 sign never 2>/dev/null
gpg --armor --export fixtures@stockade.invalid > "$WORK/key.asc"

# 3. SQLite: install into an empty root, import the key, erase one package (a gap).
rpmdb_sqlite() { rpm --root "$WORK/sqlite" --dbpath /var/lib/rpm --define '_db_backend sqlite' "$@"; }
# shellcheck disable=SC2086
rpmdb_sqlite --nodeps --justdb -i $RPMS 2>/dev/null
rpmdb_sqlite --import "$WORK/key.asc"
rpmdb_sqlite --nodeps --justdb -e stockade-part-04 2>/dev/null
mkdir -p "$HERE/sqlite"
cp "$WORK/sqlite/var/lib/rpm/rpmdb.sqlite" "$HERE/sqlite/rpmdb.sqlite"
rpmdb_sqlite -qa --qf "$QF" 2>/dev/null | LC_ALL=C sort > "$HERE/sqlite/rpm-qa.txt"

# 4. ndb, the same steps with an ndb-capable rpm.
if [ -n "${NDB_RPM_DIR:-}" ]; then
    export RPM_CONFIGDIR="$NDB_RPM_DIR"
    rpmdb_ndb() { "$NDB_RPM_DIR/rpm" --root "$WORK/ndb" --dbpath /var/lib/rpm --define '_db_backend ndb' "$@"; }
    # shellcheck disable=SC2086
    rpmdb_ndb --nodeps --justdb -i $RPMS
    "$NDB_RPM_DIR/rpmkeys" --root "$WORK/ndb" --dbpath /var/lib/rpm --define '_db_backend ndb' \
        --import "$WORK/key.asc"
    rpmdb_ndb --nodeps --justdb -e stockade-part-04
    mkdir -p "$HERE/ndb"
    cp "$WORK/ndb/var/lib/rpm/Packages.db" "$HERE/ndb/Packages.db"
    rpmdb_ndb -qa --qf "$QF" | LC_ALL=C sort > "$HERE/ndb/rpm-qa.txt"
    # ndb-reused: erase two packages, then install one of them again; rpm puts it in
    # the first free slot and after the last blob, so slot order, package order and
    # blob order all differ, and a freed blob leaves a hole.
    rpmdb_reused() { "$NDB_RPM_DIR/rpm" --root "$WORK/ndb-reused" --dbpath /var/lib/rpm --define '_db_backend ndb' "$@"; }
    # shellcheck disable=SC2086
    rpmdb_reused --nodeps --justdb -i $RPMS
    rpmdb_reused --nodeps --justdb -e stockade-part-05 stockade-cli
    rpmdb_reused --nodeps --justdb -i "$(find "$WORK/build/RPMS" -name 'stockade-cli-*.rpm')"
    mkdir -p "$HERE/ndb-reused"
    cp "$WORK/ndb-reused/var/lib/rpm/Packages.db" "$HERE/ndb-reused/Packages.db"
    rpmdb_reused -qa --qf "$QF" | LC_ALL=C sort > "$HERE/ndb-reused/rpm-qa.txt"
    unset RPM_CONFIGDIR
else
    echo "NDB_RPM_DIR not set: ndb/ left as it is" >&2
fi

# 5. Berkeley DB hash: the SQLite database's header blobs, keyed by instance number in
# the file's byte order (plus rpm's key 0 counter), loaded by db5.3_load in three shapes.
python3 - "$HERE/sqlite/rpmdb.sqlite" "$WORK" <<'EOF'
import sqlite3, struct, sys
image = bytearray(open(sys.argv[1], "rb").read())
image[18] = image[19] = 1  # WAL -> rollback journal, so it opens in memory
db = sqlite3.connect(":memory:")
db.deserialize(bytes(image))
rows = db.execute("SELECT hnum, blob FROM Packages ORDER BY hnum").fetchall()
shapes = {"bdb-le-4096": ("<", 4096, None), "bdb-be-512": (">", 512, 2), "bdb-le-8192": ("<", 8192, None)}
for name, (order, pagesize, ffactor) in shapes.items():
    lines = ["VERSION=3", "format=bytevalue", "type=hash", f"db_pagesize={pagesize}",
             "db_lorder=" + ("1234" if order == "<" else "4321")]
    if ffactor:
        lines.append(f"h_ffactor={ffactor}")
    lines.append("HEADER=END")
    pairs = [(0, struct.pack(order + "I", max(h for h, _ in rows)))] + rows
    for hnum, blob in pairs:
        lines += [" " + struct.pack(order + "I", hnum).hex(), " " + bytes(blob).hex()]
    lines.append("DATA=END")
    with open(f"{sys.argv[2]}/{name}.dump", "w") as out:
        out.write("\n".join(lines) + "\n")
EOF
for shape in bdb-le-4096 bdb-be-512 bdb-le-8192; do
    mkdir -p "$HERE/$shape"
    rm -f "$HERE/$shape/Packages"
    db5.3_load -f "$WORK/$shape.dump" "$HERE/$shape/Packages"
    rpm --dbpath "$HERE/$shape" --define '_db_backend bdb_ro' -qa --qf "$QF" 2>/dev/null \
        | LC_ALL=C sort > "$HERE/$shape/rpm-qa.txt"
done
