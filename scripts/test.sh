#!/usr/bin/env bash
# Sets up (with the test extra) and runs the whole test suite, the real built-in LLM included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
.venv/bin/python -m pytest -q tests "$@"
