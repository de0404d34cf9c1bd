# Copyright (c) memtier engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""system_ram_boot beyond the cases in cases/system_ram_boot.yml: a second run over the state the first left
changes nothing, files of the earlier role layout are rewritten in place, and the file formats (the udev
override, the systemd quoting of the daxctl path, the boot helper for daxctl < 72) do what they say."""
import ast
import os
import subprocess
import sys

import pytest

from ansible_collections.memtier.pmem.plugins.module_utils import _boot
from ansible_collections.memtier.pmem.tests.unit.plugins.modules.scripted import (
    ScriptedRunner, module_args, run_module, runner_for,
)

DEBIAN12_RULE = {
    'dirs': {'/lib/udev/rules.d': ['90-daxctl-device.rules']},
    'files': {'/lib/udev/rules.d/90-daxctl-device.rules': 'ACTION=="add", SUBSYSTEM=="dax", RUN+="/usr/bin/daxctl -C"\n'},
}
ALL = {'kmem': True, 'keep_offline': True, 'override_onliners': True}


def test_second_run_changes_nothing_bookworm():
    runner = ScriptedRunner('bookworm/04-online-movable', DEBIAN12_RULE,
                            script=[{'cmd': 'systemctl daemon-reload'}, {'cmd': 'udevadm control --reload'}])
    first = run_module('system_ram_boot', dict(ALL, devices=[{'name': 'pmem-ram'}]), runner)
    assert first['changed'] and len(first['commands']) == 6
    runner.check_done()
    again = ScriptedRunner('bookworm/04-online-movable')
    again.state = runner.state
    second = run_module('system_ram_boot', dict(ALL, devices=[{'name': 'pmem-ram'}]), again)
    assert (second['changed'], second['commands'], again.writes) == (False, [], [])
    assert second['boot'] == first['boot']


def test_second_run_changes_nothing_bullseye_and_an_old_layout_is_rewritten_in_place():
    """A host provisioned by the role before 0.2.0 (a shell boot helper, its units under the same names):
    the helper is rewritten, nothing is added beside it, and the next run changes nothing."""
    old = {'files': {_boot.HELPER_SCRIPT: '#!/bin/sh\n# Ansible managed\nawk ...\n'},
           'links': {}}
    runner = ScriptedRunner('bullseye/02-devdax', old,
                            script=[{'cmd': 'systemctl daemon-reload'},
                                    {'cmd': 'modprobe kmem', 'then': {'dirs': {'/sys/bus/dax/drivers/kmem': ['bind']}}}])
    first = run_module('system_ram_boot', dict(ALL, devices=[{'name': 'pmem-ram'}]), runner)
    assert 'write %s' % _boot.HELPER_SCRIPT in first['commands']
    assert runner.state['files'][_boot.HELPER_SCRIPT].startswith('#!%s\n' % sys.executable)
    wants = [p for p in runner.state['links'] if 'multi-user.target.wants/memtier-system-ram@' in p]
    assert wants == ['/etc/systemd/system/multi-user.target.wants/memtier-system-ram@fd0d3378-eabf-4814-a0e2-d910d5c49677.service']
    again = ScriptedRunner('bullseye/02-devdax')
    again.state = runner.state
    second = run_module('system_ram_boot', dict(ALL, devices=[{'name': 'pmem-ram'}]), again)
    assert (second['changed'], second['commands'], again.writes) == (False, [], [])


def test_a_name_made_again_under_a_new_uuid_replaces_its_old_unit():
    state = {'dirs': {'/etc/memtier-pmem': ['old-uuid.env']},
             'files': {'/etc/memtier-pmem/old-uuid.env': 'MEMTIER_NAME=pmem-ram\n'},
             'links': {'/etc/systemd/system/multi-user.target.wants/memtier-system-ram@old-uuid.service': 'x'}}
    runner = ScriptedRunner('bullseye/02-devdax', state, script=[{'cmd': 'systemctl daemon-reload'}])
    result = run_module('system_ram_boot', {'devices': [{'name': 'pmem-ram'}]}, runner)
    assert 'rm /etc/memtier-pmem/old-uuid.env' in result['commands']
    assert 'rm /etc/systemd/system/multi-user.target.wants/memtier-system-ram@old-uuid.service' in result['commands']
    assert [p for p in runner.state['files'] if p.startswith('/etc/memtier-pmem/')] == [
        '/etc/memtier-pmem/fd0d3378-eabf-4814-a0e2-d910d5c49677.env']


# --- the formats -----------------------------------------------------------------------------------

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


def test_override_keeps_every_rule_but_memory_onlining():
    """Issue 8, item 17: only the memory part of 40-vm-hotadd.rules is overridden."""
    lines = _boot.onliner_override('/usr/lib/udev/rules.d/40-vm-hotadd.rules', UBUNTU_VM_HOTADD).splitlines()
    assert lines[0] == "# Managed by memtier.pmem.system_ram: the distribution's /usr/lib/udev/rules.d/40-vm-hotadd.rules"
    body = lines[4:]
    assert len(body) == len(UBUNTU_VM_HOTADD.splitlines())
    for mine, theirs in zip(body, UBUNTU_VM_HOTADD.splitlines()):
        assert mine == ('#memtier-off# ' + theirs if 'SUBSYSTEM=="memory"' in theirs else theirs)
    assert any(line.startswith('SUBSYSTEM=="cpu"') for line in lines)


def test_override_turns_off_a_continued_rule_whole_and_leaves_comments():
    text = ('# ATTR{state}="online" in a comment\n'
            'SUBSYSTEM=="memory", ACTION=="add", \\\n'
            '  ATTR{state}="online_movable"\n'
            'SUBSYSTEM=="cpu", ATTR{online}="1"\n')
    assert _boot.onliner_override('/x.rules', text).splitlines()[4:] == [
        '# ATTR{state}="online" in a comment',
        '#memtier-off# SUBSYSTEM=="memory", ACTION=="add", ',
        '#memtier-off#   ATTR{state}="online_movable"',
        'SUBSYSTEM=="cpu", ATTR{online}="1"']


def test_unit_runs_daxctl_as_one_systemd_word():
    """Issue 8, item 19: the daxctl path is quoted for systemd, no shell."""
    assert 'ExecStart="/opt/ndctl/bin/daxctl" reconfigure-device --check-config %I\n' in _boot.daxctl_unit(
        '/opt/ndctl/bin/daxctl', True)
    assert 'ExecStart="/a b/%%i$$X\\"\\\\/daxctl" reconfigure-device --check-config %I\n' in _boot.daxctl_unit(
        '/a b/%i$X"\\/daxctl', True)


def test_only_overrides_carry_the_marker_pmem_info_counts_as_the_roles():
    from ansible_collections.memtier.pmem.plugins.module_utils._pmem import ROLE_MARKER
    for text in (_boot.daxctl_rule(), _boot.daxctl_unit('daxctl', False), _boot.offline_unit(), _boot.helper_unit(),
                 _boot.daxctl_conf('a', 'u', True)):
        assert ROLE_MARKER not in text
    assert ROLE_MARKER in _boot.onliner_override('/x', '')


UUID = '1b2a0e8e-0b6c-4a8e-9d2b-6f0e3c0f4a11'


def boot_helper(tmp_path, ndctl_out, movable='true'):
    """The boot helper for daxctl < 72, with stub ndctl/daxctl/modprobe, run for one uuid."""
    stubs = tmp_path / 'my bin'
    stubs.mkdir()
    (stubs / 'ndctl').write_text('#!/bin/sh\ncat <<\'EOF\'\n%sEOF\n' % ndctl_out)
    (stubs / 'daxctl').write_text('#!/bin/sh\necho "daxctl $*" > "$LOG"\n')
    (stubs / 'modprobe').write_text('#!/bin/sh\necho "modprobe $*" >> "$LOG.modprobe"\n')
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    script = _boot.boot_helper(sys.executable, str(stubs / 'ndctl'), str(stubs / 'daxctl'))
    helper = tmp_path / 'memtier-system-ram'
    helper.write_text(script)
    helper.chmod(0o755)
    log = tmp_path / 'log'
    env = dict(os.environ, PATH='%s:%s' % (stubs, os.environ['PATH']), MEMTIER_WAIT='2', MEMTIER_MOVABLE=movable,
               LOG=str(log))
    result = subprocess.run([str(helper), UUID], env=env, capture_output=True, text=True, check=False)
    return script, result, log


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


def run_helper(tmp_path, stubs, env):
    """The boot helper with stub tools (shell scripts by name) and settings as its .env file would give them."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    for name, text in stubs.items():
        (bin_dir / name).write_text('#!/bin/sh\n' + text)
        (bin_dir / name).chmod(0o755)
    helper = tmp_path / 'memtier-system-ram'
    helper.write_text(_boot.boot_helper(sys.executable, str(bin_dir / 'ndctl'), str(bin_dir / 'daxctl'),
                                        str(bin_dir / 'cxl')))
    helper.chmod(0o755)
    log = tmp_path / 'log'
    full = dict(os.environ, PATH='%s:%s' % (bin_dir, os.environ['PATH']), MEMTIER_WAIT='2', LOG=str(log))
    full.update(env)
    result = subprocess.run([str(helper), env['MEMTIER_NAME']], env=full, capture_output=True, text=True, check=False)
    return result, log.read_text() if log.exists() else ''


