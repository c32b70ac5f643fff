# natsdr: every entry point a person or CI uses. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never
# Real components, installed project-locally by `make deps` (scripts/deps.sh).
export NATSDR_NATS_SERVER ?= $(CURDIR)/.tools/nats-server-default/nats-server
export NATSDR_NATS_SERVER_COMPAT ?= $(CURDIR)/.tools/nats-server-2.10.26/nats-server

.PHONY: deps build test lint unit demo bench chaos image-check lab-up lab-down clean

## deps: install the pinned nats-server (2.15.1 and 2.10.26), BIND, ministack and s3s-fs
deps:
	bash scripts/deps.sh

## build: release builds of the daemon (natsdr) and the lab (natsdr-lab), side by side in
## target/release (the lab runs the daemon found beside it)
build:
	$(CARGO) build --release --locked --workspace --bins

## lint: formatting and clippy, warnings are errors
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

## test: deps, lint, then every test (unit, property, and the real-server suites)
test: deps lint
	$(CARGO) nextest run --locked --workspace --no-fail-fast

## unit: the fast tests only (no real servers)
unit:
	$(CARGO) nextest run --locked --workspace --lib

## demo: a live two-region failover on this machine (region loss)
demo: deps build
	target/release/natsdr-lab demo --scenario region-loss

## bench: the benchmark on a release build: RTO (10 region losses per network profile), false
## failovers, availability, switchovers, one watchdog at 100/1000/5000 streams next to a plain
## client's floor, RTO with 1000 mirrored streams, backup and
## restore of a 1 GiB stream to s3s-fs -> BENCHMARKS.md, bench/results.json (about 55 min)
bench: deps build
	target/release/natsdr-lab bench --json bench/results.json --markdown BENCHMARKS.md

## chaos: the chaos suite on a release build: 20 seeded runs of faults under load on the
## lab, every invariant checked; prints the failing seeds with their replay command
chaos: deps build
	target/release/natsdr-lab chaos --seeds 20

## image-check: build the Dockerfile without Docker or a registry (buildah, stand-in base images
## from Debian packages; needs root) and check the image holds the daemon only
## (scripts/image-check.sh; `scripts/image-check.sh --clean` also removes its 2.5 GB store)
image-check:
	bash scripts/image-check.sh

lab-up: deps build
	target/release/natsdr-lab lab up --dir .lab

lab-down: build
	target/release/natsdr-lab lab down --dir .lab

clean:
	$(CARGO) clean
	rm -rf .lab
