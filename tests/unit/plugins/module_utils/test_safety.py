"""Issue 8 ("Nothing lost"): one case per refusal, on states recorded on real kernels, with what the
host would show added on top (a holder in /proc, a second region, a blacklist line, ...)."""
import json

import pytest

from ansible_collections.memtier.pmem.plugins.module_utils._pmem import (
    CommandError, PmemError, check_namespace_name, parse_size, region_id,
)
from ansible_collections.memtier.pmem.plugins.module_utils._plan import (
    find_namespace, normalize_namespace_params, plan_namespace, plan_reconfigure, resolve_device,
)

NS_UUID = '85348aed-e11c-48d7-b24d-e8ae260875e4'  # pmem-ram of bookworm/02-devdax


def ns_want(**kwargs):
    params = dict(name='pmem-ram', uuid=None, state='present', region=None, size=None, mode=None,
                  map=None, align=None, force=False, init_labels=False)
    params.update(kwargs)
    return normalize_namespace_params(params)


def dax_params(**kwargs):
    params = dict(device=None, namespace='pmem-ram', mode='system-ram', online=True, movable=True, force=False,
                  timeout=120)
    params.update(kwargs)
    return params


def holder(host, pid, comm, fd_target=None, maps_path=None):
    """Make /proc show process ``pid`` holding a device open (fd) and/or mapped (maps)."""
    runner = host.runner
    runner.dirs['/proc'] = sorted(set((runner.dirs.get('/proc') or []) + [str(pid), 'self']))
    runner.dirs['/proc/%d/fd' % pid] = ['0', '3'] if fd_target else ['0']
    runner.links['/proc/%d/fd/0' % pid] = '/dev/null'
    if fd_target:
        runner.links['/proc/%d/fd/3' % pid] = fd_target
    runner.files['/proc/%d/comm' % pid] = comm + '\n'
    runner.files['/proc/%d/maps' % pid] = (
        '55d0c8a00000-55d0c8a21000 r--p 00000000 fe:00 1234   /usr/bin/python3.11\n'
        + ('7f1c00000000-7f1c00200000 rw-s 00000000 00:05 77    %s\n' % maps_path if maps_path else ''))


def add_region1(host):
    """A second 4 GiB region (a second NVDIMM), all free."""
    key = 'ndctl list --regions --idle'
    regions = json.loads(host.runner.commands[key]['out'])
    regions.append(dict(regions[0], dev='region1', available_size=4 << 30, max_available_extent=4 << 30))
    host.runner.commands[key] = dict(host.runner.commands[key], out=json.dumps(regions))


# 1. devdax -> system-ram while a process holds the device open and mapped
def test_system_ram_is_refused_while_a_process_maps_the_device(fixture_host):
    host = fixture_host('bookworm/02-devdax')
    holder(host, 812, 'python3', fd_target='/dev/dax0.0', maps_path='/dev/dax0.0')
    dev = resolve_device(host, namespace='pmem-ram')
    with pytest.raises(PmemError) as info:
        plan_reconfigure(host, dev, dax_params())
    assert 'refusing to make dax0.0 system RAM' in info.value.msg
    assert 'pid 812 (python3, mapped and open)' in info.value.msg and 'force: true' in info.value.msg
    kinds = [a.kind for a in plan_reconfigure(host, dev, dax_params(force=True))]
    assert kinds == ['reconfigure', 'online']


# 2. mapped, then closed: only /proc/PID/maps shows it, in every guard
def test_a_mapping_without_a_descriptor_still_holds_the_device(fixture_host):
    host = fixture_host('bookworm/02-devdax')
    holder(host, 901, 'app', maps_path='/dev/dax0.0 (deleted)')
    assert host.holders(['dax0.0']) == {'dax0.0': [{'pid': 901, 'comm': 'app', 'how': 'mapped'}]}
    with pytest.raises(PmemError, match=r'pid 901 \(app, mapped\)'):
        plan_reconfigure(host, resolve_device(host, namespace='pmem-ram'), dax_params())
    with pytest.raises(PmemError, match=r'refusing to destroy namespace pmem-ram .*pid 901 \(app, mapped\)'):
        plan_namespace(host, ns_want(state='absent'))


