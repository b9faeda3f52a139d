#!/usr/bin/env bash
# Quick start, main job: set up Stockade in ./.venv, then list every package on this
# machine's root filesystem (embedded defaults: no server, no network beyond PyPI).
# Extra arguments go to `stockade sbom`, e.g. `./scripts/sbom.sh -f cyclonedx -o host.cdx.json`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/stockade sbom / "$@"
