# -*- coding: utf-8 -*-
# Copyright (c) memtier engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# This is a private module_utils file of memtier.pmem: it is not part of the collection's
# public API and may change at any time.
"""A host's whole list of devices as system RAM, in one module call (system_ram_devices).

A device is one of three kinds, each found again by something that stays the same across reboots:
- a PMem namespace, by its name (stored in its label);
- a CXL RAM region, by its member memory devices (serial numbers; memN names are not stable);
- memory the firmware already exposes as a dax device (soft-reserved memory, or a CXL region the BIOS set
  up), by the physical address where its memory starts.

Under the host lock: read once; check every entry and plan every step that can be planned before
anything changes (a refusal changes nothing); then, device by device, apply and re-read, because
the dax device of a namespace or CXL region that does not exist yet is only known once it is created;
read again. The devices given back come first, so that their space is free for the ones provided after them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.memtier.pmem.plugins.module_utils._cxl import (
    normalize_region_params, plan_region, predict_region, region_over, resolve_memdevs, teardown,
)
from ansible_collections.memtier.pmem.plugins.module_utils._pmem import (
    PmemError, STRUCT_PAGE, PAGE_SIZE, check_namespace_name, human_size,
)
from ansible_collections.memtier.pmem.plugins.module_utils._plan import (
    Target, check_host_can_hotplug, check_memmap_bytes, find_namespace, normalize_namespace_params, plan_absent,
    plan_namespace, plan_reconfigure, predict_device, predict_namespace,
)

NAMESPACE_KEYS = ('region', 'size', 'map', 'align')
NEW_DEVICE_WAIT = 10  # seconds a new CXL region's dax device may take to appear


# ---------------------------------------------------------------------------------------------
# The entries: one validator for system_ram_devices, system_ram_boot and the role's variables
# ---------------------------------------------------------------------------------------------

def parse_address(value, option):
    """A physical address as the kernel shows it (0x100000000 in /proc/iomem), or an integer."""
    try:
        address = value if isinstance(value, int) and not isinstance(value, bool) else int(str(value).strip(), 0)
    except ValueError:
        address = -1
    if address <= 0 or address % 4096:
        raise PmemError('%s=%r is not the physical address where a dax device\'s memory starts: give it as /proc/iomem '
                        'shows it, in hex (0x100000000; see memtier.pmem.pmem_info dax_devices[].address or '
                        'soft_reserved)' % (option, value))
    return address


def normalize_entry(entry, prefix='', init_labels=False):
    """One device entry, checked and normalised: {kind, name, state, movable, force, ...}; ``prefix`` names
    where it came from in messages (``devices[1].``)."""
    if not isinstance(entry, dict):
        raise PmemError('%s=%r is not a device: give a dict such as {name: pmem-ram0, size: 12g}'
                        % (prefix.rstrip('.') or 'device', entry))
    state = entry.get('state') or 'present'
    given = [key for key in ('cxl_memdevs', 'address') if entry.get(key) not in (None, '', [])]
    if len(given) > 1:
        raise PmemError('%scxl_memdevs and %saddress are both given: an entry is one device, either a CXL region '
                        '(cxl_memdevs) or memory the firmware exposes (address)' % (prefix, prefix))
    if entry.get('name') is None:
        raise PmemError('%sname is missing: every device has a name (for a PMem namespace the name in its label; '
                        'for a CXL region or firmware memory the name of its boot configuration), e.g. '
                        '{name: pmem-ram0}' % prefix)
    if not given:
        want = normalize_namespace_params(dict(
            name=entry.get('name'), region=entry.get('region'), size=entry.get('size'), map=entry.get('map'),
            align=entry.get('align'), state=state, mode='devdax', init_labels=init_labels), prefix)
        want['kind'] = 'namespace'
    else:
        kind = 'cxl' if given[0] == 'cxl_memdevs' else 'address'
        check_namespace_name(entry['name'], prefix + 'name')
        extra = [key for key in NAMESPACE_KEYS if entry.get(key) is not None and not (kind == 'cxl' and key == 'size')]
        if extra:
            raise PmemError('%s%s applies only to a PMem namespace; remove it from this entry (%s)' % (
                prefix, ' and '.join(extra), 'a CXL region takes cxl_memdevs and size' if kind == 'cxl' else
                'memory the firmware exposes has the size the firmware gave it'))
        want = {'kind': kind, 'name': entry['name'], 'state': state}
        if kind == 'cxl':
            try:
                region = normalize_region_params({'memdevs': entry['cxl_memdevs'], 'state': state,
                                                  'size': entry.get('size')})
            except PmemError as exc:
                # cxl_region's messages name its own options (memdevs, size): here they are cxl_memdevs and size
                raise PmemError(prefix + ('cxl_' + exc.msg if exc.msg.startswith('memdevs') else exc.msg))
            want['cxl'] = region
        else:
            want['address'] = parse_address(entry['address'], prefix + 'address')
    want['movable'] = entry.get('movable', True) is not False
    want['force'] = bool(entry.get('force'))
    return want


def normalize_entries(entries, option='devices', init_labels=False):
    """Every entry of a device list; all problems at once, then 'Nothing was changed'."""
    wants, problems, seen = [], [], {}
    for index, entry in enumerate(entries or []):
        prefix = '%s[%d].' % (option, index)
        try:
            want = normalize_entry(entry, prefix, init_labels)
        except PmemError as exc:
            problems.append(exc.msg)
            continue
        for key, field, value in identities(want):
            if key in seen:
                problems.append('%s%s=%s is also %s%s: one entry per device' % (prefix, field, value, seen[key], field))
            seen[key] = prefix
        wants.append(want)
    if problems:
        raise PmemError('; '.join(problems) + '. Nothing was changed')
    return wants


def identities(want):
    """What two entries must not share: the name, a memory device or the address."""
    found = [(('name', want['name']), 'name', want['name'])]
    if want['kind'] == 'cxl':
        found.extend((('memdev', memdev), 'cxl_memdevs', memdev) for memdev in want['cxl']['memdevs'])
    elif want['kind'] == 'address':
        found.append((('address', want['address']), 'address', '%#x' % want['address']))
    return found


# ---------------------------------------------------------------------------------------------
# Finding a device of each kind
# ---------------------------------------------------------------------------------------------

def device_at(host, address):
    """The dax device whose memory starts at this physical address, or None."""
    return next((dev for dev in host.dax_devices if host.dax_start(dev.dev) == address), None)


def locate(host, want, prefix=''):
    """(what holds the device: its namespace or CXL region, or None; its dax device or None)."""
    if want['kind'] == 'namespace':
        ns = find_namespace(host, want['name'])
        return ns, host.dax_device(ns.chardev) if ns is not None and ns.chardev else None
    if want['kind'] == 'address':
        return None, device_at(host, want['address'])
    region = region_over(host, want['cxl']['memdevs'])
    devices = region.dax_devices if region is not None else []
    if len(devices) > 1:
        raise PmemError('%s: CXL region %s holds %d dax devices (%s); an entry is one device: join them into one '
                        '(daxctl destroy-device, then reconfigure-device -s), or manage them with '
                        'memtier.pmem.dax_reconfigure. Nothing was changed'
                        % (want['name'], region.name, len(devices), ', '.join(dev.dev for dev in devices)))
    return region, devices[0] if devices else None


def dax_starts(host):
    """[(dax device, the address where its memory starts)] of the host's dax devices."""
    starts = [(dev.dev, host.dax_start(dev.dev)) for dev in host.dax_devices]
    return [(name, start) for name, start in starts if start is not None]


