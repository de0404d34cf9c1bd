# -*- coding: utf-8 -*-
# Copyright (c) memtier engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# This is a private module_utils file of memtier.pmem: it is not part of the collection's
# public API and may change at any time.
"""dax_split: a dynamic dax region (soft-reserved "hmem" memory, a CXL RAM region) divided into
devices of given sizes, read from ``daxctl list --regions --devices --idle`` (the regions with all their devices,
the empty ones too) and the Host model (each device's mode and memory blocks).

The wanted sizes are positional: ``sizes[i]`` is the device ``dax<region>.<i>``. The kernel names a
new device with the lowest free id of its region, so the plan removes what is beyond the list
first, then shrinks, then grows, then creates the missing devices in increasing order (each new
device gets the name the task expects), and enables the resized devices, and any device of the list
left disabled, last. Devices this module resizes or creates are left enabled in
devdax mode; making one system RAM is memtier.pmem.dax_reconfigure's job.

PMem (nd) dax regions are static (the kernel hides their ``create``/``delete`` attributes): their
devices are namespaces, split with memtier.pmem.pmem_namespace.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.memtier.pmem.plugins.module_utils._pmem import (
    DEVICE_RE, DaxDevice, Host, PmemError, _int, human_size, parse_size,
)
from ansible_collections.memtier.pmem.plugins.module_utils._plan import Action, Target, describe_holders

DAX_REGION_RE = re.compile(r'^(?:dax_region|region)?(\d+)\Z')
# Dynamic dax regions (create, resize and delete devices): Linux 5.10; daxctl create-device: v71.
MIN_KERNEL_DYNAMIC = (5, 10)
MIN_DAXCTL_CREATE = 71


def region_kind(path):
    """What a dax region comes from, by its sysfs path as daxctl prints it (without /sys/devices)."""
    path = path or ''
    if '/ndbus' in path:
        return 'pmem'
    if re.search(r'/hmem\.?\d*(/|$)', path):
        return 'hmem'
    if re.search(r'/decoder\d+\.\d+/region\d+', path):
        return 'cxl'
    return 'other'


class DaxRegion:
    def __init__(self, data, devices):
        self.id = _int(data.get('id'))
        self.path = data.get('path')
        self.kind = region_kind(self.path)
        self.size = _int(data.get('size'), 0)
        self.align = _int(data.get('align'), 0) or None
        self.devices = sorted(devices, key=lambda dev: _index(dev.dev))

    @property
    def used(self):
        return sum(dev.size for dev in self.devices)

    @property
    def available(self):
        return max(self.size - self.used, 0)

    def device(self, index):
        for dev in self.devices:
            if _index(dev.dev) == index:
                return dev
        return None

    def to_dict(self):
        return {'id': self.id, 'kind': self.kind, 'path': self.path, 'size': self.size, 'align': self.align,
                'available_size': self.available,
                'devices': [device_summary(dev) for dev in self.devices]}


def device_summary(dev):
    return {'chardev': dev.dev, 'size': dev.size, 'mode': dev.mode, 'state': dev.state,
            'target_node': dev.target_node, 'online_memblocks': dev.online_memblocks,
            'total_memblocks': dev.total_memblocks, 'movable': dev.movable}


def _index(name):
    match = DEVICE_RE.match(name or '')
    return int(match.group(2)) if match else -1


class SplitHost(Host):
    """The Host, plus the dax regions with all their devices (the empty ones too, which Host.dax_devices
    leaves out: a zero-size device holds a name the kernel will not give to a new one)."""

    @property
    def dax_regions(self):
        def load():
            regions = []
            for item in self._list(['daxctl', 'list', '--regions', '--devices', '--idle'], 'path'):
                devices = []
                for data in item.get('devices') or []:
                    name = data.get('chardev') or ''
                    if not DEVICE_RE.match(name):
                        continue
                    dev = self.dax_device(name) if _int(data.get('size'), 0) else None
                    devices.append(dev or DaxDevice(data))
                regions.append(DaxRegion(item, devices))
            return regions
        return self._cached('dax_regions', load)


# ---------------------------------------------------------------------------------------------
# What the task asks for
# ---------------------------------------------------------------------------------------------

def normalize_split_params(params):
    """Every input checked before anything is read."""
    region = params.get('region')
    match = DAX_REGION_RE.match(str(region).strip()) if region is not None else None
    if not match:
        raise PmemError("region=%r is not a dax region: use its id as daxctl list -R prints it (0), or "
                        "'dax_region0' / 'region0'" % (region,))
    sizes = params.get('sizes')
    if not sizes:
        raise PmemError('sizes: give the size of at least one device (the region\'s first device, dax%s.0, cannot '
                        'be removed); to give a whole region to one device, use sizes: [<the region\'s size>]'
                        % match.group(1))
    parsed = [parse_size(value, 'sizes[%d]' % index) for index, value in enumerate(sizes)]
    return {'region': int(match.group(1)), 'sizes': parsed, 'given': [str(value) for value in sizes],
            'force': bool(params.get('force'))}


def find_region(host, rid):
    found = [region for region in host.dax_regions if region.id == rid]
    known = ', '.join('%d (%s, %s)' % (r.id, r.kind, human_size(r.size)) for r in host.dax_regions) or 'none'
    pmem = [region for region in found if region.kind == 'pmem']
    if pmem:
        raise PmemError('region=%d is a PMem (NVDIMM) dax region (%s): its dax devices are namespaces, and the '
                        'kernel does not create, resize or delete devices in it. Nothing was changed. Divide it '
                        'into namespaces with memtier.pmem.pmem_namespace (one devdax namespace per device)'
                        % (rid, pmem[0].path))
    if not found:
        raise PmemError('region=%d is no dax region on this host (dax regions: %s; daxctl list -R). Soft-reserved '
                        'memory shows one per hmem range, a CXL RAM region one (memtier.pmem.cxl_region)'
                        % (rid, known))
    if len(found) > 1:
        raise PmemError('region=%d names %d dax regions (%s); nothing was changed' % (
            rid, len(found), ', '.join(r.path or '?' for r in found)))
    return found[0]


# ---------------------------------------------------------------------------------------------
# The plan
# ---------------------------------------------------------------------------------------------

def exact_size(value):
    """A size in the largest binary unit that holds it whole ('1026 MiB', not '1.00 GiB')."""
    for unit, shift in (('TiB', 40), ('GiB', 30), ('MiB', 20), ('KiB', 10)):
        if value >= 1 << shift and not value % (1 << shift):
            return '%d %s' % (value >> shift, unit)
    return '%d B' % value


def check_sizes(region, want):
    """Each size a multiple of the region's alignment, all of them within the region."""
    align = region.align
    if align:
        for index, size in enumerate(want['sizes']):
            if size % align:
                lower = size // align * align
                raise PmemError('sizes[%d]=%s is not a multiple of dax_region%d\'s alignment (%s); use %s. Nothing '
                                'was changed' % (index, want['given'][index], region.id, human_size(align),
                                                 ' or '.join(exact_size(v) for v in (lower, lower + align) if v)))
    total = sum(want['sizes'])
    if total > region.size:
        raise PmemError('sizes add up to %s, more than dax_region%d holds (%s); make them smaller by %s. Nothing '
                        'was changed' % (human_size(total), region.id, human_size(region.size),
                                         human_size(total - region.size)))


