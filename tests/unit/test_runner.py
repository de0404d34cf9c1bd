"""Where ModuleRunner finds ndctl and daxctl: in bin_dir when given (a build under a prefix), else on the PATH."""
import stat

import pytest

from ansible_collections.memtier.pmem.plugins.module_utils._pmem import ModuleRunner


class Failed(Exception):
    pass


class FakeModule:
    """The three AnsibleModule members ModuleRunner uses before it runs anything."""

    def __init__(self, bin_dir=None, path=None):
        self.params = {'bin_dir': bin_dir}
        self.path = path or {}

    def get_bin_path(self, name, required=False):
        return self.path.get(name)

    def fail_json(self, msg, **kwargs):
        raise Failed(msg)


def make_tool(directory, name, executable=True):
    path = directory / name
    path.write_text('#!/bin/sh\n')
    path.chmod(stat.S_IRWXU if executable else stat.S_IRUSR | stat.S_IWUSR)
    return str(path)


def test_bin_dir_wins_over_the_path(tmp_path):
    paths = {tool: make_tool(tmp_path, tool) for tool in ('ndctl', 'daxctl')}
    runner = ModuleRunner(FakeModule(bin_dir=str(tmp_path), path={'ndctl': '/usr/bin/ndctl', 'daxctl': '/usr/bin/daxctl'}))
    assert runner._bin('ndctl') == paths['ndctl']
    assert runner._bin('daxctl') == paths['daxctl']


def test_bin_dir_without_daxctl_fails_before_anything_runs(tmp_path):
    make_tool(tmp_path, 'ndctl')
    make_tool(tmp_path, 'daxctl', executable=False)
    with pytest.raises(Failed) as info:
        ModuleRunner(FakeModule(bin_dir=str(tmp_path), path={'daxctl': '/usr/bin/daxctl'}))
    assert info.value.args[0].startswith('bin_dir: %s has no executable daxctl.' % tmp_path)
    assert 'leave bin_dir out to use the PATH' in info.value.args[0]


def test_path_lookup_without_bin_dir():
    runner = ModuleRunner(FakeModule(path={'ndctl': '/usr/bin/ndctl', 'daxctl': '/usr/bin/daxctl'}))
    assert runner._bin('daxctl') == '/usr/bin/daxctl'


def test_missing_tools_name_the_way_out():
    with pytest.raises(Failed) as info:
        ModuleRunner(FakeModule(path={'ndctl': '/usr/bin/ndctl'}))
    assert info.value.args[0].startswith('daxctl not found on the PATH of the host.')
    assert 'set bin_dir' in info.value.args[0]
