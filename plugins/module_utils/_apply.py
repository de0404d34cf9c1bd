# -*- coding: utf-8 -*-
# Copyright (c) memtier engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# This is a private module_utils file of memtier.pmem: it is not part of the collection's
# public API and may change at any time.
"""Doing it: the one place that runs the actions the planners return.

``Executor.apply`` runs them in order and keeps every command line that ran in ``ran``, so a
failure half-way can say what was already done (the module adds the object's state after it).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.memtier.pmem.plugins.module_utils._pmem import TIMEOUT_RC, PmemError


class Executor:
    def __init__(self, host):
        self.host = host
        self.ran = []

    def apply(self, actions):
        for action in actions:
            step = getattr(self, '_' + action.kind, self._command)
            step(action)
            self.host.forget()
        return self.ran

    def _command(self, action):
        self.ran.append(action.describe())
        self.host.run(action.argv)

    def _write(self, action):
        """One sysfs attribute (the auto-online policy)."""
        self.ran.append('echo %s > %s' % (action.args['value'], action.target))
        error = self.host.runner.write(action.target, action.args['value'])
        if error:
            raise PmemError('writing %s to %s failed: %s' % (action.args['value'], action.target, error))

    def _put_file(self, action):
        self.ran.append(action.describe())
        error = self.host.runner.put_file(action.target, action.args['text'], action.args['mode'])
        if error:
            raise PmemError('writing %s failed: %s' % (action.target, error))

    def _remove_file(self, action):
        self.ran.append(action.describe())
        error = self.host.runner.remove_file(action.target)
        if error:
            raise PmemError('removing %s failed: %s' % (action.target, error))

    def _link(self, action):
        self.ran.append(action.describe())
        error = self.host.runner.symlink(action.args['to'], action.target)
        if error:
            raise PmemError('linking %s to %s failed: %s' % (action.target, action.args['to'], error))

    def _online(self, action):
        host = self.host
        self.ran.append(action.describe())
        rc, out, err = host.runner.run(action.argv)
        # daxctl exits 1 ("detected a race") when some blocks were online already: judge by state.
        host.forget()
        dev = host.dax_device(action.target)
        if dev is None or dev.online_memblocks < dev.total_memblocks or rc not in (0, 1):
            raise PmemError('onlining %s failed (rc=%s): %s' % (action.target, rc, (err or out).strip() or 'no output'))

    def _init_labels(self, action):
        """Disable the region, write a label index on each of its NVDIMMs, enable it again (always)."""
        host = self.host
        region = action.target
        self.ran.append('ndctl disable-region %s' % region)
        host.run(['ndctl', 'disable-region', region])
        try:
            for dimm in action.args['dimms']:
                self.ran.append('ndctl init-labels %s' % dimm)
                rc, out, err = host.runner.run(['ndctl', 'init-labels', dimm])
                if rc != 0:
                    raise PmemError('%s has no label area (%s): the NVDIMM is label-less and %s cannot be sub-divided; '
                                    'set init_labels: false, omit size and set force: true to convert its one '
                                    'namespace whole' % (dimm, (err or out).strip(), region))
        finally:
            self.ran.append('ndctl enable-region %s' % region)
            host.run(['ndctl', 'enable-region', region])

    def _switch_model(self, action):
        """Rebind the devdax namespaces from dax_pmem_compat to dax_pmem without a reboot."""
        host = self.host
        namespaces = action.args['namespaces']
        for ns in namespaces:
            self.ran.append('ndctl disable-namespace %s' % ns)
            host.run(['ndctl', 'disable-namespace', ns])
        self.ran.append('modprobe -r dax_pmem_compat')
        rc, out, err = host.runner.run(['modprobe', '-r', 'dax_pmem_compat'])
        if rc != 0:
            for ns in namespaces:
                self.ran.append('ndctl enable-namespace %s' % ns)
                host.runner.run(['ndctl', 'enable-namespace', ns])
            raise PmemError('modprobe -r dax_pmem_compat failed (%s): the namespaces were enabled again on the '
                            'dax-class model; the bus model is installed for the next boot, so a reboot finishes '
                            'the switch' % ((err or out).strip() or 'rc=%s' % rc))
        self.ran.append('modprobe dax_pmem')
        host.run(['modprobe', 'dax_pmem'])
        failed = []
        for ns in namespaces:
            self.ran.append('ndctl enable-namespace %s' % ns)
            rc, out, err = host.runner.run(['ndctl', 'enable-namespace', ns])
            if rc != 0:
                failed.append('%s (%s)' % (ns, (err or out).strip()))
        if failed:
            raise PmemError('the bus model is loaded, but these namespaces did not come back: %s; run '
                            '`ndctl enable-namespace` on them, or reboot' % ', '.join(failed))

    def _offline(self, action):
        """Offline every online block of a device, all of it bounded by the action's timeout.

        daxctl gives up at the first busy block, so after it fails the remaining blocks are tried one
        by one through sysfs (each write under what is left of the time limit: the kernel can retry
        offlining a block for a long time). A re-run finishes what can be finished; what stays online
        is reported with its zone, node and why.
        """
        host = self.host
        name, timeout = action.target, action.args['timeout']
        deadline = time.time() + timeout
        argv = ['daxctl', 'offline-memory', name]
        self.ran.append(' '.join(argv))
        rc, out, err = host.runner.run(argv, timeout=timeout)
        host.forget()
        dev = host.dax_device(name)
        if dev is None:
            return
        errors = {}
        timed_out = rc in TIMEOUT_RC
        for block in sorted((b for b in dev.blocks if b.online), key=lambda b: -b.index):
            left = deadline - time.time()
            if timed_out or left <= 0:
                errors[block.index] = 'time limit of %ss reached' % timeout
                continue
            self.ran.append('echo offline > %s' % host.block_state_path(block.index))
            error = host.offline_block(block.index, left)
            if error:
                errors[block.index] = error
                timed_out = error.startswith('time limit')
        host.forget()
        dev = host.dax_device(name)
        pinned = [b for b in dev.blocks if b.online]
        if pinned:
            raise PmemError(pinned_message(dev, pinned, errors, (err or out).strip()),
                            pinned_blocks=[dict(b.to_dict(), error=errors.get(b.index)) for b in pinned])


def pinned_message(dev, pinned, errors, daxctl_said):
    zones = sorted(set(b.zone or '?' for b in pinned))
    why = []
    if 'Normal' in zones:
        why.append('memory onlined into ZONE_NORMAL (movable: false) can hold unmovable kernel allocations '
                   '(slab, page tables) that cannot be migrated; they are usually only freed by a reboot. '
                   'Online it movable (the default) next time')
    if 'Movable' in zones:
        why.append('pages in ZONE_MOVABLE could not be migrated in time (pinned for I/O, or no free memory '
                   'elsewhere); free memory on other nodes and run again, or raise timeout')
    return ('%s: %d of %d memory blocks stayed online (%s; zone %s, node %s; %s). The blocks that could be '
            'offlined are offline; nothing else was changed. Why: %s.'
            % (dev.dev, len(pinned), dev.total_memblocks,
               ', '.join('memory%d' % b.index for b in pinned), '/'.join(zones),
               '/'.join(sorted(set(str(b.node) for b in pinned))),
               '; '.join(sorted(set(errors.values()))) or daxctl_said or 'busy', ' '.join(why)))
