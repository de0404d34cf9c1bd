"""Real state after the role converged on Debian 11: bus device model, system RAM, boot unit for daxctl 71."""
import pytest


@pytest.fixture(scope="module")
def namespace(state):
    return state[0]["pmem-ram0"]


def test_bus_model_now_and_at_boot(host):
    assert not host.file("/sys/bus/nd/drivers/dax_pmem_compat").exists
    assert host.file("/sys/bus/nd/drivers/dax_pmem").is_directory
    assert host.file("/etc/modprobe.d/daxctl.conf").exists
    with host.sudo():
        assert host.check_output("modprobe --resolve-alias nd:t7").strip() == "dax_pmem"


def test_system_ram_online_movable(state, numa, namespace):
    dev = state[1][namespace["chardev"]]
    assert dev["mode"] == "system-ram"
    assert dev["movable"] is True
    node = dev["target_node"]
    blocks = [b for b in state[2] if int(b["node"]) == node]
    assert len(blocks) == 7 and all(b["state"] == "online" and b["zones"] == "Movable" for b in blocks)
    assert numa[node] == {"cpus": [], "size_mb": 896}


def test_boot_unit(host, namespace):
    uuid = namespace["uuid"]
    env = host.file("/etc/memtier-pmem/%s.env" % uuid)
    assert "MEMTIER_NAME=pmem-ram0" in env.content_string
    assert "MEMTIER_MOVABLE=true" in env.content_string
    link = host.file("/etc/systemd/system/multi-user.target.wants/memtier-system-ram@%s.service" % uuid)
    assert link.is_symlink
    assert host.file("/usr/local/sbin/memtier-system-ram").mode == 0o755
    assert not host.file("/etc/daxctl.conf.d/memtier-pmem-ram0.conf").exists