# 3. state: absent with settings that do not match the namespace found
@pytest.mark.parametrize('settings,shown', [
    ({'region': 'region1'}, 'region region0, wanted region1'),
    ({'size': '2g'}, 'size 1 GiB, wanted 2 GiB'),
    ({'mode': 'fsdax'}, 'mode devdax, wanted fsdax'),
    ({'align': '1g'}, 'align 2097152, wanted 1073741824'),
])
def test_absent_destroys_only_the_namespace_the_task_describes(fixture_host, settings, shown):
    host = fixture_host('bookworm/02-devdax')
    add_region1(host)
    with pytest.raises(PmemError) as info:
        plan_namespace(host, ns_want(state='absent', **settings))
    assert info.value.msg.startswith('refusing to destroy namespace pmem-ram (namespace0.0): it is not the '
                                     'namespace this task describes (%s)' % shown)
    assert [a.kind for a in plan_namespace(host, ns_want(state='absent', region='region0'))] == ['destroy']


# 4. a trailing newline never passes validation
@pytest.mark.parametrize('check,value', [
    (check_namespace_name, 'f1\n'), (check_namespace_name, 'f1\n\n'), (region_id, 'region0\n'), (parse_size, '1g\n'),
])
def test_trailing_newlines_are_refused(check, value):
    with pytest.raises(PmemError):
        check(value)


def test_a_uuid_with_a_trailing_newline_is_refused():
    with pytest.raises(PmemError, match='is not a uuid'):
        ns_want(name=None, uuid=NS_UUID + '\n')


# 5. name and uuid that name two different things
def test_name_and_uuid_must_agree(fixture_host):
    host = fixture_host('bookworm/02-devdax')
    other = 'a1b2c3d4-0000-4000-8000-123456789abc'
    with pytest.raises(PmemError, match='name=pmem-ram is already the name of namespace0.0, whose uuid is %s, not '
                                        'uuid=%s' % (NS_UUID, other)):
        plan_namespace(host, ns_want(uuid=other, size='1g'))
    with pytest.raises(PmemError, match='uuid=%s is namespace0.0, whose name is pmem-ram, not name=other' % NS_UUID):
        find_namespace(host, 'other', NS_UUID)
    assert find_namespace(host, 'pmem-ram', NS_UUID).dev == 'namespace0.0'


# 6. with force, everything the create needs is checked before the destroy
def test_force_recreate_checks_align_before_destroying(fixture_host):
    host = fixture_host('bookworm/02-devdax')
    with pytest.raises(PmemError, match="align='3m' is not an alignment"):
        plan_namespace(host, ns_want(align='3m', force=True))
    host.runner.files['/sys/bus/nd/devices/region0/dax_seed'] = 'dax0.1\n'
    host.runner.files['/sys/bus/nd/devices/dax0.1/supported_alignments'] = '4096 2097152 1073741824\n'
    with pytest.raises(PmemError, match=r'align=512 MiB is not supported by region0 in devdax mode \(supported: '
                                        r'4 KiB, 2 MiB, 1 GiB\)'):
        plan_namespace(host, ns_want(align='512m', force=True))
    with pytest.raises(PmemError, match='align=2 MiB does not apply to mode sector'):
        plan_namespace(host, ns_want(mode='sector', align='2m', force=True))
    with pytest.raises(PmemError, match='size=1.50 GiB is not a multiple of align=1 GiB'):
        plan_namespace(host, ns_want(size='1536m', align='1g', force=True))


