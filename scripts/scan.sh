#!/usr/bin/env bash
# Quick start, main job: set up Stockade in ./.venv, then scan this machine's root
# filesystem for known vulnerabilities with the advisory data shipped in the package
# (no server, no network beyond PyPI; `stockade db update` fetches current data).
# Extra arguments go to `stockade scan`, e.g. `./scripts/scan.sh --severity critical,high`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/stockade scan / "$@"
