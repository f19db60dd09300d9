# Mars terrain mapping, reproduced. `make test` and `make book` are the two commands.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PROFILE ?= quick
PY := $(VENV)/bin/python
# requirements.lock pins every package of ".[dev]" (and the build backend) with its hashes.
# The stamp names this checkout too: the editable install points at one checkout, so a second
# checkout sharing the environment (VENV=...) installs itself again.
LOCK := requirements.lock
STAMP := $(VENV)/.installed-$(shell { cat pyproject.toml $(LOCK); echo "$(CURDIR)"; } | sha256sum | cut -c1-12)
# `make lock` regenerates the lock with pip-tools (its own venv); LOCKFLAGS=--upgrade lifts the
# transitive pins to the newest releases, otherwise only what pyproject.toml changed moves.
PIP_TOOLS := 7.6.2
LOCK_VENV ?= $(HOME)/.cache/marsutils-pip-tools-$(PIP_TOOLS)
LOCKFLAGS ?=

.PHONY: install lock browser test lint book html pdf clean-book

$(STAMP): pyproject.toml $(LOCK)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-build-isolation --no-deps -e .
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

lock:
	@test -x $(LOCK_VENV)/bin/pip-compile || { $(PYTHON) -m venv $(LOCK_VENV) && \
	  $(LOCK_VENV)/bin/pip install --quiet --disable-pip-version-check pip-tools==$(PIP_TOOLS); }
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes \
	  --extra dev --build-deps-for editable --allow-unsafe --strip-extras \
	  --no-emit-index-url --no-emit-find-links $(LOCKFLAGS) --output-file $(LOCK) pyproject.toml

# Headless Chromium (Debian package) for the test that opens the built book.
browser:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || { \
	  echo "installing Debian chromium and chromium-driver for the book test"; \
	  apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: install browser lint
	$(PY) -m pytest

# Execute every notebook under PROFILE, collect them into the book and build it.
book: install
	$(PY) -m marsutils.book.pipeline --profile $(PROFILE)

# Build the book from the committed, executed notebooks (no re-training).
html: install
	$(PY) -m marsutils.book.pipeline --build-only

# The published book as one PDF (single-HTML build printed by headless Chromium).
pdf: install browser
	$(PY) -m marsutils.book.pdf

clean-book:
	rm -rf book/_build
