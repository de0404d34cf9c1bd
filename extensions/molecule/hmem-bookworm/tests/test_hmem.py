"""Real state after the role converged soft-reserved memory (address 0x100000000, node 1) as system RAM."""


def hmem_device(state):
    devices = [d for d in state[1].values() if d.get("target_node") == 1]
    assert len(devices) == 1, state[1]
    return devices[0]


def test_the_soft_reserved_device_is_online_movable_system_ram(state):
    dev = hmem_device(state)
    assert dev["mode"] == "system-ram"
    assert dev["size"] == 2 << 30
    assert dev["online_memblocks"] == dev["total_memblocks"] == 16
    assert dev["movable"] is True
    blocks = [b for b in state[2] if int(b["node"]) == 1]
    assert blocks and all(b["state"] == "online" and b["zones"] == "Movable" for b in blocks)


def test_numactl_shows_a_cpuless_node_of_2_gib(numa):
    assert numa[1]["cpus"] == []
    assert 1900 <= numa[1]["size_mb"] <= 2048


def test_it_comes_back_at_boot_by_its_address(host):
    env = host.file("/etc/memtier-pmem/hmem-ram0.env").content_string
    assert "MEMTIER_ADDRESS=0x100000000\n" in env and "MEMTIER_MOVABLE=true\n" in env
    link = host.file("/etc/systemd/system/multi-user.target.wants/memtier-system-ram@hmem-ram0.service")
    assert link.is_symlink and link.linked_to == "/etc/systemd/system/memtier-system-ram@.service"
    assert host.file("/usr/local/sbin/memtier-system-ram").mode == 0o755
    # no daxctl configuration: it finds devices by namespace uuid, which soft-reserved memory has not
    assert not host.file("/etc/daxctl.conf.d/memtier-hmem-ram0.conf").exists


def test_slow_memory_tier(host):
    assert host.file("/sys/kernel/mm/numa/demotion_enabled").content_string.strip() == "true"
    tiers = {}
    for tier in host.file("/sys/devices/virtual/memory_tiering").listdir():
        if tier.startswith("memory_tier"):
            nodes = host.file("/sys/devices/virtual/memory_tiering/%s/nodelist" % tier).content_string.strip()
            tiers[nodes] = int(tier[len("memory_tier"):])
    assert tiers["1"] > tiers["0"], tiers
