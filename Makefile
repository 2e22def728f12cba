# borne: `make demo` runs everything on this machine; `make test` runs the checks and the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test lint bench soak audit system-deps clean

system-deps:
	@bash deploy/system-deps.sh

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[all,dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

demo: system-deps $(STAMP)
	$(BIN)/borne demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy .

test: system-deps $(STAMP) lint
	$(BIN)/python -m pytest

bench: system-deps $(STAMP)
	$(BIN)/python -m bench

SOAK_SECONDS ?= 900
soak: system-deps $(STAMP)
	$(BIN)/python -m tests.soak.chaos --seconds $(SOAK_SECONDS) --kiosks 50

# Known vulnerabilities in the installed dependencies (needs the vulnerability service: PyPI's JSON API or OSV).
audit: $(STAMP)
	$(BIN)/python -m pip check
	$(BIN)/python -m pip install -q pip-audit
	$(BIN)/pip-audit --skip-editable --strict

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
