#!/usr/bin/env bash
# Build hangard's sdist and wheel into dist/ (the wheel is built from the
# sdist, so a file missing from the sdist breaks the build) and install the
# wheel, not editable, into .venv: the runtime dependencies exactly as
# requirements.lock pins them (hashes checked), then the wheel with its test
# extras. ./test.sh does this when HANGARD_TEST_INSTALLED=1 (as .ci/run
# sets it), so the suite runs against what a mirror host installs.
# The next plain ./test.sh (scripts/setup.sh) puts the editable install back.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP=(.venv/bin/python -m pip install -q)
rm -rf dist && mkdir dist
.venv/bin/python -m build --outdir dist . >dist/build.log 2>&1 || { cat dist/build.log >&2; exit 1; }
wheels=(dist/hangard-*-py3-none-any.whl)
"${PIP[@]}" --require-hashes -r requirements.lock
"${PIP[@]}" --force-reinstall --no-deps "${wheels[0]}"
"${PIP[@]}" "${wheels[0]}[test]"
.venv/bin/python -m pip check
rm -f .venv/.hangard-installed