def refuse_if_busy(host, region, devices, want):
    """A device to resize or remove: not online system RAM, not held by a process, and (unless it is
    empty) only with force."""
    holders = host.holders([dev.dev for dev in devices if dev.size])
    for dev in devices:
        if dev.mode == 'system-ram' and dev.online_memblocks:
            raise PmemError('%s is system RAM with %d of %d memory blocks online (node %s): resizing or removing it '
                            'would take that memory away. Nothing was changed. Give it back first: '
                            'memtier.pmem.dax_reconfigure device=%s mode=devdax force=true'
                            % (dev.dev, dev.online_memblocks, dev.total_memblocks, dev.target_node, dev.dev))
        if holders.get(dev.dev):
            raise PmemError('/dev/%s is %s: resizing or removing it pulls the memory from under them. Nothing was '
                            'changed (force does not override this). Stop them first'
                            % (dev.dev, describe_holders(holders[dev.dev])))
    changed = [dev for dev in devices if dev.size]
    if changed and not want['force']:
        reasons = '; '.join(changed_reason(dev, want) for dev in changed)
        have = ', '.join('%s %s' % (d.dev, human_size(d.size)) for d in region.devices if d.size)
        raise PmemError('%s, and the data on it is lost. Nothing was changed. Set force: true to do it, or give '
                        'sizes the devices have (%s)' % (reasons, have))


def changed_reason(dev, want):
    index = _index(dev.dev)
    if index >= len(want['sizes']):
        return '%s (%s) is beyond the %d device(s) of sizes and would be destroyed' % (
            dev.dev, human_size(dev.size), len(want['sizes']))
    return '%s is %s, sizes[%d] wants %s: it would be resized' % (
        dev.dev, human_size(dev.size), index, human_size(want['sizes'][index]))


def _daxctl(kind, dev, *args):
    return Action(kind, dev, ['daxctl'] + list(args))


