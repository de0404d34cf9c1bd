"""The system_ram role's files and templates: the build script with a source tree, the udev override that
turns off only memory onlining, and the quoting of the daxctl path in what runs at boot."""
import os
import subprocess
import sys

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

try:
    from ansible.template import trust_as_template
except ImportError:  # ansible-core < 2.19 templates every string it is given
    def trust_as_template(value):
        return value

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLE = os.path.join(ROOT, 'roles', 'system_ram')

UBUNTU_VM_HOTADD = '''# On Hyper-V and Xen Virtual Machines we want to add memory and cpus as soon as they appear
ATTR{[dmi/id]sys_vendor}=="Microsoft Corporation", ATTR{[dmi/id]product_name}=="Virtual Machine", GOTO="vm_hotadd_apply"
ATTR{[dmi/id]sys_vendor}=="Xen", GOTO="vm_hotadd_apply"
GOTO="vm_hotadd_end"

LABEL="vm_hotadd_apply"

# Memory hotadd request
SUBSYSTEM=="memory", ACTION=="add", DEVPATH=="/devices/system/memory/memory[0-9]*", TEST=="state", ATTR{state}!="online", ATTR{state}="online"

# CPU hotadd request
SUBSYSTEM=="cpu", ACTION=="add", DEVPATH=="/devices/system/cpu/cpu[0-9]*", TEST=="online", ATTR{online}!="1", ATTR{online}="1"

LABEL="vm_hotadd_end"
'''


def render(template, **variables):
    """A role template as the template action renders it (trim_blocks, backslashes kept)."""
    with open(os.path.join(ROLE, 'templates', template)) as handle:
        source = handle.read()
    variables.setdefault('ansible_managed', 'Ansible managed')
    templar = Templar(loader=DataLoader(), variables=variables)
    return templar.template(trust_as_template(source), escape_backslashes=False, overrides=dict(trim_blocks=True))


def override(text):
    return render('udev-onliner-override.rules.j2', __system_ram_override_marker='Managed by memtier.pmem.system_ram',
                  __rule_text=text,
                  item={'path': '/usr/lib/udev/rules.d/40-vm-hotadd.rules', 'name': '40-vm-hotadd.rules', 'override': None})


# --- Issue 8, item 17: only the memory part of 40-vm-hotadd.rules is overridden ---------------------

def test_override_keeps_every_rule_but_memory_onlining():
    lines = override(UBUNTU_VM_HOTADD).splitlines()
    assert lines[0] == ('# Managed by memtier.pmem.system_ram: the distribution\'s '
                        '/usr/lib/udev/rules.d/40-vm-hotadd.rules')
    body = [line for line in lines if not line.startswith('# ') and line != '#']
    original = [line for line in UBUNTU_VM_HOTADD.splitlines() if not line.startswith('# ')]
    assert len(body) == len(original)
    for mine, theirs in zip(body, original):
        if 'SUBSYSTEM=="memory"' in theirs:
            assert mine == '#memtier-off# ' + theirs
        else:
            assert mine == theirs
    assert any(line.startswith('SUBSYSTEM=="cpu"') for line in lines)


def test_override_turns_off_a_continued_rule_whole_and_leaves_comments():
    text = ('# ATTR{state}="online" in a comment\n'
            'SUBSYSTEM=="memory", ACTION=="add", \\\n'
            '  ATTR{state}="online_movable"\n'
            'SUBSYSTEM=="cpu", ATTR{online}="1"\n')
    lines = override(text).splitlines()[4:]
    assert lines == ['# ATTR{state}="online" in a comment',
                     '#memtier-off# SUBSYSTEM=="memory", ACTION=="add", ',
                     '#memtier-off#   ATTR{state}="online_movable"',
                     'SUBSYSTEM=="cpu", ATTR{online}="1"']


# --- Issue 8, item 19: the daxctl path is quoted for systemd and for the shell ---------------------

def test_unit_runs_daxctl_as_one_systemd_word():
    unit = render('daxdev-reconfigure@.service.j2', __system_ram_daxctl='/opt/ndctl/bin/daxctl',
                  __system_ram_use_build=True, system_ram_ndctl_prefix='/opt/ndctl')
    assert 'ExecStart="/opt/ndctl/bin/daxctl" reconfigure-device --check-config %I\n' in unit
    unit = render('daxdev-reconfigure@.service.j2', __system_ram_daxctl='/a b/%i$X"\\/daxctl',
                  __system_ram_use_build=True, system_ram_ndctl_prefix='/a b')
    assert 'ExecStart="/a b/%%i$$X\\"\\\\/daxctl" reconfigure-device --check-config %I\n' in unit


def boot_helper(tmp_path, ndctl_out, movable='true'):
    """The boot helper for daxctl < 72, rendered with stub ndctl/daxctl/modprobe, run for one uuid."""
    stubs = tmp_path / 'my bin'
    stubs.mkdir()
    (stubs / 'ndctl').write_text('#!/bin/sh\ncat <<\'EOF\'\n%sEOF\n' % ndctl_out)
    (stubs / 'daxctl').write_text('#!/bin/sh\necho "daxctl $*" > "$LOG"\n')
    (stubs / 'modprobe').write_text('#!/bin/sh\necho "modprobe $*" >> "$LOG.modprobe"\n')
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    script = render('memtier-system-ram.py.j2', __system_ram_before={'python': sys.executable},
                    __system_ram_ndctl=str(stubs / 'ndctl'), __system_ram_daxctl=str(stubs / 'daxctl'))
    helper = tmp_path / 'memtier-system-ram'
    helper.write_text(script)
    helper.chmod(0o755)
    log = tmp_path / 'log'
    env = dict(os.environ, PATH='%s:%s' % (stubs, os.environ['PATH']), MEMTIER_WAIT='2', MEMTIER_MOVABLE=movable,
               LOG=str(log))
    result = subprocess.run([str(helper), UUID], env=env, capture_output=True, text=True, check=False)
    return script, result, log


