#!/usr/bin/env bash
# Run every check hangard's CI runs: lint, format, types, and the test suite
# (against real registries the tests start themselves on loopback).
# HANGARD_TEST_INSTALLED=1 (what .ci/run sets): the suite runs against the
# wheel built and installed by scripts/install-wheel.sh, not the checkout.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
if [[ ${HANGARD_TEST_INSTALLED:-} == 1 ]]; then
  bash scripts/install-wheel.sh
  export HANGARD_TEST_DIST=$PWD/dist
fi
.venv/bin/pytest -q "$@"
