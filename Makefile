# The two commands a newcomer needs: `make demo` and `make test`. Both install what is missing first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.8
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MELTANO_STAMP := .meltano/.installed

# The next singer-sdk release, tested ahead of the upgrade in a venv of its own (`make test-next-sdk`).
NEXT_SDK := 0.55.0b7
NEXT_VENV := .venv-next-sdk
NEXT_STAMP := $(NEXT_VENV)/.installed

.PHONY: help deps demo orchestrate test test-next-sdk lint bench bench-quick bench-partitions reliability dist plugins clean

help:
	@echo "make demo         install everything, start the API emulators, load all four taps into DuckDB"
	@echo "make orchestrate  start the API emulators and the Dagster UI with every tap's parts (docs/scale-out.md)"
	@echo "make test         install everything and run the whole test suite"
	@echo "make test-next-sdk  the suite (less the Meltano runs) on singer-sdk $(NEXT_SDK), in $(NEXT_VENV)"
	@echo "make lint         ruff and mypy"
	@echo "make bench        throughput, memory, loader and latency tables (prints figures, writes bench/results/)"
	@echo "make bench-quick  the same tables, reduced (fewer records and configurations): a few minutes"
	@echo "make bench-partitions  wall time of 1, 2 and 4 parts side by side against one process"
	@echo "make reliability  the fault x tap matrix (also part of make test)"
	@echo "make dist         wheels and sdists of the kit and the four taps into dist/, checked with twine"
	@echo "make plugins      regenerate tap-*/plugin.yml and the settings tables of the tap READMEs"

$(UV):
	python3 -m pip install --quiet --user "uv==$(UV_VERSION)" || python3 -m pip install --quiet "uv==$(UV_VERSION)"

# Python packages, from the lock file.
$(STAMP): uv.lock pyproject.toml */pyproject.toml | $(UV)
	$(UV) sync --frozen --all-packages --compile-bytecode
	@touch $@

# Meltano's own plugin environments (taps from this repository, loaders pinned in meltano.yml).
$(MELTANO_STAMP): $(STAMP) meltano.yml
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/meltano install
	@touch $@

# PostgreSQL server binaries for the warehouse tests (Debian's package; root on our machines).
system-deps:
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null)

deps: $(STAMP) $(MELTANO_STAMP) system-deps

demo: deps
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python scripts/demo.py

orchestrate: deps
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python scripts/orchestrate.py

test: deps
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest -n 2 --timeout 900

# The locked environment with only singer-sdk replaced: what an upgrade would change, and nothing else.
$(NEXT_STAMP): uv.lock pyproject.toml */pyproject.toml | $(UV)
	UV_PROJECT_ENVIRONMENT=$(NEXT_VENV) $(UV) sync --frozen --all-packages
	$(UV) pip install --quiet --python $(NEXT_VENV)/bin/python "singer-sdk==$(NEXT_SDK)"
	@touch $@

# Tests marked e2e drive `meltano run`, whose plugin venvs keep the pinned SDK: they run in `make test`.
test-next-sdk: $(NEXT_STAMP) system-deps
	$(NEXT_VENV)/bin/python -c "import singer_sdk, importlib.metadata as m; v = m.version('singer-sdk'); \
		assert v == '$(NEXT_SDK)', v; print('singer-sdk', v)"
	PATH="$(CURDIR)/$(NEXT_VENV)/bin:$$PATH" $(NEXT_VENV)/bin/pytest -n 2 --timeout 900 -m "not e2e"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy marketing-tapkit/marketing_tapkit tap-*/tap_* sandbox orchestration

# bench/README.md says what each table measures and holds the last figures.
bench: deps
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/run.py

bench-quick: deps
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/run.py --records 20000 --load-records 5000 \
		--latency-records 5000 --quick

bench-partitions: deps
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/bench_partitions.py

reliability: deps
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest -n 2 tests/reliability --timeout 900

# The five packages (kit and taps), as a user installs them from an index, and their metadata checked.
dist: $(STAMP)
	rm -rf dist
	$(UV) build --all-packages --out-dir dist
	$(BIN)/twine check --strict dist/*

# plugin.yml and the README settings tables come from each tap's `--about`; tests fail when they drift.
plugins: $(STAMP)
	$(BIN)/python scripts/generate_plugin_definitions.py

clean:
	rm -rf $(VENV) $(NEXT_VENV) .meltano output
