#!/usr/bin/env bash
# Preflight for `npm run test:interop` and `npm run test:e2e`: both build Go programs (the
# opamp-go reference-client harness; the OpAMP supervisor and a collector), so Go must be there.
# Exits non-zero with what to install when it is not. The suites' globalSetup checks again.
set -euo pipefail
min_major=1 min_minor=25
go_bin="${GO:-}"
if [ -z "$go_bin" ]; then
  if command -v go >/dev/null 2>&1; then go_bin=$(command -v go)
  elif [ -n "${GOROOT:-}" ] && [ -x "$GOROOT/bin/go" ]; then go_bin="$GOROOT/bin/go"
  elif [ -x /usr/local/go/bin/go ]; then go_bin=/usr/local/go/bin/go
  fi
fi
hint="Install Go >= ${min_major}.${min_minor} (your package manager, e.g. \`apt-get install golang-1.25\`, or the official Go distribution)
and put \`go\` on PATH (or set GO=/path/to/go). The suites download Go modules through GOPROXY
(the Go module proxy), which must be reachable on the first run."
if [ -z "$go_bin" ]; then
  echo "error: Go is required for ${1:-this suite} but was not found." >&2
  echo "$hint" >&2
  exit 1
fi
if ! version=$(GOTOOLCHAIN=local "$go_bin" version 2>&1); then
  echo "error: \`$go_bin version\` failed: $version" >&2
  echo "$hint" >&2
  exit 1
fi
if [[ "$version" =~ go([0-9]+)\.([0-9]+) ]]; then
  major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]}
  if (( major < min_major || (major == min_major && minor < min_minor) )); then
    echo "error: Go ${min_major}.${min_minor} or newer is required, found: $version" >&2
    echo "$hint" >&2
    exit 1
  fi
else
  echo "error: cannot parse \`$go_bin version\`: $version" >&2
  exit 1
fi
echo "${1:-interop}: using $version ($go_bin)"
