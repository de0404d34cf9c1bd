"""What the kernel shows after the modules scenario: pmem-ram's 2 GiB online as movable system RAM."""
import json


def _device(host):
    namespaces = json.loads(host.check_output("ndctl list -N") or "[]")
    ours = [ns for ns in namespaces if ns.get("name") == "pmem-ram"]
    assert len(ours) == 1, namespaces
    devices = json.loads(host.check_output("daxctl list -d %s" % ours[0]["chardev"]))
    return ours[0], devices[0]


def test_only_the_seed_namespace_is_left(host):
    namespaces = json.loads(host.check_output("ndctl list -N") or "[]")
    assert [ns.get("name") for ns in namespaces] == ["pmem-ram"]
    assert namespaces[0]["mode"] == "devdax"


def test_dax_device_is_system_ram(host):
    device = _device(host)[1]
    assert device["mode"] == "system-ram"
    if "total_memblocks" in device:  # daxctl 72 and later
        assert device["online_memblocks"] == device["total_memblocks"] > 0
    assert device.get("movable") is True


def test_lsmem_shows_the_node_online_and_movable(host):
    device = _device(host)[1]
    node = device["target_node"]
    rows = json.loads(host.check_output("lsmem -J -o STATE,NODE,ZONES,SIZE"))["memory"]
    ours = [row for row in rows if int(row["node"]) == node]
    assert ours, rows
    assert all(row["state"] == "online" and row["zones"] == "Movable" for row in ours), ours


def test_numactl_shows_a_cpu_less_node_with_the_memory(host):
    device = _device(host)[1]
    node = device["target_node"]
    out = host.check_output("numactl -H")
    assert "node %d cpus:\n" % node in out + "\n" or "node %d cpus: \n" % node in out
    size_mb = int(out.split("node %d size: " % node)[1].split(" MB")[0])
    # 2 GiB namespace: about 1.97 GiB of devdax, rounded down to 128 MiB blocks.
    assert 1700 <= size_mb <= 2048, out


def test_sysfs_blocks_are_online_in_zone_movable(host):
    device = _device(host)[1]
    node = device["target_node"]
    blocks = host.check_output("ls -d /sys/devices/system/node/node%d/memory[0-9]*" % node).split()
    assert len(blocks) >= 14
    for block in blocks:
        assert host.file(block + "/state").content_string.strip() == "online"
        assert host.file(block + "/valid_zones").content_string.strip() == "Movable"
