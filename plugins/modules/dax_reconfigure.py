#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) memtier engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: dax_reconfigure
short_description: Switch a dax device between devdax and system-ram (kmem) mode
version_added: 0.1.0
description:
  - Puts a dax device in V(system-ram) mode, so that the kernel hot-adds its capacity as ordinary RAM on a
    memory-only NUMA node, and by default onlines that memory in ZONE_MOVABLE; or gives it back to V(devdax) mode.
  - Before it changes anything it checks what makes C(daxctl reconfigure-device) fail, and names the cause and
    the fix - the old dax-class device model, a missing or blocked C(kmem) module, a kernel that onlines
    hot-added memory by itself (C(auto_online_blocks)), a kernel older than 5.1.
  - Taking online memory away (V(devdax) while blocks are online) needs O(force=true).
  - A devdax device that a process holds open or mapped (C(/proc/PID/fd), C(/proc/PID/maps)) is not made system
    RAM, since its contents would become kernel memory under that process; the module names the processes and
    changes nothing. O(force=true) overrides that.
  - Hot-adding memory takes DRAM for its page structures (64 bytes per 4 KiB page, 1/64 of the device). When that
    is more than half of the memory available (C(MemAvailable)), the module refuses with the numbers, unless the
    device's page structures are placed on the device itself (C(memmap_on_memory), kernel 6.8 or later).
  - A failure half-way returns the commands that already ran and the device's state after them.
author:
  - memtier engineers (@memtier)
extends_documentation_fragment:
  - memtier.pmem.attributes
  - memtier.pmem.attributes.bin_dir
  - memtier.pmem.attributes.lock
  - memtier.pmem.attributes.device
options:
  mode:
    description:
      - V(system-ram) hands the device to the C(kmem) driver; V(devdax) gives it back to C(device_dax).
    type: str
    choices: [system-ram, devdax]
    default: system-ram
  online:
    description:
      - With O(mode=system-ram), bring all of the device's memory blocks online.
      - V(false) leaves new memory offline (C(daxctl --no-online)); memory that is already online stays online.
    type: bool
    default: true
  movable:
    description:
      - Online the memory in ZONE_MOVABLE (V(true)), which the kernel can always give back, or in ZONE_NORMAL
        (V(false), C(--no-movable)), which kernel allocations can pin until reboot.
      - Memory already online in the other zone is an error, unless O(force=true) re-onlines it.
    type: bool
    default: true
  force:
    description:
      - Allow taking online memory away (offlining it) to reach O(mode=devdax) or to move it to the zone asked for.
      - Allow making a device that a process holds open or mapped system RAM (that process loses the data it sees).
    type: bool
    default: false
seealso:
  - module: memtier.pmem.memory_online
  - module: memtier.pmem.pmem_namespace
  - name: daxctl-reconfigure-device(1)
    description: The command this module runs.
    link: https://docs.pmem.io/ndctl-user-guide/daxctl-man-pages/daxctl-reconfigure-device
'''

EXAMPLES = r'''
---
- name: Hand the namespace's dax device to the kernel as movable system RAM
  memtier.pmem.dax_reconfigure:
    namespace: pmem-ram
    mode: system-ram

- name: Add it as system RAM but leave the memory offline
  memtier.pmem.dax_reconfigure:
    device: dax0.0
    mode: system-ram
    online: false

- name: Take the memory back and return the device to devdax mode
  memtier.pmem.dax_reconfigure:
    namespace: pmem-ram
    mode: devdax
    force: true
'''

RETURN = r'''
device:
  description: The dax device after the run (in check mode, as it would be).
  returned: always
  type: dict
  contains:
    chardev:
      description: The device name, such as V(dax0.0).
      type: str
    region:
      description: The region the device belongs to.
      type: str
    size:
      description: Size in bytes.
      type: int
    target_node:
      description: The NUMA node its memory joins as system RAM.
      type: int
    align:
      description: Alignment in bytes.
      type: int
    mode:
      description: V(devdax) or V(system-ram).
      type: str
    state:
      description: V(enabled), or V(disabled) when no driver is bound.
      type: str
    device_model:
      description: V(bus), or V(dax-class) for the old model in which the device cannot be reconfigured.
      type: str
    online_memblocks:
      description: Memory blocks of the device that are online.
      type: int
    total_memblocks:
      description: Memory blocks of the device (0 in devdax mode).
      type: int
    movable:
      description: Whether the online memory is all in ZONE_MOVABLE; null when none is online.
      type: bool
    zones:
      description: The zones of the online blocks.
      type: list
      elements: str
    pinned_blocks:
      description: Blocks that stayed online after an offline attempt (only on failure).
      type: list
      elements: dict
  sample:
    chardev: dax0.0
    region: region0
    size: 1054867456
    target_node: 1
    align: 2097152
    mode: system-ram
    state: enabled
    device_model: bus
    online_memblocks: 7
    total_memblocks: 7
    movable: true
    zones: [Movable]
    pinned_blocks: []
commands:
  description: The commands that ran (in check mode, that would run), in order.
  returned: always
  type: list
  elements: str
  sample: ["daxctl reconfigure-device --mode=system-ram --no-online dax0.0", "daxctl online-memory dax0.0"]
'''

from ansible_collections.memtier.pmem.plugins.module_utils._module import run_device_module
from ansible_collections.memtier.pmem.plugins.module_utils._plan import plan_reconfigure


def main():
    run_device_module(dict(
        mode=dict(type='str', default='system-ram', choices=['system-ram', 'devdax']),
        online=dict(type='bool', default=True),
    ), plan_reconfigure)


if __name__ == '__main__':
    main()
