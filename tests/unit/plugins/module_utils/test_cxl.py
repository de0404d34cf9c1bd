# Copyright (c) memtier engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The CXL model (_cxl.py) over recordings: the cxl-trixie fixtures (tests/fixtures/record.py --suite cxl-trixie,
a Debian 13 guest with two CXL type-3 devices) and, for the "no CXL here" side, the NVDIMM ones."""
import pytest

from ansible_collections.memtier.pmem.plugins.module_utils._cxl import CxlHost, cxl_facts
from ansible_collections.memtier.pmem.plugins.module_utils._pmem import ReplayRunner
from ansible_collections.memtier.pmem.tests.unit.plugins.modules.scripted import (
    ScriptedRunner, fixture_names, load_fixture, run_module, subset_problems,
)

CXL_FIXTURES = [name for name in fixture_names() if name.startswith('cxl-')]


def host_of(name, files=None):
    recording = load_fixture(name)['recording']
    recording = dict(recording, files=dict(recording.get('files') or {}, **(files or {})))
    runner = ReplayRunner(recording)
    return CxlHost(runner), runner


@pytest.mark.parametrize('name', CXL_FIXTURES)
def test_cxl_facts_replay_to_the_recorded_ones(name):
    data = load_fixture(name)
    problems = subset_problems(data['cxl_facts'], cxl_facts(host_of(name)[0]), 'cxl_facts')
    assert not problems, '%s:\n  %s' % (name, '\n  '.join(problems))


def test_region_over_two_memdevs():
    host = host_of('cxl-trixie/02-online')[0]
    assert [(dev.name, dev.host_bridge, dev.ram_size) for dev in host.memdevs] == [
        ('mem0', 'pci0000:0c', 1 << 30), ('mem1', 'pci0000:0c', 1 << 30)]
    (region,) = host.cxl_regions
    # cxl list prints the mappings position 1 first: the members are in interleave order
    assert (region.name, region.memdevs, region.root_decoder, region.size) == ('region0', ['mem0', 'mem1'], 'decoder0.0', 2 << 30)
    assert [(dev.dev, dev.online_memblocks, dev.movable) for dev in region.dax_devices] == [('dax0.0', 16, True)]
    decoder = host.root_decoder('decoder0.0')
    assert (decoder.volatile_capable, decoder.max_available_extent, decoder.interleave_granularity, decoder.memdevs) == (
        True, 2 << 30, 256, ['mem0', 'mem1'])


def test_tiers_after_onlining():
    host = host_of('cxl-trixie/02-online')[0]
    assert host.memory_tiers() == [{'tier': 4, 'nodelist': '0', 'nodes': [0]}, {'tier': 22, 'nodelist': '1', 'nodes': [1]}]
    assert host.tiering() == {'demotion_enabled': False, 'numa_balancing': 0, 'promote_rate_limit_mbps': 65536}


@pytest.mark.parametrize('name', ['bookworm/04-online-movable', 'trixie/00-fresh', 'bullseye/00-fresh'])
def test_no_cxl_tool_means_empty_lists_and_no_cxl_command(name):
    host, runner = host_of(name)
    facts = cxl_facts(host)
    assert (facts['cxl_version'], facts['cxl_memdevs'], facts['cxl_root_decoders'], facts['cxl_regions']) == (None, [], [], [])
    assert not [call for call in runner.calls if call.startswith('cxl ')]


def test_no_cxl_device_is_not_an_error():
    runner = ScriptedRunner('cxl-trixie/00-fresh', overlay={'commands': {
        'cxl list -M': {'out': '[]\n', 'err': '  Warning: no matching devices found\n'},
        'cxl list -D -d root': {'out': '', 'err': '  Warning: no matching devices found\n'},
        'cxl list -R -T': {'out': '[]\n'}}})
    facts = cxl_facts(CxlHost(runner))
    assert (facts['cxl_version'], facts['cxl_memdevs'], facts['cxl_root_decoders'], facts['cxl_regions']) == ('81', [], [], [])


IOMEM = """00000000-00000fff : Reserved
00001000-0009fbff : System RAM
00100000-7ffdefff : System RAM
  0b000000-0bffffff : Kernel code
100000000-17fffffff : Soft Reserved
  100000000-17fffffff : dax0.0
    100000000-17fffffff : System RAM (kmem)
180000000-27fffffff : System RAM
"""


def test_soft_reserved_ranges_with_what_claims_them():
    host = host_of('trixie/00-fresh', files={'/proc/iomem': IOMEM})[0]
    assert host.soft_reserved() == [{'start': 1 << 32, 'end': (6 << 30) - 1, 'size': 2 << 30,
                                     'claimed_by': ['dax0.0', 'System RAM (kmem)']}]


def test_soft_reserved_without_root_reads_zero_addresses():
    host = host_of('trixie/00-fresh', files={'/proc/iomem': '00000000-00000000 : Soft Reserved\n'})[0]
    assert host.soft_reserved() == [{'start': 0, 'end': 0, 'size': 0, 'claimed_by': []}]


def test_pmem_info_reports_cxl():
    result = run_module('pmem_info', {}, ScriptedRunner('cxl-trixie/02-online'))
    assert not result.get('failed'), result.get('msg')
    assert [dev['memdev'] for dev in result['cxl_memdevs']] == ['mem0', 'mem1']
    assert result['cxl_regions'][0]['memdevs'] == ['mem0', 'mem1']
    assert result['cxl_regions'][0]['dax_devices'][0]['chardev'] == 'dax0.0'
    assert result['memory_tiers'][-1] == {'tier': 22, 'nodelist': '1', 'nodes': [1]}
    assert result['soft_reserved'] == []


def test_pmem_info_without_cxl_tool():
    result = run_module('pmem_info', {}, ScriptedRunner('bookworm/04-online-movable'))
    assert not result.get('failed'), result.get('msg')
    assert (result['cxl_version'], result['cxl_memdevs'], result['cxl_regions']) == (None, [], [])
