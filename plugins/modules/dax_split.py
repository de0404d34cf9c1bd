#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) memtier engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: dax_split
short_description: Divide a soft-reserved or CXL dax region into devices of given sizes
version_added: 0.2.0
description:
  - Makes a dax region hold exactly the devices O(sizes) lists, in order - V(dax0.0), V(dax0.1), ... for region
    V(0) - by resizing, creating (C(daxctl create-device)) and destroying (C(daxctl destroy-device)) devices.
  - For dax regions the kernel can divide (Linux 5.10 or later) - soft-reserved memory (EFI specific-purpose memory,
    bound to C(hmem)) and CXL RAM regions. A PMem (NVDIMM) region's dax devices are namespaces, which
    M(memtier.pmem.pmem_namespace) makes; such a region is refused.
  - Devices the list leaves as they are stay untouched, except that a disabled one is enabled again (a run that
    stopped half-way leaves one so). Devices this module resizes or creates are left enabled in V(devdax) mode;
    make one system RAM with M(memtier.pmem.dax_reconfigure).
  - Resizing or destroying a device that has a size (its data is lost) needs O(force=true). A device whose memory is
    online as system RAM, or that a process holds open or mapped, is never resized or destroyed; give it back first
    with M(memtier.pmem.dax_reconfigure) (C(mode=devdax)).
  - Every input is checked, and every refusal made, before the first change.
author:
  - memtier engineers (@memtier)
extends_documentation_fragment:
  - memtier.pmem.attributes.changing
  - memtier.pmem.attributes.lock
requirements:
  - Linux 5.10 or later (dynamic dax regions).
  - daxctl v71 or later (C(create-device), C(destroy-device)) on the target host.
notes:
  - Runs C(daxctl) as argument lists in the C locale and reads C(/sys). Needs root, so use C(become=true).
  - The kernel names a new device with the lowest free number of its region. The module removes the devices beyond
    the list first, then shrinks, grows and creates in that order, so every device gets the name its place in
    O(sizes) gives it.
  - The division does not survive a reboot; the firmware's or the CXL driver's single device comes back.
  - Kernel 6.12 binds a new CXL or soft-reserved dax device to C(kmem) itself (V(system-ram) mode); with
    C(memhp_default_state=offline) its memory stays offline, and this module can divide it without O(force) only
    when the list keeps its size.
options:
  region:
    description:
      - The dax region, by id as C(daxctl list -R) prints it (V(0)), or as V(dax_region0) or V(region0).
      - A CXL region's dax region has the CXL region's number; a soft-reserved range's has its C(hmem) device's.
    type: str
    required: true
  sizes:
    description:
      - The sizes of the region's devices, in bytes or with a binary unit (V(1g)), in order; the first is
        V(dax<region>.0). Each a multiple of the region's alignment (2 MiB for C(hmem) and CXL), together at most the
        region's size; what they leave stays free.
      - Devices with a higher number than the list has entries are destroyed (with O(force=true)).
    type: list
    elements: str
    required: true
  force:
    description:
      - Allow resizing and destroying devices that have a size; their data is lost.
      - Never overrides the refusals for online system RAM and for devices in use.
    type: bool
    default: false
  bin_dir:
    description:
      - Directory that holds the C(daxctl) to run, for a build installed under a prefix.
      - When left out, the one found on the E(PATH) and in the sbin directories.
    type: path
seealso:
  - module: memtier.pmem.pmem_info
    description: Reports the dax devices, the soft-reserved ranges and the CXL regions.
  - module: memtier.pmem.cxl_region
    description: Makes the CXL RAM region whose dax region this module divides.
  - module: memtier.pmem.dax_reconfigure
    description: Makes a device of the region system RAM, or gives one back (V(devdax)).
  - name: daxctl-create-device(1)
    description: The commands this module runs.
    link: https://docs.pmem.io/ndctl-user-guide/daxctl-man-pages/daxctl-create-device
'''

EXAMPLES = r'''
---
- name: Two 1 GiB devices out of a 2 GiB CXL region's dax region (dax0.0 is resized, dax0.1 created)
  memtier.pmem.dax_split:
    region: 0
    sizes: [1g, 1g]
    force: true  # dax0.0 had all of the region

- name: The second one as system RAM, online movable
  memtier.pmem.dax_reconfigure:
    device: dax0.1
    mode: system-ram

- name: One device over the whole region again (dax0.1 must be devdax, not online memory)
  memtier.pmem.dax_split:
    region: dax_region0
    sizes: [2g]
    force: true
'''

RETURN = r'''
region:
  description:
    - The dax region after the run.
    - In check mode, as it would be; the devices the run would resize or create are shown as it leaves them
      (V(devdax), enabled, no memory).
  returned: always
  type: dict
  contains:
    id:
      description: The region's id (the first number of its devices' names).
      type: int
    kind:
      description: V(hmem) (soft-reserved memory), V(cxl), V(pmem) or V(other), from the region's sysfs path.
      type: str
    path:
      description: The region's device path below C(/sys/devices), as C(daxctl list -R) prints it.
      type: str
    size:
      description: Size in bytes.
      type: int
    align:
      description: The alignment every device size must be a multiple of, in bytes.
      type: int
    available_size:
      description: Bytes no device holds.
      type: int
    devices:
      description:
        - The region's devices in order, empty ones (size 0) included (V(chardev), V(size), V(mode), V(state),
          V(target_node), V(online_memblocks), V(total_memblocks), V(movable)).
      type: list
      elements: dict
  sample:
    id: 0
    kind: cxl
    path: /platform/ACPI0017:00/root0/decoder0.0/region0/dax_region0
    size: 2147483648
    align: 2097152
    available_size: 0
    devices:
      - {chardev: dax0.0, size: 1073741824, mode: devdax, state: enabled, target_node: 1, online_memblocks: 0,
         total_memblocks: 0, movable: null}
      - {chardev: dax0.1, size: 1073741824, mode: devdax, state: enabled, target_node: 1, online_memblocks: 0,
         total_memblocks: 0, movable: null}
commands:
  description: The commands that ran (in check mode, that would run), in order.
  returned: always
  type: list
  elements: str
  sample: ["daxctl reconfigure-device --mode=devdax dax0.0", "daxctl disable-device dax0.0",
           "daxctl reconfigure-device --size=1073741824 dax0.0", "daxctl enable-device dax0.0",
           "daxctl create-device --region=0 --size=1073741824"]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.memtier.pmem.plugins.module_utils._module import converge, host_for
from ansible_collections.memtier.pmem.plugins.module_utils._pmem import BIN_DIR_OPTION, LOCK_OPTION, PmemError
from ansible_collections.memtier.pmem.plugins.module_utils._split import SplitHost, SplitTarget


def main():
    module = AnsibleModule(
        argument_spec=dict(
            region=dict(type='str', required=True),
            sizes=dict(type='list', elements='str', required=True),
            force=dict(type='bool', default=False),
            **dict(BIN_DIR_OPTION, **LOCK_OPTION)
        ),
        supports_check_mode=True,
    )
    try:
        target = SplitTarget(module.params)
    except PmemError as exc:
        module.fail_json(msg=exc.msg, **exc.details)

    def extra(host, after):
        found = target.warnings(host, after)
        return {'warnings': found} if found else {}

    converge(module, 'region', target, extra=extra, host=host_for(module, tools=('daxctl',), host_class=SplitHost))


if __name__ == '__main__':
    main()
