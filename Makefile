# The two commands the README documents: `make book` and `make test`. Also `make bench`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON_SYS ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The venv first on PATH: jupyter-book, and the kernels papermill and nbval start, use its python.
export PATH := $(abspath $(VENV))/bin:$(PATH)
# One process with two torch threads is the fastest layout on two cores (DESIGN §6).
export OMP_NUM_THREADS ?= 2
export MKL_NUM_THREADS ?= 2
# Keep glibc from handing large float64 temporaries back to the system after every step and faulting
# them in again (DESIGN §6: ~4000 page faults per step; measured here: batched training 6.3 s -> 4.6 s).
export MALLOC_MMAP_THRESHOLD_ ?= 1000000000
export MALLOC_TRIM_THRESHOLD_ ?= 1000000000
export MALLOC_TOP_PAD_ ?= 268435456
# quick: the notebooks' own defaults (~1 min per chapter); paper: book/_params/paper.yml
PROFILE ?= quick
# WORKERS > 1: the chapters' seed sweeps sharded over a Dask cluster (a LocalCluster, or the scheduler at
# $DASK_SCHEDULER_ADDRESS); DEVICE: cpu, cuda or auto for the chapters and `make unit` / `make bench`.
WORKERS ?= 1
DEVICE ?= cpu
# Chapters executed at once by `make book`, `book-quick` and `nbval`, each with OMP_NUM_THREADS / JOBS torch
# threads (most chapters run one thread anyway: thousands of tiny batched products); JOBS=1: one after another.
JOBS ?= 2

.PHONY: env node unit lint bench test book book-quick nbval claims pipeline browser colab-check set-repository clean

env: $(VENV)/.installed

$(VENV)/.installed: requirements.txt lib/pyproject.toml
	test -x $(PY) || $(PYTHON_SYS) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e lib
	touch $@

# Vendored JavaScript (MathJax, ipywidgets HTML manager), exact versions from package-lock.json.
node: node_modules/.installed

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# DEVICE=cuda: the tests that take the `device` fixture (tests/lib/conftest.py) run on the GPU and compare with
# the CPU; no GPU there is an error, not a silent CPU run. One thread: as fast as two on a quiet machine (19.5 s vs 19.6 s here), and robust when something else
# shares the cores (two threads took 176 s beside a running chapter).
unit: env
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest -q tests/lib --device $(DEVICE)

# The chapters' code cells: formatted by ruff, no line over 88 characters (ruff.toml). To fix:
# .venv/bin/ruff format book && .venv/bin/ruff check book
lint: env
	$(VENV)/bin/ruff format --check book
	$(VENV)/bin/ruff check book

bench: env
	$(PY) bench/run.py --device $(DEVICE)

# Executes every chapter of _toc.yml (papermill), renders _build/html; PROFILE=paper for publication scale.
book: env node
	$(PY) scripts/build_book.py --profile $(PROFILE) --jobs $(JOBS) --workers $(WORKERS) --device $(DEVICE)

book-quick: env node
	$(PY) scripts/build_book.py --profile quick --jobs $(JOBS)

# nbval re-executes the executed chapters (second run) and compares outputs; then summary.json and CSVs
# must equal the papermill run's (determinism, no third execution).
nbval: env
	$(PY) scripts/nbval_check.py --jobs $(JOBS)

# Each chapter's claims check must fail on data broken on purpose (tests/book/sabotage/<chapter>.py):
# one quick-profile run per chapter (two chapters at once), the analysis cells re-run per broken-data case.
claims: env
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) scripts/claims_can_fail.py

# Pipeline tests on small fixture books (failing chapter, mistyped parameter, ...): about a minute.
pipeline: env node
	$(PY) -m pytest -q tests/book

# Headless Debian chromium opens every page of _build/html (offline; see .ci/run for the install).
# Where the machine allows it (root, util-linux unshare, iproute2), the check runs in a network namespace
# with only loopback: the network is really off. Elsewhere it runs as is and blocks off-site requests itself.
browser: env
	if unshare -n sh -c 'ip link set lo up' 2>/dev/null; then \
	  echo "browser check: network namespace with loopback only (network off)"; \
	  unshare -n sh -c 'ip link set lo up && exec $(PY) scripts/check_html.py _build/html'; \
	else \
	  $(PY) scripts/check_html.py _build/html; \
	fi

# One step after another (also under make -j): nbval and the browser check use the book that book-quick
# leaves in _build/html. Measured here: see README (Benchmarks / timings).
test: env node
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory book-quick
	$(MAKE) --no-print-directory nbval
	$(MAKE) --no-print-directory claims
	$(MAKE) --no-print-directory pipeline
	$(MAKE) --no-print-directory browser
	$(MAKE) --no-print-directory colab-check

# Colab, simulated (scripts/colab_check.py): a fresh environment with only Python, numpy and torch, the
# setup cell's pip install from a git+file:// clone of this repository (its committed HEAD), one chapter run.
colab-check: env
	$(PY) scripts/colab_check.py

# The public repository's URL, written wherever it is kept: make set-repository URL=https://github.com/OWNER/NAME
set-repository: env
	@test -n "$(URL)" || { echo "usage: make set-repository URL=https://github.com/OWNER/NAME" >&2; exit 2; }
	$(PY) scripts/set_repository.py "$(URL)"

clean:
	rm -rf _build _staging
