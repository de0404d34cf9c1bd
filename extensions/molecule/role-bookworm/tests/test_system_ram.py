"""Real state after the role converged on Debian 12: two devices on one NVDIMM, Movable and Normal."""
DEVICES = {"pmem-ram0": "Movable", "pmem-ram1": "Normal"}


def test_devices_are_online_system_ram(state):
    namespaces, devices = state[:2]
    for name, zone in DEVICES.items():
        dev = devices[namespaces[name]["chardev"]]
        assert dev["mode"] == "system-ram"
        assert dev["online_memblocks"] == dev["total_memblocks"] > 0
        assert dev["movable"] is (zone == "Movable")


def test_lsmem_shows_the_new_node_in_both_zones(state):
    namespaces, devices, blocks = state
    node = {devices[namespaces[n]["chardev"]]["target_node"] for n in DEVICES}
    assert len(node) == 1
    node = node.pop()
    mine = [b for b in blocks if int(b["node"]) == node]
    assert mine and all(b["state"] == "online" for b in mine)
    assert {b["zones"] for b in mine} == {"Movable", "Normal"}


def test_numactl_shows_the_memory_on_a_cpu_less_node(state, numa):
    namespaces, devices = state[:2]
    node = devices[namespaces["pmem-ram0"]["chardev"]]["target_node"]
    assert numa[node]["cpus"] == []
    assert 1700 <= numa[node]["size_mb"] <= 1792   # at most 2 x 7 blocks of 128 MiB


def test_auto_online_policy_is_offline(host):
    assert host.file("/sys/devices/system/memory/auto_online_blocks").content_string.strip() == "offline"


def test_boot_configuration(host, state):
    namespaces = state[0]
    for name, zone in DEVICES.items():
        conf = host.file("/etc/daxctl.conf.d/memtier-%s.conf" % name)
        assert conf.exists
        assert "nvdimm.uuid = %s" % namespaces[name]["uuid"] in conf.content_string
        assert "movable = %s" % ("true" if zone == "Movable" else "false") in conf.content_string
    assert 'ExecStart="daxctl" reconfigure-device --check-config %I' in host.file(
        "/etc/systemd/system/daxdev-reconfigure@.service").content_string
    assert "SYSTEMD_WANTS" in host.file("/etc/udev/rules.d/90-daxctl-device.rules").content_string
    assert host.file("/etc/modules-load.d/memtier-kmem.conf").content_string.strip().endswith("kmem")
    assert host.file("/sys/module/kmem").is_directory


def test_udev_override_turns_off_only_memory_onlining(host):
    """Ubuntu's 40-vm-hotadd.rules (put in /usr/lib by prepare): only its memory line is turned off."""
    original = host.file("/usr/lib/udev/rules.d/40-vm-hotadd.rules").content_string.splitlines()
    override = host.file("/etc/udev/rules.d/40-vm-hotadd.rules").content_string.splitlines()
    assert override[0].startswith("# Managed by memtier.pmem.system_ram: ")
    for line in original:
        if line.startswith('SUBSYSTEM=="memory"'):
            assert "#memtier-off# " + line in override and line not in override
        else:
            assert line in override
    assert any(line.startswith('SUBSYSTEM=="cpu"') for line in override)
