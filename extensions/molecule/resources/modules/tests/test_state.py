"""What the kernel shows after the modules scenario: pmem-ram's 2 GiB online as movable system RAM."""
import pytest


@pytest.fixture(scope="module")
def device(state):
    namespaces, devices = state[:2]
    return devices[namespaces["pmem-ram"]["chardev"]]


def test_only_the_seed_namespace_is_left(run_json):
    namespaces = run_json("ndctl list -N")
    assert [ns.get("name") for ns in namespaces] == ["pmem-ram"]
    assert namespaces[0]["mode"] == "devdax"


def test_dax_device_is_system_ram(device):
    assert device["mode"] == "system-ram"
    if "total_memblocks" in device:  # daxctl 72 and later
        assert device["online_memblocks"] == device["total_memblocks"] > 0
    assert device.get("movable") is True


def test_lsmem_shows_the_node_online_and_movable(state, device):
    ours = [block for block in state[2] if int(block["node"]) == device["target_node"]]
    assert len(ours) >= 14, state[2]
    assert all(block["state"] == "online" and block["zones"] == "Movable" for block in ours), ours


def test_numactl_shows_a_cpu_less_node_with_the_memory(numa, device):
    node = numa[device["target_node"]]
    assert node["cpus"] == []
    # 2 GiB namespace: about 1.97 GiB of devdax, rounded down to 128 MiB blocks.
    assert 1700 <= node["size_mb"] <= 2048, node


def test_sysfs_blocks_are_online_in_zone_movable(host, device):
    blocks = host.check_output("ls -d /sys/devices/system/node/node%d/memory[0-9]*" % device["target_node"]).split()
    assert len(blocks) >= 14
    for block in blocks:
        assert host.file(block + "/state").content_string.strip() == "online"
        assert host.file(block + "/valid_zones").content_string.strip() == "Movable"
