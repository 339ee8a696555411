# Sourced by the scripts that run Python tools (interop-test.sh, fuzz-api.sh): the private venv
# .venv-interop/ with exact versions, created and filled once. Sets PY to its interpreter.
# Expects ROOT to be the repository.

VENV="$ROOT/.venv-interop"
PY="$VENV/bin/python"
if [[ ! -x "$PY" ]]; then
    python3 -m venv "$VENV"
fi
if ! "$PY" - <<'PYCHECK' 2>/dev/null
from importlib.metadata import version
assert version("authlib") == "1.9.10"
assert version("oauthlib") == "3.3.1"
assert version("selenium") == "4.51.0"
assert version("pyjwt") == "2.15.1"
assert version("schemathesis") == "4.32.5"
assert version("openapi-spec-validator") == "0.9.0"
assert version("oidc-provider-mock") == "0.3.4"
assert version("aiosmtpd") == "1.4.6"
assert version("scim2-tester") == "0.5.2"
assert version("scim2-client") == "0.13.2"
assert version("httpx2") == "2.16.2"
import requests, pytest, jsonschema  # noqa: F401
PYCHECK
then
    "$PY" -m pip install --quiet authlib==1.9.10 oauthlib==3.3.1 requests selenium==4.51.0 "pyjwt[crypto]==2.15.1" \
        pytest schemathesis==4.32.5 openapi-spec-validator==0.9.0 \
        oidc-provider-mock==0.3.4 aiosmtpd==1.4.6 scim2-tester==0.5.2 "scim2-client[httpx2]==0.13.2" httpx2==2.16.2
fi
