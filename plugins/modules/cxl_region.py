#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) memtier engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: cxl_region
short_description: Create and destroy CXL memory regions over given memory devices
version_added: 0.2.0
description:
  - Makes a CXL region present or absent, found on every run by its member memory devices (O(memdevs)), not by
    the kernel's region name, which can change from one creation to the next.
  - A V(ram) region over CXL type-3 memory expanders becomes a dax device; since Linux 6.3 the kernel binds that
    device to C(kmem) by itself, so the memory becomes hot-added system RAM. Whether it is then onlined, and into
    which zone, follows the kernel's auto-online policy (C(/sys/devices/system/memory/auto_online_blocks)). With
    the policy V(online) (Debian 13's default) it lands in ZONE_NORMAL, where it cannot reliably be taken back;
    set the policy to V(offline) (kernel argument C(memhp_default_state=offline)) first, then online it movable
    with M(memtier.pmem.memory_online). The module warns when it creates a region while the policy onlines new
    memory, and when a region's memory is online in ZONE_NORMAL.
  - A region over the same memdevs with other settings is destroyed and created again only with O(force=true).
  - A region whose memory is online as system RAM is only destroyed with O(force=true), which takes the memory
    offline first (and fails, having destroyed nothing, when pages cannot be moved).
  - Every input is checked, and every refusal made, before the first change.
author:
  - memtier engineers (@memtier)
extends_documentation_fragment:
  - memtier.pmem.attributes.changing
  - memtier.pmem.attributes.lock
requirements:
  - Linux with CXL region support; V(ram) regions need 6.3 or later (C(CONFIG_CXL_REGION), C(CONFIG_DEV_DAX_CXL)).
  - The C(cxl) and C(daxctl) tools (ndctl project) on the target host.
notes:
  - Runs C(cxl) and C(daxctl) as argument lists in the C locale and reads C(/sys). Needs root, so use C(become=true).
  - Proven on Debian 13 (Linux 6.12, cxl 81) in a QEMU 10 guest with two emulated type-3 volatile devices under one
    host bridge. Under QEMU the guest CPU must not advertise the hypervisor flag, or region commit fails.
  - The region does not survive a reboot unless the platform firmware sets it up.
options:
  memdevs:
    description:
      - The CXL memory devices of the region, by name (V(mem0)) or serial number, in interleave order.
      - With O(state=absent), all the members of the region to remove.
    type: list
    elements: str
    required: true
  state:
    description:
      - V(present) creates the region when no region has these memdevs.
      - V(absent) disables and destroys the region over these memdevs.
    type: str
    choices: [present, absent]
    default: present
  type:
    description:
      - V(ram) for volatile capacity, V(pmem) for persistent capacity (which becomes an NVDIMM region for C(ndctl)).
    type: str
    choices: [ram, pmem]
    default: ram
  size:
    description:
      - Size of the region, in bytes or with a binary unit (V(2g)); a multiple of 256 MiB times the number of memdevs.
      - Omitted means all the capacity (the smallest member's, on each member), and an existing region of any
        size matches.
    type: str
  interleave_granularity:
    description:
      - Bytes given to one memdev before the next (V(256) to V(16k), a power of two).
      - Omitted means the root decoder's granularity, and an existing region of any granularity matches.
    type: str
  root_decoder:
    description:
      - The CXL root decoder (a fixed memory window) to create the region in, such as V(decoder0.0).
      - Omitted means the first root decoder that can hold the O(type), reaches all the memdevs' host bridges and has
        room for the region.
    type: str
  force:
    description:
      - Allow destroying a region whose memory is online (it is taken offline first), and destroying and creating
        again a region over the memdevs whose settings differ.
    type: bool
    default: false
  timeout:
    description:
      - Seconds that taking the region's memory offline (O(force=true)) may take in all.
    type: int
    default: 120
  bin_dir:
    description:
      - Directory that holds the C(cxl) and C(daxctl) to run, for a build installed under a prefix.
      - When left out, the ones found on the E(PATH) and in the sbin directories.
    type: path
seealso:
  - module: memtier.pmem.pmem_info
    description: Reports the CXL memdevs, root decoders and regions.
  - module: memtier.pmem.memory_online
    description: Onlines the region's dax device movable, or takes it offline.
  - name: cxl-create-region(1)
    description: The command this module runs.
    link: https://docs.pmem.io/ndctl-user-guide/cxl-man-pages
'''

EXAMPLES = r'''
---
- name: One RAM region interleaved over two CXL memory expanders
  memtier.pmem.cxl_region:
    memdevs: [mem0, mem1]
  register: region

- name: Online its memory movable (the region's dax device, from the result)
  memtier.pmem.memory_online:
    device: "{{ region.region.dax_devices[0].chardev }}"
  when: region.region.dax_devices | length > 0

- name: Remove the region, taking its memory offline first
  memtier.pmem.cxl_region:
    memdevs: [mem0, mem1]
    state: absent
    force: true
'''

RETURN = r'''
region:
  description:
    - The region over the memdevs after the run; null when absent.
    - In check mode, as it would be, without the keys the kernel chooses (V(region), V(resource), V(dax_devices)).
  returned: always
  type: dict
  contains:
    region:
      description: The kernel's name, such as V(region0); not stable across creations.
      type: str
    type:
      description: V(ram) or V(pmem).
      type: str
    size:
      description: Size in bytes.
      type: int
    resource:
      description: Physical start address.
      type: int
    interleave_ways:
      description: Number of memdevs interleaved.
      type: int
    interleave_granularity:
      description: Bytes given to one memdev before the next.
      type: int
    decode_state:
      description: V(commit) when the decoders are programmed.
      type: str
    memdevs:
      description: The members, in interleave order.
      type: list
      elements: str
    root_decoder:
      description: The root decoder the region is in.
      type: str
    dax_devices:
      description: The region's dax devices (V(chardev), V(size), V(mode), V(target_node), V(online_memblocks),
        V(total_memblocks), V(movable)).
      type: list
      elements: dict
  sample:
    region: region0
    type: ram
    size: 2147483648
    resource: 19595788288
    interleave_ways: 2
    interleave_granularity: 4096
    decode_state: commit
    memdevs: [mem0, mem1]
    root_decoder: decoder0.0
    dax_devices:
      - {chardev: dax0.0, size: 2147483648, mode: system-ram, target_node: 1, online_memblocks: 0,
         total_memblocks: 16, movable: null}
commands:
  description: The commands that ran (in check mode, that would run), in order.
  returned: always
  type: list
  elements: str
  sample: ["cxl create-region -m -t ram -d decoder0.0 -w 2 mem0 mem1"]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.memtier.pmem.plugins.module_utils._cxl import CXL_TOOLS, CxlHost, RegionTarget
from ansible_collections.memtier.pmem.plugins.module_utils._module import converge, host_for
from ansible_collections.memtier.pmem.plugins.module_utils._pmem import (
    BIN_DIR_OPTION, LOCK_OPTION, TIMEOUT_OPTION, PmemError,
)

ONLINING_POLICIES = ('online', 'online_movable', 'online_kernel')


def warnings_for(target):
    def extra(host, after):
        """A region this run creates while the kernel's policy onlines new memory by itself, or one whose
        memory is online in ZONE_NORMAL."""
        found = []
        policy = target.policy
        if any(action.kind == 'create' for action in target.last_plan or []) and policy in ONLINING_POLICIES:
            found.append('the kernel onlines hot-added memory by itself (auto_online_blocks=%s): the new region\'s '
                         'memory goes online at once%s. Boot with memhp_default_state=offline to choose the zone'
                         % (policy, ' into ZONE_NORMAL' if policy != 'online_movable' else ''))
        for dev in (after or {}).get('dax_devices') or []:
            if dev.get('online_memblocks') and dev.get('movable') is False:
                found.append('%s (%s) is online in ZONE_NORMAL, where the kernel can place unmovable pages: it may '
                             'never go offline again' % (dev['chardev'], after.get('region')))
        return {'warnings': found} if found else {}
    return extra


def main():
    module = AnsibleModule(
        argument_spec=dict(
            memdevs=dict(type='list', elements='str', required=True),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            type=dict(type='str', default='ram', choices=['ram', 'pmem']),
            size=dict(type='str'),
            interleave_granularity=dict(type='str'),
            root_decoder=dict(type='str'),
            force=dict(type='bool', default=False),
            **dict(BIN_DIR_OPTION, **dict(LOCK_OPTION, **TIMEOUT_OPTION))
        ),
        supports_check_mode=True,
    )
    try:
        target = RegionTarget(module.params)
    except PmemError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    host = host_for(module, tools=CXL_TOOLS, host_class=CxlHost)
    converge(module, 'region', target, extra=warnings_for(target), host=host)


if __name__ == '__main__':
    main()
