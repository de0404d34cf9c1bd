# memtier.pmem: build, test and demo targets. Everything runs from a virtual environment in
# .cache/venv (pinned requirements.txt); VMs are QEMU (TCG) guests made by tools/vm/.
SHELL := /bin/bash
ROOT := $(abspath .)
VENV := $(ROOT)/.cache/venv
BIN := $(VENV)/bin
COLLECTIONS := $(ROOT)/.cache/collections
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export PATH := $(BIN):$(PATH)

# Scenarios that `make test` runs, JOBS at a time. `make test` stays under 60 minutes on this 2-core
# machine; what does not fit runs in `make test-full`: role-source (the ndctl build from source, about 9
# minutes) and faults-memmap-bookworm (a 1 GiB guest with a 56 GiB NVDIMM, issue 8 item 13).
MODULE_SCENARIOS := modules-bullseye modules-bookworm modules-trixie
ROLE_SCENARIOS := role-bookworm role-bullseye role-trixie
# Issue 8's refusals on a real kernel: every bad input refused, the host unchanged.
FAULT_SCENARIOS := faults-bookworm
FULL_SCENARIOS := role-source faults-memmap-bookworm
SCENARIOS ?= $(ROLE_SCENARIOS) $(MODULE_SCENARIOS) $(FAULT_SCENARIOS)
JOBS ?= 1

.PHONY: help venv link units units-targets core-matrix sanity lint check-ee molecule test test-full demo images build release clean

help:
	@echo "make demo    - boot a QEMU-NVDIMM VM and turn its PMem into system RAM with the collection"
	@echo "make test    - units, ansible-test sanity, ansible-lint, the EE check and the molecule scenarios"
	@echo "make test-full - make test, role-source, faults-memmap-bookworm, ansible-test units on 3.8/3.12, the core matrix"
	@echo "make units   - unit tests only (seconds)"
	@echo "make molecule SCENARIOS='modules-bookworm' - chosen scenarios only"

$(BIN)/ansible: requirements.txt
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

venv: $(BIN)/ansible

# The collection is found through ansible_collections/memtier/pmem -> this checkout.
link:
	@mkdir -p $(COLLECTIONS)/ansible_collections/memtier
	@ln -sfn $(ROOT) $(COLLECTIONS)/ansible_collections/memtier/pmem

# Plain pytest on the venv's Python; the collection is imported through the link, nothing is written to the checkout.
units: venv link
	PYTHONPATH=$(COLLECTIONS) PYTHONDONTWRITEBYTECODE=1 $(BIN)/pytest -q -p no:cacheprovider tests/unit

# ansible-test wants the collection at ansible_collections/memtier/pmem: test a copy of the tracked files.
sanity: venv
	@pipver=$$($(BIN)/python -c "import ansible_test, os, re; f = os.path.join(os.path.dirname(ansible_test.__file__), '_internal', 'python_requirements.py'); print(re.search(r\"pip='([0-9.]+)'\", open(f).read()).group(1))"); \
	  cache=$$HOME/.ansible/test/cache/get_pip_$${pipver//./_}.py; \
	  [ -s $$cache ] || { mkdir -p $$(dirname $$cache) && cp tools/get_pip_bootstrap.py $$cache; }
	rm -rf .cache/sanity && mkdir -p .cache/sanity/ansible_collections/memtier/pmem
	git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t .cache/sanity/ansible_collections/memtier/pmem
	cd .cache/sanity/ansible_collections/memtier/pmem && git init -q && git add -A && \
	  $(BIN)/ansible-test sanity --color no --python 3.11 --requirements 2>&1 | tail -40; \
	  exit $${PIPESTATUS[0]}

# At the root, as Galaxy and users run it.
lint: venv link
	$(BIN)/ansible-lint --profile production

# An execution environment built with the collection installs nothing for the managed hosts.
check-ee: venv
	tools/check-ee.sh

images:
	for suite in bullseye bookworm trixie; do tools/vm/build-image.sh $$suite; done

# JOBS=1 (the default) runs them one after another. molecule installs the collection into
# ~/.ansible/collections before each scenario, so parallel scenarios (JOBS=2) can race on that copy.
molecule: venv link
	JOBS=$(JOBS) tools/run-scenarios.sh $(SCENARIOS)

test: units units-targets sanity lint check-ee molecule

# ansible-test units on the target Pythons (3.8 and 3.12), and sanity/units on the oldest and newest ansible-core.
units-targets: venv
	tools/core-matrix.sh --units

core-matrix: venv
	tools/core-matrix.sh

test-full: test
	$(MAKE) molecule SCENARIOS="$(FULL_SCENARIOS)"
	$(MAKE) core-matrix

demo: venv link
	$(BIN)/python tools/demo.py

build: venv
	$(BIN)/ansible-galaxy collection build --force --output-path .cache/dist

# make release VERSION=0.2.0, then commit galaxy.yml, CHANGELOG.rst and changelogs/.
release: venv
	@test -n "$(VERSION)" || { echo "usage: make release VERSION=x.y.z" >&2; exit 2; }
	tools/release.sh $(VERSION)

clean:
	rm -rf .cache/sanity .cache/dist tests/output
