# -*- coding: utf-8 -*-
# Copyright (c) memtier engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# This is a private module_utils file of memtier.pmem: it is not part of the collection's
# public API and may change at any time.
"""A host's whole list of devices as system RAM, in one module call (system_ram_devices).

Under the host lock: read once; check every entry and plan every step that can be planned before
anything changes (a refusal changes nothing); then, device by device, apply and re-read, because
the dax device of a namespace that does not exist yet is only known once it is created; read again.
The devices given back come first, so that their space is free for the ones provided after them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.memtier.pmem.plugins.module_utils._pmem import PmemError, STRUCT_PAGE, PAGE_SIZE, human_size
from ansible_collections.memtier.pmem.plugins.module_utils._plan import (
    Target, check_host_can_hotplug, check_memmap_bytes, find_namespace, normalize_namespace_params, plan_absent,
    plan_namespace, plan_reconfigure, predict_device, predict_namespace,
)


class DevicesTarget(Target):
    """The list of devices a task asks for, every entry checked when it is made."""

    def __init__(self, params):
        self.params = params
        self.entries = []
        problems = []
        seen = {}
        for index, entry in enumerate(params['devices'] or []):
            prefix = 'devices[%d].' % index
            try:
                want = normalize_namespace_params(dict(
                    name=entry.get('name'), region=entry.get('region'), size=entry.get('size'),
                    map=entry.get('map'), align=entry.get('align'), state=entry.get('state') or 'present',
                    mode='devdax', init_labels=params['init_labels']), prefix)
            except PmemError as exc:
                problems.append(exc.msg)
                continue
            want['movable'] = entry.get('movable', True) is not False
            if want['name'] in seen:
                problems.append('%sname=%s is also devices[%d].name: one entry per namespace'
                                % (prefix, want['name'], seen[want['name']]))
            seen[want['name']] = index
            self.entries.append(want)
        if problems:
            raise PmemError('; '.join(problems) + '. Nothing was changed')
        # Devices given back first: their space is then free for the ones provided.
        self.entries.sort(key=lambda want: want['state'] != 'absent')

    def snapshot(self, host):
        """[{name, state, namespace, device}] in the order of the entries."""
        result = []
        for want in self.entries:
            ns = find_namespace(host, want['name'])
            dev = host.dax_device(ns.chardev) if ns is not None and ns.chardev else None
            result.append({'name': want['name'], 'state': want['state'],
                           'namespace': ns.to_dict() if ns else None, 'device': dev.to_dict() if dev else None})
        return result

    def device_params(self, want, mode):
        return {'mode': mode, 'online': True, 'movable': want['movable'], 'force': mode == 'devdax',
                'timeout': self.params['timeout']}

    def plan(self, host):
        """{name: (namespace actions, device actions)} for every entry, from the state now; every
        refusal is raised here, before anything changes. The device actions of a namespace that
        does not exist yet are planned after it is created (None here)."""
        plans = {}
        new_memmap = 0
        hotplug = False
        labelled = set()  # regions whose labels an earlier entry initialises
        for want in self.entries:
            ns = find_namespace(host, want['name'])
            dev = host.dax_device(ns.chardev) if ns is not None and ns.chardev else None
            if want['state'] == 'absent':
                if ns is not None and not self.params['allow_release']:
                    raise PmemError('devices: %s has state: absent, which takes its memory away and destroys namespace '
                                    '%s and its data; set allow_release: true to allow it. Nothing was changed'
                                    % (want['name'], ns.dev))
                device_actions = plan_reconfigure(host, dev, self.device_params(want, 'devdax')) if dev else []
                plans[want['name']] = (
                    [] if ns is None or dev is not None and device_actions else plan_absent(host, ns, None, want),
                    device_actions)
                continue
            # Every entry is planned from the state before the first change: a region that an earlier entry
            # gives a label index is labelled by then, and initialising it again would discard that entry's
            # namespace.
            namespace_actions = [action for action in plan_namespace(host, want)
                                 if not (action.kind == 'init_labels' and action.target in labelled)]
            labelled.update(action.target for action in namespace_actions if action.kind == 'init_labels')
            if ns is not None and dev is not None and not namespace_actions:
                device_actions = plan_reconfigure(host, dev, self.device_params(want, 'system-ram'))
                hotplug = hotplug or any(action.kind == 'reconfigure' for action in device_actions)
            else:
                device_actions = None
                hotplug = True
                create = [action for action in namespace_actions if action.kind in ('create', 'convert')]
                if create:
                    region = host.region(int(create[-1].target[len('region'):])) if create[-1].kind == 'create' else None
                    size = want['size'] or (region.max_available_extent if region else ns.raw_size if ns else 0)
                    new_memmap += size // PAGE_SIZE * STRUCT_PAGE
            plans[want['name']] = (namespace_actions, device_actions)
        if hotplug:
            check_host_can_hotplug(host)
        if new_memmap:
            check_memmap_bytes(host, new_memmap, 'hot-adding the new devices (%s)' % human_size(new_memmap * PAGE_SIZE // STRUCT_PAGE))
        return plans

    def apply(self, host, executor, plan):
        """Device by device: the steps planned, then those that needed the device to exist."""
        for want in self.entries:
            namespace_actions, device_actions = plan[want['name']]
            if want['state'] == 'absent':
                executor.apply(device_actions)
                host.forget()
                ns = find_namespace(host, want['name'])
                executor.apply(plan_absent(host, ns, None, want) if ns is not None else [])
                continue
            executor.apply(namespace_actions)
            host.forget()
            if device_actions is None:
                ns = find_namespace(host, want['name'])
                dev = host.dax_device(ns.chardev) if ns is not None and ns.chardev else None
                if dev is None:
                    raise PmemError('%s: namespace %s has no dax device after it was created; check that the dax '
                                    'drivers are loaded (modprobe dax_pmem)' % (want['name'], ns.dev if ns else '-'))
                device_actions = plan_reconfigure(host, dev, self.device_params(want, 'system-ram'))
            executor.apply(device_actions)
            host.forget()

    def predict(self, host, plan):
        """What check mode expects: exact for devices that exist; for a namespace still to be created,
        its settings and a device in system-ram mode, online in the zone asked for (its name and
        blocks are only known once it exists)."""
        after = []
        for item, want in zip(self.snapshot(host), self.entries):
            namespace_actions, device_actions = plan[want['name']]
            if want['state'] == 'absent':
                after.append(dict(item, namespace=None, device=None))
                continue
            ns = find_namespace(host, want['name'])
            namespace = predict_namespace(ns, want, namespace_actions)
            if device_actions is not None:
                device = predict_device(host, host.dax_device(ns.chardev), device_actions)
            else:
                device = {'chardev': None, 'mode': 'system-ram', 'state': 'enabled', 'movable': want['movable'],
                          'zones': ['Movable' if want['movable'] else 'Normal']}
            after.append(dict(item, namespace=namespace, device=device))
        return after

    def describe(self, plan):
        return [line for namespace_actions, device_actions in plan.values()
                for action in namespace_actions + (device_actions or []) for line in action.commands()]

    def pending(self, plan):
        return any(namespace_actions or device_actions is None or device_actions
                   for namespace_actions, device_actions in plan.values())
