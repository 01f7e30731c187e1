#!/usr/bin/env bash
# Start two throwaway local registries, seed one, and mirror it with hangard.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
exec .venv/bin/python scripts/demo.py
