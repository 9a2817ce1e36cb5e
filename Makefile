# Two commands for a new machine: `make run` (the whole stack) and `make test` (the whole suite).
# Both create .venv with python3 -m venv if it is missing and install everything they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PACKAGES := libs/protocol libs/runtime services/gateway services/ingest services/query cli
STAMP := $(VENV)/.installed
PYPROJECTS := $(foreach p,$(PACKAGES),$(p)/pyproject.toml)

.PHONY: run test lint typecheck bench clean

$(STAMP): $(PYPROJECTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(foreach p,$(PACKAGES),-e $(p)) -e "cli[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/millimetric dev $(ARGS)

test: $(STAMP)
	-@sh tests/support/ensure_chromium.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check libs services cli tests bench
	$(BIN)/mypy

# wrk (Debian's package) is the load generator; installed here when missing and we are root,
# otherwise the benchmarks fall back to an aiohttp client and say so.
bench: $(STAMP)
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && { apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }; }; } \
	  || echo "bench: wrk is not installed; the aiohttp load generator will be used"
	$(BIN)/python -m bench $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
