#!/usr/bin/env bash
# Contract fuzzing: schemathesis, every check, against the real server's /openapi.json.
#
# Builds the server (unless CONTRACT_FUZZ_SKIP_BUILD=1), starts dist/src/main.js on a free port
# with the embedded database in a temporary DATA_DIR, seeds a tenant with real data
# (scripts/contract-fuzz-seed.ts: keys, a template with two revisions, an assignment, a secret, an
# enrollment token and a connected agent), points the tenant-scoped path parameters at it
# (scripts/contract_fuzz_hooks.py) and runs `schemathesis run` with every check but the two that
# follow links from one answer's id to the next request, bounded in examples and time: with the
# ids pinned to the seeded data, "the resource a POST just created" is never the one the next
# request names (ensure_resource_availability), and a DELETE of a key or token revokes the pinned
# one, which stays readable with its revokedAt (use_after_free). Any 5xx,
# undocumented status, or answer that breaks the documented schema fails the run (exit != 0).
#
# schemathesis is installed from PyPI, pinned with every package it loads, into a venv cached at
#   ${CONTRACT_FUZZ_DIR:-$HOME/.cache/agent-api/schemathesis}/schemathesis-<version>/
# Knobs: CONTRACT_FUZZ_MAX_EXAMPLES (default 30 per operation), CONTRACT_FUZZ_MAX_TIME (seconds
# for the whole run, default 150), CONTRACT_FUZZ_SEED (a fixed hypothesis seed).
set -euo pipefail

SCHEMATHESIS_VERSION=4.32.5
PINS=(
  "schemathesis==$SCHEMATHESIS_VERSION"
  anyio==4.16.0
  certifi==2026.10.19.post1
  charset-normalizer==3.5.3
  click==8.5.1
  graphql-core==3.3.2
  harfile==0.6.0
  hypothesis==6.170.17
  hypothesis-graphql==0.13.5
  idna==3.20
  iniconfig==2.3.1
  jsonschema_rs==0.60.3
  markdown-it-py==4.3.0
  MarkupSafe==3.0.4
  mdurl==0.1.2
  packaging==26.4
  pluggy==1.7.0
  Pygments==2.21.0
  pyrate-limiter==4.5.1
  pytest==9.2.0
  PyYAML==6.0.4
  requests==2.34.2
  rich==15.0.0
  sortedcontainers==2.4.0
  typing_extensions==4.16.0
  urllib3==2.8.0
  Werkzeug==3.1.9
)

die() {
  echo "contract-fuzz: $*" >&2
  exit 1
}

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# --- schemathesis, installed once into a cached venv ------------------------------------------
base="${CONTRACT_FUZZ_DIR:-${HOME:?HOME is not set}/.cache/agent-api/schemathesis}"
venv="$base/schemathesis-$SCHEMATHESIS_VERSION"
st="$venv/bin/schemathesis"
if [[ ! -f "$venv/.complete" || ! -x "$st" ]]; then
  python="${CONTRACT_FUZZ_PYTHON:-python3}"
  command -v "$python" >/dev/null 2>&1 || die "$python not found: schemathesis needs Python >= 3.10"
  "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' ||
    die "schemathesis $SCHEMATHESIS_VERSION needs Python >= 3.10; $("$python" --version 2>&1) found"
  mkdir -p "$base"
  echo "contract-fuzz: installing schemathesis $SCHEMATHESIS_VERSION into $venv (one time)" >&2
  # A venv's scripts name its own path, so it is built in place; .complete is written last.
  rm -rf "$venv"
  "$python" -m venv "$venv" || die "python3 -m venv failed (apt-get install python3-venv)"
  PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore \
    "$venv/bin/python" -m pip install --quiet --no-deps "${PINS[@]}" >&2 ||
    die "pip install of schemathesis failed (needs network access to PyPI)"
  "$st" --version >/dev/null || die "the installed schemathesis does not start"
  touch "$venv/.complete"
fi

# --- the server ---------------------------------------------------------------------------------
[[ "${CONTRACT_FUZZ_SKIP_BUILD:-0}" == 1 ]] || npm run build --silent
work="$(mktemp -d "${TMPDIR:-/tmp}/agent-api-fuzz.XXXXXX")"
server_pid=""
seed_pid=""
cleanup() {
  [[ -n "$seed_pid" ]] && kill "$seed_pid" 2>/dev/null && wait "$seed_pid" 2>/dev/null
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

port="$(node -e 'const s=require("node:net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
operator_key="$(node --input-type=module -e 'import { issueToken } from "./dist/src/credentials/token.js"; console.log(issueToken("admin").plaintext)')"
url="http://127.0.0.1:$port"
PORT="$port" HOST=127.0.0.1 DATA_DIR="$work/data" ADMIN_TOKEN="$operator_key" LOG_LEVEL=error \
  node dist/src/main.js >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 60); do
  curl -fsS "$url/readyz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; die "the server did not start"; }
  sleep 0.5
done
curl -fsS "$url/readyz" >/dev/null || die "the server is not ready after 30 s"

node --import tsx scripts/contract-fuzz-seed.ts "$url" "$operator_key" "$work/seed.env" &
seed_pid=$!
for _ in $(seq 1 60); do
  [[ -s "$work/seed.env" ]] && break
  kill -0 "$seed_pid" 2>/dev/null || die "seeding failed"
  sleep 0.5
done
[[ -s "$work/seed.env" ]] || die "seeding did not finish in 30 s"
set -a
# shellcheck disable=SC1091
source "$work/seed.env"
set +a
export FUZZ_OPERATOR_KEY="$operator_key"

# --- the run ----------------------------------------------------------------------------------
echo "contract-fuzz: schemathesis $SCHEMATHESIS_VERSION against $url (tenant $FUZZ_TENANT_ID)" >&2
status=0
# Run from the temporary directory: schemathesis keeps its cache (.schemathesis/) in the cwd.
(cd "$work" && PYTHONPATH="$root/scripts" "$st" --config-file "$root/scripts/contract-fuzz.toml" run "$url/openapi.json" \
  --url "$url" \
  --checks all \
  --exclude-checks ensure_resource_availability,use_after_free \
  --max-examples "${CONTRACT_FUZZ_MAX_EXAMPLES:-30}" \
  --max-time "${CONTRACT_FUZZ_MAX_TIME:-150}" \
  --workers "${CONTRACT_FUZZ_WORKERS:-1}" \
  --no-shrink \
  ${CONTRACT_FUZZ_SEED:+--seed "$CONTRACT_FUZZ_SEED"} \
  --report junit --report-dir "$work/report" "$@") || status=$?
if grep -q '"level":50' "$work/server.log"; then
  echo "contract-fuzz: the server logged errors:" >&2
  grep '"level":50' "$work/server.log" | head -20 >&2
  status=1
fi
if [[ -n "${CONTRACT_FUZZ_KEEP:-}" ]]; then
  mkdir -p "$CONTRACT_FUZZ_KEEP"
  cp -r "$work/server.log" "$work/report" "$CONTRACT_FUZZ_KEEP/" 2>/dev/null || true
fi
exit "$status"
