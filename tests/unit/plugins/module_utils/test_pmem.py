"""Parsing: what the Host model makes of ndctl, daxctl and sysfs output recorded on real kernels."""
import pytest

from ansible_collections.memtier.pmem.plugins.module_utils._pmem import (
    CommandError, PmemError, human_size, kmem_range_blocks, parse_json_list, parse_size, region_id,
)


@pytest.mark.parametrize('text,expected', [
    ('12g', 12 << 30), ('512m', 512 << 20), ('512M', 512 << 20), ('1GiB', 1 << 30), ('2t', 2 << 40),
    ('4096', 4096), (4096, 4096), ('16 MiB', 16 << 20),
])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize('text', ['12 parsecs', '-1g', '1.5g', '', 'g'])
def test_parse_size_rejects_with_the_option_name(text):
    with pytest.raises(PmemError) as info:
        parse_size(text, 'size')
    assert info.value.msg.startswith('size=')


def test_region_names():
    assert region_id('region3') == 3
    assert region_id('0') == 0
    with pytest.raises(PmemError, match="region='lake' is not a region"):
        region_id('lake')


def test_human_size():
    assert human_size(1054867456) == '1006 MiB'
    assert human_size(12 << 30) == '12 GiB'
    assert human_size(3 << 29) == '1.50 GiB'


def test_json_shapes_from_the_notes():
    argv = ['ndctl', 'list']
    assert parse_json_list(argv, 0, '', '', 'dev') == []
    assert parse_json_list(argv, 0, '{"dev":"namespace0.0"}', '', 'dev') == [{'dev': 'namespace0.0'}]
    assert parse_json_list(argv, 0, '{"dimms":[],"regions":[{"dev":"region0"}]}', '', 'dev') == []
    assert parse_json_list(argv, 0, '{"regions":[{"dev":"region0"}]}', '', 'dev') == [{'dev': 'region0'}]
    with pytest.raises(CommandError, match='rc=250'):
        parse_json_list(argv, 250, '', 'error', 'dev')


def test_a_warning_before_the_json_is_skipped():
    out = 'libndctl: ndctl_region_get_resource: unable to get resource\n[\n  {"dev":"region0"}\n]\n'
    assert parse_json_list(['ndctl', 'list'], 0, out, '', 'dev') == [{'dev': 'region0'}]


@pytest.mark.parametrize('out', ['libndctl: oops', 'null', '42', '"text"', '[1, 2]', '[{"size": 1}]',
                                 '[{"dev": null}]', '[{"dev": "region0"}', 'warning\n{"dev": 3}'])
def test_unreadable_output_names_the_tool_and_what_it_printed(out):
    with pytest.raises(CommandError) as info:
        parse_json_list(['daxctl', 'list'], 0, out, '', 'dev')
    assert info.value.msg.startswith('daxctl list printed something this module cannot read')
    assert out.splitlines()[0].strip()[:5] in info.value.msg


def test_kmem_rounds_to_whole_blocks():
    # dax0.0 of transcript 03: 1006 MiB at 0x101200000, 128 MiB blocks -> memory33..39
    assert kmem_range_blocks(0x101200000, 1054867456, 128 << 20) == list(range(33, 40))


def test_fresh_nvdimm_is_label_less(fixture_host):
    host = fixture_host('bookworm/00-fresh')
    [region] = host.regions
    assert region.dev == 'region0' and region.available_size == 0
    [ns] = host.namespaces
    assert ns.mode == 'raw' and ns.label_less and ns.blockdev == 'pmem0'
    assert host.dax_devices == []


def test_labels_give_free_space_and_hide_the_seed(fixture_host):
    host = fixture_host('bookworm/01-labels')
    assert host.regions[0].available_size > (4 << 30) - (32 << 20)
    assert host.namespaces == []  # only the empty seed namespace, which is not listed


def test_devdax_namespace_and_device(fixture_host):
    host = fixture_host('bookworm/02-devdax')
    [ns] = host.namespaces
    assert (ns.name, ns.mode, ns.raw_size, ns.chardev, ns.label_less) == ('pmem-ram', 'devdax', 1 << 30, 'dax0.0', False)
    assert ns.usable_size < ns.raw_size  # map=dev keeps the page structures in the namespace
    [dev] = host.dax_devices
    assert (dev.mode, dev.model, dev.target_node, dev.total_memblocks, dev.movable) == ('devdax', 'bus', 1, 0, None)


def test_system_ram_blocks_come_from_sysfs(fixture_host):
    dev = fixture_host('bookworm/03-system-ram-offline').dax_device('dax0.0')
    assert dev.mode == 'system-ram'
    assert (dev.online_memblocks, dev.total_memblocks, dev.movable) == (0, 7, None)
    assert all(block.node == 1 for block in dev.blocks)


