# -*- coding: utf-8 -*-
# Copyright (c) memtier engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# This is a private module_utils file of memtier.pmem: it is not part of the collection's
# public API and may change at any time.
"""What brings system RAM devices back at boot without Ansible, and what they need now (system_ram_boot).

One module call converges it all: kmem loaded now and at boot; hot-added memory kept offline (now and by a
unit at boot) when the kernel would online it by itself; the distribution's udev rules that online memory
overridden without their memory lines (or restored when no system RAM device is left); and each device's
boot configuration: daxctl's own (/etc/daxctl.conf.d, with the udev rule and unit daxctl needs when the
distribution's are missing or broken) from daxctl v72, else a oneshot unit per namespace uuid that runs a
small Python helper.

The state is a map of the files it manages (path -> text, a link as ``-> target``, None when absent) and
two live settings (kmem loaded, the auto-online policy); the plan is the file writes, removals and links
that turn it into the wanted map, then the reloads and live steps. The file formats are functions here,
so that the unit tests read them as the host gets them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
import sys

from ansible_collections.memtier.pmem.plugins.module_utils._pmem import (
    DAXCTL_UDEV_RULE, DAXCTL_UNIT, DEMOTION, ETC_UDEV_RULES, NUMA_BALANCING, OFFLINE_POLICY_UNIT, PROMOTE_RATE,
    ROLE_MARKER, SYS_MEMORY, PmemError,
)
from ansible_collections.memtier.pmem.plugins.module_utils._plan import Action, Target, find_namespace

ETC_UNITS = '/etc/systemd/system'
KMEM_CONF = '/etc/modules-load.d/memtier-kmem.conf'
DAXCTL_CONF_DIR = '/etc/daxctl.conf.d'
LEGACY_SCRIPT = '/usr/local/sbin/memtier-system-ram'
LEGACY_UNIT = 'memtier-system-ram@.service'
LEGACY_CONF_DIR = '/etc/memtier-pmem'
TIERING_SYSCTL = '/etc/sysctl.d/60-memtier-tiering.conf'
TIERING_TMPFILES = '/etc/tmpfiles.d/memtier-tiering.conf'
NUMA_BALANCING_TIERING = 2  # kernel.numa_balancing: 1 NUMA balancing, 2 memory tiering (promotion), 3 both
CONFIG_DAXCTL = 72  # the first daxctl with /etc/daxctl.conf.d (reconfigure-device --check-config)
HEADER = '# Written by memtier.pmem (system_ram_boot); changes here are overwritten.\n'
NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$')
ENV_NAME_RE = re.compile(r'^MEMTIER_NAME=(.*)$', re.M)


# ---------------------------------------------------------------------------------------------
# The files
# ---------------------------------------------------------------------------------------------

def kmem_conf():
    return '# Managed by memtier.pmem.system_ram: the kmem driver turns dax devices into system RAM.\nkmem\n'


def daxctl_conf(name, uuid, movable):
    return (HEADER + '# Applied at boot by daxctl reconfigure-device -C (through daxdev-reconfigure@.service).\n'
            '[reconfigure-device %s]\nnvdimm.uuid = %s\nmode = system-ram\nonline = true\nmovable = %s\n'
            % (name, uuid, 'true' if movable else 'false'))


def systemd_word(path):
    """A program path as one systemd-quoted word: "..." with \\, ", % and $ escaped; no shell."""
    return '"%s"' % path.replace('\\', '\\\\').replace('"', '\\"').replace('%', '%%').replace('$', '$$')


def daxctl_unit(daxctl, built):
    why = (', running the daxctl at %s' % daxctl) if built else ', which this distribution does not ship'
    return (HEADER + '# Upstream ndctl\'s daxctl/daxdev-reconfigure@.service%s.\n' % why
            + '[Unit]\nDescription=Automatic daxctl device reconfiguration\n'
            'Documentation=man:daxctl-reconfigure-device(1)\n\n[Service]\nType=forking\nGuessMainPID=false\n'
            'ExecStart=%s reconfigure-device --check-config %%I\n' % systemd_word(daxctl))


def daxctl_rule():
    return (HEADER + '# Upstream ndctl\'s daxctl/90-daxctl-device.rules; overrides a missing or broken shipped rule\n'
            '# (Debian 12 runs "daxctl -C", which fails with "Unknown option: -C").\n'
            'ACTION=="add", SUBSYSTEM=="dax", TAG+="systemd",\\\n'
            '  PROGRAM="/usr/bin/systemd-escape -p --template=daxdev-reconfigure@.service $env{DEVNAME}",\\\n'
            '  ENV{SYSTEMD_WANTS}="%c"\n')


