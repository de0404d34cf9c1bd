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


def test_slow_memory_tier_now_and_at_boot(host, state):
    """system_ram_tiering: demotion on, NUMA balancing in memory tiering mode with the rate limit asked for, and
    the two kmem nodes in a lower (higher-numbered) memory tier than DRAM's node 0."""
    assert host.file("/sys/kernel/mm/numa/demotion_enabled").content_string.strip() == "true"
    assert host.file("/proc/sys/kernel/numa_balancing").content_string.strip() == "2"
    assert host.file("/proc/sys/kernel/numa_balancing_promote_rate_limit_MBps").content_string.strip() == "512"
    assert "kernel.numa_balancing = 2" in host.file("/etc/sysctl.d/60-memtier-tiering.conf").content_string
    assert "w /sys/kernel/mm/numa/demotion_enabled - - - - true" in host.file("/etc/tmpfiles.d/memtier-tiering.conf").content_string
    namespaces, devices = state[:2]
    tiers = {}
    for entry in host.file("/sys/devices/virtual/memory_tiering").listdir():
        if entry.startswith("memory_tier"):
            text = host.file("/sys/devices/virtual/memory_tiering/%s/nodelist" % entry).content_string.strip()
            for part in text.split(","):
                low, _sep, high = part.partition("-")
                for node in range(int(low), int(high or low) + 1):
                    tiers[node] = int(entry[len("memory_tier"):])
    for name in DEVICES:
        assert tiers[devices[namespaces[name]["chardev"]]["target_node"]] > tiers[0]
