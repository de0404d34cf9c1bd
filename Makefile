# memtier.pmem: build, test and demo targets. Everything runs from a virtual environment in
# .cache/venv (pinned requirements.txt); VMs are QEMU (TCG) guests made by the lab
# the collection ships (playbooks/lab_create.yml, playbooks/files/pmemvm.py and build-image.sh).
SHELL := /bin/bash
ROOT := $(abspath .)
VENV := $(ROOT)/.cache/venv
BIN := $(VENV)/bin
COLLECTIONS := $(ROOT)/.cache/collections
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export PATH := $(BIN):$(PATH)

# Scenarios, JOBS at a time. `make test` must stay under 60 minutes from a fresh clone on a 2-core machine
# without KVM (every guest is emulated by TCG), so it runs six, which prove every kind of device: four on Debian 12:
# the role end to end (PMem namespaces), issue 8's refusals (faults-bookworm, and faults-memmap-bookworm: the memmap
# refusal on a 1 GiB guest with a 56 GiB NVDIMM), and lab-bookworm, the lab as a user gets it (the README's scenario
# run from a temporary directory against the built and installed tarball: extensions/molecule/lab-bookworm/run.sh,
# which run-scenarios.sh runs instead of molecule test); cxl-trixie, CXL memory on Debian 13 (the modules, then the
# role by serial number with a power cycle and a release); hmem-trixie, soft-reserved memory on Debian 13 (the role
# by address, a reboot, a release): a fresh clone's .ci/run took 41 minutes (2026-11-27, images cached). CI's run
# with hmem-bookworm too took 53 minutes (one scenario failing early), too close to 60, so hmem-bookworm (the same playbooks on Debian 12, where the device boots in devdax, the path
# of a namespace) went to `make test-full`, which runs the rest (see README, "How it is tested"): it, the role on
# Debian 11 and 13, the modules on Debian 11, 12 and 13, the ndctl build from source, and the upgrade of a host
# provisioned by release 0.1.0 (upgrade-bookworm).
TEST_SCENARIOS := role-bookworm faults-bookworm faults-memmap-bookworm lab-bookworm cxl-trixie hmem-trixie
FULL_SCENARIOS := hmem-bookworm role-bullseye role-trixie modules-bullseye modules-bookworm modules-trixie role-source upgrade-bookworm
SCENARIOS ?= $(TEST_SCENARIOS)
JOBS ?= 1

.PHONY: help venv link units units-targets core-matrix sanity lint docs-lint check-ee molecule test test-full demo images build release clean

help:
	@echo "make demo    - boot a QEMU-NVDIMM VM and turn its PMem into system RAM with the collection"
	@echo "make demo CXL=1 - the same with a CXL VM: cxl_region over two memory expanders, memory_online"
	@echo "make test    - units (controller and target Pythons), sanity, ansible-lint, docs and changelog lint, the EE check, six scenarios (PMem, CXL, soft-reserved memory)"
	@echo "make test-full - make test, then the other eight scenarios and the ansible-core matrix"
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

# The plugin docs as docs.ansible.com renders them, and the changelog fragments. antsibull-docs lives in a
# venv of its own (requirements-docs.txt); it runs the main venv's ansible-doc.
DOCS_BIN := $(ROOT)/.cache/docs-venv/bin
$(DOCS_BIN)/antsibull-docs: requirements-docs.txt
	python3 -m venv $(ROOT)/.cache/docs-venv
	$(DOCS_BIN)/pip install --quiet --disable-pip-version-check -r requirements-docs.txt
	touch $@

docs-lint: venv link $(DOCS_BIN)/antsibull-docs
	cd $(COLLECTIONS)/ansible_collections/memtier/pmem && $(DOCS_BIN)/antsibull-docs lint-collection-docs --plugin-docs .
	$(BIN)/antsibull-changelog lint

# An execution environment built with the collection installs nothing for the managed hosts.
check-ee: venv
	tools/check-ee.sh

images:
	for suite in bullseye bookworm trixie; do playbooks/files/build-image.sh $$suite; done

# JOBS=1 (the default) runs them one after another. molecule installs the collection into
# ~/.ansible/collections before each scenario, so parallel scenarios (JOBS=2) can race on that copy.
molecule: venv link
	JOBS=$(JOBS) tools/run-scenarios.sh $(SCENARIOS)

test: units units-targets sanity lint docs-lint check-ee molecule

# ansible-test units on the target Pythons (3.8 and 3.12), and sanity/units on the oldest and newest ansible-core.
units-targets: venv
	tools/core-matrix.sh --units

core-matrix: venv
	tools/core-matrix.sh

test-full: test
	$(MAKE) molecule SCENARIOS="$(FULL_SCENARIOS)"
	$(MAKE) core-matrix

# make demo CXL=1: a Debian 13 guest with two CXL memory expanders instead (tools/demo.py, DEMO_CXL).
demo: venv link
	$(if $(CXL),DEMO_CXL=$(CXL) )$(BIN)/python tools/demo.py

build: venv
	$(BIN)/ansible-galaxy collection build --force --output-path .cache/dist

# make release VERSION=0.2.0, then commit galaxy.yml, CHANGELOG.rst and changelogs/.
release: venv
	@test -n "$(VERSION)" || { echo "usage: make release VERSION=x.y.z" >&2; exit 2; }
	tools/release.sh $(VERSION)

clean:
	rm -rf .cache/sanity .cache/dist tests/output

# bench/flow.py (issue 9, item 4): the seed's four commands, the module flow and the system_ram role timed in
# interleaved rounds on one Debian 12 VM, as ratios; writes bench/results/flow-<date>.json and exits 1 when a
# target is missed. About 25 minutes under TCG on 2 cores. The VM runs under the machine-wide lock that the
# other VM runs take. Not part of make test. BENCH_ARGS='--rounds 5' for more rounds.
VM_LOCK ?= /tmp/memtier-vm.lock
.PHONY: bench bench-fleet
bench: venv link
	flock $(VM_LOCK) $(BIN)/python bench/flow.py $(BENCH_ARGS)

# Three VMs at once (Debian 11, 12, 13; kmem blacklisted on 11): extend_ram and report, controller CPU per host.
bench-fleet: venv link
	flock $(VM_LOCK) $(BIN)/python bench/fleet.py
