"""A pytest plugin for the testinfra tests of every scenario (config.yml loads it with PYTEST_ADDOPTS=-p):
the host's state as ndctl, daxctl, lsmem and numactl report it, read once per test module."""
import json
import re

import pytest


@pytest.fixture(scope="module")
def pmem_bin():
    """What goes before "ndctl" and "daxctl": nothing (the PATH); a scenario that tests a build overrides it."""
    return ""


@pytest.fixture(scope="module")
def run_json(host):
    """Run a command as root and parse its JSON output (ndctl prints nothing for an empty list)."""
    def run(cmd):
        with host.sudo():
            out = host.check_output(cmd)
        return json.loads(out) if out.strip() else []
    return run


@pytest.fixture(scope="module")
def state(run_json, pmem_bin):
    """Named namespaces by name, dax devices by chardev, and every memory block (lsmem -a)."""
    namespaces = {ns["name"]: ns for ns in run_json(pmem_bin + "ndctl list -N") if ns.get("name")}
    devices = {d["chardev"]: d for d in run_json(pmem_bin + "daxctl list")}
    blocks = run_json("lsmem -a -J -o RANGE,SIZE,STATE,BLOCK,NODE,ZONES")["memory"]
    return namespaces, devices, blocks


@pytest.fixture(scope="module")
def numa(host):
    """numactl -H as {node: {"cpus": [...], "size_mb": N}}."""
    nodes = {}
    for line in host.check_output("numactl -H").splitlines():
        match = re.match(r"node (\d+) (cpus|size): ?(.*)$", line)
        if match:
            node = nodes.setdefault(int(match.group(1)), {})
            if match.group(2) == "cpus":
                node["cpus"] = match.group(3).split()
            else:
                node["size_mb"] = int(match.group(3).split()[0])
    return nodes