MODPROBE = 'echo "modprobe $*" >> "$LOG"\n'


def fake_sysfs(tmp_path, sysfs_file='mapping0/start'):
    """Two dax devices, at 4 GiB and 12 GiB, and memory blocks of 128 MiB (block_size_bytes is hex)."""
    sysfs = tmp_path / 'sys'
    for name, start in (('dax0.0', '0x100000000'), ('dax1.0', '0x300000000')):
        path = sysfs / 'bus/dax/devices' / name / sysfs_file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(start + '\n')
    (sysfs / 'devices/system/memory').mkdir(parents=True)
    (sysfs / 'devices/system/memory/block_size_bytes').write_text('8000000\n')
    return sysfs


@pytest.mark.parametrize('mode,movable,sysfs_file,expected', [
    # 6.12: soft-reserved memory comes up in kmem mode, only onlining is left; found by mapping0/start
    ('system-ram', 'true', 'mapping0/start', 'daxctl online-memory dax1.0'),
    # 6.1: it comes up in devdax mode; an older kernel shows only resource
    ('devdax', 'false', 'resource', 'daxctl reconfigure-device --mode=system-ram --no-movable dax1.0'),
])
def test_boot_helper_onlines_firmware_memory_found_by_its_address(tmp_path, mode, movable, sysfs_file, expected):
    """Issue 10, item 4: the dax device that starts at the address, of two, in the zone asked for."""
    sysfs = fake_sysfs(tmp_path, sysfs_file)
    daxctl = ('case "$*" in "list -d dax1.0") echo \'[{"chardev":"dax1.0","size":2147483648,"mode":"%s"%s}]\';;\n'
              '*) echo "daxctl $*" >> "$LOG";; esac\n' % (mode, ',"total_memblocks":16' if mode == 'system-ram' else ''))
    result, log = run_helper(tmp_path, {'daxctl': daxctl, 'modprobe': MODPROBE},
                             {'MEMTIER_NAME': 'hmem-ram0', 'MEMTIER_ADDRESS': '0x300000000', 'MEMTIER_MOVABLE': movable,
                              'MEMTIER_SYSFS': str(sysfs)})
    assert result.returncode == 0, result.stderr
    assert log == 'modprobe kmem\n%s\n' % expected


