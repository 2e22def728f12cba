# borne: `make demo` runs everything on this machine; `make test` runs the checks and the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

# The OpenID Connect provider that the sign-in tests and the demo start (oidc-provider on Node.js).
OIDC       := dev/oidc
OIDC_STAMP := $(OIDC)/node_modules/.installed-$(shell cat $(OIDC)/package-lock.json | cksum | cut -d' ' -f1)

.PHONY: demo test test-pi test-oldest lint bench soak audit system-deps clean

system-deps:
	@bash deploy/system-deps.sh

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[all,dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

$(OIDC_STAMP): $(OIDC)/package.json $(OIDC)/package-lock.json
	cd $(OIDC) && npm ci --no-audit --no-fund --loglevel=error
	touch $(OIDC_STAMP)

demo: system-deps $(STAMP) $(OIDC_STAMP)
	$(BIN)/python -m borne demo   # from the source tree: the demo needs devtools/, which is not installed

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy .

test: system-deps $(STAMP) $(OIDC_STAMP) lint
	$(BIN)/python -m pytest

bench: system-deps $(STAMP)
	$(BIN)/python -m bench

SOAK_SECONDS ?= 900
soak: system-deps $(STAMP)
	$(BIN)/python -m tests.soak.chaos --seconds $(SOAK_SECONDS) --kiosks 50

# The database, KPI and vote-path tests on the oldest majors pyproject.toml admits (SQLAlchemy 2.0, pandas 2).
test-oldest: system-deps
	test -x .venv-oldest/bin/python || $(PYTHON) -m venv .venv-oldest
	.venv-oldest/bin/python -m pip install -q -e '.[all,dev]' 'sqlalchemy>=2.0.36,<2.1' 'pandas>=2.2,<3'
	.venv-oldest/bin/python -m pytest tests/kpi tests/collector tests/registry tests/e2e tests/security/test_fuzz_import.py

# The kiosk's first boot on an emulated Raspberry Pi (tests/pi/, docs/provisioning.md): an arm64 Debian Trixie card
# built once under .cache/pi with mmdebstrap, booted by qemu-system-aarch64 (TCG), a network with nothing but the
# broker. Slow: see docs/performance.md, « The emulated Pi ».
test-pi: system-deps $(STAMP)
	bash deploy/pi/deps.sh
	BORNE_TEST_PI=1 $(BIN)/python -m pytest tests/pi -s -p no:cacheprovider

# Known vulnerabilities in the installed dependencies (needs the vulnerability service: PyPI's JSON API or OSV).
audit: $(STAMP)
	$(BIN)/python -m pip check
	$(BIN)/python -m pip install -q pip-audit
	$(BIN)/pip-audit --skip-editable --strict

clean:
	rm -rf $(VENV) .venv-oldest .cache/pi build *.egg-info .pytest_cache .mypy_cache .ruff_cache
