# Warden. `make demo` and `make test` do everything on a fresh Debian machine as root:
# install the Debian packages that are missing, build, run.
SHELL := /bin/bash
.DEFAULT_GOAL := build

PREFIX ?= /usr/local
# The launch path is one static process: no dynamic loader, no shared Swift runtime.
RELEASE_FLAGS := -c release --static-swift-stdlib -Xswiftc -static-executable
BIN := $(CURDIR)/.build/release
DEBIAN_PACKAGES := libseccomp-dev libcap-dev libsqlite3-dev libssl-dev libcurl4-openssl-dev gcc libc6-dev pkg-config python3 git curl bubblewrap \
	nftables iproute2 procps util-linux busybox-static python3-pip python3-h2 iputils-ping openssl publicsuffix bind9-dnsutils dns2tcp

.PHONY: deps build test unit-test escape-test demo bench eval install clean

deps:
	@missing=""; \
	for package in $(DEBIAN_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$package 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "make: installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# warden-notify (the webhook's libcurl client) is linked dynamically, apart: libcurl's own
# dependencies have no static builds on Debian.
STATIC_PRODUCTS := warden warden-admin warden-bench

build: deps
	@for product in $(STATIC_PRODUCTS); do \
		echo "swift build $(RELEASE_FLAGS) --product $$product"; \
		swift build $(RELEASE_FLAGS) --product $$product 2>&1 | { grep -v "statically linked applications requires at runtime\|is dangerous, better use" || true; }; \
		test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done
	swift build -c release --product warden-notify --scratch-path $(CURDIR)/.build/notify 2>&1 | tail -3
	install -m 0755 $(CURDIR)/.build/notify/release/warden-notify $(BIN)/warden-notify
	@test -x $(BIN)/warden && test -x $(BIN)/warden-admin && test -x $(BIN)/warden-bench && test -x $(BIN)/warden-notify

# Unit tests and the escape suite (run through the real release binary). As root in CI.
test: build
	WARDEN_BIN=$(BIN)/warden WARDEN_ADMIN_BIN=$(BIN)/warden-admin swift test --parallel --num-workers 2

# The exfiltration evaluation (#7): real programs in sandboxes against the test network, its
# report per session and per rule, its targets asserted (`make test` runs it too).
eval: build
	WARDEN_BIN=$(BIN)/warden WARDEN_ADMIN_BIN=$(BIN)/warden-admin WARDEN_EVAL_REPORT=$(CURDIR)/.build/exfil-eval.txt \
		swift test --filter ExfilEvaluationTests; status=$$?; cat $(CURDIR)/.build/exfil-eval.txt 2>/dev/null; exit $$status

demo: build
	WARDEN_BIN=$(BIN)/warden WARDEN_ADMIN_BIN=$(BIN)/warden-admin bash scripts/demo.sh

bench: build
	$(BIN)/warden-bench --warden $(BIN)/warden --testnet $(CURDIR)/Tests/EscapeTests/Fixtures/net/testnet.py

install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/warden/policies/seccomp $(DESTDIR)$(PREFIX)/share/warden/policies/presets
	install -m 0755 $(BIN)/warden $(BIN)/warden-admin $(BIN)/warden-notify $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 policies/org.yaml $(DESTDIR)$(PREFIX)/share/warden/policies/
	install -m 0644 policies/seccomp/*.json $(DESTDIR)$(PREFIX)/share/warden/policies/seccomp/
	install -m 0644 policies/presets/*.yaml $(DESTDIR)$(PREFIX)/share/warden/policies/presets/
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system
	sed 's|/usr/local/bin/warden|$(PREFIX)/bin/warden|' packaging/systemd/warden.service > $(DESTDIR)$(PREFIX)/lib/systemd/system/warden.service

clean:
	rm -rf .build
