#!/usr/bin/env bash
# Installs everything the local target and the tests need on a fresh Debian 12 machine.
# Idempotent: a second run only checks. Usage: scripts/install-deps.sh [--runtime|--test]
#   --runtime  Debian packages for the local target only
#   --test     (default) runtime packages plus test tools (Terraform 1.8.5, tflint, tfsec, staticcheck,
#              Chromium, the npm packages that carry the AWS/TLS/random provider schemas,
#              moto_server 5.2.1 that serves the AWS APIs to the tests)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:---test}
export DEBIAN_FRONTEND=noninteractive
export PATH="$PATH:/usr/local/go/bin:$(go env GOPATH 2>/dev/null || echo /root/go)/bin"

log() { printf '[install-deps %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

runtime_pkgs=(mariadb-server mariadb-client rabbitmq-server apache2 libapache2-mod-wsgi-py3
  python3-keystone python3-pymysql memcached python3-memcache nginx openssl curl ca-certificates libssl3
  openjdk-17-jre-headless procps)
test_pkgs=(chromium chromium-driver openjdk-17-jdk-headless # javac: the application package fixture
  python3-openstackclient # test/e2e: the operator's openstack CLI against the local target
  libmariadb-java librabbitmq-client-java libslf4j-java # the fixture's clients of its bindings
  systemd) # systemd-analyze verify of the rendered units (test/render); systemd need not run

missing=()
pkgs=("${runtime_pkgs[@]}")
[ "$mode" = "--test" ] && pkgs+=("${test_pkgs[@]}")
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  # Debian's postinst scripts try to start daemons; there is no init here, and the local
  # target starts its own. policy-rc.d 101 tells invoke-rc.d not to start anything.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" libssl3 >/dev/null
  rm -f /usr/sbin/policy-rc.d
  # Should an image start Debian's default instances anyway, stop them: the local target
  # and the tests run their own instances on their own ports and directories.
  for svc in rabbitmq-server mariadb apache2 nginx memcached; do service "$svc" stop >/dev/null 2>&1 || true; done
  # rabbitmq-server's postinst runs Erlang tools that start epmd on every address (0.0.0.0
  # and ::), which policy-rc.d does not cover. Stop it: the local target's nodes start
  # their own with ERL_EPMD_ADDRESS=127.0.0.1 (loopback only, issue #10); a running local
  # stack's epmd (started with that variable) is left alone.
  for pid in $(pgrep -x epmd || true); do
    tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qx 'ERL_EPMD_ADDRESS=127.0.0.1' || kill "$pid" 2>/dev/null || true
  done
fi

[ "$mode" = "--test" ] || { log "runtime packages ready"; exit 0; }

gobin=$(go env GOPATH)/bin
mkdir -p "$here/.tools"
install_go_tool() { # name version-check module@version [env...]
  local name=$1 check=$2 mod=$3; shift 3
  # tfsec built from source prints no version: an empty check accepts any installed binary.
  if [ -x "$gobin/$name" ] && { [ -z "$check" ] || [[ "$("$gobin/$name" --version 2>/dev/null)" == *"$check"* ]]; }; then return 0; fi
  log "go install $mod"
  env "$@" go install "$mod"
}
install_go_tool terraform "v1.8.5" github.com/hashicorp/terraform@v1.8.5 &
p1=$!
install_go_tool tflint "version 0.64.0" github.com/terraform-linters/tflint@v0.64.0 &
p2=$!
install_go_tool tfsec "" github.com/aquasecurity/tfsec/cmd/tfsec@v1.26.0 &
p3=$!
install_go_tool staticcheck "(0.8.2)" honnef.co/go/tools/cmd/staticcheck@v0.8.2 &
p4=$!
# Provider schemas ship inside these npm packages' .jsii files (see docs/decisions/testprovider.md).
if [ ! -f "$here/.tools/npm/node_modules/@cdktf/provider-aws/.jsii" ]; then
  log "npm install provider schemas"
  mkdir -p "$here/.tools/npm"
  (cd "$here/.tools/npm" && [ -f package.json ] || echo '{"name":"cso-schemas","private":true}' > package.json
   cd "$here/.tools/npm" && npm install --no-audit --no-fund --ignore-scripts --silent \
     @cdktf/provider-aws@21.22.1 @cdktf/provider-tls@11.0.1 @cdktf/provider-random@12.0.1 >/dev/null)
fi
# moto serves S3 and Secrets Manager to the tests (internal/awstest).
moto_version() { moto_server --version 2>/dev/null || python3 -c 'import moto; print(moto.__version__)' 2>/dev/null; }
if ! command -v moto_server >/dev/null || [[ "$(moto_version)" != *5.2.1* ]]; then
  log "pip install moto[server]==5.2.1"
  python3 -m pip install --quiet 'moto[server]==5.2.1'
fi
wait $p1 $p2 $p3 $p4
log "test tools ready: $(TF_CLI_CONFIG_FILE=/dev/null "$gobin/terraform" version | head -1), tflint $("$gobin/tflint" --version | head -1), tfsec v1.26.0 (source build), $("$gobin/staticcheck" --version), moto $(moto_version)"
