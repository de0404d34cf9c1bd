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
from ansible_collections.memtier.pmem.plugins.module_utils._devices import (
    dax_starts, device_at, memdev_serials, no_device_at, normalize_entries,
)
from ansible_collections.memtier.pmem.plugins.module_utils._cxl import region_over
from ansible_collections.memtier.pmem.plugins.module_utils._plan import Action, Target, find_namespace

ETC_UNITS = '/etc/systemd/system'
KMEM_CONF = '/etc/modules-load.d/memtier-kmem.conf'
DAXCTL_CONF_DIR = '/etc/daxctl.conf.d'
HELPER_SCRIPT = '/usr/local/sbin/memtier-system-ram'
HELPER_UNIT = 'memtier-system-ram@.service'
HELPER_CONF_DIR = '/etc/memtier-pmem'
TIERING_SYSCTL = '/etc/sysctl.d/60-memtier-tiering.conf'
TIERING_TMPFILES = '/etc/tmpfiles.d/memtier-tiering.conf'
NUMA_BALANCING_TIERING = 2  # kernel.numa_balancing: 1 NUMA balancing, 2 memory tiering (promotion), 3 both
CONFIG_DAXCTL = 72  # the first daxctl with /etc/daxctl.conf.d (reconfigure-device --check-config)
HEADER = '# Written by memtier.pmem (system_ram_boot); changes here are overwritten.\n'
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


