"""system_ram_devices: a host's whole list of devices, planned from states recorded on real kernels."""
import pytest

from ansible_collections.memtier.pmem.plugins.module_utils._devices import DevicesTarget
from ansible_collections.memtier.pmem.plugins.module_utils._pmem import PmemError


def target(*devices, **options):
    params = dict(devices=list(devices), init_labels=False, allow_release=False, timeout=120)
    params.update(options)
    return DevicesTarget(params)


def entry(name='pmem-ram', **kwargs):
    return dict(dict(name=name, region='region0', size='1g', map=None, align=None, movable=True, state='present'),
                **kwargs)


def test_a_new_device_is_created_and_its_dax_steps_wait_for_it(fixture_host):
    host = fixture_host('bookworm/01-labels')
    devices = target(entry())
    plans = devices.plan(host)
    assert devices.describe(plans) == [
        'ndctl create-namespace --region=region0 --mode=devdax --size=1073741824 --name=pmem-ram']
    assert plans['pmem-ram'][1] is None and devices.pending(plans)
    [after] = devices.predict(host, plans)
    assert after['namespace']['name'] == 'pmem-ram' and after['namespace']['size'] == 1 << 30
    assert after['device'] == {'chardev': None, 'mode': 'system-ram', 'state': 'enabled', 'movable': True,
                               'zones': ['Movable']}


def test_a_provisioned_device_is_a_no_op(fixture_host):
    host = fixture_host('bookworm/04-online-movable')
    devices = target(entry())
    plans = devices.plan(host)
    assert not devices.pending(plans) and devices.describe(plans) == []
    assert devices.predict(host, plans) == devices.snapshot(host)


def test_an_existing_devdax_namespace_is_planned_to_the_end(fixture_host):
    host = fixture_host('bookworm/02-devdax')
    devices = target(entry(movable=False))
    assert devices.describe(devices.plan(host)) == [
        'daxctl reconfigure-device --mode=system-ram --no-online dax0.0', 'daxctl online-memory --no-movable dax0.0']


def test_every_bad_entry_is_named_before_anything_is_read():
    with pytest.raises(PmemError) as info:
        target(entry(name='-rf'), entry(size='1.5g'), entry(region='regionX'), entry(name='a', align='3m'),
               entry(name='b'), entry(name='b'), entry(name='c', size='0'))
    assert info.value.msg == (
        "devices[0].name='-rf' is not a valid namespace name: use 1 to 63 letters, digits, '.', '_' or '-', "
        "starting with a letter or digit; "
        "devices[1].size='1.5g' is not a size: use bytes or a number with k, m, g or t (binary), e.g. '12g'; "
        "devices[2].region='regionX' is not a region: use a name such as 'region0' or its number '0' "
        "(see memtier.pmem.pmem_info or 'ndctl list -R'); "
        "devices[3].align='3m' is not an alignment: use a power of two of 4k or more that the region supports, "
        "usually 4k, 2m or 1g (see supported_alignments in memtier.pmem.pmem_info); "
        "devices[5].name=b is also devices[4].name: one entry per device; "
        "devices[6].size='0' is not a size: it must be more than 0. To take all the free space of the region, "
        "omit devices[6].size. Nothing was changed")


def test_giving_back_needs_allow_release_and_goes_first(fixture_host):
    host = fixture_host('bookworm/04-online-movable')
    with pytest.raises(PmemError, match='pmem-ram has state: absent, .* set allow_release: true'):
        target(entry(name='new'), entry(state='absent')).plan(host)
    devices = target(entry(name='new', size='512m'), entry(state='absent'), allow_release=True)
    assert [want['name'] for want in devices.entries] == ['pmem-ram', 'new']
    plans = devices.plan(host)
    # The destroy is planned once the device is back in devdax mode (it is system RAM until then).
    assert [a.kind for a in plans['pmem-ram'][1]] == ['offline', 'reconfigure'] and plans['pmem-ram'][0] == []
    assert [item['namespace'] for item in devices.predict(host, plans)][0] is None


def test_an_absent_device_that_does_not_exist_needs_no_opt_in(fixture_host):
    devices = target(entry(state='absent'))
    plans = devices.plan(fixture_host('bookworm/01-labels'))
    assert not devices.pending(plans)


def test_the_new_devices_memmap_is_checked_before_anything_changes(fixture_host):
    host = fixture_host('bookworm/01-labels')
    host.runner.files['/proc/meminfo'] = 'MemAvailable: 90000 kB\n'
    with pytest.raises(PmemError, match=r'hot-adding the new devices \(3 GiB\) as system RAM needs 48 MiB of DRAM'):
        target(entry(size='3g')).plan(host)
