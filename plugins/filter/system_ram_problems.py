# -*- coding: utf-8 -*-
# Copyright (c) memtier engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""memtier.pmem.system_ram_problems: everything wrong with the system_ram role's variables, as sentences.

The role fails with these before it changes anything. Names, sizes, regions and alignments are checked
by the same functions the modules use (module_utils/_pmem.py), so the role and the modules cannot
disagree about what is valid. Documentation: system_ram_problems.yml.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.memtier.pmem.plugins.module_utils._boot import promote_rate_problem, tiering_problem
from ansible_collections.memtier.pmem.plugins.module_utils._pmem import (
    PmemError, region_id,
)
from ansible_collections.memtier.pmem.plugins.module_utils._devices import no_device_at, normalize_entry

# A prefix goes into shell commands, systemd units and meson options: plain path characters only.
PREFIX_RE = re.compile(r'(?:/[A-Za-z0-9_+-][A-Za-z0-9._+-]*)+')
# Directories of the distribution: a build installed there would replace or shadow its files.
SYSTEM_DIRS = frozenset(['/bin', '/boot', '/dev', '/etc', '/lib', '/lib32', '/lib64', '/proc', '/root', '/run',
                         '/sbin', '/sys', '/tmp', '/usr', '/usr/bin', '/usr/lib', '/usr/local', '/usr/sbin', '/var'])
SECONDS = ('system_ram_boot_wait', 'system_ram_offline_timeout')


def _problem(check, value, option):
    """The message of a module validator, or None when the value passes."""
    try:
        check(value, option)
    except PmemError as exc:
        return exc.msg
    return None


def _seconds(settings, option):
    value = settings.get(option)
    try:
        ok = not isinstance(value, bool) and int(str(value)) >= 1
    except ValueError:
        ok = False
    if ok:
        return None
    return '%s=%r is not a number of seconds: use a whole number, 1 or more (the default is 120)' % (option, value)


def _prefix(value):
    option = 'system_ram_ndctl_prefix'
    if not isinstance(value, str) or not PREFIX_RE.fullmatch(value):
        return ("%s=%r is not a plain absolute path: use '/' and letters, digits, '.', '_', '+' or '-' (no spaces, "
                "quotes or shell characters, no trailing '/'), such as /opt/ndctl (the default)" % (option, value))
    if value in SYSTEM_DIRS:
        return ('%s=%r is a directory of the distribution: a build installed there would replace or shadow its '
                'ndctl and daxctl; use a directory of its own, such as /opt/ndctl (the default)' % (option, value))
    return None


def _source(settings):
    value = settings.get('system_ram_ndctl_source') or ''
    option = 'system_ram_ndctl_source'
    if not isinstance(value, str):
        return '%s=%r is not a path: give the path of an ndctl release tarball' % (option, value)
    if any(ord(char) < 32 for char in value):
        return '%s=%r contains a line break or another control character: give the path as it is' % (option, value)
    remote = boolean(settings.get('system_ram_ndctl_source_remote'), strict=False)
    if value and remote and not value.startswith('/'):
        return ('%s=%r is relative: with system_ram_ndctl_source_remote: true it is a path on the host and must be '
                'absolute, such as /srv/ndctl/ndctl-81.tar.gz' % (option, value))
    if value and not remote and os.path.isdir(value):
        return ('%s=%r is a directory on the controller: give a tarball of it (git archive --prefix=ndctl/ -o '
                'ndctl.tar.gz HEAD), or, for a source tree already on the host, set system_ram_ndctl_source_remote: '
                'true' % (option, value))
    return None


def _device(where, device):
    """Problems of one entry of system_ram_devices, on its own (the modules' own validator)."""
    try:
        normalize_entry(device, where + '.')
    except PmemError as exc:
        return [exc.msg]
    return []


RELEASE = {
    'namespace': 'takes its memory away from the running system and destroys the namespace and its data',
    'cxl': 'takes its memory away from the running system and destroys the CXL region',
    'address': 'takes its memory away from the running system (back to devdax)',
}