def test_force_recreate_counts_only_the_extent_that_will_really_be_free(fixture_host):
    # region0, 4 GiB at 0x240000000: [1 GiB free][pmem-ram 1 GiB][other 1 GiB][1 GiB free]. Destroying
    # pmem-ram frees 1 GiB next to the first free GiB only: the largest extent becomes 2 GiB, not the
    # 3 GiB that is free in all (which the create would need to be contiguous).
    host = fixture_host('bookworm/02-devdax')
    runner = host.runner
    key = 'ndctl list --namespaces --idle'
    namespaces = json.loads(runner.commands[key]['out'])
    namespaces.append(dict(namespaces[1], dev='namespace0.2', name='other', chardev='dax0.2',
                           uuid='a1b2c3d4-0000-4000-8000-123456789abc'))
    runner.commands[key] = dict(runner.commands[key], out=json.dumps(namespaces))
    runner.files['/sys/bus/nd/devices/namespace0.2/size'] = '1073741824\n'
    key = 'ndctl list --regions --idle'
    runner.commands[key]['out'] = runner.commands[key]['out'].replace(
        '"available_size":3221225472', '"available_size":2147483648').replace(
        '"max_available_extent":3221225472', '"max_available_extent":1073741824')
    runner.files['/sys/bus/nd/devices/region0/resource'] = '0x240000000\n'
    runner.files['/sys/bus/nd/devices/namespace0.0/resource'] = '0x280000000\n'
    runner.files['/sys/bus/nd/devices/namespace0.2/resource'] = '0x2c0000000\n'
    with pytest.raises(PmemError) as info:
        plan_namespace(host, ns_want(size='3g', force=True))
    assert info.value.msg.startswith('size=3 GiB does not fit in region0: the largest free extent once namespace0.0 '
                                     'is destroyed is 2 GiB (3 GiB free in all)')
    assert [a.kind for a in plan_namespace(host, ns_want(size='2g', force=True))] == ['destroy', 'create']
    # Without the physical ranges only what is sure counts: the larger of the largest extent now and
    # the namespace itself (1 GiB here), so 2 GiB is refused too.
    del runner.files['/sys/bus/nd/devices/namespace0.2/resource']
    with pytest.raises(PmemError, match='largest free extent once namespace0.0 is destroyed is 1 GiB'):
        plan_namespace(host, ns_want(size='2g', force=True))


# 8. a label-less namespace cannot be destroyed: say so instead of reporting a change that never happens
def test_absent_on_a_label_less_devdax_region_tells_the_truth(fixture_host):
    host = fixture_host('bookworm/00-fresh')
    out = host.runner.commands['ndctl list --namespaces --idle']['out']
    host.runner.commands['ndctl list --namespaces --idle']['out'] = out.replace('"mode":"raw"', '"mode":"devdax"')
    with pytest.raises(PmemError, match='region=region0 is label-less: its one namespace namespace0.0 .* cannot be '
                                        'destroyed, only converted whole'):
        plan_namespace(host, ns_want(state='absent', region='region0'))
    assert plan_namespace(fixture_host('bookworm/00-fresh'), ns_want(state='absent', region='region0')) == []


# 9. zero sizes never mean "all free space"
@pytest.mark.parametrize('size', [0, '0', '0g', '', ' ', '0 GiB'])
def test_zero_and_empty_sizes_are_refused(size):
    with pytest.raises(PmemError, match='omit size'):
        ns_want(size=size, force=True)


def test_align_zero_is_refused():
    with pytest.raises(PmemError, match='align'):
        ns_want(align='0')


# 13. hot-adding needs DRAM for its memmap
def test_memmap_that_would_take_most_of_the_free_memory_is_refused(fixture_host):
    host = fixture_host('bookworm/02-devdax')
    dev = resolve_device(host, namespace='pmem-ram')
    host.runner.files['/proc/meminfo'] = 'MemTotal: 1000000 kB\nMemAvailable: 20000 kB\n'
    with pytest.raises(PmemError) as info:
        plan_reconfigure(host, dev, dax_params())
    assert info.value.msg.startswith('dax0.0: hot-adding its 1006 MiB as system RAM needs 14 MiB of DRAM')
    assert 'this host has 19.53 MiB available' in info.value.msg and 'memmap_on_memory' in info.value.msg
    # With memmap_on_memory on (kernel parameter and the device's attribute) the device pays for itself.
    host.runner.files['/sys/module/memory_hotplug/parameters/memmap_on_memory'] = 'Y\n'
    host.runner.files['/sys/bus/dax/devices/dax0.0/memmap_on_memory'] = '1\n'
    assert [a.kind for a in plan_reconfigure(host, dev, dax_params())] == ['reconfigure', 'online']


