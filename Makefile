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
	$(GO) test -count=1 ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

run: build
	$(BIN)/beianwatch run

fuzz:
	$(GO) test ./checks -run '^$$' -fuzz FuzzParseICP -fuzztime 60s

clean:
	rm -rf $(BIN) data
