#!/usr/bin/env bash
# Regenerate requirements.lock: hangard's runtime dependencies from
# pyproject.toml, resolved and pinned with their hashes for every platform
# and every Python hangard supports (uv's universal resolution). Run it after
# changing [project] dependencies in pyproject.toml, and commit both files;
# tests/test_packaging.py checks that they agree. The Dockerfile and the
# README's reproducible install use the lock, with pip's --require-hashes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m pip install -q 'uv>=0.5'
.venv/bin/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes \
  --custom-compile-command "scripts/lock.sh" --quiet -o requirements.lock "$@"
