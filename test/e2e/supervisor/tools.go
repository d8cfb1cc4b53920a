//go:build tools

// Package tools pins the OpAMP supervisor (collector-contrib cmd/opampsupervisor) for the e2e
// suite: `go build github.com/open-telemetry/opentelemetry-collector-contrib/cmd/opampsupervisor`
// in this directory builds the version required in go.mod, with the dependency versions in go.sum.
// Bump: go get github.com/open-telemetry/opentelemetry-collector-contrib/cmd/opampsupervisor@vX (not
// `go mod tidy`: it also resolves the supervisor's test-only deps, e.g. contrib/testbed, which the
// Go proxy here refuses with 403).
package tools

import _ "github.com/open-telemetry/opentelemetry-collector-contrib/cmd/opampsupervisor"
