"""memtier.pmem.system_ram_problems: the system_ram role's variables, checked before anything changes."""
import copy

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.memtier.pmem.plugins.filter.system_ram_problems import FilterModule, system_ram_problems
from ansible_collections.memtier.pmem.tests.unit.plugins.modules.scripted import load_fixture

DEFAULTS = {
    'system_ram_devices': [],
    'system_ram_allow_release': False,
    'system_ram_boot_wait': 120,
    'system_ram_offline_timeout': 120,
    'system_ram_ndctl_prefix': '/opt/ndctl',
    'system_ram_ndctl_source': '',
    'system_ram_ndctl_source_remote': False,
}


def settings(**changes):
    result = copy.deepcopy(DEFAULTS)
    result.update(changes)
    return result


def test_registered_under_its_name():
    assert FilterModule().filters()['system_ram_problems'] is system_ram_problems


def test_defaults_and_a_good_device_pass():
    devices = [{'name': 'pmem-ram0', 'region': 'region0', 'size': '12g', 'align': '2m', 'movable': True},
               {'name': 'pmem-ram1', 'size': 1 << 30, 'map': 'dev'},
               {'name': 'old', 'state': 'absent'}]
    assert system_ram_problems(settings(system_ram_devices=devices, system_ram_allow_release=True)) == []


# The inputs of issue 8, item 14: each is refused with the variable's name.
@pytest.mark.parametrize('device,where,text', [
    ({'name': '-rf'}, 'system_ram_devices[0].name', 'is not a valid namespace name'),
    ({'name': 'f1\n'}, 'system_ram_devices[0].name', 'is not a valid namespace name'),
    ({'name': 'a b'}, 'system_ram_devices[0].name', 'is not a valid namespace name'),
    ({'name': 'x', 'size': '1.5g'}, 'system_ram_devices[0].size', 'is not a size'),
    ({'name': 'x', 'size': '0'}, 'system_ram_devices[0].size', 'omit system_ram_devices[0].size'),
    ({'name': 'x', 'size': '0g'}, 'system_ram_devices[0].size', 'omit system_ram_devices[0].size'),
    ({'name': 'x', 'size': 0}, 'system_ram_devices[0].size', 'omit system_ram_devices[0].size'),
    ({'name': 'x', 'size': ''}, 'system_ram_devices[0].size', 'is not a size'),
    ({'name': 'x', 'region': 'regionX'}, 'system_ram_devices[0].region', 'is not a region'),
    ({'name': 'x', 'region': 'region0\n'}, 'system_ram_devices[0].region', 'is not a region'),
    ({'name': 'x', 'align': '3m'}, 'system_ram_devices[0].align', 'is not an alignment'),
    ({'name': 'x', 'align': '2k'}, 'system_ram_devices[0].align', 'is not an alignment'),
    ({'region': 'region0'}, 'system_ram_devices[0].name', 'is missing'),
    ('pmem-ram0', 'system_ram_devices[0]', 'is not a device'),
])
def test_bad_device_entries(device, where, text):
    problems = system_ram_problems(settings(system_ram_devices=[device]))
    assert len(problems) == 1
    assert problems[0].startswith(where)
    assert text in problems[0]


def test_two_entries_with_one_name():
    devices = [{'name': 'pmem-ram0', 'size': '1.5g'}, {'name': 'pmem-ram1'}, {'name': 'pmem-ram0'}]
    problems = system_ram_problems(settings(system_ram_devices=devices))
    assert problems[1] == ("system_ram_devices[2].name='pmem-ram0' is also system_ram_devices[0].name: a namespace "
                           "can be listed only once; merge the two entries")


def test_release_needs_the_opt_in():
    devices = [{'name': 'keep'}, {'name': 'gone', 'state': 'absent'}]
    assert system_ram_problems(settings(system_ram_devices=devices)) == [
        'system_ram_devices[1] (gone) has state: absent, which takes its memory away from the running system and '
        'destroys the namespace and its data; set system_ram_allow_release: true to allow it']
    assert system_ram_problems(settings(system_ram_devices=devices, system_ram_allow_release='yes')) == []


@pytest.mark.parametrize('option', ['system_ram_boot_wait', 'system_ram_offline_timeout'])
@pytest.mark.parametrize('value', [0, -1, '0', 'soon', True, None, 1.5])
def test_seconds_must_be_one_or_more(option, value):
    problems = system_ram_problems(settings(**{option: value}))
    assert problems == ['%s=%r is not a number of seconds: use a whole number, 1 or more (the default is 120)'
                        % (option, value)]