HELPER = '''\
\"\"\"memtier-system-ram KEY: bring one device back as system RAM at boot (memtier.pmem.system_ram_boot).

Started by memtier-system-ram@KEY.service with the settings of /etc/memtier-pmem/KEY.env. The device is
- with MEMTIER_ADDRESS, the dax device whose memory starts there (memory the firmware exposes);
- with MEMTIER_CXL_SERIALS, the dax device of the CXL RAM region over the memdevs of these serial numbers, in
  this order; the region is created when it is not there (a region Linux made does not survive a reboot);
- else the dax device of the PMem namespace whose uuid is KEY (daxctl before v72 has no configuration files).
It waits up to MEMTIER_WAIT seconds for it, then hands it to the kernel as system RAM, online in ZONE_MOVABLE
unless MEMTIER_MOVABLE=false.\"\"\"
import json
import os
import subprocess
import sys
import time

NDCTL = %(ndctl)s
DAXCTL = %(daxctl)s
CXL = %(cxl)s
SYSFS = os.environ.get('MEMTIER_SYSFS', '/sys')
SYS_DAX = SYSFS + '/bus/dax/devices'
BLOCK_SIZE = SYSFS + '/devices/system/memory/block_size_bytes'


def listing(argv):
    \"\"\"The objects a tool lists as JSON (a list, one object, or {"key": [...]}; warnings before the JSON).\"\"\"
    try:
        out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
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
        lists = [value for value in data.values() if isinstance(value, list)]
        data = lists[0] if len(data) == 1 and lists else [data]
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []


def waiting(find, wait):
    \"\"\"find() until it answers, once a second for up to ``wait`` seconds.\"\"\"
    for _ in range(max(wait, 1)):
        found = find()
        if found:
            return found
        time.sleep(1)
    return None


def namespace_device(uuid):
    chardev = next((ns.get('chardev') for ns in listing([NDCTL, 'list', '-N'])
                    if ns.get('uuid') == uuid and ns.get('chardev')), None)
    return chardev if chardev and os.path.exists('/dev/' + chardev) else None


def read_int(path):
    try:
        with open(path) as f:
            return int(f.read().strip(), 0)
    except (OSError, ValueError):
        return None


def device_start(name):
    \"\"\"Where a dax device's memory starts (mapping0/start, or resource on older kernels), or None.\"\"\"
    start = read_int('%%s/%%s/mapping0/start' %% (SYS_DAX, name))
    return start if start is not None else read_int('%%s/%%s/resource' %% (SYS_DAX, name))


def device_at(address):
    \"\"\"The dax device whose memory starts at this physical address.\"\"\"
    try:
        names = sorted(os.listdir(SYS_DAX))
    except OSError:
        return None
    return next((name for name in names if device_start(name) == address), None)


def memory_added(chardev):
    \"\"\"Whether the kernel has added every memory block of a device in kmem mode. Its driver link, by which
    daxctl calls it system-ram, appears when kmem's probe starts; daxctl online-memory before the probe has added
    the memory finds no node yet ("failed to get number of memory sections") or only part of the blocks.\"\"\"
    dev = next(iter(listing([DAXCTL, 'list', '-d', chardev])), {})
    try:
        with open(BLOCK_SIZE) as f:
            block = int(f.read().strip(), 16)
    except (OSError, ValueError):
        block = 0
    start, size = device_start(chardev) or 0, dev.get('size') or 0
    blocks = (start + size) // block - (start + block - 1) // block if block else 1  # kmem adds whole blocks
    return (dev.get('total_memblocks') or 0) >= max(blocks, 1)


def cxl_region(serials, size):
    \"\"\"The CXL region over the memdevs of these serials, created in the first volatile-capable root decoder
    that takes it when it is not there; None while the memdevs are not all there.\"\"\"
    by_serial = dict((dev.get('serial'), dev.get('memdev')) for dev in listing([CXL, 'list', '-M']))
    if not all(serial in by_serial for serial in serials):
        return None
    names = [by_serial[serial] for serial in serials]
    for region in listing([CXL, 'list', '-R', '-T']):
        if sorted(m.get('memdev') for m in region.get('mappings') or []) == sorted(names):
            return region.get('region')
    for decoder in listing([CXL, 'list', '-D', '-d', 'root']):
        if not decoder.get('volatile_capable'):
            continue
        argv = [CXL, 'create-region', '-m', '-t', 'ram', '-d', decoder['decoder'], '-w', str(len(names))]
        argv += (['-s', size] if size else []) + names
        print(' '.join(argv))
        sys.stdout.flush()
        made = listing(argv)
        if made and made[0].get('region'):
            return made[0]['region']
    return None


def region_device(region):
    \"\"\"The dax device of a CXL region, from daxctl's dax regions (whose path names the CXL region).\"\"\"
    for dax_region in listing([DAXCTL, 'list', '-R', '-D', '--idle']):
        if ('/%%s/dax_region' %% region) in (dax_region.get('path') or ''):
            for dev in dax_region.get('devices') or []:
                if dev.get('size'):
                    return dev.get('chardev')
    return None


def mode_of(chardev):
    return next((dev.get('mode') for dev in listing([DAXCTL, 'list', '-d', chardev])), None)


def main(key):
    wait = int(os.environ.get('MEMTIER_WAIT') or 120)
    movable = os.environ.get('MEMTIER_MOVABLE', 'true') != 'false'
    address = os.environ.get('MEMTIER_ADDRESS')
    serials = os.environ.get('MEMTIER_CXL_SERIALS')
    if address:
        what = 'memory at %%s' %% address
        chardev = waiting(lambda: device_at(int(address, 0)), wait)
    elif serials:
        wanted = [int(serial, 0) for serial in serials.split()]
        what = 'the CXL region over serials %%s' %% serials
        region = waiting(lambda: cxl_region(wanted, os.environ.get('MEMTIER_CXL_SIZE')), wait)
        chardev = region and waiting(lambda: region_device(region), wait)
    else:
        what = 'namespace %%s' %% key
        chardev = waiting(lambda: namespace_device(key), wait)
    if not chardev:
        sys.stderr.write('no dax device for %%s after %%ss\\n' %% (what, wait))
        return 1
    subprocess.call(['modprobe', 'kmem'])
    # A namespace's device comes up in devdax; since 6.3 the kernel binds a CXL region's (and on 6.12
    # soft-reserved memory's) to kmem itself, and only the onlining is left, once kmem has added the memory.
    # Such a device is found before a driver has it (a region just made, or early in boot): daxctl lists it
    # only once bound, and reconfiguring it meanwhile races the kernel.
    mode = (waiting(lambda: mode_of(chardev), wait) if address or serials else None)
    if mode == 'system-ram':
        waiting(lambda: memory_added(chardev), wait)
        argv = [DAXCTL, 'online-memory']
    else:
        argv = [DAXCTL, 'reconfigure-device', '--mode=system-ram']
    if not movable:
        argv.append('--no-movable')
    print('%%s: %%s %%s' %% (key, ' '.join(argv), chardev))
    sys.stdout.flush()
    os.execvp(argv[0], argv + [chardev])


if __name__ == '__main__':
    sys.exit(main(sys.argv[1]))
'''


