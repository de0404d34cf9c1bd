#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) memtier engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: system_ram_boot
short_description: What brings system RAM devices back at boot, and what they need now, in one call
version_added: 0.2.0
description:
  - Converges the host's boot configuration for persistent memory used as system RAM, the way the
    C(memtier.pmem.system_ram) role needs it, in one run - every file it manages is compared with what it
    should be and only those that differ are written, removed or linked; systemd and udev are reloaded only
    when one of their files changed.
  - With O(kmem=true), the kmem driver is loaded now and at boot (C(/etc/modules-load.d/memtier-kmem.conf)).
  - With O(keep_offline=true) and a kernel that onlines hot-added memory by itself (C(auto_online_blocks) not
    V(offline), for example Debian 13), the policy is set to V(offline) now and by a unit early at boot, so that
    daxctl onlines the memory in the zone asked for. A unit installed by an earlier run is kept up to date.
  - With O(override_onliners=true), each udev rule of the distribution that onlines hot-added memory is
    overridden in C(/etc/udev/rules.d) by a copy with only its memory onlining rules turned off (rules the host
    overrides itself are left alone); with O(restore_onliners=true) those overrides are removed once no dax device
    is in system-ram mode.
  - Each device of O(devices) comes back at boot as online system RAM in its zone. A PMem namespace (by name) - with
    daxctl v72 and later through daxctl's own configuration (C(/etc/daxctl.conf.d/memtier-NAME.conf), plus the
    udev rule and C(daxdev-reconfigure@.service) daxctl needs when the distribution's are missing or broken, as
    on Debian 12); before v72 (Debian 11) through a oneshot unit per namespace uuid (C(memtier-system-ram@UUID))
    that runs a small helper under the Python this module ran under.
  - A CXL region (O(devices[].cxl_memdevs)) and memory the firmware exposes (O(devices[].address)) through the same
    helper, one unit per device name (C(memtier-system-ram@NAME), settings in C(/etc/memtier-pmem/NAME.env)). A CXL
    region that Linux created does not survive a reboot - the helper creates it again over the memdevs of the same
    serial numbers (names change between boots; a memdev without a serial number is refused), waits for its dax
    device and onlines it; for firmware memory it waits for the dax device that starts at the address.
  - The boot configuration of each device with O(devices[].state=absent) is removed.
  - A device whose namespace or CXL region does not exist yet (check mode, or before
    M(memtier.pmem.system_ram_devices) made it) is left out and named in RV(waiting); run the module again once it
    exists. A CXL region's memdevs and their serial numbers are checked all the same. Firmware memory
    (O(devices[].address)) at an address where no dax device starts is refused.
  - Files written by earlier versions of the role under the same names are recognised and rewritten, not duplicated.
author:
  - memtier engineers (@memtier)
extends_documentation_fragment:
  - memtier.pmem.attributes
  - memtier.pmem.attributes.bin_dir
  - memtier.pmem.attributes.lock
options:
  devices:
    description:
      - The devices - the same list as M(memtier.pmem.system_ram_devices) takes, checked by the same rules (its
        keys O(devices[].region), O(devices[].map), O(devices[].align) and O(devices[].force) are accepted and not
        used here).
      - A device with O(devices[].state=present) is brought back at boot; one with O(devices[].state=absent) loses
        its boot configuration.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The device's name (for a PMem namespace, its name).
        type: str
        required: true
      cxl_memdevs:
        description: A CXL RAM region over these memdevs (serial numbers or V(memN) names, resolved to serials now).
        type: list
        elements: str
      address:
        description: Memory the firmware exposes, by the physical address where its dax device starts.
        type: str
      movable:
        description: Online the memory in ZONE_MOVABLE (V(true)) or ZONE_NORMAL (V(false)) at boot.
        type: bool
        default: true
      state:
        description: V(present) brings the device back at boot, V(absent) removes its boot configuration.
        type: str
        choices: [present, absent]
        default: present
      region:
        description: Not used here (see M(memtier.pmem.system_ram_devices)).
        type: str
      size:
        description: For a CXL region, its size (created again with it); not used for a namespace.
        type: str
      force:
        description: Not used here.
        type: bool
        default: false
      map:
        description: Not used here.
        type: str
      align:
        description: Not used here.
        type: str
  kmem:
    description: Load the kmem driver now and at boot.
    type: bool
    default: false
  keep_offline:
    description: Keep hot-added memory offline now and at boot when the kernel's policy would online it.
    type: bool
    default: false
  override_onliners:
    description: Override the distribution's udev rules that online hot-added memory.
    type: bool
    default: false
  restore_onliners:
    description: Remove those overrides when no dax device is in system-ram mode.
    type: bool
    default: false
  tiering:
    description:
      - V(true) makes the new memory a slow memory tier, now and at boot - demotion on
        (C(/sys/kernel/mm/numa/demotion_enabled), through C(/etc/tmpfiles.d/memtier-tiering.conf)) and NUMA balancing
        in memory tiering mode (C(kernel.numa_balancing=2), through C(/etc/sysctl.d/60-memtier-tiering.conf)), which
        promotes hot pages back to DRAM. Refused, before any change, on a kernel without them (demotion needs Linux
        5.15).
      - V(false) removes those two files (the live settings stay until the next boot); null leaves them alone.
    type: bool
  promote_rate_limit_mbps:
    description:
      - With O(tiering=true), the most MB/s NUMA balancing promotes (C(kernel.numa_balancing_promote_rate_limit_MBps),
        Linux 6.1 and later); the kernel's default (65536) when left out.
    type: int
  boot_wait:
    description: Seconds the boot helper (daxctl before v72) waits for a namespace's dax device at boot.
    type: int
    default: 120
