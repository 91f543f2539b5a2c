# meta-sorto: top-level entry points.  `make demo` and `make test` work on a
# fresh Debian 12 machine: both install what they need first (as root, or
# through sudo) and keep Python packages in a virtualenv under .venv.

SHELL := /bin/bash
VENV ?= $(CURDIR)/.venv
PY := $(VENV)/bin/python
SORTO := $(VENV)/bin/sorto
SORTO_CACHE ?= $(HOME)/.cache/sorto
FUZZ_TIME ?= 600
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export SORTO_CACHE

.PHONY: all deps demo test test-fast bench lint fuzz clean help

all: help

help:
	@echo "make demo   - the whole loop on cyclictest beside hackbench in the QEMU guest: profile, analyze, inject,"
	@echo "              measure without/with metadata and against chrt + taskset, report (sorto optimize)"
	@echo "make test   - run every test (unit, C decoder + short fuzz, patches, QEMU guests 6.12 and 6.1, the kernel-path tests also on the scratchpad guest)"
	@echo "make bench  - exec overhead, policy effect (faults, wake-up latency), parse throughput (function and"
	@echo "              function_graph logs) vs the reference engine, a naive parser and grep,"
	@echo "              scratchpad effect (kernel fetches and L1I misses served from SRAM, QEMU plugins),"
	@echo "              marking a tree of Debian armhf executables vs an objcopy loop, sorto start-up"
	@echo "make lint   - ruff, checkpatch --strict on every patch series and the module"
	@echo "make fuzz   - long libFuzzer run of the record decoder (FUZZ_TIME=$(FUZZ_TIME) s)"

$(VENV)/.deps-stamp: scripts/pyproject.toml .ci/install-deps.sh
	$(SUDO) bash .ci/install-deps.sh
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e 'scripts[test,fast]'
	# bitbake-setup's bb writes its shell-parser tables (bb/pysh/pyshtables.py) on first
	# import; two pytest workers importing it at once on a fresh venv read a half-written file.
	$(PY) -c 'import bb.pysh.pyshyacc'
	touch $@

deps: $(VENV)/.deps-stamp

demo: deps
	$(PY) -m sorto.demo

# Two workers: each kernel's QEMU tests run on one of them (tests/qemu/conftest.py
# groups them), so the 6.12 and 6.1 guests boot side by side on 2 cores.
PYTEST_JOBS ?= 2
PYTEST := $(PY) -m pytest -n $(PYTEST_JOBS) --dist loadgroup

# Then the kernel-path and attack tests again, on the scratchpad guest
# (-M vexpress-a15, its block of kernel functions resident in on-chip SRAM).
test: deps
	$(PYTEST) tests
	$(PYTEST) tests/qemu/test_kernel_path.py tests/qemu/test_act.py --guest-flavour scratchpad

test-fast: deps
	$(PYTEST) tests -m 'not qemu'

bench: deps
	$(PY) scripts/bench/exec_overhead.py
	$(PY) scripts/bench/policy_effect.py
	$(PY) scripts/bench/parse_throughput.py --flat-mb 100
	$(PY) scripts/bench/parse_throughput.py --log function_graph --size-mb 100 --flat-mb 20
	$(PY) scripts/bench/scratchpad_effect.py
	$(PY) scripts/bench/mark_tree.py

lint: deps
	$(VENV)/bin/ruff check scripts tests
	$(PY) -m pytest tests/test_patches.py -q

fuzz: deps
	$(PY) -m pytest tests/test_c_decoder.py -q -k fuzz --fuzz-time=$(FUZZ_TIME)

clean:
	rm -rf $(VENV) .pytest_cache
