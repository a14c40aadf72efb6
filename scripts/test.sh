#!/usr/bin/env bash
# Sets up (with the test extra) and runs the whole test suite, the real built-in LLM and a real browser
# included. The page test drives Debian's chromium through Playwright: no browser is downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then
    echo "test: installing Debian's chromium for the page test" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "test: chromium is not installed (sudo apt-get install chromium); the browser test will be skipped" >&2
  fi
fi
bash scripts/setup.sh test
.venv/bin/python -m pytest -q tests "$@"
