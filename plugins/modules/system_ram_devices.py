#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) memtier engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: system_ram_devices
short_description: A host's whole list of PMem, CXL and firmware memory devices as system RAM, in one call
version_added: 0.1.0
description:
  - Converges every device of O(devices) in one run, the way the seed's commands do one by one - a devdax
    namespace (C(ndctl create-namespace)), its dax device in system-ram mode (C(daxctl reconfigure-device
    --no-online)) and its memory online in the zone asked for (C(daxctl online-memory)) - or, with
    O(devices[].state=absent) and O(allow_release=true), gives a device back (offline, devdax, namespace destroyed).
  - A device is one of three kinds, each found again by what stays the same across reboots - a PMem namespace by
    its name (the default); a CXL RAM region by its member memory devices (O(devices[].cxl_memdevs), created with
    C(cxl create-region) when missing, destroyed when given back); memory the firmware already exposes as a dax
    device (soft-reserved memory bound to C(dax_hmem), or a CXL region the BIOS set up) by the physical address
    where it starts (O(devices[].address); given back to devdax, never destroyed).
  - Since Linux 6.3 the kernel binds a CXL region's and, on 6.12, soft-reserved memory's dax device to kmem by
    itself; the module reads the mode it finds and only does what is missing. Memory the kernel already onlined in
    the other zone is refused unless O(devices[].force=true).
  - Reads the host once, checks every entry and plans every step that can be planned before it changes anything,
    so that a bad entry or a refusal leaves the host as it was; then applies device by device (a new namespace's dax
    device is only known once it exists) and reads the host again. Devices given back go first, so that their space
    is free for the ones provided.
  - The same checks and refusals as M(memtier.pmem.pmem_namespace) and M(memtier.pmem.dax_reconfigure) apply; the
    C(memtier.pmem.system_ram) role converges its devices with one call of this module.
  - In check mode the plan for a namespace that does not exist yet ends with its creation; its dax device is
    predicted as system RAM online in the zone asked for, without a name.
author:
  - memtier engineers (@memtier)
extends_documentation_fragment:
  - memtier.pmem.attributes
  - memtier.pmem.attributes.bin_dir
  - memtier.pmem.attributes.lock
options:
  devices:
    description:
      - The devices. Every entry has a O(devices[].name); with neither O(devices[].cxl_memdevs) nor
        O(devices[].address) it is a PMem namespace of that name.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - 1 to 63 letters, digits, V(.), V(_) or V(-). For a PMem namespace, the name stored in its label; for
            the other kinds, the name of the device's boot configuration (M(memtier.pmem.system_ram_boot)) and of its
            line in the role's report.
        type: str
        required: true
      cxl_memdevs:
        description:
          - A CXL RAM region over these CXL memory devices, interleaved in this order - serial numbers (stable across
            reboots, as C(cxl list -M) shows them) or V(memN) names (which can change between boots).
          - Needs Linux 6.3 or later and the C(cxl) tool; see M(memtier.pmem.cxl_region) for the region itself.
        type: list
        elements: str
      address:
        description:
          - Memory the firmware already exposes as a dax device, by the physical address where the device's memory
            starts, as C(/proc/iomem) shows it (V(0x100000000)); see M(memtier.pmem.pmem_info) C(soft_reserved) and
            C(dax_devices[].address).
        type: str
      region:
        description:
          - PMem namespaces only. The region to create the namespace in (V(region0) or V(0)); the first that fits
            when omitted.
        type: str
      size:
        description:
          - For a PMem namespace, its size (V(12g), V(512m)); all free space of the region when omitted; never V(0).
          - For a CXL region, its size (a multiple of 256 MiB per memdev); all the memdevs' capacity when omitted.
        type: str
      map:
        description: Where the page structures of the devdax namespace live (C(ndctl --map)).
        type: str
        choices: [dev, mem]
      align:
        description: Mapping alignment (V(2m), V(1g)); one the region supports.
        type: str
      movable:
        description: Online the memory in ZONE_MOVABLE (V(true)) or ZONE_NORMAL (V(false)).
        type: bool
        default: true
      force:
        description:
          - Move memory that is already online in the other zone (the kernel onlined it by itself, e.g. a CXL or
            soft-reserved device on Debian 13 without C(memhp_default_state=offline)) to the zone asked for - it is
            taken offline for a moment, and that fails when the kernel has pinned it.
        type: bool
        default: false
      state:
        description:
          - V(present) provides the device as online system RAM; V(absent) gives it back (needs
            O(allow_release=true)) - a namespace is destroyed with its data, a CXL region destroyed, memory the
            firmware exposes returned to devdax.
        type: str
        choices: [present, absent]
        default: present
  init_labels:
    description:
      - Initialise the label area of a new NVDIMM (no label index yet) named by O(devices[].region) before
        creating a namespace on it.
    type: bool
    default: false
  allow_release:
    description:
      - Allow giving devices back (O(devices[].state=absent)) - their memory is taken offline and their namespace
        and its data, or their CXL region, are destroyed. When false, such a device that exists makes the module
        fail before it changes anything.
    type: bool
    default: false
  timeout:
    description:
      - Seconds that taking a device's memory offline may take when it is given back.
    type: int
    default: 120