@pytest.mark.parametrize('value', [1, '30', 3600])
def test_seconds_that_pass(value):
    assert system_ram_problems(settings(system_ram_boot_wait=value, system_ram_offline_timeout=value)) == []


@pytest.mark.parametrize('prefix', ['/opt/my ndctl', '/opt/ndctl;rm -rf /', '/opt/$(reboot)', "/opt/'x'", '/opt/"x"',
                                    'opt/ndctl', '/opt/ndctl/', '/opt//ndctl', '/opt/../usr', '/opt/nd\nctl',
                                    '/opt/%n', '', None, 5])
def test_unsafe_prefixes(prefix):
    problems = system_ram_problems(settings(system_ram_ndctl_prefix=prefix))
    assert len(problems) == 1
    assert problems[0].startswith('system_ram_ndctl_prefix=%r is not a plain absolute path' % (prefix,))


@pytest.mark.parametrize('prefix', ['/', '/usr', '/usr/local', '/etc'])
def test_distribution_directories_as_prefix(prefix):
    problems = system_ram_problems(settings(system_ram_ndctl_prefix=prefix))
    assert len(problems) == 1
    assert 'directory of the distribution' in problems[0] or 'not a plain absolute path' in problems[0]


@pytest.mark.parametrize('prefix', ['/opt/ndctl', '/opt/ndctl-81', '/srv/tools/ndctl_81+local', '/usr/local/ndctl'])
def test_prefixes_that_pass(prefix):
    assert system_ram_problems(settings(system_ram_ndctl_prefix=prefix)) == []


def test_source_on_the_host_must_be_absolute():
    problems = system_ram_problems(settings(system_ram_ndctl_source='ndctl-81.tar.gz',
                                            system_ram_ndctl_source_remote=True))
    assert problems == ["system_ram_ndctl_source='ndctl-81.tar.gz' is relative: with system_ram_ndctl_source_remote: "
                        "true it is a path on the host and must be absolute, such as /srv/ndctl/ndctl-81.tar.gz"]
    assert system_ram_problems(settings(system_ram_ndctl_source='/srv/ndctl',
                                        system_ram_ndctl_source_remote=True)) == []


def test_source_on_the_controller_must_be_a_tarball(tmp_path):
    problems = system_ram_problems(settings(system_ram_ndctl_source=str(tmp_path)))
    assert len(problems) == 1 and 'is a directory on the controller' in problems[0]
    problems = system_ram_problems(settings(system_ram_ndctl_source='/srv/ndctl-81.tar.gz\n'))
    assert len(problems) == 1 and 'control character' in problems[0]


def test_every_problem_at_once():
    devices = [{'name': '-rf'}, {'name': 'a', 'size': '1.5g'}, {'name': 'b', 'region': 'regionX'},
               {'name': 'c', 'align': '3m'}, {'name': 'c'}]
    problems = system_ram_problems(settings(system_ram_devices=devices, system_ram_boot_wait=-1,
                                            system_ram_offline_timeout=0, system_ram_ndctl_prefix='/opt/a b'))
    assert [p.split('=')[0].split(' ')[0] for p in problems] == [
        'system_ram_devices[0].name', 'system_ram_devices[1].size', 'system_ram_devices[2].region',
        'system_ram_devices[3].align', 'system_ram_devices[4].name', 'system_ram_boot_wait',
        'system_ram_offline_timeout', 'system_ram_ndctl_prefix']


def test_not_a_dict():
    with pytest.raises(AnsibleFilterError):
        system_ram_problems(['system_ram_devices'])


# --- Against the host (pmem_info's facts) ------------------------------------------------------

@pytest.fixture
def facts():
    # region0 with pmem-ram (namespace0.0, devdax) and pmem-fs (namespace0.1, fsdax)
    return load_fixture('bookworm/07-fsdax')['facts']


def test_host_fits(facts):
    devices = [{'name': 'pmem-ram', 'region': 'region0'}, {'name': 'new', 'region': '0', 'size': '1g'},
               {'name': 'elsewhere'}, {'name': 'gone', 'state': 'absent', 'region': 'region5'}]
    assert system_ram_problems(settings(system_ram_devices=devices, system_ram_allow_release=True), facts=facts) == []