def test_boot_helper_onlines_only_once_kmem_has_added_all_the_memory(tmp_path):
    """Found on Debian 13 (6.12) at boot: the kernel's kmem was still adding the memory (daxctl already said
    system-ram, node1 was not there yet) and daxctl online-memory failed with "failed to get number of memory
    sections". The helper waits until daxctl counts all 16 blocks of the 2 GiB device."""
    daxctl = ('case "$*" in "list -d dax1.0")\n'
              '  n=$(cat "$LOG.n" 2>/dev/null || echo 0); echo $((n + 1)) > "$LOG.n"; echo "daxctl $* ($n)" >> "$LOG"\n'
              '  case $n in 0) blocks=;; 1) blocks=\',"total_memblocks":7\';; *) blocks=\',"total_memblocks":16\';; esac\n'
              '  echo "[{\\"chardev\\":\\"dax1.0\\",\\"size\\":2147483648,\\"mode\\":\\"system-ram\\"$blocks}]";;\n'
              '*) echo "daxctl $*" >> "$LOG";; esac\n')
    result, log = run_helper(tmp_path, {'daxctl': daxctl, 'modprobe': MODPROBE},
                             {'MEMTIER_NAME': 'hmem-ram0', 'MEMTIER_ADDRESS': '0x300000000', 'MEMTIER_WAIT': '5',
                              'MEMTIER_SYSFS': str(fake_sysfs(tmp_path))})
    assert result.returncode == 0, result.stderr
    # (0) its mode, (1) 7 of 16 blocks added: wait a second, (2) all 16
    assert log.splitlines() == ['modprobe kmem', 'daxctl list -d dax1.0 (0)', 'daxctl list -d dax1.0 (1)',
                                'daxctl list -d dax1.0 (2)', 'daxctl online-memory dax1.0']


