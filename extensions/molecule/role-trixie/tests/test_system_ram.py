"""Real state after the role converged on Debian 13: two devices on two NVDIMMs, auto-online neutralised."""
DEVICES = ("pmem-a", "pmem-b")


def test_two_devices_on_two_new_nodes(state):
    namespaces, devices, blocks = state
    nodes = set()
    for name in DEVICES:
        dev = devices[namespaces[name]["chardev"]]
        assert dev["mode"] == "system-ram"
        assert dev["online_memblocks"] == dev["total_memblocks"] > 0
        assert dev["movable"] is True
        nodes.add(dev["target_node"])
    assert len(nodes) == 2 and 0 not in nodes
    for node in nodes:
        mine = [b for b in blocks if int(b["node"]) == node]
        assert mine and all(b["state"] == "online" and b["zones"] == "Movable" for b in mine)


def test_numactl_shows_two_cpuless_nodes(state, numa):
    namespaces, devices = state[:2]
    for name in DEVICES:
        node = devices[namespaces[name]["chardev"]]["target_node"]
        assert numa[node]["cpus"] == []
        assert 800 <= numa[node]["size_mb"] <= 896   # at most 7 blocks of 128 MiB


def test_auto_online_neutralised_now_and_at_boot(host):
    assert host.file("/sys/devices/system/memory/auto_online_blocks").content_string.strip() == "offline"
    unit = host.file("/etc/systemd/system/memtier-memhp-offline.service")
    assert "echo offline > /sys/devices/system/memory/auto_online_blocks" in unit.content_string
    assert host.file("/etc/systemd/system/sysinit.target.wants/memtier-memhp-offline.service").is_symlink


def test_boot_configuration(host, state):
    namespaces = state[0]
    for name in DEVICES:
        conf = host.file("/etc/daxctl.conf.d/memtier-%s.conf" % name)
        assert "nvdimm.uuid = %s" % namespaces[name]["uuid"] in conf.content_string
    assert host.file("/etc/systemd/system/daxdev-reconfigure@.service").exists
    # Debian 13 ships the upstream rule: no override needed.
    assert not host.file("/etc/udev/rules.d/90-daxctl-device.rules").exists
