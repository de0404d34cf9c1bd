# Copyright (c) memtier engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pmem_info with build_prefix reads the host with the build it finds there (issue 9: one look at the host
tells the system_ram role which ndctl and daxctl it runs), and says which Python it ran under."""
import sys

from ansible_collections.memtier.pmem.tests.unit.plugins.modules.scripted import ScriptedRunner, run_module

BUILD = {'files': {'/opt/ndctl/.memtier-ndctl-version': '81\n'}, 'dirs': {'/opt/ndctl/bin': ['daxctl', 'ndctl']}}


def test_a_build_under_the_prefix_is_used():
    runner = ScriptedRunner('bookworm/02-devdax', BUILD)
    result = run_module('pmem_info', {'build_prefix': '/opt/ndctl'}, runner)
    assert not result.get('failed'), result
    assert runner.bin_dirs == [None, '/opt/ndctl/bin']
    assert result['ndctl_build'] == {'prefix': '/opt/ndctl', 'version': '81', 'bin_dir': '/opt/ndctl/bin'}
    assert result['python'] == sys.executable


def test_bin_dir_wins_over_the_build():
    runner = ScriptedRunner('bookworm/02-devdax', BUILD)
    result = run_module('pmem_info', {'build_prefix': '/opt/ndctl', 'bin_dir': '/usr/local/bin'}, runner)
    assert runner.bin_dirs == ['/usr/local/bin']
    assert result['ndctl_build']['bin_dir'] == '/opt/ndctl/bin'


def test_no_build_no_switch():
    runner = ScriptedRunner('bookworm/02-devdax')
    result = run_module('pmem_info', {'build_prefix': '/opt/ndctl'}, runner)
    assert runner.bin_dirs == [None]
    assert result['ndctl_build'] == {'prefix': '/opt/ndctl', 'version': None, 'bin_dir': None}