def boot_helper(python, ndctl, daxctl, cxl='cxl'):
    """The boot helper (devices other than namespaces, and namespaces with daxctl before v72): the tools' JSON
    read with Python's json module."""
    tools = {'ndctl': json.dumps(ndctl), 'daxctl': json.dumps(daxctl), 'cxl': json.dumps(cxl)}
    return '#!%s\n' % python + HEADER + HELPER % tools


def helper_unit():
    return (HEADER + '# Brings device %i back as system RAM at boot: a CXL region (created again), memory the firmware\n'
            '# exposes, or the namespace of uuid %i with daxctl before v72 (which has no configuration files).\n'
            '[Unit]\nDescription=Device %i as system RAM (memtier.pmem)\n'
            'After=systemd-udev-trigger.service systemd-modules-load.service\n\n'
            '[Service]\nType=oneshot\nRemainAfterExit=yes\nEnvironmentFile=' + HELPER_CONF_DIR + '/%i.env\n'
            'ExecStart=' + HELPER_SCRIPT + ' %i\n\n[Install]\nWantedBy=multi-user.target\n')


def helper_env(name, movable, wait, address=None, serials=None, size=None):
    text = ('# Managed by memtier.pmem.system_ram\nMEMTIER_NAME=%s\nMEMTIER_MOVABLE=%s\nMEMTIER_WAIT=%d\n'
            % (name, 'true' if movable else 'false', wait))
    if address is not None:
        text += 'MEMTIER_ADDRESS=%#x\n' % address
    if serials:
        text += 'MEMTIER_CXL_SERIALS=%s\n' % ' '.join('%#x' % serial for serial in serials)
    if size:
        text += 'MEMTIER_CXL_SIZE=%d\n' % size
    return text


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


def promote_rate_problem(value, tiering, rate_option='promote_rate_limit_mbps', tiering_option='tiering'):
    """What is wrong with a promotion rate limit (None, or a whole number of MB/s given with tiering on), or None;
    the module and the role's variables are checked by this one rule."""
    if value is None or value == '':
        return None
    try:
        ok = not isinstance(value, bool) and int(str(value)) >= 1
    except ValueError:
        ok = False
    if not ok:
        return ('%s=%r is not a rate: use a whole number of MB/s, 1 or more, or leave it out for the kernel\'s default'
                % (rate_option, value))
    if not tiering:
        return '%s is set but %s is false: set %s: true, or leave it out' % (rate_option, tiering_option, tiering_option)
    return None


