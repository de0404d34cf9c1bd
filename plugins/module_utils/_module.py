# -*- coding: utf-8 -*-
# Copyright (c) memtier engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# This is a private module_utils file of memtier.pmem: it is not part of the collection's
# public API and may change at any time.
"""The flow every changing module follows: read, plan, apply (not in check mode), read again."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.memtier.pmem.plugins.module_utils._pmem import BIN_DIR_OPTION, Host, ModuleRunner, PmemError
from ansible_collections.memtier.pmem.plugins.module_utils._plan import DeviceTracker, apply

# Options shared by the modules that act on one dax device.
DEVICE_OPTIONS = dict(
    device=dict(type='str'),
    namespace=dict(type='str'),
    movable=dict(type='bool', default=True),
    force=dict(type='bool', default=False),
    timeout=dict(type='int', default=120),
    **BIN_DIR_OPTION
)


def converge(module, key, snapshot, plan, predict):
    """Drive one module run.

    ``snapshot(host)`` returns the object's state as a dict (or None when it does not exist),
    ``plan(host)`` the actions, ``predict(host, actions)`` the state check mode expects after them.
    ``changed`` and ``diff`` come from the state before and after; in check mode "after" is the
    prediction, so check mode says changed exactly when the real run would change something.
    """
    host = Host(ModuleRunner(module))
    try:
        before = snapshot(host)
        actions = plan(host)
        if module.check_mode or not actions:
            after = predict(host, actions)
            commands = [action.describe() for action in actions]
        else:
            commands = apply(host, actions)
            host.forget()
            after = snapshot(host)
    except PmemError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    result = {
        'changed': before != after or (module.check_mode and bool(actions)),
        key: after,
        'commands': commands,
    }
    if module._diff:
        result['diff'] = {'before': before or {}, 'after': after or {}}
    module.exit_json(**result)


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
    tracker = DeviceTracker(module.params)
    converge(module, 'device', tracker.snapshot,
             lambda host: plan(host, tracker.device, module.params), tracker.predict)
