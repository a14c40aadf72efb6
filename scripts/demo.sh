#!/usr/bin/env bash
# Sets up, ingests sample_docs/ into ./rag_kb with the built-in models, and answers a question.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/rag ingest sample_docs --kb rag_kb
.venv/bin/rag ask "How often must the QF-200 bearings be re-greased, and with how much grease?" --kb rag_kb
.venv/bin/rag ask "VX-40 隔膜泵的最大出口压力是多少？" --kb rag_kb