def _against_host(where, device, facts):
    """Problems of one entry against the host (pmem_info's facts): what the role must not touch."""
    name, state = device['name'], device.get('state') or 'present'
    same = [ns for ns in facts.get('namespaces') or [] if ns.get('name') == name]
    region = region_id(device['region']) if device.get('region') is not None else None
    if len(same) > 1:
        return ('%s.name=%r matches %d namespaces on this host (%s): the role cannot tell which one is meant; '
                'destroy or rename the extra one yourself (memtier.pmem.pmem_namespace with its uuid), then run '
                'again' % (where, name, len(same), ', '.join(ns['dev'] for ns in same)))
    if same:
        ns = same[0]
        if ns.get('mode') != 'devdax':
            what = ('uses only devdax namespaces and does not convert' if state == 'present'
                    else 'gives back only devdax namespaces and does not destroy')
            return ('%s.name=%r is %s, in %s mode on this host: the role %s this one, which may hold data; give '
                    'the device another name, or convert or destroy that namespace yourself '
                    '(memtier.pmem.pmem_namespace)' % (where, name, ns['dev'], ns.get('mode'), what))
        if region is not None and ns.get('region') and region_id(ns['region']) != region:
            return ('%s.region=%r: namespace %s (%s) is in %s; the role %s; set region: %s or omit region'
                    % (where, device['region'], name, ns['dev'], ns['region'],
                       'does not move namespaces' if state == 'present' else 'gives back only what the entry says',
                       ns['region']))
        return None
    known = [r.get('id') for r in facts.get('regions') or []]
    if state == 'present' and region is not None and region not in known:
        return ('%s.region=%r does not exist on this host (regions: %s); use one of those, or omit region to take '
                'the first that has room' % (where, device['region'],
                                             ', '.join('region%s' % r for r in known) or 'none'))
    return None


def _tiering(settings):
    return promote_rate_problem(settings.get('system_ram_promote_rate_limit_mbps'),
                                boolean(settings.get('system_ram_tiering'), strict=False),
                                'system_ram_promote_rate_limit_mbps', 'system_ram_tiering')


def _address_on_host(where, device, facts):
    """Firmware memory asked for at an address where no dax device starts (pmem_info's dax_devices[].address)."""
    devices = facts.get('dax_devices') or []
    if (device.get('state') or 'present') != 'present' or any(dev.get('address') is None for dev in devices):
        return None  # a device whose start pmem_info could not read could be the one
    address = normalize_entry(device)['address']
    starts = [(dev['chardev'], int(dev['address'], 16)) for dev in devices]
    if address in [start for name, start in starts]:
        return None
    return no_device_at('%s (%s)' % (where, device['name']), address, starts)


def _tiering_on_host(settings, facts):
    """Tiering asked for, with memory to put in a tier, on a kernel that cannot (pmem_info's tiering facts)."""
    if 'tiering' not in facts:
        return None
    tiering = facts['tiering'] or {}
    return tiering_problem(facts.get('kernel'), tiering.get('demotion_enabled'), tiering.get('numa_balancing'),
                           tiering.get('promote_rate_limit_mbps'),
                           settings.get('system_ram_promote_rate_limit_mbps') not in (None, ''), 'system_ram_tiering')


def system_ram_problems(settings, facts=None):
    """The role's variables -> a list of problem sentences, each naming the variable and the way out.

    With ``facts`` (memtier.pmem.pmem_info's result) each device is also checked against the host."""
    if not isinstance(settings, dict):
        raise AnsibleFilterError('system_ram_problems expects a dict of the role variables, got %r' % (settings,))
    found = []
    devices = settings.get('system_ram_devices') or []
    if not isinstance(devices, list):
        found.append('system_ram_devices=%r is not a list: give a list of devices such as '
                     '[{name: pmem-ram0, size: 12g}]' % (devices,))
        devices = []
    release = boolean(settings.get('system_ram_allow_release'), strict=False)
    valid = []
    first = {}
    for index, device in enumerate(devices):
        where = 'system_ram_devices[%d]' % index
        problems = _device(where, device)
        found.extend(problems)
        if not isinstance(device, dict) or device.get('name') is None:
            continue
        name = str(device['name'])
        duplicate = name in first
        if duplicate:
            found.append('%s.name=%r is also %s.name: a namespace can be listed only once; merge the two entries'
                         % (where, device['name'], first[name]))
        first.setdefault(name, where)
        kind = 'cxl' if device.get('cxl_memdevs') else 'address' if device.get('address') else 'namespace'
        if (device.get('state') or 'present') == 'absent' and not release:
            found.append('%s (%s) has state: absent, which %s; set system_ram_allow_release: true to allow it'
                         % (where, name, RELEASE[kind]))
        if not problems and not duplicate:
            valid.append((where, device, kind))
    found.extend(_seconds(settings, option) for option in SECONDS)
    found.append(_prefix(settings.get('system_ram_ndctl_prefix')))
    found.append(_tiering(settings))
    found.append(_source(settings))
    if facts is not None and facts.get('ndctl_version'):
        found.extend(_against_host(where, device, facts) for where, device, kind in valid if kind == 'namespace')
    if facts is not None:
        found.extend(_address_on_host(where, device, facts) for where, device, kind in valid if kind == 'address')
    present = [d for d in devices if isinstance(d, dict) and (d.get('state') or 'present') == 'present']
    if facts is not None and present and boolean(settings.get('system_ram_tiering'), strict=False):
        found.append(_tiering_on_host(settings, facts))
    return [msg for msg in found if msg]


class FilterModule(object):
    def filters(self):
        return {'system_ram_problems': system_ram_problems}