UUID = '1b2a0e8e-0b6c-4a8e-9d2b-6f0e3c0f4a11'


def test_boot_helper_finds_the_dax_device_of_the_uuid_with_json(tmp_path):
    """Issue 9: ndctl's JSON is read with Python's json module, not awk; the paths are Python strings."""
    listing = ('libndctl: a warning before the JSON\n[{"dev":"namespace0.0","uuid":"other","chardev":"dax0.0"},\n'
               ' {"dev":"namespace0.1","uuid":"%s","chardev":"null"}]\n' % UUID)
    script, result, log = boot_helper(tmp_path, listing, movable='false')
    assert script.startswith('#!%s\n' % sys.executable)
    assert 'awk' not in script and 'NDCTL = "%s"' % (tmp_path / 'my bin' / 'ndctl') in script
    # The helper waits for /dev/<chardev>; "null" stands for a device node that exists (/dev/null).
    assert result.returncode == 0, result.stderr
    assert log.read_text() == 'daxctl reconfigure-device --mode=system-ram --no-movable null\n'
    assert (tmp_path / 'log.modprobe').read_text() == 'modprobe kmem\n'


def test_boot_helper_gives_up_after_the_wait(tmp_path):
    script, result, log = boot_helper(tmp_path, '{"dev":"namespace0.0","uuid":"other","chardev":"dax0.0"}\n')
    assert result.returncode == 1
    assert 'no dax device for namespace %s after 2s' % UUID in result.stderr
    assert not log.exists()


# --- Issue 8, item 18: a source tree on the host builds (the scratch directory is made) --------------

@pytest.fixture
def tree(tmp_path):
    source = tmp_path / 'ndctl'
    source.mkdir()
    (source / 'meson.build').write_text("project('ndctl', 'c',\n  version : '81',\n)\n")
    stub = tmp_path / 'bin'
    stub.mkdir()
    (stub / 'meson').write_text('#!/bin/sh\necho "meson stub: $*"\nexit 1\n')
    (stub / 'meson').chmod(0o755)
    return source


def build(tree, mode):
    script = os.path.join(ROLE, 'files', 'build-ndctl.sh')
    scratch = tree.parent / 'scratch' / mode   # as the role passes it: not made yet
    env = dict(os.environ, PATH='%s:%s' % (tree.parent / 'bin', os.environ['PATH']))
    return subprocess.run(['bash', script, mode, str(tree), str(tree.parent / 'prefix'), str(scratch)],
                          env=env, capture_output=True, text=True, check=False)


def test_source_tree_check(tree):
    result = build(tree, 'check')
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '{"build": true, "version": "81", "installed": null}'


def test_source_tree_build_reaches_meson(tree):
    result = build(tree, 'build')
    assert result.returncode == 1
    assert 'No such file or directory' not in result.stderr
    assert 'build-ndctl: meson setup failed; the last lines of its output:' in result.stderr
    assert 'meson stub: setup' in result.stderr
    assert (tree.parent / 'scratch' / 'build' / 'build.log').is_file()


# --- Issue 9: the names pmem_info recognises are the ones the role writes ------------------------------

def test_role_and_host_model_agree_on_what_the_role_writes():
    import yaml
    from ansible_collections.memtier.pmem.plugins.module_utils import _pmem
    with open(os.path.join(ROLE, 'vars', 'main.yml')) as handle:
        constants = yaml.safe_load(handle)
    assert constants['__system_ram_override_marker'] == _pmem.ROLE_MARKER
    assert '/etc/systemd/system/' + constants['__system_ram_auto_online_unit'] == _pmem.OFFLINE_POLICY_UNIT
    assert constants['__system_ram_build_stamp'] == _pmem.BUILD_STAMP
    assert constants['__system_ram_udev_rule'] == _pmem.DAXCTL_UDEV_RULE


def test_no_task_of_the_role_probes_with_shell():
    """No shell or command task computes a fact or parses tool output: the only ones left change the host
    (modprobe kmem, the online policy, udevadm in a handler)."""
    import yaml
    found = []
    for directory in ('tasks', 'handlers'):
        for name in sorted(os.listdir(os.path.join(ROLE, directory))):
            with open(os.path.join(ROLE, directory, name)) as handle:
                stack = list(yaml.safe_load(handle) or [])
            while stack:
                task = stack.pop()
                for key in ('block', 'rescue', 'always'):
                    stack.extend(task.get(key) or [])
                for module in ('ansible.builtin.shell', 'ansible.builtin.command'):
                    if module in task:
                        found.append((name, str(task[module]).split()[0], task.get('register')))
    assert sorted(found) == [('main.yml', 'udevadm', None), ('prerequisites.yml', 'echo', None),
                             ('prerequisites.yml', 'modprobe', '__system_ram_modprobe')]