def test_boot_helper_gives_up_when_no_device_starts_at_the_address(tmp_path):
    (tmp_path / 'sys/bus/dax/devices').mkdir(parents=True)
    result, log = run_helper(tmp_path, {'daxctl': 'echo "daxctl $*" >> "$LOG"\n', 'modprobe': MODPROBE},
                             {'MEMTIER_NAME': 'hmem-ram0', 'MEMTIER_ADDRESS': '0x100000000',
                              'MEMTIER_SYSFS': str(tmp_path / 'sys')})
    assert result.returncode == 1
    assert 'no dax device for memory at 0x100000000 after 2s' in result.stderr
    assert log == ''


CXL_MEMDEVS = ('[{"memdev":"mem0","serial":1297350657},{"memdev":"mem1","serial":1297350656}]')


def test_boot_helper_creates_the_cxl_region_again_over_the_memdevs_of_its_serials(tmp_path):
    """Issue 10, item 4: a CXL region Linux made is gone after a reboot; the memdevs are found by serial (their
    names changed: serial ...656 is mem1 now), the region is made in the first volatile-capable root decoder,
    and its dax device, which the kernel put in kmem mode, is onlined."""
    cxl = ('echo "cxl $*" >> "$LOG"\ncase "$*" in\n'
           '"list -M") echo \'%s\';;\n'
           '"list -R -T") ;;\n'
           '"list -D -d root") echo \'[{"decoder":"decoder0.0","pmem_capable":true},'
           '{"decoder":"decoder0.1","volatile_capable":true}]\';;\n'
           'create-region*) echo \'{"region":"region3","size":2147483648}\';;\n'
           'esac\n' % CXL_MEMDEVS)
    daxctl = ('case "$*" in\n'
              '"list -R -D --idle") echo \'[{"path":"/platform/ACPI0017:00/root0/decoder0.1/region3/dax_region3",'
              '"id":3,"devices":[{"chardev":"dax3.0","size":2147483648,"mode":"system-ram"}]}]\';;\n'
              '"list -d dax3.0") echo \'[{"chardev":"dax3.0","size":2147483648,"mode":"system-ram",'
              '"total_memblocks":16}]\';;\n'
              '*) echo "daxctl $*" >> "$LOG";; esac\n')
    result, log = run_helper(tmp_path, {'cxl': cxl, 'daxctl': daxctl, 'modprobe': MODPROBE},
                             {'MEMTIER_NAME': 'cxl-ram0', 'MEMTIER_CXL_SERIALS': '0x4d540000 0x4d540001',
                              'MEMTIER_SYSFS': str(fake_sysfs(tmp_path))})
    assert result.returncode == 0, result.stderr
    assert log.splitlines() == [
        'cxl list -M', 'cxl list -R -T', 'cxl list -D -d root',
        'cxl create-region -m -t ram -d decoder0.1 -w 2 mem1 mem0',
        'modprobe kmem', 'daxctl online-memory dax3.0']


def test_boot_helper_uses_a_cxl_region_that_is_there(tmp_path):
    """A region over the same memdevs (the BIOS, or an earlier start of the unit, made it) is not made twice."""
    cxl = ('echo "cxl $*" >> "$LOG"\ncase "$*" in\n"list -M") echo \'%s\';;\n'
           '"list -R -T") echo \'[{"region":"region0","mappings":[{"position":1,"memdev":"mem0"},'
           '{"position":0,"memdev":"mem1"}]}]\';;\nesac\n' % CXL_MEMDEVS)
    daxctl = ('case "$*" in\n'
              '"list -R -D --idle") echo \'[{"path":"/platform/ACPI0017:00/root0/decoder0.0/region0/dax_region0",'
              '"id":0,"devices":[{"chardev":"dax0.0","size":0},{"chardev":"dax0.1","size":2147483648}]}]\';;\n'
              '"list -d dax0.1") echo \'[{"chardev":"dax0.1","mode":"devdax"}]\';;\n'
              '*) echo "daxctl $*" >> "$LOG";; esac\n')
    result, log = run_helper(tmp_path, {'cxl': cxl, 'daxctl': daxctl, 'modprobe': MODPROBE},
                             {'MEMTIER_NAME': 'cxl-ram0', 'MEMTIER_CXL_SERIALS': '0x4d540000 0x4d540001'})
    assert result.returncode == 0, result.stderr
    assert log.splitlines() == ['cxl list -M', 'cxl list -R -T', 'modprobe kmem',
                                'daxctl reconfigure-device --mode=system-ram dax0.1']


