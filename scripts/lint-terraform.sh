#!/usr/bin/env bash
# Static checks of terraform/ (CI runs this): terraform fmt, tflint (recommended preset of the
# built-in terraform ruleset, .tflint.hcl) and tfsec (no HIGH/CRITICAL finding unless
# suppressed inline with a reason). Exits non-zero when any of them fails.
# Tools come from scripts/install-deps.sh ($(go env GOPATH)/bin).
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
gobin=$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin
terraform=${CSO_TERRAFORM:-$gobin/terraform}
tflint=$gobin/tflint
tfsec=$gobin/tfsec
failed=0

for tool in "$terraform" "$tflint" "$tfsec"; do
  if [ ! -x "$tool" ]; then
    echo "lint-terraform: $tool not found: run scripts/install-deps.sh" >&2
    exit 2
  fi
done

step() { printf '\n== %s\n' "$*"; }

step "terraform fmt -check -recursive terraform"
if ! TF_CLI_CONFIG_FILE=/dev/null "$terraform" fmt -check -recursive -diff "$here/terraform"; then
  echo "lint-terraform: formatting differs: run terraform fmt -recursive terraform" >&2
  failed=1
fi

# tflint evaluates terraform.workspace: the root stack reads environments/env.<workspace>.yaml,
# so lint it once per environment file; modules do not depend on the workspace.
step "tflint --recursive (per environment)"
for f in "$here"/environments/env.*.yaml; do
  ws=$(basename "$f" .yaml); ws=${ws#env.}
  echo "-- workspace $ws"
  if ! TF_WORKSPACE=$ws "$tflint" --chdir="$here/terraform" --recursive --config="$here/.tflint.hcl" --format=compact; then
    failed=1
  fi
done

step "tfsec terraform (HIGH and CRITICAL fail; suppressions need a reason)"
if ! "$tfsec" "$here/terraform" --no-color --minimum-severity HIGH --concise-output; then
  failed=1
fi
# Every inline suppression must say why.
if grep -rnE '#tfsec:ignore:[a-z0-9-]+\s*$' "$here/terraform" --include='*.tf'; then
  echo "lint-terraform: tfsec suppressions above carry no reason" >&2
  failed=1
fi

if [ "$failed" -ne 0 ]; then
  echo "lint-terraform: FAILED" >&2
  exit 1
fi
echo "lint-terraform: ok"
