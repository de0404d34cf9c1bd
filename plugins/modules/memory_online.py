#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) memtier engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: memory_online
short_description: Bring the memory of a system-ram dax device online or offline
version_added: 0.1.0
description:
  - Onlines every memory block of a dax device in V(system-ram) mode, in ZONE_MOVABLE by default, or offlines them.
  - Unlike C(daxctl online-memory) and C(daxctl offline-memory), which exit 1 when nothing is left to do, it is
    idempotent, and it finishes a partial state (some blocks online, some offline).
  - When offlining fails because the kernel uses the memory ("Device or resource busy"), the blocks that could
    go offline go offline, and the module fails with the blocks that stayed online, their zone and node, and why.
    A later run finishes what can be finished.
author:
  - memtier engineers (@memtier)
extends_documentation_fragment:
  - memtier.pmem.attributes
  - memtier.pmem.attributes.bin_dir
  - memtier.pmem.attributes.lock
  - memtier.pmem.attributes.device
options:
  state:
    description:
      - V(online) brings all blocks online; V(offline) takes them all offline (the memory leaves the system RAM).
    type: str
    choices: [online, offline]
    default: online
  movable:
    description:
      - With O(state=online), online into ZONE_MOVABLE (V(true)) or ZONE_NORMAL (V(false)).
      - Blocks already online in the other zone are an error unless O(force=true) re-onlines them.
    type: bool
    default: true
  force:
    description:
      - With O(state=online), allow offlining and re-onlining blocks that are online in the wrong zone.
    type: bool
    default: false
seealso:
  - module: memtier.pmem.dax_reconfigure
'''

EXAMPLES = r'''
---
- name: Bring the memory of the namespace's dax device online, movable
  memtier.pmem.memory_online:
    namespace: pmem-ram

- name: Take the memory offline, waiting at most a minute
  memtier.pmem.memory_online:
    device: dax0.0
    state: offline
    timeout: 60
'''

RETURN = r'''
device:
  description: The dax device after the run (in check mode, as it would be). Same keys as in M(memtier.pmem.dax_reconfigure).
  returned: always
  type: dict
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
  sample: ["daxctl online-memory dax0.0"]
'''

from ansible_collections.memtier.pmem.plugins.module_utils._module import run_device_module
from ansible_collections.memtier.pmem.plugins.module_utils._plan import plan_memory


def main():
    run_device_module(dict(
        state=dict(type='str', default='online', choices=['online', 'offline']),
    ), plan_memory)


if __name__ == '__main__':
    main()
