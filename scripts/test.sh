#!/usr/bin/env bash
# The project's whole test command (README's second command; .ci/run calls it).
# Installs what the tests need, then: build, vet, gofmt, every Go test (unit and
# integration against real daemons and real Terraform), a bounded fuzz run, Terraform
# fmt/tflint/tfsec.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:$(go env GOPATH)/bin"
export CSO_TERRAFORM="$(go env GOPATH)/bin/terraform"
step() { printf '\n==> %s (%s)\n' "$*" "$(date +%H:%M:%S)"; }

step "install dependencies"
scripts/install-deps.sh --test

step "build and vet"
go build ./...
go vet ./...
# The operator's commands build for the workstations the LLD's operators use; the agent
# and the local target are Linux-only (they answer exit 2 elsewhere).
for target in windows/amd64 darwin/arm64 linux/arm64; do
  GOOS=${target%/*} GOARCH=${target#*/} go build -o /dev/null ./cmd/cso || { echo "cross build $target failed"; exit 1; }
done
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.tools/*'))
if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted"; exit 1; fi

step "terraform fmt, tflint, tfsec"
scripts/lint-terraform.sh

step "go test"
mkdir -p test-artifacts
go test -count=1 -timeout 50m ./... 2>&1 | tee test-artifacts/go-test.log
status=${PIPESTATUS[0]}
[ "$status" -eq 0 ] || { echo "go test failed"; exit "$status"; }

step "fuzz the environment file and application manifest parsers (bounded)"
go test ./internal/envfile -run '^$' -fuzz FuzzParse -fuzztime 15s
go test ./internal/apppkg -run '^$' -fuzz FuzzManifest -fuzztime 15s

step "all tests passed"
