#!/usr/bin/env bash
# The test command: lint, types, then the whole test suite (unit, end-to-end, browser).
set -euo pipefail
cd "$(dirname "$0")/.."
uv run --frozen ruff check .
uv run --frozen ruff format --check .
uv run --frozen mypy shared services loadtests
uv run --frozen pytest -q -p no:cacheprovider "$@"
