# beianwatch: the two commands a newcomer needs are `make run` and `make test`.
GO      ?= go
BIN     := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: build test lint run clean fuzz

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/beianwatch ./cmd/beianwatch

# Integration tests start real servers (NSD, Prometheus, Chromium) when they
# are installed and skip otherwise; CI sets BEIANWATCH_REQUIRE_INTEGRATION=1
# so that a missing server fails instead.
test:
	$(GO) test -count=1 -timeout 10m ./...

# staticcheck is pinned; .ci/run installs this version with `go install`.
STATICCHECK_VERSION := v0.8.2
STATICCHECK ?= $(shell $(GO) env GOPATH)/bin/staticcheck

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@[ -x "$(STATICCHECK)" ] || { echo "staticcheck not found at $(STATICCHECK); install it with: $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)"; exit 1; }
	$(STATICCHECK) ./...

# The example configuration: the example inventory, the store in ./data.
run: build
	$(BIN)/beianwatch run --config configs/beianwatch.example.yaml

fuzz:
	$(GO) test ./beian -run '^$$' -fuzz FuzzParseICP -fuzztime 60s

clean:
	rm -rf $(BIN) data

# The fixture farm (a development tool, not part of the product): `make demo`
# shows the whole job offline against ~30 simulated sites (walkthrough in
# docs/demo.md); `make bench` times beianwatch against blackbox_exporter on
# the same simulated sites (scenarios: baseline, slow, shared host, real
# NSD, provider mix) and writes bench/results.json; `make bench-smoke` is
# the same harness at small N, for CI. `make faults` runs fault trials
# against the real binaries (FAULT_TRIALS kill -9 trials, then an inventory
# rewritten in place, a failing resolver and a slow receiver) and prints the
# lost, duplicate and late notices (docs/faults.md); `make faults-smoke` is 3
# kill -9 trials on 12 sites, for CI.
.PHONY: demo bench bench-smoke build-farm faults faults-smoke
BENCH_SITES       ?= 10000
BENCH_CONCURRENCY ?= 32
DEMO_SITES        ?= 30

build-farm:
	$(GO) build -o $(BIN)/beianwatch-farm ./cmd/beianwatch-farm

demo: build build-farm
	$(BIN)/beianwatch-farm demo --beianwatch $(BIN)/beianwatch --sites $(DEMO_SITES) --dir data/demo

bench: build build-farm
	$(BIN)/beianwatch-farm bench --beianwatch $(BIN)/beianwatch --sites $(BENCH_SITES) \
		--concurrency $(BENCH_CONCURRENCY) --out bench/results.json

# The second smoke run is shaped like a hosting provider (one shared host,
# its zone served by Debian's NSD, a mix of hosts) and fails when beianwatch
# falls behind blackbox_exporter there, or when its throughput at
# concurrency 64 falls below 0.7 of that at 8: ratios measured in one run,
# with room for a loaded machine.
bench-smoke: build build-farm
	$(BIN)/beianwatch-farm bench --beianwatch $(BIN)/beianwatch --sites 50 --concurrency 8 \
		--slow-delay 200ms --scenarios baseline,slow,render --out $(BIN)/bench-smoke.json
	$(BIN)/beianwatch-farm bench --beianwatch $(BIN)/beianwatch --sites 1000 --concurrency 64 \
		--scenarios shared,nsd,mix --scaling 8,64 --min-ratio 1.0 --min-scaling 0.7 \
		--out $(BIN)/bench-smoke-hosting.json

FAULT_TRIALS ?= 50

faults: build build-farm
	$(BIN)/beianwatch-farm faults --beianwatch $(BIN)/beianwatch --trials $(FAULT_TRIALS) \
		--dir data/faults --out $(BIN)/faults.json

faults-smoke: build build-farm
	$(BIN)/beianwatch-farm faults --beianwatch $(BIN)/beianwatch --trials 3 --scenarios=false \
		--sites 12 --window 40s --dir $(BIN)/faults-smoke --out $(BIN)/faults-smoke.json
