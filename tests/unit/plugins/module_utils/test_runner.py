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


class RecordingModule(FakeModule):
    """Also keeps the argument lists run_command is given."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.argvs = []

    def run_command(self, argv, data=None, environ_update=None):
        self.argvs.append(argv)
        return 0, '', ''


def test_a_wrapped_command_runs_the_daxctl_of_bin_dir_too(tmp_path):
    # Issue 8, item 10: `timeout ... daxctl offline-memory` resolved only `timeout`, so the PATH's daxctl ran.
    for tool in ('ndctl', 'daxctl'):
        make_tool(tmp_path, tool)
    module = RecordingModule(bin_dir=str(tmp_path), path={'timeout': '/usr/bin/timeout', 'daxctl': '/usr/bin/daxctl'})
    ModuleRunner(module).run(['daxctl', 'offline-memory', 'dax0.0'], timeout=119.2)
    assert module.argvs == [['/usr/bin/timeout', '--signal=INT', '--kill-after=10', '120',
                             str(tmp_path / 'daxctl'), 'offline-memory', 'dax0.0']]


def test_the_host_lock_is_exclusive_and_names_its_holder(tmp_path, monkeypatch):
    # Issue 8, item 12: two runs on one host never plan from the same state.
    from ansible_collections.memtier.pmem.plugins.module_utils import _pmem
    monkeypatch.setattr(_pmem, 'LOCK_FILE', str(tmp_path / 'lock' / 'memtier-pmem.lock'))
    first = ModuleRunner(FakeModule(path={'ndctl': '/bin/true', 'daxctl': '/bin/true'}))
    second = ModuleRunner(FakeModule(path={'ndctl': '/bin/true', 'daxctl': '/bin/true'}))
    with first.lock(0, 'pid 1, memtier.pmem.pmem_namespace, since now'):
        with pytest.raises(_pmem.PmemError) as info:
            with second.lock(0.3, 'pid 2'):
                pass
        assert info.value.msg.startswith('another run holds the host lock %s (pid 1, memtier.pmem.pmem_namespace, '
                                         'since now); waited 0.3 s (lock_timeout). Nothing was changed' % _pmem.LOCK_FILE)
    with second.lock(0, 'pid 2'):  # released when the first run ends
        pass


def test_a_missing_helper_program_is_an_error_not_a_crash():
    runner = ModuleRunner(FakeModule(path={'ndctl': '/bin/true', 'daxctl': '/bin/true'}))
    with pytest.raises(Exception, match='modprobe is not installed on this host'):
        runner.run(['modprobe', '--show-depends', 'kmem'])
