#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) memtier engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: pmem_namespace
short_description: Create, reconfigure and destroy persistent memory namespaces
version_added: 0.1.0
description:
  - Makes a namespace on a persistent memory region present or absent, found again on every run by its
    O(name) (stored in the namespace label) or its O(uuid).
  - A namespace that exists with other settings is recreated only with O(force=true), because that destroys its data.
  - A namespace is never destroyed while it is in use (its dax device in system-ram mode, its block device
    mounted, open or mapped, its dax device open or mapped); the module says what to do first.
  - With O(state=absent), the settings the task gives (O(region), O(size), O(mode), O(map), O(align)) must match
    the namespace found, or nothing is destroyed and the module says what it found.
  - O(name) and O(uuid) given together must name the same namespace; a name that another namespace already has
    with another uuid is refused, so that a name never names two namespaces.
  - With O(force=true), everything the new namespace needs (the alignment, the size, a free extent that will be
    contiguous once the old namespace is gone) is checked before the old one is destroyed.
  - A new NVDIMM whose label area was never initialised shows one label-less C(raw) namespace and no free space.
    Its labels are initialised only with O(init_labels=true). An NVDIMM without a label area cannot be
    sub-divided; its one namespace is converted whole with O(force=true) and no O(size).
author:
  - memtier engineers (@memtier)
extends_documentation_fragment:
  - memtier.pmem.attributes
  - memtier.pmem.attributes.bin_dir
  - memtier.pmem.attributes.lock
options:
  name:
    description:
      - The namespace's name, its stable identity (C(ndctl create-namespace --name)).
      - 1 to 63 letters, digits, V(.), V(_) or V(-).
      - One of O(name) and O(uuid) is required; with both, both must match.
    type: str
  uuid:
    description:
      - The namespace's uuid; set on creation when given (C(ndctl create-namespace --uuid)).
    type: str
  state:
    description:
      - V(present) creates the namespace (or recreates it with O(force=true) when its settings differ).
      - V(absent) destroys it, which destroys its data. A namespace in use is never destroyed.
    type: str
    choices: [present, absent]
    default: present
  region:
    description:
      - The region to create the namespace in, as V(region0) or V(0).
      - When omitted, the first region with enough free space is used.
    type: str
  size:
    description:
      - Size of the namespace, in bytes or with a binary unit (V(512m), V(12g), V(1t)).
      - Must be a multiple of the region's alignment (usually 16 MiB).
      - Omitted means all free space of the region, and an existing namespace of any size matches.
      - V(0) and the empty string are refused (C(ndctl) would read them as all free space); omit O(size) instead.
      - The usable size is smaller (C(map=dev) keeps its page structures in the namespace).
    type: str
  mode:
    description:
      - The namespace mode. V(devdax) gives a dax device that can become system RAM.
      - V(devdax) when omitted. With O(state=absent), a mode that is given must match the namespace's.
    type: str
    choices: [devdax, fsdax, sector, raw]
  map:
    description:
      - Where the page structures live for V(devdax) and V(fsdax) (C(ndctl --map)). Left to ndctl (V(dev)) when omitted.
    type: str
    choices: [dev, mem]
  align:
    description:
      - Mapping alignment of V(devdax) and V(fsdax) namespaces (V(4k), V(2m), V(1g)). Left to ndctl when omitted.
      - One of the alignments the region supports in that mode (C(supported_alignments) of its seed device).
    type: str
  force:
    description:
      - Allow destroying and recreating an existing namespace whose settings differ, and converting a
        label-less namespace whole. Both destroy data.
    type: bool
    default: false
  init_labels:
    description:
      - Initialise the label area of the NVDIMMs of O(region) when the region has no label index yet
        (a fresh NVDIMM). The region is disabled for a moment and its label-less namespace is discarded.
    type: bool
    default: false
seealso:
  - module: memtier.pmem.dax_reconfigure
  - module: memtier.pmem.pmem_info
  - name: ndctl-create-namespace(1)
    description: The command this module runs.
    link: https://docs.pmem.io/ndctl-user-guide/ndctl-man-pages/ndctl-create-namespace
'''

EXAMPLES = r'''
---
- name: Carve a 12 GiB devdax namespace out of region0
  memtier.pmem.pmem_namespace:
    name: pmem-ram
    region: region0
    size: 12g
    mode: devdax

- name: Initialise the labels of a brand-new NVDIMM and use all of its space
  memtier.pmem.pmem_namespace:
    name: pmem-ram
    region: region1
    init_labels: true

- name: Destroy the namespace (its dax device must be back in devdax mode)
  memtier.pmem.pmem_namespace:
    name: pmem-ram
    state: absent
'''

RETURN = r'''
namespace:
  description: The namespace after the run (in check mode, as it would be); null when absent.
  returned: always
  type: dict
  contains:
    dev:
      description: Kernel name, such as V(namespace0.0); not stable across creations.
      type: str
    region:
      description: The region, such as V(region0).
      type: str
    name:
      description: The name stored in the label.
      type: str
    uuid:
      description: The namespace uuid.
      type: str
    mode:
      description: V(devdax), V(fsdax), V(sector) or V(raw).
      type: str
    map:
      description: Where the page structures live (V(dev) or V(mem)).
      type: str
    size:
      description: Size allocated from the region, in bytes.
      type: int
    usable_size:
      description: Usable size in bytes as ndctl reports it.
      type: int
    align:
      description: Mapping alignment in bytes.
      type: int
    chardev:
      description: The dax device of a devdax namespace, such as V(dax0.0).
      type: str
    blockdev:
      description: The block device of an fsdax, sector or raw namespace, such as V(pmem0).
      type: str
    state:
      description: V(enabled) or V(disabled).
      type: str
    label_less:
      description: Whether this is a label-less namespace, which cannot be named or sub-divided.
      type: bool
  sample:
    dev: namespace0.0
    region: region0
    name: pmem-ram
    uuid: 3abbf199-c1d9-4a90-8243-ab5b15913e5b
    mode: devdax
    map: dev
    size: 1073741824
    usable_size: 1054867456
    align: 2097152
    chardev: dax0.0
    blockdev: null
    state: enabled
    label_less: false
commands:
  description: The commands that ran (in check mode, that would run), in order.
  returned: always
  type: list
  elements: str
  sample: ["ndctl create-namespace --region=region0 --mode=devdax --size=1073741824 --name=pmem-ram"]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.memtier.pmem.plugins.module_utils._module import converge
from ansible_collections.memtier.pmem.plugins.module_utils._pmem import BIN_DIR_OPTION, LOCK_OPTION, PmemError
from ansible_collections.memtier.pmem.plugins.module_utils._plan import NamespaceTarget


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str'),
            uuid=dict(type='str'),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            region=dict(type='str'),
            size=dict(type='str'),
            mode=dict(type='str', choices=['devdax', 'fsdax', 'sector', 'raw']),
            map=dict(type='str', choices=['dev', 'mem']),
            align=dict(type='str'),
            force=dict(type='bool', default=False),
            init_labels=dict(type='bool', default=False),
            **dict(BIN_DIR_OPTION, **LOCK_OPTION)
        ),
        required_one_of=[('name', 'uuid')],
        supports_check_mode=True,
    )
    try:
        target = NamespaceTarget(module.params)
    except PmemError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    converge(module, 'namespace', target)


if __name__ == '__main__':
    main()