def offline_unit():
    policy = SYS_MEMORY + '/auto_online_blocks'
    return (HEADER + '# The kernel onlines hot-added memory by itself on this host; daxctl must online persistent memory\n'
            '# in the zone asked for, so the policy is set to offline before udev probes dax devices.\n'
            '[Unit]\nDescription=Keep hot-added memory offline until daxctl onlines it (memtier.pmem)\n'
            'DefaultDependencies=no\n'
            'Before=systemd-udev-trigger.service systemd-udevd.service systemd-modules-load.service\n'
            'ConditionPathExists=%s\n\n[Service]\nType=oneshot\nRemainAfterExit=yes\n'
            'ExecStart=/bin/sh -c \'echo offline > %s\'\n\n[Install]\nWantedBy=sysinit.target\n' % (policy, policy))


def onliner_override(path, text):
    """The distribution's udev rule file with only its memory onlining rules turned off (a rule whose
    logical line, continuation lines joined, sets ATTR{state}="online..."); every other rule and every
    comment stays. The first line carries ROLE_MARKER, by which pmem_info tells the role's overrides."""
    lines = ['# %s: the distribution\'s %s' % (ROLE_MARKER, path),
             '# with its memory onlining turned off (daxctl onlines persistent memory in the zone asked for); every',
             '# other rule of it still applies. Turned-off lines start with "#memtier-off# ". The role removes this',
             '# file, which restores the distribution\'s rule, when it gives back the last device.']
    rule = []
    physical_lines = text.splitlines()
    for index, line in enumerate(physical_lines):
        rule.append(line)
        if line.endswith('\\') and index < len(physical_lines) - 1:
            continue
        off = not rule[0].lstrip().startswith('#') and re.search(r'ATTR[{]state[}]="online', ' '.join(rule))
        lines.extend(('#memtier-off# ' + physical.rstrip('\\')) if off else physical for physical in rule)
        rule = []
    return '\n'.join(lines) + '\n'


LEGACY_HELPER = '''\
"""memtier-system-ram UUID: wait for the dax device of the namespace with this uuid, then hand it to the
kernel as system RAM (online, ZONE_MOVABLE unless MEMTIER_MOVABLE=false). Started at boot by
memtier-system-ram@UUID.service (daxctl before v72 has no configuration files)."""
import json
import os
import subprocess
import sys
import time

NDCTL = %(ndctl)s
DAXCTL = %(daxctl)s


def namespaces():
    """The namespaces ndctl lists (a list, one object, or {"namespaces": [...]}; warnings before the JSON)."""
    try:
        out = subprocess.run([NDCTL, 'list', '-N'], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             universal_newlines=True, check=False).stdout
    except OSError:
        return []
    lines = out.splitlines()
    start = next((i for i, line in enumerate(lines) if line.lstrip()[:1] in ('[', '{')), len(lines))
    try:
        data = json.loads('\\n'.join(lines[start:]) or '[]')
    except ValueError:
        return []
    if isinstance(data, dict):
        data = data.get('namespaces', [data])
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []


def main(uuid):
    wait = int(os.environ.get('MEMTIER_WAIT') or 120)
    chardev = None
    for _ in range(max(wait, 1)):
        chardev = next((ns.get('chardev') for ns in namespaces() if ns.get('uuid') == uuid and ns.get('chardev')), None)
        if chardev and os.path.exists('/dev/' + chardev):
            break
        chardev = None
        time.sleep(1)
    if not chardev:
        sys.stderr.write('no dax device for namespace %%s after %%ss\\n' %% (uuid, wait))
        return 1
    subprocess.call(['modprobe', 'kmem'])
    argv = [DAXCTL, 'reconfigure-device', '--mode=system-ram']
    if os.environ.get('MEMTIER_MOVABLE', 'true') == 'false':
        argv.append('--no-movable')
    print('%%s: %%s %%s' %% (uuid, ' '.join(argv), chardev))
    sys.stdout.flush()
    os.execvp(argv[0], argv + [chardev])


if __name__ == '__main__':
    sys.exit(main(sys.argv[1]))
'''


