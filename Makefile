# Two commands: `make run` and `make test`. Everything else is a helper for them.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test venv bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(TEST_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/agora

test: $(TEST_STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/agora bench world --json

clean:
	rm -rf $(VENV) build *.egg-info
