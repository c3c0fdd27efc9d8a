# `make run` and `make test` work on a fresh machine: they create .venv, install, generate stubs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# uv installs the locked dependency tree (uv.lock, with hashes) and updates the lock (`make lock`).
UV_VERSION := 0.13.10
UV := $(BIN)/uv
UV_STAMP := $(VENV)/.uv-$(UV_VERSION)
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never
# protos/google: googleapis' error types, vendored for other languages' clients (docs/api-errors.md);
# Python has them from googleapis-common-protos, which stubs of ours in gen/google would shadow.
PROTOS := $(shell find protos -name '*.proto' -not -path 'protos/google/*')
GEN_STAMP := gen/.stamp
BUF := npx --yes @bufbuild/buf@1.75.0
export PYTHONPATH := $(CURDIR):$(CURDIR)/gen

.PHONY: run test protos lock lock-upgrade lock-check lint fmt typecheck importlint buf-lint buf-breaking alert-rules test-unit \
        test-integration test-e2e test-reliability pytest fake-ghl migrate clean

run: $(STAMP) $(GEN_STAMP)
	$(BIN)/integrations serve

$(UV_STAMP):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	touch $(UV_STAMP)

# Exactly the lock's packages (hashes checked, extraneous ones removed); fails if the lock is stale.
$(STAMP): pyproject.toml uv.lock $(UV_STAMP)
	$(UV) sync --locked --extra dev
	# Generated stubs live in gen/ (never committed); make them importable from the venv.
	echo "$(CURDIR)/gen" > $$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/integrations-gen.pth
	touch $(STAMP)

protos: $(GEN_STAMP)

$(GEN_STAMP): $(STAMP) $(PROTOS)
	rm -rf gen && mkdir -p gen
	$(BIN)/python -m grpc_tools.protoc -Iprotos --python_out=gen --grpc_python_out=gen \
		--plugin=protoc-gen-mypy=$(BIN)/protoc-gen-mypy --plugin=protoc-gen-mypy_grpc=$(BIN)/protoc-gen-mypy_grpc \
		--mypy_out=gen --mypy_grpc_out=gen $(PROTOS)
	find gen -mindepth 1 -type d -exec touch {}/__init__.py \;
	touch $(GEN_STAMP)

# After a change to pyproject.toml's dependencies: the lock re-resolved, other pins kept.
lock: $(UV_STAMP)
	$(UV) lock

# Every package to the newest version pyproject.toml allows.
lock-upgrade: $(UV_STAMP)
	$(UV) lock --upgrade

lock-check: $(UV_STAMP)
	$(UV) lock --check

test: lock-check lint typecheck importlint buf-lint buf-breaking alert-rules pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP) $(GEN_STAMP)
	$(BIN)/mypy domain application adapters entrypoints

importlint: $(STAMP)
	$(BIN)/lint-imports

buf-lint:
	$(BUF) lint
	$(BUF) format --diff --exit-code

# Compares protos/ with main's (a no-op on main itself; it guards branches and local changes).
buf-breaking:
	@if git cat-file -e main:buf.yaml 2>/dev/null; then \
		$(BUF) breaking --against '.git#branch=main'; \
	else echo "buf breaking: main has no protos yet"; fi

# The Prometheus alert rules operators load: valid, and each alert fires on its test series.
# promtool comes with Debian's `prometheus` package (.ci/run installs it when missing).
alert-rules:
	promtool check rules deploy/prometheus/alerts.yml
	promtool test rules deploy/prometheus/alerts_test.yml

pytest: $(STAMP) $(GEN_STAMP)
	$(BIN)/pytest -q

test-unit: $(STAMP) $(GEN_STAMP)
	$(BIN)/pytest -q tests/unit

test-integration: $(STAMP) $(GEN_STAMP)
	$(BIN)/pytest -q tests/integration

test-e2e: $(STAMP) $(GEN_STAMP)
	$(BIN)/pytest -q tests/e2e

test-reliability: $(STAMP) $(GEN_STAMP)
	$(BIN)/pytest -q -m slow

.PHONY: bench
# Benchmarks beside hand-written baselines (docs/performance.md). Needs wrk, h2load and valgrind
# (apt-get install wrk nghttp2-client valgrind) and the Postgres of TEST_DATABASE_URL.
bench: $(STAMP) $(GEN_STAMP)
	$(BIN)/python -m bench

migrate: $(STAMP)
	$(BIN)/integrations migrate

fake-ghl: $(STAMP) $(GEN_STAMP)
	$(BIN)/integrations fake-ghl

clean:
	rm -rf gen $(VENV) .mypy_cache .ruff_cache .pytest_cache
