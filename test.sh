#!/usr/bin/env bash
# Run every check hangard's CI runs: lint, format, types, and the test suite
# (against real registries the tests start themselves on loopback).
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/pytest -q "$@"