def test_host_namespace_in_fsdax_mode_is_neither_converted_nor_destroyed(facts):
    devices = [{'name': 'pmem-fs'}]
    assert system_ram_problems(settings(system_ram_devices=devices), facts=facts) == [
        "system_ram_devices[0].name='pmem-fs' is namespace0.1, in fsdax mode on this host: the role uses only devdax "
        "namespaces and does not convert this one, which may hold data; give the device another name, or convert or "
        "destroy that namespace yourself (memtier.pmem.pmem_namespace)"]
    devices = [{'name': 'pmem-fs', 'state': 'absent'}]
    problems = system_ram_problems(settings(system_ram_devices=devices, system_ram_allow_release=True), facts=facts)
    assert len(problems) == 1 and 'gives back only devdax namespaces and does not destroy this one' in problems[0]


def test_host_region_that_does_not_exist(facts):
    problems = system_ram_problems(settings(system_ram_devices=[{'name': 'new', 'region': 'region3'}]), facts=facts)
    assert problems == ["system_ram_devices[0].region='region3' does not exist on this host (regions: region0); use "
                        "one of those, or omit region to take the first that has room"]


def test_host_namespace_in_another_region(facts):
    devices = [{'name': 'pmem-ram', 'region': 'region1', 'state': 'absent'}]
    problems = system_ram_problems(settings(system_ram_devices=devices, system_ram_allow_release=True), facts=facts)
    assert problems == ["system_ram_devices[0].region='region1': namespace pmem-ram (namespace0.0) is in region0; the "
                        "role gives back only what the entry says; set region: region0 or omit region"]
    problems = system_ram_problems(settings(system_ram_devices=[dict(devices[0], state='present')]), facts=facts)
    assert len(problems) == 1 and 'the role does not move namespaces' in problems[0]


def test_host_name_shared_by_two_namespaces(facts):
    facts['namespaces'][1]['name'] = 'pmem-ram'
    problems = system_ram_problems(settings(system_ram_devices=[{'name': 'pmem-ram'}]), facts=facts)
    assert len(problems) == 1
    assert problems[0].startswith("system_ram_devices[0].name='pmem-ram' matches 2 namespaces on this host "
                                  "(namespace0.0, namespace0.1)")


def test_host_without_ndctl_is_not_judged(facts):
    facts.update(ndctl_version=None, regions=[], namespaces=[])
    assert system_ram_problems(settings(system_ram_devices=[{'name': 'x', 'region': 'region3'}]), facts=facts) == []


@pytest.mark.parametrize('changes,text', [
    ({'system_ram_promote_rate_limit_mbps': 0}, 'system_ram_promote_rate_limit_mbps=0 is not a rate'),
    ({'system_ram_promote_rate_limit_mbps': 'fast', 'system_ram_tiering': True}, "system_ram_promote_rate_limit_mbps='fast' is not a rate"),
    ({'system_ram_promote_rate_limit_mbps': 100}, 'but system_ram_tiering is false'),
])
def test_tiering_settings(changes, text):
    problems = system_ram_problems(settings(**changes))
    assert len(problems) == 1 and text in problems[0], problems


def test_tiering_with_a_rate_passes():
    assert system_ram_problems(settings(system_ram_tiering=True, system_ram_promote_rate_limit_mbps='256')) == []


def test_cxl_and_firmware_entries_checked_by_the_modules_rules():
    """Issue 10, item 4: the other kinds of device, with the modules' own validator (normalize_entry)."""
    devices = [{'name': 'cxl-ram0', 'cxl_memdevs': ['0x4d540000', '0x4d540001'], 'size': '2g'},
               {'name': 'hmem-ram0', 'address': '0x100000000'},
               {'name': 'bad-a', 'address': '0x100000000', 'region': 'region0'},
               {'name': 'bad-b', 'cxl_memdevs': ['disk0']},
               {'name': 'bad-c', 'cxl_memdevs': ['mem0'], 'address': 4294967296}]
    assert system_ram_problems(settings(system_ram_devices=devices)) == [
        'system_ram_devices[2].region applies only to a PMem namespace; remove it from this entry (memory the firmware '
        'exposes has the size the firmware gave it)',
        "system_ram_devices[3].cxl_memdevs: 'disk0' is neither a memdev name such as 'mem0' nor a serial number "
        "(decimal or 0x hex; see 'cxl list -M')",
        'system_ram_devices[4].cxl_memdevs and system_ram_devices[4].address are both given: an entry is one device, '
        'either a CXL region (cxl_memdevs) or memory the firmware exposes (address)']


def test_releasing_other_kinds_names_what_it_takes_away():
    devices = [{'name': 'cxl-ram0', 'cxl_memdevs': ['mem0'], 'state': 'absent'},
               {'name': 'hmem-ram0', 'address': '0x100000000', 'state': 'absent'}]
    assert system_ram_problems(settings(system_ram_devices=devices)) == [
        'system_ram_devices[0] (cxl-ram0) has state: absent, which takes its memory away from the running system and '
        'destroys the CXL region; set system_ram_allow_release: true to allow it',
        'system_ram_devices[1] (hmem-ram0) has state: absent, which takes its memory away from the running system '
        '(back to devdax); set system_ram_allow_release: true to allow it']