seealso:
  - module: memtier.pmem.pmem_namespace
  - module: memtier.pmem.dax_reconfigure
  - module: memtier.pmem.memory_online
'''

EXAMPLES = r'''
---
- name: Two devices on region0, one movable and one in ZONE_NORMAL
  memtier.pmem.system_ram_devices:
    init_labels: true
    devices:
      - {name: pmem-ram0, region: region0, size: 12g}
      - {name: pmem-ram1, region: region0, size: 4g, movable: false}

- name: A CXL region over two memory expanders (by serial number) and soft-reserved memory at 4 GiB
  memtier.pmem.system_ram_devices:
    devices:
      - {name: cxl-ram0, cxl_memdevs: ['0x4d540000', '0x4d540001']}
      - {name: hmem-ram0, address: '0x100000000'}

- name: Give pmem-ram1 back
  memtier.pmem.system_ram_devices:
    allow_release: true
    devices:
      - {name: pmem-ram1, state: absent}
'''

RETURN = r'''
devices:
  description:
    - Each device after the run (in check mode, as it would be), in the order they were handled (those given back
      first).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The device's name.
      type: str
    state:
      description: The state asked for.
      type: str
    namespace:
      description:
        - PMem namespaces only. The namespace, with the keys M(memtier.pmem.pmem_namespace) returns; null when absent.
      type: dict
    region:
      description:
        - CXL regions only. The region, with the keys M(memtier.pmem.cxl_region) returns but C(dax_devices); null
          when absent.
      type: dict
    address:
      description: Firmware memory only. The address asked for, in hex.
      type: str
    device:
      description: Its dax device, with the keys M(memtier.pmem.dax_reconfigure) returns; null when absent.
      type: dict
  sample:
    - name: pmem-ram0
      state: present
      namespace: {dev: namespace0.0, region: region0, name: pmem-ram0, mode: devdax, size: 1073741824}
      device: {chardev: dax0.0, mode: system-ram, online_memblocks: 7, total_memblocks: 7, movable: true, zones: [Movable]}
commands:
  description: The commands that ran (in check mode, those planned so far), in order.
  returned: always
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.memtier.pmem.plugins.module_utils._cxl import CxlHost
from ansible_collections.memtier.pmem.plugins.module_utils._devices import DevicesTarget
from ansible_collections.memtier.pmem.plugins.module_utils._module import converge, host_for
from ansible_collections.memtier.pmem.plugins.module_utils._pmem import BIN_DIR_OPTION, LOCK_OPTION, TIMEOUT_OPTION, PmemError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            devices=dict(type='list', elements='dict', required=True, options=dict(
                name=dict(type='str', required=True),
                cxl_memdevs=dict(type='list', elements='str'),
                address=dict(type='str'),
                region=dict(type='str'),
                size=dict(type='str'),
                map=dict(type='str', choices=['dev', 'mem']),
                align=dict(type='str'),
                movable=dict(type='bool', default=True),
                force=dict(type='bool', default=False),
                state=dict(type='str', default='present', choices=['present', 'absent']),
            )),
            init_labels=dict(type='bool', default=False),
            allow_release=dict(type='bool', default=False),
            **dict(BIN_DIR_OPTION, **dict(LOCK_OPTION, **TIMEOUT_OPTION))
        ),
        supports_check_mode=True,
    )
    try:
        if module.params['timeout'] <= 0:
            raise PmemError('timeout=%s must be a positive number of seconds' % module.params['timeout'])
        target = DevicesTarget(module.params)
    except PmemError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    converge(module, 'devices', target, host=host_for(module, host_class=CxlHost))


if __name__ == '__main__':
    main()