def tiering_problem(kernel, demotion, numa_balancing, promote_rate, rate_wanted, option='tiering'):
    """Why this kernel cannot make the new memory a slow tier, or None: the three settings as the host has them
    (None when the kernel has no such file); the module and the role's variables are checked by this one rule."""
    missing = []
    if demotion is None:
        missing.append('%s (demotion, Linux 5.15 and later)' % DEMOTION)
    if numa_balancing is None:
        missing.append('%s (CONFIG_NUMA_BALANCING)' % NUMA_BALANCING)
    if rate_wanted and promote_rate is None:
        missing.append('%s (Linux 6.1 and later)' % PROMOTE_RATE)
    if not missing:
        return None
    return ('%s: kernel %s cannot make the new memory a slow tier: it has no %s. Boot a kernel that has it, or set '
            '%s: false' % (option, kernel, ', no '.join(missing), option))


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
        try:
            entries = normalize_entries(params['devices'])
        except PmemError as exc:
            problems.append(exc.msg[:-len('. Nothing was changed')])
            entries = []
        self.devices = [want for want in entries if want['state'] != 'absent']
        self.absent = [want for want in entries if want['state'] == 'absent']
        if params['boot_wait'] < 1:
            problems.append('boot_wait=%s must be 1 or more seconds' % params['boot_wait'])
        problems.append(promote_rate_problem(params.get('promote_rate_limit_mbps'), params.get('tiering')))
        if params['override_onliners'] and params['restore_onliners']:
            problems.append('override_onliners and restore_onliners are both true: choose one')
        problems = [problem for problem in problems if problem]
        if problems:
            raise PmemError('; '.join(problems) + '. Nothing was changed')
        self.waiting = []
        self._snapshot = None

    # -- reading ------------------------------------------------------------------------------

    def tools(self, host):
        """The ndctl, daxctl and cxl the boot configuration runs: the ones the module was given (bin_dir) by
        full path, else the distribution's by name."""
        bin_dir = self.params.get('bin_dir')
        if bin_dir:
            return tuple(bin_dir.rstrip('/') + '/' + tool for tool in ('ndctl', 'daxctl', 'cxl'))
        return 'ndctl', 'daxctl', 'cxl'

    def helper_env_files(self, host):
        """{path: name} of the per-uuid settings the boot units read (daxctl before v72)."""
        found = {}
        for entry in host.runner.listdir(HELPER_CONF_DIR) or []:
            if entry.endswith('.env'):
                path = '%s/%s' % (HELPER_CONF_DIR, entry)
                match = ENV_NAME_RE.search(host.runner.read(path) or '')
                found[path] = match.group(1).strip() if match else None
        return found

    def wanted(self, host):
        """{path: text or '-> target' or None (removed)} for every file this run manages."""
        params = self.params
        want = {}
        boot = host.boot
        ndctl, daxctl, cxl = self.tools(host)
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
        pmem = [d for d in self.devices if d['kind'] == 'namespace']
        namespaces = dict((d['name'], find_namespace(host, d['name'])) for d in pmem)
        self.waiting = [d['name'] for d in pmem if namespaces[d['name']] is None or not namespaces[d['name']].uuid]
        # A CXL region not made yet waits too (system_ram_devices makes it, and may refuse to); its memdevs and
        # their serial numbers are checked now. Firmware memory has no such step: its dax device is there, or the
        # entry is refused.
        regions = [d for d in self.devices if d['kind'] == 'cxl']
        serials = dict((d['name'], memdev_serials(host, d)) for d in regions)
        self.waiting += [d['name'] for d in regions if region_over(host, d['cxl']['memdevs']) is None]
        others = [d for d in self.devices if d['kind'] != 'namespace' and d['name'] not in self.waiting]
        present = [dict(d, uuid=namespaces[d['name']].uuid) for d in pmem if d['name'] not in self.waiting]
        env_files = self.helper_env_files(host)
        helped = others + (present if major < CONFIG_DAXCTL else [])
        if major >= CONFIG_DAXCTL:
            for device in present:
                want['%s/memtier-%s.conf' % (DAXCTL_CONF_DIR, device['name'])] = daxctl_conf(
                    device['name'], device['uuid'], device['movable'])
            if pmem:
                unit = '%s/%s' % (ETC_UNITS, DAXCTL_UNIT)
                if not boot['daxctl_unit'] or params.get('bin_dir') or HEADER in (host.runner.read(unit) or ''):
                    want[unit] = daxctl_unit(daxctl, bool(params.get('bin_dir')))
                rule = '%s/%s' % (ETC_UDEV_RULES, DAXCTL_UDEV_RULE)
                if boot['daxctl_udev_rule'] != 'ok':
                    want[rule] = daxctl_rule()
        if helped or (pmem and major < CONFIG_DAXCTL):
            want[HELPER_SCRIPT] = boot_helper(sys.executable, ndctl, daxctl, cxl)
            want['%s/%s' % (ETC_UNITS, HELPER_UNIT)] = helper_unit()
        for device in helped:
            # a namespace by its uuid; a CXL region or firmware memory by its name
            key = device.get('uuid') or device['name']
            env = '%s/%s.env' % (HELPER_CONF_DIR, key)
            if device['kind'] == 'cxl':
                want[env] = helper_env(device['name'], device['movable'], params['boot_wait'],
                                       serials=serials[device['name']], size=device['cxl']['size'])
            else:
                if device['kind'] == 'address' and device_at(host, device['address']) is None:
                    raise PmemError(no_device_at(device['name'], device['address'], dax_starts(host))
                                    + '. Nothing was changed')
                want[env] = helper_env(device['name'], device['movable'], params['boot_wait'], address=device.get('address'))
            want[self.helper_link(key)] = link('%s/%s' % (ETC_UNITS, HELPER_UNIT))
            # the same name under another key: a namespace made again, or another kind of device; its old unit goes
            for path, name in env_files.items():
                if name == device['name'] and path != env:
                    self.forget_helper(want, path)
        # The devices given back lose their boot configuration, of either kind.
        for device in self.absent:
            if device['kind'] == 'namespace':
                want['%s/memtier-%s.conf' % (DAXCTL_CONF_DIR, device['name'])] = None
            else:
                self.forget_helper(want, '%s/%s.env' % (HELPER_CONF_DIR, device['name']))
            for path, env_name in env_files.items():
                if env_name == device['name']:
                    self.forget_helper(want, path)
        return want

    def check_tiering(self, host):
        problem = tiering_problem(host.kernel_release, host.runner.read(DEMOTION), host.runner.read(NUMA_BALANCING),
                                  host.runner.read(PROMOTE_RATE), self.params.get('promote_rate_limit_mbps'))
        if problem:
            raise PmemError(problem + '. Nothing was changed')

    def live_tiering(self, host):
        """The live values tiering sets: {path: value as the kernel shows it}."""
        if not self.params.get('tiering'):
            return {}
        live = {DEMOTION: 'true', NUMA_BALANCING: str(NUMA_BALANCING_TIERING)}
        if self.params.get('promote_rate_limit_mbps'):
            live[PROMOTE_RATE] = str(self.params['promote_rate_limit_mbps'])
        return live

    def forget_helper(self, want, env):
        """A per-uuid settings file and the link that enables its unit, both to be removed."""
        want[env] = None
        want[self.helper_link(env.rsplit('/', 1)[1][:-len('.env')])] = None

    @staticmethod
    def helper_link(uuid):
        return '%s/multi-user.target.wants/%s' % (ETC_UNITS, HELPER_UNIT.replace('@', '@' + uuid))

    def current(self, host, path):
        target = host.runner.readlink(path)
        if target is not None:
            return link(target)
        return host.runner.read(path)

    # -- the Target protocol ------------------------------------------------------------------

    def snapshot(self, host):
        """{files: {path: text, '-> target' or None}, kmem_loaded, auto_online_blocks}; the plan is made from the
        last one taken (converge takes one just before it plans)."""
        self._wanted = self.wanted(host)
        self._snapshot = {
            'files': dict((path, self.current(host, path)) for path in sorted(self._wanted)),
            'kmem_loaded': host.kmem_loaded,
            'auto_online_blocks': host.auto_online_blocks,
            'tiering': dict((path, (host.runner.read(path) or '').strip() or None) for path in self.live_tiering(host)),
        }
        return self._snapshot

    def plan(self, host):
        before = self._snapshot if self._snapshot is not None else self.snapshot(host)
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
                mode = 0o755 if path == HELPER_SCRIPT else 0o644
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
