#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) memtier engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: dax_device_model
short_description: Move a host from the old dax-class device model to the dax bus model
version_added: 0.1.0
description:
  - On kernels before about 5.17, udev may bind devdax namespaces to C(dax_pmem_compat), the old dax-class device
    model, in which C(daxctl reconfigure-device) fails ("device model is dax-class"). This module installs the bus
    model for the next boot (C(daxctl migrate-device-model), which writes C(/etc/modprobe.d/daxctl.conf)) and, when
    nothing holds a dax device open or mapped, switches the loaded drivers now - every devdax namespace is disabled,
    C(dax_pmem_compat) unloaded, C(dax_pmem) loaded and the namespaces enabled again (with O(live=true)).
  - When a process holds a dax device (C(/proc/PID/fd) or C(/proc/PID/maps)) the live switch is not made; the
    module says so and returns O(ignore:reboot_required=true), and the switch happens at the next boot. The
    C(memtier.pmem.system_ram) role reboots only with C(system_ram_reboot_ok).
  - On a host already on the bus model it changes nothing.
author:
  - memtier engineers (@memtier)
extends_documentation_fragment:
  - memtier.pmem.attributes
  - memtier.pmem.attributes.bin_dir
  - memtier.pmem.attributes.lock
options:
  live:
    description:
      - Switch the loaded drivers now when nothing holds a dax device. V(false) only installs the bus model for the
        next boot.
    type: bool
    default: true
seealso:
  - module: memtier.pmem.dax_reconfigure
  - name: daxctl-migrate-device-model(1)
    description: The command this module runs first.
    link: https://docs.pmem.io/ndctl-user-guide/daxctl-man-pages/daxctl-migrate-device-model
'''

EXAMPLES = r'''
---
- name: Use the dax bus model, now if nothing holds a dax device
  memtier.pmem.dax_device_model:
  register: model

- name: Reboot when a process held a dax device
  ansible.builtin.reboot:
  when: model.reboot_required
'''

RETURN = r'''
model:
  description: The device model after the run (in check mode, as it would be).
  returned: always
  type: dict
  contains:
    device_model:
      description: V(bus), or V(dax-class) while C(dax_pmem_compat) is registered.
      type: str
    configured:
      description: Whether the bus model is installed for the next boot (C(/etc/modprobe.d/daxctl.conf)).
      type: bool
  sample: {device_model: bus, configured: true}
reboot_required:
  description: Whether the host still runs the dax-class model and needs a reboot to use the bus model.
  returned: always
  type: bool
holders:
  description: The processes that kept the live switch from being made, by device node.
  returned: always
  type: dict
  sample: {dax0.0: [{pid: 812, comm: python3, how: mapped}]}
commands:
  description: The commands that ran (in check mode, that would run), in order.
  returned: always
  type: list
  elements: str
  sample: [daxctl migrate-device-model, ndctl disable-namespace namespace0.0, modprobe -r dax_pmem_compat,
           modprobe dax_pmem, ndctl enable-namespace namespace0.0]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.memtier.pmem.plugins.module_utils._module import converge
from ansible_collections.memtier.pmem.plugins.module_utils._pmem import BIN_DIR_OPTION, LOCK_OPTION
from ansible_collections.memtier.pmem.plugins.module_utils._plan import DeviceModelTarget


def main():
    module = AnsibleModule(
        argument_spec=dict(live=dict(type='bool', default=True), **dict(BIN_DIR_OPTION, **LOCK_OPTION)),
        supports_check_mode=True,
    )
    target = DeviceModelTarget(module.params)
    converge(module, 'model', target, extra=target.extra)


if __name__ == '__main__':
    main()
