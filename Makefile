# The two commands the README documents: `make book` and `make test`. Also `make bench`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON_SYS ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# One process with two torch threads is the fastest layout on two cores (DESIGN §6).
export OMP_NUM_THREADS ?= 2
export MKL_NUM_THREADS ?= 2

.PHONY: env unit bench test book clean

env: $(VENV)/.installed

$(VENV)/.installed: requirements.txt lib/pyproject.toml
	test -x $(PY) || $(PYTHON_SYS) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e lib
	touch $@

unit: env
	$(PY) -m pytest -q tests/lib

bench: env
	$(PY) bench/run.py

test: unit

clean:
	rm -rf _build _staging
