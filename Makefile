# storegw — the two set-up commands are `make demo` and `make test`; both work on a fresh Debian machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# gcc: evdev is published as source only and is compiled on install.
APT_PACKAGES := python3-venv python3-dev gcc mosquitto chromium
DATA_DIR ?= demo-data
HTTP_PORT ?= 8080
PYTEST_ARGS ?=

.PHONY: demo test lint typecheck bench system-deps venv clean docs provision-test

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing system packages:$$missing"; \
	    echo "run as root, or: sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

venv: system-deps $(STAMP)

demo: venv
	$(VENV)/bin/storegw --data-dir $(DATA_DIR) demo --http-port $(HTTP_PORT)

lint: venv
	$(VENV)/bin/ruff check .

typecheck: venv
	$(VENV)/bin/mypy

test: venv lint typecheck
	$(PY) -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

# Ansible against a debootstrap'ed Debian bookworm chroot (root; a few minutes; needs debootstrap).
provision-test: venv
	@command -v debootstrap >/dev/null || { [ "$$(id -u)" = "0" ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
	STOREGW_PROVISION_TEST=1 $(PY) -m pytest -p no:cacheprovider tests/deploy/test_provision_chroot.py

bench: venv
	$(PY) -m bench

docs: venv
	$(VENV)/bin/storegw config-doc > docs/configuration.md

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
