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
short_description: A host's whole list of persistent memory devices as system RAM, in one call
version_added: 0.1.0
description:
  - Converges every device of O(devices) in one run, the way the seed's commands do one by one - a devdax
    namespace (C(ndctl create-namespace)), its dax device in system-ram mode (C(daxctl reconfigure-device
    --no-online)) and its memory online in the zone asked for (C(daxctl online-memory)) - or, with
    O(devices[].state=absent) and O(allow_release=true), gives a device back (offline, devdax, namespace destroyed).
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
      - The devices, each identified by the name of its namespace (stored in the namespace label).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Namespace name, 1 to 63 letters, digits, V(.), V(_) or V(-).
        type: str
        required: true
      region:
        description: The region to create the namespace in (V(region0) or V(0)); the first that fits when omitted.
        type: str
      size:
        description: Namespace size (V(12g), V(512m)); all free space of the region when omitted; never V(0).
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
      state:
        description:
          - V(present) provides the device as online system RAM; V(absent) gives it back and destroys the namespace
            (needs O(allow_release=true)).
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
        and its data are destroyed. When false, such a device whose namespace exists makes the module fail before
        it changes anything.
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
      description: The namespace name.
      type: str
    state:
      description: The state asked for.
      type: str
    namespace:
      description: The namespace, with the keys M(memtier.pmem.pmem_namespace) returns; null when absent.
      type: dict
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

from ansible_collections.memtier.pmem.plugins.module_utils._devices import DevicesTarget
from ansible_collections.memtier.pmem.plugins.module_utils._module import converge
from ansible_collections.memtier.pmem.plugins.module_utils._pmem import BIN_DIR_OPTION, LOCK_OPTION, TIMEOUT_OPTION, PmemError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            devices=dict(type='list', elements='dict', required=True, options=dict(
                name=dict(type='str', required=True),
                region=dict(type='str'),
                size=dict(type='str'),
                map=dict(type='str', choices=['dev', 'mem']),
                align=dict(type='str'),
                movable=dict(type='bool', default=True),
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
    converge(module, 'devices', target)


if __name__ == '__main__':
    main()
