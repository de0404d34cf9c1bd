# -*- coding: utf-8 -*-
# Copyright (c) memtier engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# This is a private module_utils file of memtier.pmem: it is not part of the collection's
# public API and may change at any time.
"""The flow every changing module follows, under the host lock: read, plan, apply (not in check
mode), read again."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.memtier.pmem.plugins.module_utils._apply import Executor
from ansible_collections.memtier.pmem.plugins.module_utils._pmem import (
    BIN_DIR_OPTION, LOCK_OPTION, TIMEOUT_OPTION, Host, ModuleRunner, PmemError,
)
from ansible_collections.memtier.pmem.plugins.module_utils._plan import DeviceTarget

# Options shared by the modules that act on one dax device (doc fragment memtier.pmem.attributes.device).
DEVICE_OPTIONS = dict(
    device=dict(type='str'),
    namespace=dict(type='str'),
    movable=dict(type='bool', default=True),
    force=dict(type='bool', default=False),
    **BIN_DIR_OPTION
)
DEVICE_OPTIONS.update(LOCK_OPTION)
DEVICE_OPTIONS.update(TIMEOUT_OPTION)


def host_for(module, require_tools=True, tools=None, host_class=Host):
    """The one place a module gets its Host (the unit tests replace ModuleRunner here); ``tools`` and
    ``host_class`` for cxl_region (cxl and daxctl, _cxl.CxlHost)."""
    if tools is None:
        return host_class(ModuleRunner(module, require_tools=require_tools))
    return host_class(ModuleRunner(module, require_tools=require_tools, tools=tools))


def converge(module, key, target, extra=None, host=None):
    """Drive one module run, holding the host lock from the first read to the last.

    ``target`` (a _plan.Target) gives the object's state, the plan and check mode's prediction;
    ``extra(host, after)`` more result keys; ``host`` one made by host_for with other tools.
    ``changed`` and ``diff`` come from the state before and after; in check mode "after" is the
    prediction, so check mode says changed exactly when the real run would change something.
    A failure half-way reports the commands that already ran, the object's state after them, and
    ``changed`` when that state is not the one before.
    """
    host = host or host_for(module)
    executor = Executor(host)
    lock_timeout = module.params['lock_timeout']
    owner = 'pid %d, memtier.pmem.%s, since %s' % (
        os.getpid(), module._name.split('.')[-1], time.strftime('%Y-%m-%d %H:%M:%S'))
    try:
        if lock_timeout < 0:
            raise PmemError('lock_timeout=%s must be 0 (do not wait) or a positive number of seconds' % lock_timeout)
        with host.runner.lock(lock_timeout, owner):
            before = target.snapshot(host)
            plan = target.plan(host)
            pending = target.pending(plan)
            if module.check_mode or not pending:
                after = target.predict(host, plan)
                commands = target.describe(plan)
            else:
                try:
                    target.apply(host, executor, plan)
                except PmemError as exc:
                    exc.details['commands'] = executor.ran
                    exc.details[key] = _state_after_failure(host, target)
                    # what ran before the failure may have changed the host (some blocks offline)
                    after = exc.details[key]
                    exc.details['changed'] = after != before if after is not None else bool(executor.ran)
                    if isinstance(exc.details[key], dict) and 'pinned_blocks' in exc.details:
                        exc.details[key]['pinned_blocks'] = exc.details['pinned_blocks']
                    raise
                commands = executor.ran
                host.forget()
                after = target.snapshot(host)
    except PmemError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    result = {
        'changed': before != after or (module.check_mode and pending),
        key: after,
        'commands': commands,
    }
    if extra is not None:
        result.update(extra(host, after))
    if module._diff:
        result['diff'] = {'before': before or {}, 'after': after or {}}
    module.exit_json(**result)


def _state_after_failure(host, target):
    host.forget()
    try:
        return target.snapshot(host)
    except PmemError:
        return None


def run_device_module(options, plan):
    """A module that acts on one dax device, named by ``device`` or ``namespace``."""
    argument_spec = dict(DEVICE_OPTIONS)
    argument_spec.update(options)
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_one_of=[('device', 'namespace')],
        mutually_exclusive=[('device', 'namespace')],
        supports_check_mode=True,
    )
    converge(module, 'device', DeviceTarget(module.params, plan))
