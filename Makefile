# routegate: the two commands are `make run` and `make test` (see README.md).
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin

.PHONY: setup run test bench clean

# A virtualenv with the pinned dependencies (requirements.lock, with hashes) and routegate itself.
$(BIN)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --editable .
	touch $@

setup: $(BIN)/.installed

# The service on its embedded defaults: SQLite file, bundled manifest and templates, 127.0.0.1:8080.
# `make run PORT=9000 HOST=::1` moves it. Only a command-line HOST or PORT counts: shells such as
# zsh export HOST as the machine's name, which is no loopback address.
cli_flag = $(if $(filter command line,$(origin $(1))),$(2) '$($(1))')
run: setup
	exec $(BIN)/routegate serve $(call cli_flag,HOST,--host) $(call cli_flag,PORT,--port)

# Installs and starts what the tests need (PostgreSQL, Chromium, node's typescript), then runs them all.
test: setup
	scripts/test.sh

bench: setup
	$(BIN)/python bench/resolver.py
	$(BIN)/python bench/service.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
