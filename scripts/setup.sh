#!/usr/bin/env bash
# Installs Stockade into ./.venv. With --test, also the system tools the tests use
# (debootstrap, umoci, skopeo, a local registry) and the test dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

if [[ $want_test -eq 1 ]]; then
  # ruby, a JDK and rpm let the cataloger tests compare with the real tools; chromium
  # drives the Console's web UI tests; runc and podman run the Defender's containers, in
  # network namespaces that iproute2 sets up.
  pkgs=(debootstrap umoci skopeo docker-registry zstd pigz ruby openjdk-17-jdk-headless rpm
        chromium runc podman iproute2)
  missing=()
  for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  # npm: Debian's package conflicts with NodeSource's nodejs, which ships its own npm.
  command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
  if ((${#missing[@]})); then
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

PY=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then "$PY" -m venv .venv; fi
.venv/bin/python -m pip install -q --upgrade pip
if [[ $want_test -eq 1 ]]; then
  .venv/bin/python -m pip install -q -e ".[test]"
else
  .venv/bin/python -m pip install -q -e .
fi