def test_online_movable(fixture_host):
    dev = fixture_host('bookworm/04-online-movable').dax_device('dax0.0')
    assert (dev.online_memblocks, dev.total_memblocks, dev.movable, dev.zones) == (7, 7, True, ['Movable'])


def test_online_normal(fixture_host):
    dev = fixture_host('bookworm/05-online-normal').dax_device('dax0.0')
    assert (dev.online_memblocks, dev.movable, dev.zones) == (7, False, ['Normal'])


def test_partial_state(fixture_host):
    dev = fixture_host('bookworm/06-partial').dax_device('dax0.0')
    assert (dev.online_memblocks, dev.total_memblocks) == (6, 7)
    assert [b.index for b in dev.blocks if not b.online] == [max(b.index for b in dev.blocks)]


def test_fsdax_namespace_has_a_block_device(fixture_host):
    host = fixture_host('bookworm/07-fsdax')
    fs = [ns for ns in host.namespaces if ns.name == 'pmem-fs'][0]
    assert fs.mode == 'fsdax' and fs.blockdev and not fs.chardev and fs.raw_size == 256 << 20


def test_bullseye_boots_in_the_dax_class_model(fixture_host):
    host = fixture_host('bullseye/02-devdax')
    assert host.device_model == 'dax-class'
    assert host.dax_device('dax0.0').model == 'dax-class'
    assert host.tool_major('daxctl') == 71


def test_trixie_auto_onlines(fixture_host):
    host = fixture_host('trixie/02-devdax')
    assert host.auto_online_blocks == 'online'
    assert host.kernel_at_least(6, 12)


def test_boot_facts_find_onliners_and_daxctls_own_boot_path(fixture_host):
    host = fixture_host('bookworm/02-devdax')
    runner = host.runner
    runner.dirs['/lib/udev/rules.d'] = ['40-vm-hotadd.rules', '60-other.rules', '90-daxctl-device.rules']
    runner.files['/lib/udev/rules.d/40-vm-hotadd.rules'] = (
        'SUBSYSTEM=="cpu", ACTION=="add", ATTR{online}!="1", ATTR{online}="1"\n'
        'SUBSYSTEM=="memory", ACTION=="add", ATTR{state}=="offline", ATTR{state}="online"\n')
    runner.files['/lib/udev/rules.d/60-other.rules'] = 'SUBSYSTEM=="block", ATTR{state}="online"\n'
    runner.files['/lib/udev/rules.d/90-daxctl-device.rules'] = 'ACTION=="add", SUBSYSTEM=="dax", RUN+="/usr/bin/daxctl -C"\n'
    runner.dirs['/etc/udev/rules.d'] = ['40-vm-hotadd.rules']
    runner.dirs['/etc/daxctl.conf.d'] = ['daxctl.example.conf', 'memtier-pmem-ram.conf']
    assert host.boot == {'onliner_rules': ['40-vm-hotadd.rules'], 'overridden': ['40-vm-hotadd.rules'],
                         'onliners': [{'name': '40-vm-hotadd.rules', 'path': '/lib/udev/rules.d/40-vm-hotadd.rules',
                                       'override': 'host'}],
                         'local_onliner_rules': [], 'role_overrides': [], 'offline_policy_unit': False,
                         'daxctl_udev_rule': 'broken', 'daxctl_unit': False,
                         'daxctl_config': ['daxctl.example.conf', 'memtier-pmem-ram.conf']}
    runner.files['/lib/udev/rules.d/90-daxctl-device.rules'] = (
        'ACTION=="add", SUBSYSTEM=="dax", TAG+="systemd", ENV{SYSTEMD_WANTS}="daxdev-reconfigure@%p.service"\n')
    runner.files['/lib/systemd/system/daxdev-reconfigure@.service'] = '[Service]\n'
    host.forget()
    assert host.boot['daxctl_udev_rule'] == 'ok' and host.boot['daxctl_unit']


# --- Issue 9: the facts the system_ram role decides on, from the Host model (no shell probe) -------------

VM_HOTADD = ('# Memory hotadd request: ATTR{state}="online"\n'
             'SUBSYSTEM=="memory", ACTION=="add", ATTR{state}!="online", ATTR{state}="online"\n'
             'SUBSYSTEM=="cpu", ACTION=="add", ATTR{online}!="1", ATTR{online}="1"\n')


