# Mars terrain mapping, reproduced. `make test` and `make book` are the two commands.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PROFILE ?= quick
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

.PHONY: install browser test lint book html pdf clean-book

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

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
	$(PY) -m marsutils.pipeline --profile $(PROFILE)

# Build the book from the committed, executed notebooks (no re-training).
html: install
	$(PY) -m marsutils.pipeline --build-only

# The published book as one PDF (single-HTML build printed by headless Chromium).
pdf: install browser
	$(PY) -m marsutils.pdf

clean-book:
	rm -rf book/_build
