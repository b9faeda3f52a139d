#!/bin/sh
# Rebuilds workspace/vendor, workspace/Cargo.lock and the cargo-tree ground truth.
# Needs cargo only; no network (crates-io is replaced by the vendored directory).
set -eu
cd "$(dirname "$0")"

crate() { # directory name version [manifest lines…]
    dir=workspace/vendor/$1
    mkdir -p "$dir/src"
    printf '[package]\nname = "%s"\nversion = "%s"\nedition = "2021"\n' "$2" "$3" >"$dir/Cargo.toml"
    shift 3
    for line in "$@"; do printf '%s\n' "$line" >>"$dir/Cargo.toml"; done
    : >"$dir/src/lib.rs"
    # A directory source takes the package checksum on trust; any stable value will do.
    sum=$(printf '%s' "$dir" | sha256sum | cut -d' ' -f1)
    printf '{"files":{},"package":"%s"}' "$sum" >"$dir/.cargo-checksum.json"
}

rm -rf workspace/vendor workspace/Cargo.lock
crate both both 1.0.0
crate codegen codegen 2.0.0 '[dependencies]' 'codegen-support = "2"'
crate codegen-support codegen-support 2.1.0
crate mockdata mockdata 0.1.0 '[dependencies]' 'shared = "2"'
crate oldstyle oldstyle 0.1.0
crate parser parser 1.2.0 '[features]' 'std = []' 'debug = []' \
    '[dev-dependencies]' 'never-resolved = "9"'
crate runtime-a runtime-a 1.0.0 '[dependencies]' 'shared = "1"'
crate sample-data sample-data 0.2.3
crate shared-1.0.0 shared 1.0.0
crate shared-2.0.0 shared 2.0.0
crate testkit testkit 0.5.0 '[dependencies]' 'shared = "1"' 'mockdata = "0.1"'
crate unix-helper unix-helper 1.0.1
crate unixonly unixonly 0.3.0 '[dependencies]' 'unix-helper = "1"'
crate winonly winonly 0.1.0

cd workspace
cargo generate-lockfile --offline
tree() {
    cargo tree --offline --locked --workspace -e "$1" --target all --prefix none --format '{p}' |
        sed '/^$/d; s/ (.*//; s/ v/ /' | sort -u
}
tree normal,build >../workspace.cargo-tree-no-dev.txt
tree normal,build,dev >../workspace.cargo-tree-all.txt
