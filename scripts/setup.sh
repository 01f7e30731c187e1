#!/usr/bin/env bash
# Install what hangard's demo and tests need on a Debian machine, idempotently:
# Debian packages (the registry, skopeo, promtool, systemd-analyze, htpasswd,
# strace) and a virtualenv in .venv with hangard and its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t APT_PACKAGES < <(grep -v "^#" scripts/apt-packages.txt)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  echo "installing Debian packages: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian package starts a registry on :5000 as a service; hangard's tests
# start their own on free ports and never need it.

PYTHON=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c "import hangard, pytest, trustme" 2>/dev/null \
   || [[ pyproject.toml -nt .venv/.hangard-installed ]]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[test]'
  touch .venv/.hangard-installed
fi