seealso:
  - module: memtier.pmem.system_ram_devices
  - module: memtier.pmem.pmem_info
'''

EXAMPLES = r'''
---
- name: Bring pmem-ram0 back at boot in ZONE_MOVABLE, with kmem and hot-added memory kept offline
  memtier.pmem.system_ram_boot:
    kmem: true
    keep_offline: true
    override_onliners: true
    devices:
      - {name: pmem-ram0}

- name: Forget pmem-ram1 (given back)
  memtier.pmem.system_ram_boot:
    devices:
      - {name: pmem-ram1, state: absent}
'''

RETURN = r'''
boot:
  description: The files the run manages (path to text; a symbolic link as C(-> target); null when absent) and
    the two live settings, after the run (in check mode, as they would be).
  returned: always
  type: dict
  contains:
    files:
      description: Path to content.
      type: dict
    kmem_loaded:
      description: Whether the kmem driver is loaded.
      type: bool
    auto_online_blocks:
      description: The kernel's policy for hot-added memory.
      type: str
    tiering:
      description: With O(tiering=true), the live tiering settings (path to value).
      type: dict
  sample:
    files:
      /etc/modules-load.d/memtier-kmem.conf: "# Managed by memtier.pmem.system_ram: ...\nkmem\n"
      /etc/daxctl.conf.d/memtier-pmem-ram0.conf: "...[reconfigure-device pmem-ram0]\n..."
    kmem_loaded: true
    auto_online_blocks: offline
waiting:
  description: Devices left out because their namespace or CXL region does not exist (yet).
  returned: always
  type: list
  elements: str
commands:
  description: What ran (in check mode, what would run), in order.
  returned: always
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.memtier.pmem.plugins.module_utils._boot import BootTarget
from ansible_collections.memtier.pmem.plugins.module_utils._cxl import CxlHost
from ansible_collections.memtier.pmem.plugins.module_utils._module import converge, host_for
from ansible_collections.memtier.pmem.plugins.module_utils._pmem import BIN_DIR_OPTION, LOCK_OPTION, PmemError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            devices=dict(type='list', elements='dict', default=[], options=dict(
                name=dict(type='str', required=True),
                cxl_memdevs=dict(type='list', elements='str'),
                address=dict(type='str'),
                force=dict(type='bool', default=False),
                movable=dict(type='bool', default=True),
                state=dict(type='str', default='present', choices=['present', 'absent']),
                region=dict(type='str'), size=dict(type='str'), map=dict(type='str'), align=dict(type='str'),
            )),
            kmem=dict(type='bool', default=False),
            keep_offline=dict(type='bool', default=False),
            override_onliners=dict(type='bool', default=False),
            restore_onliners=dict(type='bool', default=False),
            tiering=dict(type='bool'),
            promote_rate_limit_mbps=dict(type='int'),
            boot_wait=dict(type='int', default=120),
            **dict(BIN_DIR_OPTION, **LOCK_OPTION)
        ),
        supports_check_mode=True,
    )
    try:
        target = BootTarget(module.params)
    except PmemError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    converge(module, 'boot', target, extra=target.extra, host=host_for(module, host_class=CxlHost))


if __name__ == '__main__':
    main()