def legacy_helper(python, ndctl, daxctl):
    """The boot helper for daxctl before v72: ndctl's JSON read with Python's json module."""
    return '#!%s\n' % python + HEADER + LEGACY_HELPER % {'ndctl': json.dumps(ndctl), 'daxctl': json.dumps(daxctl)}


def legacy_unit():
    return (HEADER + '# Brings the dax device of persistent memory namespace %i (uuid) back as system RAM at boot\n'
            '# (daxctl before v72 has no configuration files).\n'
            '[Unit]\nDescription=Persistent memory namespace %i as system RAM (memtier.pmem)\n'
            'After=systemd-udev-trigger.service systemd-modules-load.service\n\n'
            '[Service]\nType=oneshot\nRemainAfterExit=yes\nEnvironmentFile=' + LEGACY_CONF_DIR + '/%i.env\n'
            'ExecStart=' + LEGACY_SCRIPT + ' %i\n\n[Install]\nWantedBy=multi-user.target\n')


def legacy_env(name, movable, wait):
    return ('# Managed by memtier.pmem.system_ram\nMEMTIER_NAME=%s\nMEMTIER_MOVABLE=%s\nMEMTIER_WAIT=%d\n'
            % (name, 'true' if movable else 'false', wait))


def tiering_sysctl(rate_limit):
    text = (HEADER + '# The slow memory tier: NUMA balancing in memory tiering mode promotes hot pages from it.\n'
            'kernel.numa_balancing = %d\n' % NUMA_BALANCING_TIERING)
    if rate_limit:
        text += 'kernel.numa_balancing_promote_rate_limit_MBps = %d\n' % rate_limit
    return text


def tiering_tmpfiles():
    return (HEADER + '# The slow memory tier: cold pages are demoted to it instead of being reclaimed.\n'
            'w %s - - - - true\n' % DEMOTION)


def link(target):
    return '-> ' + target


# ---------------------------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------------------------

class FileAction(Action):
    """Write a file (args text, mode), remove one, make a symbolic link (args to), or write a value to a kernel
    setting (args value); described as the executor reports it, in check mode too."""

    def describe(self):
        if self.kind == 'write':
            return 'echo %s > %s' % (self.args['value'], self.target)
        if self.kind == 'put_file':
            return 'write %s' % self.target
        if self.kind == 'remove_file':
            return 'rm %s' % self.target
        return 'ln -sfn %s %s' % (self.args['to'], self.target)


def unit_file(path):
    return path.startswith(ETC_UNITS + '/')


def rules_file(path):
    return path.startswith(ETC_UDEV_RULES + '/')


# ---------------------------------------------------------------------------------------------
# The target
# ---------------------------------------------------------------------------------------------

