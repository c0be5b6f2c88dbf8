#!/usr/bin/env bash
# CI, lowest row: build a venv with the oldest supported sentence-transformers and transformers
# (constraints/lowest.txt) and run the conformance suite (tests/conformance) against it.
#
#   scripts/ci_lowest.sh            # venv in .venv-lowest (reused when present), then the tests
#   VENV=/tmp/v scripts/ci_lowest.sh
#
# The newest row is .ci/run (the whole test suite, constraints.txt). Install takes about 4 minutes
# on 2 cores; the conformance suite about 2 more.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv-lowest}"
export HF_HUB_OFFLINE=1
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --no-compile -q -c constraints/lowest.txt -e . pytest pytest-httpserver datasets
fi
"$VENV/bin/python" - <<'PY'
import sentence_transformers, transformers
print(f"sentence-transformers {sentence_transformers.__version__}, transformers {transformers.__version__}")
PY
"$VENV/bin/python" -m pytest tests/conformance -q -p no:cacheprovider "$@"
