"""Real state after the role converged on Debian 11: bus device model, system RAM, boot unit for daxctl 71."""
import json

import pytest


def run_json(host, cmd):
    with host.sudo():
        out = host.check_output(cmd)
    return json.loads(out) if out.strip() else []


@pytest.fixture(scope="module")
def namespace(host):
    return [ns for ns in run_json(host, "ndctl list -N") if ns.get("name") == "pmem-ram0"][0]


def test_bus_model_now_and_at_boot(host):
    assert not host.file("/sys/bus/nd/drivers/dax_pmem_compat").exists
    assert host.file("/sys/bus/nd/drivers/dax_pmem").is_directory
    assert host.file("/etc/modprobe.d/daxctl.conf").exists
    with host.sudo():
        assert host.check_output("modprobe --resolve-alias nd:t7").strip() == "dax_pmem"


def test_system_ram_online_movable(host, namespace):
    dev = [d for d in run_json(host, "daxctl list") if d["chardev"] == namespace["chardev"]][0]
    assert dev["mode"] == "system-ram"
    assert dev["movable"] is True
    node = dev["target_node"]
    blocks = [b for b in run_json(host, "lsmem -J -a -o RANGE,SIZE,STATE,BLOCK,NODE,ZONES")["memory"]
              if int(b["node"]) == node]
    assert len(blocks) == 7 and all(b["state"] == "online" and b["zones"] == "Movable" for b in blocks)
    assert "node %d size: 896 MB" % node in host.check_output("numactl -H")


def test_boot_unit(host, namespace):
    uuid = namespace["uuid"]
    env = host.file("/etc/memtier-pmem/%s.env" % uuid)
    assert "MEMTIER_NAME=pmem-ram0" in env.content_string
    assert "MEMTIER_MOVABLE=true" in env.content_string
    link = host.file("/etc/systemd/system/multi-user.target.wants/memtier-system-ram@%s.service" % uuid)
    assert link.is_symlink
    assert host.file("/usr/local/sbin/memtier-system-ram").mode == 0o755
    assert not host.file("/etc/daxctl.conf.d/memtier-pmem-ram0.conf").exists