def no_device_at(what, address, starts):
    """The refusal of an entry whose address no dax device starts at (starts: dax_starts); the modules and the
    role's variables are checked by this one rule."""
    return ('%s: no dax device starts at address=%#x (dax devices: %s). Memory the firmware exposes appears as '
            '"Soft Reserved" in /proc/iomem and as a dax device once dax_hmem (or, for a CXL region the BIOS set up, '
            'dax_cxl) has claimed it; check the address and the kernel (CONFIG_DEV_DAX_HMEM)'
            % (what, address, ', '.join('%s at %#x' % (name, start) for name, start in starts) or 'none'))


def region_dict(region):
    """A CXL region as the result shows it (its dax device is the entry's ``device``)."""
    if region is None:
        return None
    data = region.to_dict()
    data.pop('dax_devices')
    return data


# ---------------------------------------------------------------------------------------------
# The target
# ---------------------------------------------------------------------------------------------

class DevicesTarget(Target):
    """The list of devices a task asks for, every entry checked when it is made."""

    def __init__(self, params):
        self.params = params
        self.entries = normalize_entries(params['devices'], init_labels=params['init_labels'])
        # Devices given back first: their space is then free for the ones provided.
        self.entries.sort(key=lambda want: want['state'] != 'absent')

    def snapshot(self, host):
        """[{name, state, namespace | region | address, device}] in the order of the entries."""
        if any(want['kind'] == 'cxl' for want in self.entries) and not host.runner.tool_path('cxl'):
            raise PmemError('devices: a CXL region is asked for (cxl_memdevs) and the cxl tool is not installed on '
                            'this host; install it (Debian and Ubuntu: the cxl package; the memtier.pmem.system_ram '
                            'role does). Nothing was changed')
        return [self.located(host, want)[0] for want in self.entries]

    @staticmethod
    def located(host, want):
        """(the entry's result item, its namespace or CXL region, its dax device) as the host is now."""
        holder, dev = locate(host, want)
        item = {'name': want['name'], 'state': want['state']}
        if want['kind'] == 'namespace':
            item['namespace'] = holder.to_dict() if holder else None
        elif want['kind'] == 'cxl':
            item['region'] = region_dict(holder)
        else:
            item['address'] = '%#x' % want['address']
        item['device'] = dev.to_dict() if dev else None
        return item, holder, dev

    def device_params(self, want, mode):
        return {'mode': mode, 'online': True, 'movable': want['movable'], 'force': mode == 'devdax' or want['force'],
                'timeout': self.params['timeout']}

    def refuse_release(self, want, what):
        if not self.params['allow_release']:
            raise PmemError('devices: %s has state: absent, which %s; set allow_release: true to allow it. Nothing '
                            'was changed' % (want['name'], what))

    def plan(self, host):
        """{name: (actions before the device, device actions)} for every entry, from the state now; every
        refusal is raised here, before anything changes. The device actions of a namespace or CXL region
        that does not exist yet are planned after it is created (None here)."""
        plans = {}
        new_memmap = 0
        hotplug = False
        labelled = set()  # regions whose labels an earlier entry initialises
        for want in self.entries:
            holder, dev = locate(host, want)
            if want['kind'] == 'address' and dev is None and want['state'] == 'present':
                raise PmemError(no_device_at(want['name'], want['address'], dax_starts(host)) + '. Nothing was changed')
            if want['state'] == 'absent':
                plans[want['name']] = self.plan_release(host, want, holder, dev)
                continue
            if want['kind'] == 'namespace':
                # Every entry is planned from the state before the first change: a region that an earlier entry
                # gives a label index is labelled by then, and initialising it again would discard that entry's
                # namespace.
                before = [action for action in plan_namespace(host, want)
                          if not (action.kind == 'init_labels' and action.target in labelled)]
                labelled.update(action.target for action in before if action.kind == 'init_labels')
                creates = [action for action in before if action.kind in ('create', 'convert')]
                if creates:
                    region = host.region(int(creates[-1].target[len('region'):])) if creates[-1].kind == 'create' else None
                    new_memmap += (want['size'] or (region.max_available_extent if region else holder.raw_size
                                                    if holder else 0)) // PAGE_SIZE * STRUCT_PAGE
            elif want['kind'] == 'cxl':
                before = plan_region(host, want['cxl'])
                creates = [action for action in before if action.kind == 'create']
                if creates:
                    new_memmap += creates[-1].args['size'] // PAGE_SIZE * STRUCT_PAGE
            else:
                before = []
            if dev is not None and not before:
                device_actions = plan_reconfigure(host, dev, self.device_params(want, 'system-ram'))
                hotplug = hotplug or any(action.kind == 'reconfigure' for action in device_actions)
            else:
                device_actions = None
                hotplug = True
            plans[want['name']] = (before, device_actions)
        if hotplug:
            check_host_can_hotplug(host)
        if new_memmap:
            check_memmap_bytes(host, new_memmap, 'hot-adding the new devices (%s)' % human_size(new_memmap * PAGE_SIZE // STRUCT_PAGE))
        return plans

    def plan_release(self, host, want, holder, dev):
        """A device given back: its memory offline and, for a namespace or CXL region, the namespace or
        region destroyed; memory the firmware exposes goes back to devdax."""
        if want['kind'] == 'namespace':
            if holder is not None:
                self.refuse_release(want, 'takes its memory away and destroys namespace %s and its data' % holder.dev)
            device_actions = plan_reconfigure(host, dev, self.device_params(want, 'devdax')) if dev else []
            return ([] if holder is None or dev is not None and device_actions else plan_absent(host, holder, None, want),
                    device_actions)
        if want['kind'] == 'cxl':
            if holder is None:
                return [], []
            self.refuse_release(want, 'takes its memory away and destroys CXL region %s' % holder.name)
            return [], teardown(host, holder, dict(want['cxl'], force=True, timeout=self.params['timeout']))
        if dev is None or dev.mode != 'system-ram':
            return [], []
        self.refuse_release(want, 'takes its memory (%s) away from the running system' % dev.dev)
        return [], plan_reconfigure(host, dev, self.device_params(want, 'devdax'))

    def apply(self, host, executor, plan):
        """Device by device: the steps planned, then those that needed the device to exist."""
        for want in self.entries:
            before, device_actions = plan[want['name']]
            if want['state'] == 'absent':
                executor.apply(device_actions)
                host.forget()
                if want['kind'] == 'namespace':
                    ns = find_namespace(host, want['name'])
                    executor.apply(plan_absent(host, ns, None, want) if ns is not None else [])
                continue
            executor.apply(before)
            host.forget()
            if device_actions is None:
                dev = self.new_device(host, want)
                device_actions = plan_reconfigure(host, dev, self.device_params(want, 'system-ram'))
            executor.apply(device_actions)
            host.forget()

    def new_device(self, host, want):
        """The dax device of a namespace or CXL region just created (a CXL region's comes up a moment later)."""
        deadline = time.time() + (NEW_DEVICE_WAIT if want['kind'] == 'cxl' else 0)
        while True:
            holder, dev = locate(host, want)
            if dev is not None or time.time() >= deadline:
                break
            time.sleep(0.5)
            host.forget()
        if dev is None:
            what = ('namespace %s' % (holder.dev if holder else '-') if want['kind'] == 'namespace' else
                    'CXL region %s' % (holder.name if holder else '-'))
            raise PmemError('%s: %s has no dax device after it was created; check that the dax drivers are loaded '
                            '(modprobe %s)' % (want['name'], what, 'dax_pmem' if want['kind'] == 'namespace' else 'dax_cxl'))
        return dev

    def predict(self, host, plan):
        """What check mode expects: exact for devices that exist; for a namespace or CXL region still to be
        created, its settings and a device in system-ram mode, online in the zone asked for (its name and
        blocks are only known once it exists)."""
        after = []
        for want in self.entries:
            before, device_actions = plan[want['name']]
            item, holder, dev = self.located(host, want)
            if want['state'] == 'absent':
                if want['kind'] == 'address':
                    after.append(dict(item, device=predict_device(host, dev, device_actions) if dev else None))
                else:
                    after.append(dict(item, **{'namespace' if want['kind'] == 'namespace' else 'region': None,
                                               'device': None}))
                continue
            if device_actions is not None:
                device = predict_device(host, dev, device_actions)
            else:
                device = {'chardev': None, 'mode': 'system-ram', 'state': 'enabled', 'movable': want['movable'],
                          'zones': ['Movable' if want['movable'] else 'Normal']}
            if want['kind'] == 'namespace':
                item = dict(item, namespace=predict_namespace(holder, want, before))
            elif want['kind'] == 'cxl':
                item = dict(item, region=region_dict(holder) if not before else
                            predict_region(host, want['cxl'], None, before))
            after.append(dict(item, device=device))
        return after

    def describe(self, plan):
        return [line for before, device_actions in plan.values()
                for action in before + (device_actions or []) for line in action.commands()]

    def pending(self, plan):
        return any(before or device_actions is None or device_actions
                   for before, device_actions in plan.values())


def memdev_serials(host, want):
    """A CXL entry's memdevs as serial numbers, the identity that stays across reboots; refused when a memdev
    has none (it could not be found again at boot)."""
    serials = []
    for dev in resolve_memdevs(host, want['cxl']['memdevs']):
        if not dev.serial:
            raise PmemError('%s: CXL memdev %s reports no serial number (serial 0), so it cannot be found again at boot '
                            '(memN names change between boots). Nothing was changed'
                            % (want['name'], dev.name))
        serials.append(dev.serial)
    return serials
