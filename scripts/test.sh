#!/usr/bin/env bash
# The project's whole test command (README's second command; .ci/run calls it).
# Installs what the tests need, then: the static checks (scripts/lint.sh), every Go test
# (unit and integration against real daemons and real Terraform), a bounded fuzz run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:$(go env GOPATH)/bin"
export CSO_TERRAFORM="$(go env GOPATH)/bin/terraform"
step() { printf '\n==> %s (%s)\n' "$*" "$(date +%H:%M:%S)"; }

step "install dependencies"
scripts/install-deps.sh --test

step "lint: build, vet, gofmt, staticcheck, cross builds, terraform fmt/tflint/tfsec"
scripts/lint.sh

step "go test"
mkdir -p test-artifacts
go test -count=1 -timeout 50m ./... 2>&1 | tee test-artifacts/go-test.log
status=${PIPESTATUS[0]}
[ "$status" -eq 0 ] || { echo "go test failed"; exit "$status"; }

step "fuzz the environment file and application manifest parsers (bounded)"
# Budgets in executions, not seconds: with a duration, Go 1.26's fuzz coordinator can fail
# a clean run with "context deadline exceeded" at the deadline and no crasher
# (golang/go#75804, fixed in Go 1.27). -timeout bounds each run in time.
go test ./internal/envfile -run '^$' -fuzz FuzzParse -fuzztime 40000x -timeout 5m
go test ./internal/apppkg -run '^$' -fuzz FuzzManifest -fuzztime 30000x -timeout 5m

step "all tests passed"
