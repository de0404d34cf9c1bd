"""Real state after the role built ndctl 81 under /opt/ndctl on Debian 12 and provisioned with it."""
import pytest

PREFIX = "/opt/ndctl"


@pytest.fixture(scope="module")
def pmem_bin():
    """Read the host with the build's ndctl and daxctl."""
    return PREFIX + "/bin/"


@pytest.fixture(scope="module")
def pmem_ram0(state):
    namespaces, devices, blocks = state
    namespace = namespaces["pmem-ram0"]
    return namespace, devices[namespace["chardev"]], blocks


def test_build_under_the_prefix(host):
    assert host.check_output(PREFIX + "/bin/daxctl --version") == "81"
    assert host.check_output(PREFIX + "/bin/ndctl --version") == "81"
    assert host.file(PREFIX + "/.memtier-ndctl-version").content_string == "81\n"
    # RUNPATH: the build's programs load the build's libraries, not the distribution's libdaxctl 76.
    ldd = host.check_output("ldd %s/bin/daxctl" % PREFIX)
    assert "libdaxctl.so.1 => %s/lib/libdaxctl.so.1" % PREFIX in ldd


def test_distribution_files_untouched(host):
    assert host.check_output("/usr/bin/daxctl --version") == "76.1"
    with host.sudo():
        verify = host.run("dpkg --verify ndctl daxctl libndctl6 libdaxctl1")
    assert verify.rc == 0 and verify.stdout == ""
    # The build's udev rule, units and example configuration were not installed anywhere.
    assert host.check_output("ls /etc/daxctl.conf.d").split() == ["daxctl.example.conf", "memtier-pmem-ram0.conf"]
    assert not host.file("/usr/lib/systemd/system/daxdev-reconfigure@.service").exists
    assert not host.file(PREFIX + "/etc").exists


def test_device_online_movable_on_a_new_node(pmem_ram0, numa):
    namespace, device, blocks = pmem_ram0
    assert namespace["mode"] == "devdax"
    assert device["mode"] == "system-ram"
    assert device["online_memblocks"] == device["total_memblocks"] > 0
    assert device["movable"] is True
    node = device["target_node"]
    mine = [b for b in blocks if int(b["node"]) == node]
    assert node != 0 and len(mine) == device["total_memblocks"]
    assert all(b["state"] == "online" and b["zones"] == "Movable" for b in mine)
    assert numa[node] == {"cpus": [], "size_mb": 128 * len(mine)}


def test_boot_configuration_runs_the_build(host, pmem_ram0):
    namespace = pmem_ram0[0]
    conf = host.file("/etc/daxctl.conf.d/memtier-pmem-ram0.conf").content_string
    assert "nvdimm.uuid = %s" % namespace["uuid"] in conf
    unit = host.file("/etc/systemd/system/daxdev-reconfigure@.service").content_string
    assert 'ExecStart="%s/bin/daxctl" reconfigure-device --check-config %%I' % PREFIX in unit