def test_boot_helper_waits_for_the_memdevs_then_gives_up(tmp_path):
    cxl = 'echo "cxl $*" >> "$LOG"\necho \'[{"memdev":"mem0","serial":1297350656}]\'\n'
    result, log = run_helper(tmp_path, {'cxl': cxl, 'daxctl': 'echo "daxctl $*" >> "$LOG"\n', 'modprobe': MODPROBE},
                             {'MEMTIER_NAME': 'cxl-ram0', 'MEMTIER_CXL_SERIALS': '0x4d540000 0x4d540001'})
    assert result.returncode == 1
    assert 'no dax device for the CXL region over serials 0x4d540000 0x4d540001 after 2s' in result.stderr
    assert log.splitlines() == ['cxl list -M', 'cxl list -M']


def test_boot_helper_waits_until_a_driver_has_the_device(tmp_path):
    """A CXL region's dax device is found (daxctl list --idle) before the kernel has bound it to kmem; daxctl
    lists it only once bound. The helper waits for that instead of reconfiguring it beside the kernel."""
    daxctl = ('case "$*" in\n'
              '"list -R -D --idle") echo \'[{"path":"/platform/ACPI0017:00/root0/decoder0.1/region3/dax_region3",'
              '"id":3,"devices":[{"chardev":"dax3.0","size":2147483648}]}]\';;\n'
              '"list -d dax3.0")\n'
              '  n=$(cat "$LOG.n" 2>/dev/null || echo 0); echo $((n + 1)) > "$LOG.n"; echo "daxctl $* ($n)" >> "$LOG"\n'
              '  [ "$n" -ge 2 ] && echo \'[{"chardev":"dax3.0","size":2147483648,"mode":"system-ram",'
              '"total_memblocks":16}]\';;\n'
              '*) echo "daxctl $*" >> "$LOG";; esac\n')
    cxl = ('case "$*" in\n"list -M") echo \'%s\';;\n'
           '"list -R -T") echo \'[{"region":"region3","mappings":[{"memdev":"mem0"},{"memdev":"mem1"}]}]\';;\n'
           'esac\n' % CXL_MEMDEVS)
    result, log = run_helper(tmp_path, {'cxl': cxl, 'daxctl': daxctl, 'modprobe': MODPROBE},
                             {'MEMTIER_NAME': 'cxl-ram0', 'MEMTIER_CXL_SERIALS': '0x4d540000 0x4d540001',
                              'MEMTIER_WAIT': '5', 'MEMTIER_SYSFS': str(fake_sysfs(tmp_path))})
    assert result.returncode == 0, result.stderr
    # (0) and (1) not listed yet: wait; (2) system-ram, its mode; (3) all 16 blocks there
    assert log.splitlines() == ['modprobe kmem', 'daxctl list -d dax3.0 (0)', 'daxctl list -d dax3.0 (1)',
                                'daxctl list -d dax3.0 (2)', 'daxctl list -d dax3.0 (3)', 'daxctl online-memory dax3.0']


def test_the_helper_written_for_a_cxl_region_names_the_tools_as_strings():
    """Found on the VM (cxl-trixie, 8c7b642): a local name shadowed the cxl tool's path, the helper was written
    with the device list as CXL = [...] and failed at boot with a NameError. Every tool must be a string."""
    case = {'id': 'helper-tools', 'fixture': 'cxl-trixie/02-online',
            'commands': {'cxl list -M': {'out': '[{"memdev":"mem0","serial":1297350656},'
                                                '{"memdev":"mem1","serial":1297350657}]'}},
            'params': {'devices': [{'name': 'cxl-ram0', 'cxl_memdevs': ['mem0', 'mem1']}]},
            'script': [{'cmd': 'systemctl daemon-reload'}]}
    runner = runner_for(case)
    result = run_module('system_ram_boot', module_args(case), runner)
    assert result['changed'] and not result.get('failed'), result
    tree = ast.parse(runner.state['files'][_boot.HELPER_SCRIPT])
    tools = dict((node.targets[0].id, node.value) for node in tree.body
                 if isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', None) in ('NDCTL', 'DAXCTL', 'CXL'))
    assert sorted(tools) == ['CXL', 'DAXCTL', 'NDCTL']
    assert all(isinstance(value, ast.Constant) and isinstance(value.value, str) for value in tools.values()), \
        dict((name, ast.dump(value)[:80]) for name, value in tools.items())
