#!/usr/bin/env bash
# Re-pins the "newest opamp-go" leg of the interop matrix (test/interop/client/go.latest.mod and
# go.latest.sum) to the given release, or to the newest one the Go module proxy serves:
#
#   bash scripts/interop-bump-opamp-go.sh            # newest listed by the proxy
#   bash scripts/interop-bump-opamp-go.sh v0.25.0    # a given release
#
# go.mod stays at v0.23.0 (what released supervisors ship). To try a version once without
# re-pinning: INTEROP_OPAMP_GO_VERSIONS=v0.25.0 npm run test:interop (a `go get` in a temp copy).
#
# opamp-go >= v0.24.0 imports github.com/elastic/proxy-connect-dialer-go, which the Go module proxy
# here refuses (403); go.latest.mod replaces it with github.com/michel-laterman/proxy-connect-dialer-go
# v0.1.0, the same package under its previous path (what v0.23.0 imports). Drop the replace once the
# proxy serves the elastic module.
set -euo pipefail
bash "$(dirname "$0")/interop-check.sh" interop-bump >/dev/null
cd "$(dirname "$0")/../test/interop/client"
export GOTOOLCHAIN=local GOFLAGS=-modfile=go.latest.mod
version="${1:-}"
if [ -z "$version" ]; then
  version=$(go list -m -versions github.com/open-telemetry/opamp-go | tr ' ' '\n' | grep -E '^v[0-9]+\.[0-9]+\.[0-9]+$' | sort -V | tail -n1)
  # The proxy's version list can lag behind tags it serves: try the next minors too.
  while :; do
    next=$(echo "$version" | awk -F. '{printf "v0.%d.0", $2 + 1}')
    if go mod download -json "github.com/open-telemetry/opamp-go@$next" >/dev/null 2>&1; then version=$next; else break; fi
  done
fi
echo "pinning github.com/open-telemetry/opamp-go@$version in go.latest.mod"
go get "github.com/open-telemetry/opamp-go@$version"
go mod tidy
go build -o /dev/null .
grep -n "opamp-go\|proxy-connect" go.latest.mod