class BootTarget(Target):
    """What a system_ram_boot task asks for, checked when it is made."""

    def __init__(self, params):
        self.params = params
        problems = []
        self.devices = []
        seen = set()
        self.absent = []
        for index, entry in enumerate(params['devices'] or []):
            name = entry.get('name')
            if not isinstance(name, str) or not NAME_RE.match(name):
                problems.append('devices[%d].name=%r is not a namespace name: use 1 to 63 letters, digits, ".", "_" '
                                'or "-", starting with a letter or digit' % (index, name))
                continue
            if name in seen:
                problems.append('devices[%d].name=%s is listed twice: one entry per namespace' % (index, name))
            seen.add(name)
            if entry.get('state') == 'absent':
                self.absent.append(name)
            else:
                self.devices.append({'name': name, 'movable': entry.get('movable', True) is not False})
        if params['boot_wait'] < 1:
            problems.append('boot_wait=%s must be 1 or more seconds' % params['boot_wait'])
        if params.get('promote_rate_limit_mbps') is not None and params['promote_rate_limit_mbps'] < 1:
            problems.append('promote_rate_limit_mbps=%s must be 1 or more MB/s (or left out for the kernel\'s default)'
                            % params['promote_rate_limit_mbps'])
        if params.get('promote_rate_limit_mbps') and not params.get('tiering'):
            problems.append('promote_rate_limit_mbps is set but tiering is false: set tiering: true, or leave it out')
        if params['override_onliners'] and params['restore_onliners']:
            problems.append('override_onliners and restore_onliners are both true: choose one')
        if problems:
            raise PmemError('; '.join(problems) + '. Nothing was changed')
        self.waiting = []

    # -- reading ------------------------------------------------------------------------------

    def tools(self, host):
        """The ndctl and daxctl the boot configuration runs: the ones the module was given (bin_dir) by
        full path, else the distribution's by name."""
        bin_dir = self.params.get('bin_dir')
        if bin_dir:
            return bin_dir.rstrip('/') + '/ndctl', bin_dir.rstrip('/') + '/daxctl'
        return 'ndctl', 'daxctl'

    def legacy_env_files(self, host):
        """{path: name} of the per-uuid settings the boot units read (daxctl before v72)."""
        found = {}
        for entry in host.runner.listdir(LEGACY_CONF_DIR) or []:
            if entry.endswith('.env'):
                path = '%s/%s' % (LEGACY_CONF_DIR, entry)
                match = ENV_NAME_RE.search(host.runner.read(path) or '')
                found[path] = match.group(1).strip() if match else None
        return found

    def wanted(self, host):
        """{path: text or '-> target' or None (removed)} for every file this run manages."""
        params = self.params
        want = {}
        boot = host.boot
        ndctl, daxctl = self.tools(host)
        if params['kmem']:
            want[KMEM_CONF] = kmem_conf()
        if params['keep_offline'] and (host.auto_online_blocks not in ('offline', 'unknown')
                                       or host.runner.read(OFFLINE_POLICY_UNIT) is not None):
            name = OFFLINE_POLICY_UNIT.rsplit('/', 1)[1]
            want[OFFLINE_POLICY_UNIT] = offline_unit()
            want['%s/sysinit.target.wants/%s' % (ETC_UNITS, name)] = link(OFFLINE_POLICY_UNIT)
        if params['override_onliners']:
            for rule in boot['onliners']:
                if rule['override'] != 'host':
                    want['%s/%s' % (ETC_UDEV_RULES, rule['name'])] = onliner_override(
                        rule['path'], host.runner.read(rule['path']) or '')
        if params['restore_onliners'] and not any(dev.mode == 'system-ram' for dev in host.dax_devices):
            for path in boot['role_overrides']:
                want[path] = None
        if params.get('tiering'):
            self.check_tiering(host)
            want[TIERING_SYSCTL] = tiering_sysctl(params.get('promote_rate_limit_mbps'))
            want[TIERING_TMPFILES] = tiering_tmpfiles()
        elif params.get('tiering') is False:
            want[TIERING_SYSCTL] = None
            want[TIERING_TMPFILES] = None
        major = host.tool_major('daxctl') or 0
        namespaces = dict((name, find_namespace(host, name)) for name in [d['name'] for d in self.devices] + self.absent)
        self.waiting = [d['name'] for d in self.devices if namespaces[d['name']] is None or not namespaces[d['name']].uuid]
        present = [dict(d, uuid=namespaces[d['name']].uuid) for d in self.devices if d['name'] not in self.waiting]
        env_files = self.legacy_env_files(host)
        if major >= CONFIG_DAXCTL:
            for device in present:
                want['%s/memtier-%s.conf' % (DAXCTL_CONF_DIR, device['name'])] = daxctl_conf(
                    device['name'], device['uuid'], device['movable'])
            if self.devices:
                unit = '%s/%s' % (ETC_UNITS, DAXCTL_UNIT)
                if not boot['daxctl_unit'] or params.get('bin_dir') or HEADER in (host.runner.read(unit) or ''):
                    want[unit] = daxctl_unit(daxctl, bool(params.get('bin_dir')))
                rule = '%s/%s' % (ETC_UDEV_RULES, DAXCTL_UDEV_RULE)
                if boot['daxctl_udev_rule'] != 'ok':
                    want[rule] = daxctl_rule()
        elif self.devices:
            want[LEGACY_SCRIPT] = legacy_helper(sys.executable, ndctl, daxctl)
            want['%s/%s' % (ETC_UNITS, LEGACY_UNIT)] = legacy_unit()
            for device in present:
                env = '%s/%s.env' % (LEGACY_CONF_DIR, device['uuid'])
                want[env] = legacy_env(device['name'], device['movable'], params['boot_wait'])
                want[self.legacy_link(device['uuid'])] = link('%s/%s' % (ETC_UNITS, LEGACY_UNIT))
                # the same name under another uuid: a namespace made again; its old unit goes
                for path, name in env_files.items():
                    if name == device['name'] and path != env:
                        self.forget_legacy(want, path)
        # The devices given back lose their boot configuration, of either kind.
        for name in self.absent:
            want['%s/memtier-%s.conf' % (DAXCTL_CONF_DIR, name)] = None
            for path, env_name in env_files.items():
                if env_name == name:
                    self.forget_legacy(want, path)
        return want

    def check_tiering(self, host):
        missing = []
        if host.runner.read(DEMOTION) is None:
            missing.append('%s (demotion, Linux 5.15 and later)' % DEMOTION)
        if host.runner.read(NUMA_BALANCING) is None:
            missing.append('%s (CONFIG_NUMA_BALANCING)' % NUMA_BALANCING)
        if self.params.get('promote_rate_limit_mbps') and host.runner.read(PROMOTE_RATE) is None:
            missing.append('%s (Linux 6.1 and later)' % PROMOTE_RATE)
        if missing:
            raise PmemError('tiering: kernel %s cannot make the new memory a slow tier: it has no %s. Boot a kernel '
                            'that has it, or set tiering: false. Nothing was changed'
                            % (host.kernel_release, ', no '.join(missing)))

    def live_tiering(self, host):
        """The live values tiering sets: {path: value as the kernel shows it}."""
        if not self.params.get('tiering'):
            return {}
        live = {DEMOTION: 'true', NUMA_BALANCING: str(NUMA_BALANCING_TIERING)}
        if self.params.get('promote_rate_limit_mbps'):
            live[PROMOTE_RATE] = str(self.params['promote_rate_limit_mbps'])
        return live

    def forget_legacy(self, want, env):
        """A per-uuid settings file and the link that enables its unit, both to be removed."""
        want[env] = None
        want[self.legacy_link(env.rsplit('/', 1)[1][:-len('.env')])] = None

    @staticmethod
    def legacy_link(uuid):
        return '%s/multi-user.target.wants/%s' % (ETC_UNITS, LEGACY_UNIT.replace('@', '@' + uuid))

    def current(self, host, path):
        target = host.runner.readlink(path)
        if target is not None:
            return link(target)
        return host.runner.read(path)

    # -- the Target protocol ------------------------------------------------------------------

    def snapshot(self, host):
        """{files: {path: text, '-> target' or None}, kmem_loaded, auto_online_blocks}"""
        self._wanted = self.wanted(host)
        return {
            'files': dict((path, self.current(host, path)) for path in sorted(self._wanted)),
            'kmem_loaded': host.kmem_loaded,
            'auto_online_blocks': host.auto_online_blocks,
            'tiering': dict((path, (host.runner.read(path) or '').strip() or None) for path in self.live_tiering(host)),
        }

    def plan(self, host):
        before = self.snapshot(host)
        actions = []
        if self.params['keep_offline'] and before['auto_online_blocks'] not in ('offline', 'unknown'):
            actions.append(FileAction('write', SYS_MEMORY + '/auto_online_blocks', value='offline'))
        for path, text in sorted(self._wanted.items()):
            if before['files'][path] == text:
                continue
            if text is None:
                actions.append(FileAction('remove_file', path))
            elif text.startswith('-> '):
                actions.append(FileAction('link', path, to=text[3:]))
            else:
                mode = 0o755 if path == LEGACY_SCRIPT else 0o644
                actions.append(FileAction('put_file', path, text=text, mode=mode))
        changed = [action.target for action in actions if isinstance(action, FileAction) and action.kind != 'write']
        if any(unit_file(path) for path in changed):
            actions.append(Action('command', 'systemd', ['systemctl', 'daemon-reload']))
        if any(rules_file(path) for path in changed):
            actions.append(Action('command', 'udev', ['udevadm', 'control', '--reload']))
        if self.params['kmem'] and not before['kmem_loaded']:
            actions.append(Action('command', 'kmem', ['modprobe', 'kmem']))
        for path, value in sorted(self.live_tiering(host).items()):
            now = before['tiering'][path]
            if now != value and not (path == DEMOTION and now in ('1', 'Y')):
                actions.append(FileAction('write', path, value=value))
        return actions

    def predict(self, host, actions):
        after = self.snapshot(host)
        for action in actions:
            if action.kind == 'put_file':
                after['files'][action.target] = action.args['text']
            elif action.kind == 'remove_file':
                after['files'][action.target] = None
            elif action.kind == 'link':
                after['files'][action.target] = link(action.args['to'])
            elif action.target == 'kmem':
                after['kmem_loaded'] = True
            elif action.kind == 'write' and action.target in after['tiering']:
                after['tiering'][action.target] = action.args['value']
            elif action.kind == 'write':
                after['auto_online_blocks'] = 'offline'
        return after

    def extra(self, host, after):
        return {'waiting': self.waiting}
