#!/usr/bin/env bash
# Fuzzes the JSON API with Schemathesis against a fresh `portal serve` (temporary SQLite database)
# and the OpenAPI document it serves at /openapi.json: no 5xx, no answer the document does not
# describe. Bounded to a few minutes; prints how many requests it sent. Details in
# Tests/interop/fuzz_api.py and Tests/interop/schemathesis.toml.
# Assumes the debug build exists (scripts/test builds first); override with PORTAL_BIN.
# FUZZ_MAX_EXAMPLES (default 200) sets the number of generated cases per operation and phase.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

export PORTAL_BIN="${PORTAL_BIN:-$ROOT/.build/debug/portal}"
if [[ ! -x "$PORTAL_BIN" ]]; then
    echo "fuzz-api: no portal binary at $PORTAL_BIN (run 'swift build' first)" >&2
    exit 1
fi

source "$ROOT/scripts/python-venv.sh"

"$PY" -m openapi_spec_validator Public/openapi.json
exec "$PY" "$ROOT/Tests/interop/fuzz_api.py"
