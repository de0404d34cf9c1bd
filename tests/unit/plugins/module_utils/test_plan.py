"""Planning: what the modules decide to do in states recorded on real kernels."""
import pytest

from ansible_collections.memtier.pmem.plugins.module_utils._pmem import PmemError
from ansible_collections.memtier.pmem.plugins.module_utils._plan import (
    normalize_namespace_params, plan_memory, plan_reconfigure, predict_device, resolve_device,
)
from ansible_collections.memtier.pmem.plugins.module_utils._plan import plan_namespace as _plan_namespace


def plan_namespace(host, params):
    return _plan_namespace(host, normalize_namespace_params(params))


def ns_params(**kwargs):
    params = dict(name='pmem-ram', uuid=None, state='present', region='region0', size=None, mode='devdax',
                  map=None, align=None, force=False, init_labels=False)
    params.update(kwargs)
    return params


def dax_params(**kwargs):
    params = dict(device=None, namespace='pmem-ram', mode='system-ram', online=True, movable=True, force=False,
                  timeout=120)
    params.update(kwargs)
    return params


def commands(actions):
    return [action.describe() for action in actions]


# --- pmem_namespace --------------------------------------------------------------------------

def test_fresh_region_needs_the_init_labels_opt_in(fixture_host):
    host = fixture_host('bookworm/00-fresh')
    with pytest.raises(PmemError, match='init_labels: true'):
        plan_namespace(host, ns_params(size='1g'))
    actions = plan_namespace(host, ns_params(size='1g', init_labels=True))
    assert [a.kind for a in actions] == ['init_labels', 'create']
    assert actions[0].args == {'dimms': ['nmem0']}


def test_label_less_region_converts_whole_only_with_force(fixture_host):
    host = fixture_host('bookworm/00-fresh')
    with pytest.raises(PmemError, match='force: true to convert'):
        plan_namespace(host, ns_params())
    assert commands(plan_namespace(host, ns_params(force=True))) == [
        'ndctl create-namespace --force --reconfig=namespace0.0 --mode=devdax']


def test_create_names_region_size_and_name(fixture_host):
    host = fixture_host('bookworm/01-labels')
    assert commands(plan_namespace(host, ns_params(size='1g'))) == [
        'ndctl create-namespace --region=region0 --mode=devdax --size=1073741824 --name=pmem-ram']


@pytest.mark.parametrize('region', [None, 'region0'])
def test_existing_namespace_is_a_no_op_and_reads_only_ndctl_list(fixture_host, region):
    host = fixture_host('bookworm/02-devdax')
    assert plan_namespace(host, ns_params(size='1g', region=region)) == []
    assert host.runner.calls == ['ndctl list --namespaces --idle']


@pytest.mark.parametrize('size,message', [
    ('1000m', 'size=1000 MiB is not a multiple of region0 alignment (16 MiB); use 992 MiB or 1008 MiB'),
    ('64g', 'size=64 GiB does not fit in region0'),
])
def test_bad_sizes_name_the_option_and_the_way_out(fixture_host, size, message):
    with pytest.raises(PmemError) as info:
        plan_namespace(fixture_host('bookworm/01-labels'), ns_params(size=size))
    assert info.value.msg.startswith(message)


def test_unknown_region(fixture_host):
    with pytest.raises(PmemError, match=r'region=region9 does not exist \(regions on this host: region0\)'):
        plan_namespace(fixture_host('bookworm/01-labels'), ns_params(region='region9', size='1g'))


def test_other_settings_need_force(fixture_host):
    host = fixture_host('bookworm/02-devdax')
    with pytest.raises(PmemError, match='size 1 GiB, wanted 2 GiB; set force: true'):
        plan_namespace(host, ns_params(size='2g'))
    assert [a.kind for a in plan_namespace(host, ns_params(size='2g', force=True))] == ['destroy', 'create']


def test_destroy_is_refused_while_the_memory_is_system_ram(fixture_host):
    with pytest.raises(PmemError, match='refusing to destroy namespace pmem-ram .* system-ram mode with 7 of 7'):
        plan_namespace(fixture_host('bookworm/04-online-movable'), ns_params(state='absent'))


def test_destroy_devdax(fixture_host):
    assert commands(plan_namespace(fixture_host('bookworm/02-devdax'), ns_params(state='absent'))) == [
        'ndctl destroy-namespace --force namespace0.0']


# --- dax_reconfigure -------------------------------------------------------------------------