def test_memmap_with_room_to_spare_passes(fixture_host):
    host = fixture_host('bookworm/02-devdax')
    host.runner.files['/proc/meminfo'] = 'MemAvailable: 1500000 kB\n'
    assert [a.kind for a in plan_reconfigure(host, resolve_device(host, namespace='pmem-ram'), dax_params())] == [
        'reconfigure', 'online']


# 15, 16. kmem that cannot be loaded, now or at boot
def test_a_blacklisted_kmem_is_a_problem_with_file_and_line(fixture_host):
    host = fixture_host('bookworm/02-devdax')
    host.runner.dirs['/etc/modprobe.d'] = ['memtier-test.conf']
    host.runner.files['/etc/modprobe.d/memtier-test.conf'] = '# local\nblacklist kmem\n'
    assert host.kmem['blacklisted'] == ['/etc/modprobe.d/memtier-test.conf:2: blacklist kmem']
    # Loaded now, so the module can use it; but the memory would not come back after a reboot.
    assert host.kmem_problem() is None
    assert 'memtier-test.conf:2: blacklist kmem' in host.kmem_problem(at_boot=True)


def test_an_install_rule_blocks_kmem_unless_it_loads_it(fixture_host):
    host = fixture_host('bookworm/02-devdax')
    del host.runner.dirs['/sys/bus/dax/drivers/kmem']
    host.runner.commands['modprobe --show-depends kmem'] = {'rc': 0, 'out': 'install /bin/false\n', 'err': ''}
    host.runner.dirs['/etc/modprobe.d'] = ['a.conf']
    host.runner.files['/etc/modprobe.d/a.conf'] = 'install kmem /bin/false\n'
    assert 'blocked by an install rule (/etc/modprobe.d/a.conf:1: install kmem /bin/false)' in host.kmem_problem()
    host.runner.files['/etc/modprobe.d/a.conf'] = 'install kmem /sbin/modprobe --ignore-install kmem && true\n'
    host.forget()
    assert host.kmem_problem() is None


def test_a_file_in_etc_hides_the_one_of_the_same_name_in_lib(fixture_host):
    host = fixture_host('bookworm/02-devdax')
    host.runner.dirs['/etc/modprobe.d'] = ['x.conf']
    host.runner.dirs['/lib/modprobe.d'] = ['x.conf']
    host.runner.files['/etc/modprobe.d/x.conf'] = 'options foo bar=1\n'
    host.runner.files['/lib/modprobe.d/x.conf'] = 'blacklist kmem\n'
    assert host.kmem['blacklisted'] == []


# 22. init_labels without region
def test_init_labels_without_region_says_it_needs_region(fixture_host):
    with pytest.raises(PmemError, match='init_labels: true needs region: .*label-less here: region0'):
        plan_namespace(fixture_host('bookworm/00-fresh'), ns_want(size='1g', init_labels=True))


# 23. what the tools print is checked, not trusted
def test_a_warning_line_before_the_list_is_skipped(fixture_host):
    host = fixture_host('bookworm/02-devdax')
    cmd = host.runner.commands['daxctl list --devices --idle']
    cmd['out'] = 'libdaxctl: daxctl_dev_get_target_node: unable to read\n' + cmd['out']
    assert [dev.dev for dev in host.dax_devices] == ['dax0.0']


def test_an_item_without_its_name_fails_with_the_tool_and_the_output(fixture_host):
    host = fixture_host('bookworm/02-devdax')
    host.runner.commands['daxctl list --devices --idle']['out'] = '[{"size": 1054867456}]'
    with pytest.raises(CommandError, match=r'daxctl list --devices --idle printed something this module cannot '
                                           r'read \(a list of objects with "chardev" was expected\)'):
        host.dax_devices


# 24. a kernel device name where a label name is expected
def test_a_device_name_given_as_name_is_explained(fixture_host):
    with pytest.raises(PmemError, match="name=namespace0.0 is the kernel's device name of a namespace, not a name: "
                                        "name is the name stored in the namespace's label, and namespace0.0 has the "
                                        "name pmem-ram. Use name=pmem-ram"):
        plan_namespace(fixture_host('bookworm/02-devdax'), ns_want(name='namespace0.0', state='absent'))
