# The two commands a newcomer needs: `make demo` and `make test`. Both install what is missing first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.8
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MELTANO_STAMP := .meltano/.installed

.PHONY: help deps demo orchestrate test lint bench bench-partitions reliability clean

help:
	@echo "make demo         install everything, start the API emulators, load all four taps into DuckDB"
	@echo "make orchestrate  start the API emulators and the Dagster UI with every tap's parts (docs/scale-out.md)"
	@echo "make test         install everything and run the whole test suite"
	@echo "make lint         ruff and mypy"
	@echo "make bench        throughput and memory benchmarks (prints figures, writes bench/results/)"
	@echo "make bench-partitions  wall time of 1, 2 and 4 parts side by side against one process"
	@echo "make reliability  the fault x tap matrix (also part of make test)"

$(UV):
	python3 -m pip install --quiet --user "uv==$(UV_VERSION)" || python3 -m pip install --quiet "uv==$(UV_VERSION)"

# Python packages, from the lock file.
$(STAMP): uv.lock pyproject.toml */pyproject.toml | $(UV)
	$(UV) sync --frozen --all-packages
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

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy marketing-tapkit/marketing_tapkit tap-*/tap_* sandbox orchestration

bench: deps
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/run.py

bench-partitions: deps
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/bench_partitions.py

reliability: deps
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest -n 2 tests/reliability --timeout 900

clean:
	rm -rf $(VENV) .meltano output
