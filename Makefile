# routegate: the two commands are `make run` and `make test` (see README.md).
#
# The venv never trusts the machine's pip: `python -m venv` brings whatever pip the
# interpreter bundles, which only installs requirements/bootstrap.lock (a pinned, hashed pip
# and build backend). That pip then installs the project's locks, every package pinned and
# hashed, with --no-deps: the locks are complete, so nothing is resolved against the index.
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --quiet --disable-pip-version-check
LOCKED := $(PIP) install --require-hashes --no-deps --only-binary :all: -r

.PHONY: setup setup-test run check test bench clean lock

$(BIN)/.bootstrap: requirements/bootstrap.lock
	$(PYTHON) -m venv $(VENV)
	$(LOCKED) requirements/bootstrap.lock
	touch $@

# What running needs: the core and the service extra (requirements/run.lock).
$(BIN)/.run: $(BIN)/.bootstrap requirements/run.lock pyproject.toml
	$(LOCKED) requirements/run.lock
	$(PIP) install --no-deps --no-build-isolation --editable .
	$(PIP) check
	touch $@

# What testing adds (requirements/test.lock: the run lock's pins and the test tools).
$(BIN)/.test: $(BIN)/.run requirements/test.lock
	$(LOCKED) requirements/test.lock
	$(PIP) check
	touch $@

setup: $(BIN)/.run
setup-test: $(BIN)/.test

# The service on its embedded defaults: SQLite file, bundled manifest and templates, 127.0.0.1:8080.
# `make run PORT=9000 HOST=::1` moves it. Only a command-line HOST or PORT counts: shells such as
# zsh export HOST as the machine's name, which is no loopback address.
cli_flag = $(if $(filter command line,$(origin $(1))),$(2) '$($(1))')
run: setup
	exec $(BIN)/routegate serve $(call cli_flag,HOST,--host) $(call cli_flag,PORT,--port)

# Seconds to minutes, no root, no services: lint, format, types and the unit-level tests.
check: setup-test
	scripts/check.sh

# Installs and starts what the tests need (PostgreSQL, Chromium, node's typescript, Go), then runs them all.
test: setup-test
	scripts/test.sh

bench: setup-test
	$(BIN)/python bench/resolver.py
	$(BIN)/python bench/service.py

# Recompiles the locks from pyproject.toml and requirements/bootstrap.in (keeps existing pins).
lock:
	scripts/lock.sh

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