def test_devdax_to_system_ram_then_online(fixture_host):
    host = fixture_host('bookworm/02-devdax')
    dev = resolve_device(host, namespace='pmem-ram')
    actions = plan_reconfigure(host, dev, dax_params())
    assert commands(actions) == ['daxctl reconfigure-device --mode=system-ram --no-online dax0.0',
                                 'daxctl online-memory dax0.0']
    after = predict_device(host, dev, actions)
    assert (after['mode'], after['online_memblocks'], after['total_memblocks'], after['movable']) == (
        'system-ram', 7, 7, True)


def test_online_device_is_a_no_op_read_with_one_ndctl_and_one_daxctl(fixture_host):
    host = fixture_host('bookworm/04-online-movable')
    dev = resolve_device(host, namespace='pmem-ram')
    assert plan_reconfigure(host, dev, dax_params()) == []
    assert sorted(host.runner.calls) == ['daxctl list --devices --idle', 'ndctl list --namespaces --idle']


def test_taking_memory_away_needs_force(fixture_host):
    host = fixture_host('bookworm/04-online-movable')
    dev = resolve_device(host, device='dax0.0')
    with pytest.raises(PmemError, match='7 of 7 memory blocks online .*needs force: true'):
        plan_reconfigure(host, dev, dax_params(mode='devdax'))
    actions = plan_reconfigure(host, dev, dax_params(mode='devdax', force=True))
    assert [a.kind for a in actions] == ['offline', 'reconfigure']


def test_dax_class_model_is_explained(fixture_host):
    host = fixture_host('bullseye/02-devdax')
    dev = resolve_device(host, namespace='pmem-ram')
    with pytest.raises(PmemError, match='dax-class device model .*daxctl migrate-device-model'):
        plan_reconfigure(host, dev, dax_params())


def test_auto_online_policy_is_explained(fixture_host):
    host = fixture_host('trixie/02-devdax')
    dev = resolve_device(host, namespace='pmem-ram')
    with pytest.raises(PmemError, match=r'auto_online_blocks = online\).*memhp_default_state=offline'):
        plan_reconfigure(host, dev, dax_params())


@pytest.mark.parametrize('device,message', [
    ('dax9.9', r'device=dax9.9 does not exist \(dax devices on this host: dax0.0\)'),
    ('../dax0.0', "device='../dax0.0' is not a dax device name"),
])
def test_unknown_or_malformed_device(fixture_host, device, message):
    with pytest.raises(PmemError, match=message):
        resolve_device(fixture_host('bookworm/02-devdax'), device=device)


def test_fsdax_namespace_has_no_dax_device(fixture_host):
    with pytest.raises(PmemError, match='is in fsdax mode and has no dax device'):
        resolve_device(fixture_host('bookworm/07-fsdax'), namespace='pmem-fs')


# --- memory_online ---------------------------------------------------------------------------

def test_online_offline_blocks(fixture_host):
    host = fixture_host('bookworm/03-system-ram-offline')
    dev = resolve_device(host, device='dax0.0')
    assert commands(plan_memory(host, dev, dict(state='online', movable=False, timeout=60))) == [
        'daxctl online-memory --no-movable dax0.0']
    assert plan_memory(host, dev, dict(state='offline', timeout=60)) == []


def test_partial_state_is_finished(fixture_host):
    host = fixture_host('bookworm/06-partial')
    dev = resolve_device(host, device='dax0.0')
    assert commands(plan_memory(host, dev, dict(state='online', movable=False, timeout=60))) == [
        'daxctl online-memory --no-movable dax0.0']


def test_wrong_zone_needs_force(fixture_host):
    host = fixture_host('bookworm/05-online-normal')
    dev = resolve_device(host, device='dax0.0')
    with pytest.raises(PmemError, match='7 memory block\\(s\\) online in zone Normal, wanted Movable'):
        plan_memory(host, dev, dict(state='online', movable=True, timeout=60))
    assert [a.kind for a in plan_memory(host, dev, dict(state='online', movable=True, force=True, timeout=60))] == [
        'offline', 'online']


def test_online_on_devdax_is_explained(fixture_host):
    host = fixture_host('bookworm/02-devdax')
    dev = resolve_device(host, device='dax0.0')
    with pytest.raises(PmemError, match='in devdax mode, so it has no memory to online'):
        plan_memory(host, dev, dict(state='online', timeout=60))
