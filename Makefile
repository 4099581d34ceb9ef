# The two commands of README.md:
#   make up    installs the Debian packages and runs the whole platform tier on this machine
#   make test  installs the test tools and runs every test, lint and scan (CI runs this)
GO      ?= go
BIN     := bin/cso
LOCAL   ?= .local

.PHONY: up down status restart build dist test faults lint unit lint-terraform fuzz clean render-goldens

build:
	$(GO) build -trimpath -ldflags "-s -w" -o $(BIN) ./cmd/cso

# Checksummed binaries for the operators' workstations and the hosts: bin/dist/cso-<os>-<arch>.
DIST_TARGETS := linux/amd64 linux/arm64 windows/amd64 darwin/arm64 darwin/amd64
dist:
	rm -rf bin/dist && mkdir -p bin/dist
	for t in $(DIST_TARGETS); do \
	  os=$${t%/*}; arch=$${t#*/}; ext=; [ "$$os" = windows ] && ext=.exe; \
	  GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -buildvcs=true -ldflags "-s -w" -o bin/dist/cso-$$os-$$arch$$ext ./cmd/cso || exit 1; \
	done
	cd bin/dist && sha256sum cso-* > SHA256SUMS

up:
	scripts/install-deps.sh --runtime
	$(MAKE) build
	$(BIN) local up --ha --dir $(LOCAL)

status: build
	$(BIN) local status --dir $(LOCAL)

down: build
	$(BIN) local down --dir $(LOCAL)

# After a reboot of this machine: stop, empty the runtime directories, bring everything back.
restart: build
	$(BIN) local restart --local-dir $(LOCAL)

test:
	scripts/test.sh

# The fault tests of issue #12 in full (docs/reliability.md): every node of the rolling
# restart, every kill point of the agent, the Apache-only crash test, the real waits of the
# credential rotation schedule, the fernet schedule of 3 minutes' tokens. `make test` (CI)
# runs the same tests on a sample of the faults. Needs the test tools: run `make test` once
# first.
faults:
	CSO_FAULTS=full $(GO) test -count=1 -v -timeout 90m -run 'UnderLoad|Killed|Crashed|Soak|OnSchedule' ./internal/local

# The fast loop while working: static checks only, then the unit tests (-short skips every
# test that starts daemons or Terraform). Needs the test tools: run `make test` once first.
lint:
	scripts/lint.sh

unit:
	$(GO) test -short -count=1 ./...

lint-terraform:
	scripts/lint-terraform.sh

# After a change to what a role writes on Amazon Linux: regenerate the renderings of every
# prod-ha host (test/render/testdata), then review them with git diff.
render-goldens:
	$(GO) test ./test/render -run TestGolden -count=1 -update
	git status --short test/render/testdata

clean:
	rm -rf bin test-artifacts