def test_other_kinds_are_not_checked_against_the_hosts_namespaces():
    """A CXL or firmware entry has no namespace: a namespace of the same name on the host is not its concern."""
    facts = load_fixture('bookworm/04-online-movable')['facts']
    name = facts['namespaces'][0]['name']
    devices = [{'name': name, 'address': '0x100000000', 'region': None}]
    assert system_ram_problems(settings(system_ram_devices=devices), facts) == []


NO_TIERING = {'demotion_enabled': None, 'numa_balancing': 0, 'promote_rate_limit_mbps': None}


@pytest.mark.parametrize('tiering,rate,missing', [
    (NO_TIERING, None, ['/sys/kernel/mm/numa/demotion_enabled (demotion, Linux 5.15 and later)']),
    (dict(NO_TIERING, demotion_enabled=False), 100,
     ['/proc/sys/kernel/numa_balancing_promote_rate_limit_MBps (Linux 6.1 and later)']),
    (dict(NO_TIERING, numa_balancing=None), 100,
     ['/sys/kernel/mm/numa/demotion_enabled (demotion, Linux 5.15 and later)',
      '/proc/sys/kernel/numa_balancing (CONFIG_NUMA_BALANCING)',
      '/proc/sys/kernel/numa_balancing_promote_rate_limit_MBps (Linux 6.1 and later)']),
])
def test_tiering_on_a_kernel_without_it(facts, tiering, rate, missing):
    """The rule of system_ram_boot's tiering option (one function), on pmem_info's tiering facts."""
    facts['tiering'] = tiering
    problems = system_ram_problems(settings(system_ram_devices=[{'name': 'pmem-ram0'}], system_ram_tiering=True,
                                            system_ram_promote_rate_limit_mbps=rate), facts=facts)
    assert problems == ['system_ram_tiering: kernel %s cannot make the new memory a slow tier: it has no %s. Boot a '
                        'kernel that has it, or set system_ram_tiering: false' % (facts['kernel'], ', no '.join(missing))]


def test_tiering_on_a_kernel_with_it_or_nothing_to_tier(facts):
    facts['tiering'] = {'demotion_enabled': False, 'numa_balancing': 0, 'promote_rate_limit_mbps': 65536}
    devices = [{'name': 'pmem-ram0'}]
    assert system_ram_problems(settings(system_ram_devices=devices, system_ram_tiering=True,
                                        system_ram_promote_rate_limit_mbps=100), facts=facts) == []
    facts['tiering'] = NO_TIERING
    devices = [{'name': 'pmem-ram0', 'state': 'absent'}]
    assert system_ram_problems(settings(system_ram_devices=devices, system_ram_tiering=True,
                                        system_ram_allow_release=True), facts=facts) == []


def test_firmware_memory_at_an_address_no_dax_device_starts_at():
    """Refused from pmem_info's facts before the role changes anything (the module's own rule, no_device_at):
    system_ram_boot, which the role runs first, would otherwise write a boot unit for it."""
    facts = {'ndctl_version': '81', 'dax_devices': [{'chardev': 'dax0.0', 'address': '0x100000000'}]}
    devices = [{'name': 'hmem-ram0', 'address': '0x100000000'}, {'name': 'hmem-ram1', 'address': 0x300000000},
               {'name': 'hmem-ram2', 'address': '0x500000000', 'state': 'absent'}]
    assert system_ram_problems(settings(system_ram_devices=devices, system_ram_allow_release=True), facts=facts) == [
        'system_ram_devices[1] (hmem-ram1): no dax device starts at address=0x300000000 (dax devices: dax0.0 at '
        '0x100000000). Memory the firmware exposes appears as "Soft Reserved" in /proc/iomem and as a dax device once '
        'dax_hmem (or, for a CXL region the BIOS set up, dax_cxl) has claimed it; check the address and the kernel '
        '(CONFIG_DEV_DAX_HMEM)']
    facts['dax_devices'] = []
    assert 'dax devices: none' in system_ram_problems(settings(system_ram_devices=devices[:1]), facts=facts)[0]
    facts['dax_devices'] = [{'chardev': 'dax0.0', 'address': '0x100000000'}, {'chardev': 'dax1.0', 'address': None}]
    assert system_ram_problems(settings(system_ram_devices=devices[1:2]), facts=facts) == []  # dax1.0 could be it
