#!/usr/bin/env bash
# Static checks of the whole repository (make lint; scripts/test.sh runs it too): build,
# go vet, gofmt, staticcheck, the cross builds of the operator's binary, and Terraform's
# fmt/tflint/tfsec. Needs the test tools (scripts/install-deps.sh --test).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:$(go env GOPATH)/bin"

go build ./...
go vet ./...
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.tools/*'))
if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted"; exit 1; fi
staticcheck ./...
# The operator's commands build for the workstations the LLD's operators use; the agent
# and the local target are Linux-only (they answer exit 2 elsewhere).
for target in windows/amd64 darwin/arm64 linux/arm64; do
  GOOS=${target%/*} GOARCH=${target#*/} go build -o /dev/null ./cmd/cso || { echo "cross build $target failed"; exit 1; }
done
scripts/lint-terraform.sh