def release_steps(dev):
    """What makes a device resizable or removable: out of kmem (its memory is offline), then disabled."""
    steps = []
    if dev.mode == 'system-ram':
        steps.append(_daxctl('devdax', dev.dev, 'reconfigure-device', '--mode=devdax', dev.dev))
    if dev.mode == 'system-ram' or dev.state != 'disabled':
        steps.append(_daxctl('disable', dev.dev, 'disable-device', dev.dev))
    return steps


def plan_split(host, want):
    """The actions that leave the region holding exactly ``want['sizes']`` (dax<r>.0, dax<r>.1, ...)."""
    region = find_region(host, want['region'])
    check_sizes(region, want)
    sizes = want['sizes']
    destroy = [dev for dev in region.devices if _index(dev.dev) >= len(sizes)]
    resize = [dev for dev in region.devices if _index(dev.dev) < len(sizes) and dev.size != sizes[_index(dev.dev)]]
    missing = [index for index in range(len(sizes)) if region.device(index) is None]
    # a device of the list left disabled (a run that stopped half-way) is enabled again: it holds no data to lose
    disabled = [dev for dev in region.devices if _index(dev.dev) < len(sizes) and dev not in resize
                and dev.state == 'disabled']
    if not (destroy or resize or missing or disabled):
        return []
    if not host.kernel_at_least(*MIN_KERNEL_DYNAMIC):
        raise PmemError('kernel %s cannot create or resize dax devices (dynamic dax regions came in Linux 5.10). '
                        'Nothing was changed' % host.kernel_release)
    major = host.tool_major('daxctl')
    if major is not None and major < MIN_DAXCTL_CREATE:
        raise PmemError('daxctl %s is too old: create-device and destroy-device need v%d or later. Nothing was '
                        'changed' % (host.tool_version('daxctl'), MIN_DAXCTL_CREATE))
    refuse_if_busy(host, region, destroy + resize, want)
    actions = []
    for dev in destroy:
        actions += release_steps(dev)
        actions.append(_daxctl('destroy', dev.dev, 'destroy-device', dev.dev))
    # shrink before growing: a grown device takes its room from the free space the others leave
    for dev in sorted(resize, key=lambda d: (sizes[_index(d.dev)] > d.size, _index(d.dev))):
        size = sizes[_index(dev.dev)]
        actions += release_steps(dev)
        actions.append(Action('resize', dev.dev, ['daxctl', 'reconfigure-device', '--size=%d' % size, dev.dev],
                              size=size))
    for index in missing:
        name = 'dax%d.%d' % (region.id, index)
        actions.append(Action('create', name, ['daxctl', 'create-device', '--region=%d' % region.id,
                                               '--size=%d' % sizes[index]], size=sizes[index]))
    # enabled last: the resized devices and the disabled ones (create-device enables its own)
    for dev in sorted(resize + disabled, key=lambda d: _index(d.dev)):
        actions.append(_daxctl('enable', dev.dev, 'enable-device', dev.dev))
    return actions


def predict_split(before, want, actions):
    """The region check mode expects: every device of the list with its size; the ones the plan touches
    enabled in devdax mode with no memory, the others as they are."""
    if not actions or before is None:
        return before
    touched = set(action.target for action in actions)
    node = next((dev['target_node'] for dev in before['devices'] if dev.get('target_node') is not None), None)
    have = dict((dev['chardev'], dev) for dev in before['devices'])
    devices = []
    for index, size in enumerate(want['sizes']):
        name = 'dax%d.%d' % (before['id'], index)
        if name in have and name not in touched:
            devices.append(have[name])
            continue
        devices.append({'chardev': name, 'size': size, 'mode': 'devdax', 'state': 'enabled', 'target_node': node,
                        'online_memblocks': 0, 'total_memblocks': 0, 'movable': None})
    after = dict(before, devices=devices)
    after['available_size'] = max(before['size'] - sum(want['sizes']), 0)
    return after


class SplitTarget(Target):
    """What a dax_split task asks for, and how to find, plan and predict it."""

    def __init__(self, params):
        self.want = normalize_split_params(params)

    def snapshot(self, host):
        return find_region(host, self.want['region']).to_dict()

    def plan(self, host):
        return plan_split(host, self.want)

    def predict(self, host, actions):
        return predict_split(self.snapshot(host), self.want, actions)

    def warnings(self, host, after):
        """Devices kmem could only partly hot-add (it takes whole memory blocks)."""
        block = host.block_size
        if not block or not after:
            return []
        return ['%s (%s) is not a multiple of the %s memory block size: as system RAM, kmem hot-adds only its whole '
                'blocks' % (dev['chardev'], human_size(dev['size']), human_size(block))
                for dev in after['devices'] if dev['size'] % block]
