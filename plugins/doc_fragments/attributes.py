# -*- coding: utf-8 -*-
# Copyright (c) memtier engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    # Standard documentation fragment for the attributes of a module that changes the host.
    DOCUMENTATION = r'''
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: linux
requirements:
  - Linux 5.1 or later with the C(kmem) driver (5.3 or later to give memory back).
  - ndctl and daxctl v66 or later on the target host.
notes:
  - Runs C(ndctl) and C(daxctl) as argument lists in the C locale and reads C(/sys). Needs root, so use C(become=true).
  - Intel Optane persistent memory modules show no region until they are in App Direct mode; set that goal first
    (C(ipmctl create -goal PersistentMemoryType=AppDirect) and a reboot, or M(community.general.pmem)).
seealso:
  - module: community.general.pmem
    description: Sets the App Direct goal of Intel Optane modules, which makes the regions these modules use.
'''

    # The attributes alone, for a changing module whose requirements and notes are not ndctl's (cxl_region).
    # A literal, as ansible-test's yamllint reads fragments: keep it the first part of DOCUMENTATION.
    CHANGING = r'''
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: linux
'''

    # For read-only modules.
    INFO_MODULE = r'''
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: N/A
    details: This module never changes anything.
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: linux
requirements:
  - Linux; C(ndctl) and C(daxctl) for regions, namespaces and dax devices (without them those lists are empty and
    their versions null, and the rest is read from C(/sys) and C(/proc)).
notes:
  - Reads C(/sys), C(/proc) and the modprobe configuration, and runs C(ndctl list), C(daxctl list) and C(modprobe
    --show-depends). Needs root for the physical ranges and the processes of other users, so use C(become=true).
  - Intel Optane persistent memory modules show no region until they are in App Direct mode; set that goal first
    (C(ipmctl create -goal PersistentMemoryType=AppDirect) and a reboot, or M(community.general.pmem)).
seealso:
  - module: community.general.pmem
    description: Sets the App Direct goal of Intel Optane modules, which makes the regions this module reports.
'''

    # The option every module has (extends_documentation_fragment: memtier.pmem.attributes.bin_dir).
    BIN_DIR = r'''
options:
  bin_dir:
    description:
      - Directory that holds the C(ndctl) and C(daxctl) to run, for example V(/opt/ndctl/bin) for a build
        installed under a prefix (the C(system_ram) role's C(system_ram_ndctl_source) makes one).
      - When left out, the modules use the C(ndctl) and C(daxctl) found on the E(PATH) and in the sbin directories.
      - All modules of the collection take it, so one C(module_defaults) entry for C(group/memtier.pmem.pmem)
        points them all at the same build.
    type: path
'''

    # The host lock every changing module takes (extends_documentation_fragment: memtier.pmem.attributes.lock).
    LOCK = r'''
options:
  lock_timeout:
    description:
      - Seconds to wait for the host lock (C(/run/lock/memtier-pmem.lock)), which every changing module of the
        collection holds from its first look at the host to its last, so that two runs on one host (two playbooks,
        ad-hoc commands, async tasks) never act on the same state.
      - When another run still holds it after that time, the module fails, names the run that holds it and
        changes nothing. V(0) does not wait.
      - The lock is also taken in check mode, so that the prediction is made from a state no other run is changing.
    type: int
    default: 300
'''

    # The dax device the device modules act on (extends_documentation_fragment: memtier.pmem.attributes.device);
    # the defaults are _pmem.OFFLINE_TIMEOUT and _module.DEVICE_OPTIONS.
    DEVICE = r'''
options:
  device:
    description:
      - The dax device, such as V(dax0.0). Mutually exclusive with O(namespace).
    type: str
  namespace:
    description:
      - The name or uuid of the devdax namespace whose dax device to use (stable across reboots, unlike device
        names). Mutually exclusive with O(device).
    type: str
  timeout:
    description:
      - Seconds that taking the device's memory offline may take in all, including the block-by-block retry
        through sysfs after C(daxctl offline-memory) gives up. Then the module stops and reports the blocks still
        online.
    type: int
    default: 120
'''