def test_boot_facts_tell_the_roles_overrides_from_the_hosts_own_rules(fixture_host):
    host = fixture_host('bookworm/02-devdax')
    runner = host.runner
    runner.dirs['/usr/lib/udev/rules.d'] = ['40-vm-hotadd.rules', '41-other-onliner.rules', '90-daxctl-device.rules']
    runner.dirs['/lib/udev/rules.d'] = ['40-vm-hotadd.rules', '42-third.rules']  # /usr/lib's copy comes first
    runner.files['/usr/lib/udev/rules.d/40-vm-hotadd.rules'] = VM_HOTADD
    runner.files['/usr/lib/udev/rules.d/41-other-onliner.rules'] = 'SUBSYSTEM=="memory", ATTR{state}="online_movable"\n'
    runner.files['/lib/udev/rules.d/42-third.rules'] = 'SUBSYSTEM!="memory", GOTO="end"\nATTR{state}="online"\n'
    runner.files['/usr/lib/udev/rules.d/90-daxctl-device.rules'] = 'TAG+="systemd", ENV{SYSTEMD_WANTS}="x"\n'
    runner.dirs['/etc/udev/rules.d'] = ['40-vm-hotadd.rules', '41-other-onliner.rules', '70-local.rules',
                                        '71-commented.rules', 'README']
    runner.files['/etc/udev/rules.d/40-vm-hotadd.rules'] = ('# Managed by memtier.pmem.system_ram: the distribution\'s '
                                                            '/usr/lib/udev/rules.d/40-vm-hotadd.rules\n')
    runner.files['/etc/udev/rules.d/41-other-onliner.rules'] = '# the admin\'s own copy\n'
    runner.files['/etc/udev/rules.d/70-local.rules'] = 'SUBSYSTEM=="memory", ATTR{state}="online"\n'
    runner.files['/etc/udev/rules.d/71-commented.rules'] = '# SUBSYSTEM=="memory", ATTR{state}="online"\n'
    runner.files['/etc/systemd/system/memtier-memhp-offline.service'] = '[Unit]\n'
    boot = host.boot
    assert boot['onliner_rules'] == ['40-vm-hotadd.rules', '41-other-onliner.rules', '42-third.rules']
    assert boot['onliners'] == [
        {'name': '40-vm-hotadd.rules', 'path': '/usr/lib/udev/rules.d/40-vm-hotadd.rules', 'override': 'role'},
        {'name': '41-other-onliner.rules', 'path': '/usr/lib/udev/rules.d/41-other-onliner.rules', 'override': 'host'},
        {'name': '42-third.rules', 'path': '/lib/udev/rules.d/42-third.rules', 'override': None}]
    assert boot['overridden'] == ['40-vm-hotadd.rules', '41-other-onliner.rules']
    assert boot['local_onliner_rules'] == ['/etc/udev/rules.d/70-local.rules']
    assert boot['role_overrides'] == ['/etc/udev/rules.d/40-vm-hotadd.rules']
    assert boot['offline_policy_unit'] is True
    assert boot['daxctl_udev_rule'] == 'ok'


def test_a_commented_out_onliner_does_not_online_memory():
    from ansible_collections.memtier.pmem.plugins.module_utils._pmem import onlines_memory
    assert onlines_memory(VM_HOTADD)
    assert not onlines_memory('# SUBSYSTEM=="memory", ATTR{state}="online"\n')
    assert not onlines_memory('  # ATTR{state}="online"\nSUBSYSTEM=="memory", RUN+="/bin/true"\n')
    assert not onlines_memory('SUBSYSTEM=="cpu", ATTR{state}="online"\n')


def test_ndctl_build_under_a_prefix(fixture_host):
    host = fixture_host('bookworm/02-devdax')
    assert host.ndctl_build('/opt/ndctl') == {'prefix': '/opt/ndctl', 'version': None, 'bin_dir': None}
    host.runner.files['/opt/ndctl/.memtier-ndctl-version'] = '81\n'
    host.runner.dirs['/opt/ndctl/bin'] = ['cxl', 'daxctl', 'ndctl']
    host.forget()
    assert host.ndctl_build('/opt/ndctl') == {'prefix': '/opt/ndctl', 'version': '81', 'bin_dir': '/opt/ndctl/bin'}


def test_facts_report_numactl_with_the_tools(fixture_host):
    from ansible_collections.memtier.pmem.plugins.module_utils._pmem import facts
    host = fixture_host('bookworm/02-devdax')
    host.runner.tools['numactl'] = '/usr/bin/numactl'
    assert facts(host)['tools'] == {'ndctl': '/usr/bin/ndctl', 'daxctl': '/usr/bin/daxctl', 'numactl': '/usr/bin/numactl',
                                    'cxl': None}
