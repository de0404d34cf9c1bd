#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) memtier engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: pmem_info
short_description: Report persistent memory, dax devices, memory blocks and NUMA nodes
version_added: 0.1.0
description:
  - Returns, as data a playbook can assert on, what C(ndctl list), C(daxctl list), C(lsmem) and C(numactl -H) show -
    regions, namespaces, dax devices with their memory blocks and zones, the memory block size and the kernel's
    online policy, NUMA nodes with their memory and whether they have CPUs, and the kernel, ndctl and daxctl
    versions, whether C(kmem) is loaded and which dax device model is active.
  - Also what decides whether C(kmem) can be used now and at boot (built in, available, blocked by an C(install)
    rule, blacklisted) and which processes hold a dax or pmem device open or mapped.
  - On a host without C(ndctl) or C(daxctl) it still reports what sysfs shows, with their versions null and the
    lists they fill empty, so that a fleet report covers every host.
  - Also CXL memory (memdevs, root decoders, regions, with the C(cxl) tool found on the E(PATH)), soft-reserved
    ranges from C(/proc/iomem), the memory tiers and the tiering settings; on a host without the C(cxl) tool or
    without CXL devices those lists are empty.
  - Never changes anything and takes no lock.
author:
  - memtier engineers (@memtier)
extends_documentation_fragment:
  - memtier.pmem.attributes.info_module
  - memtier.pmem.attributes.bin_dir
options:
  build_prefix:
    description:
      - The prefix of an ndctl build that the C(memtier.pmem.system_ram) role installed (C(system_ram_ndctl_prefix),
        for example V(/opt/ndctl)). When it holds one (its C(.memtier-ndctl-version) stamp and C(bin/daxctl)) and
        O(bin_dir) is not given, the module reads the host with that build's ndctl and daxctl, as the role's other
        tasks do, and reports it in RV(ndctl_build).
    type: path
    version_added: 0.2.0
seealso:
  - module: memtier.pmem.pmem_namespace
  - module: memtier.pmem.dax_reconfigure
'''

EXAMPLES = r'''
---
- name: Read the PMem topology
  memtier.pmem.pmem_info:
  register: pmem

- name: Show how much memory each NUMA node has
  ansible.builtin.debug:
    msg: "{{ pmem.nodes | items2dict(key_name='node', value_name='memory_total') }}"
'''

RETURN = r'''
regions:
  description: Persistent memory regions (C(ndctl list -R)).
  returned: always
  type: list
  elements: dict
  sample: [{name: region0, id: 0, size: 4294705152, align: 16777216, available_size: 3204448256,
            max_available_extent: 3204448256, type: pmem, state: enabled}]
namespaces:
  description: Namespaces with their raw (V(size)) and usable sizes; same keys as in M(memtier.pmem.pmem_namespace).
  returned: always
  type: list
  elements: dict
dax_devices:
  description:
    - Dax devices with their mode, target node and memory blocks; the keys of M(memtier.pmem.dax_reconfigure)'s
      C(device), and C(address), where the device's memory starts (hex; how
      M(memtier.pmem.system_ram_devices) finds memory the firmware exposes; null when sysfs does not say).
  returned: always
  type: list
  elements: dict
memory:
  description: Memory hotplug facts from C(/sys/devices/system/memory).
  returned: always
  type: dict
  contains:
    block_size:
      description: Memory block size in bytes.
      type: int
    auto_online_blocks:
      description: What the kernel does with hot-added memory (V(offline), V(online), V(online_movable), V(online_kernel)).
      type: str
    online_bytes:
      description: All online memory, as C(lsmem) totals it.
      type: int
    offline_bytes:
      description: All offline memory.
      type: int
  sample: {block_size: 134217728, auto_online_blocks: offline, online_bytes: 3087007744, offline_bytes: 0}
nodes:
  description: Online NUMA nodes with their memory and whether they have CPUs (C(numactl -H)).
  returned: always
  type: list
  elements: dict
  sample: [{node: 0, has_cpus: true, memory_total: 1992294400, memory_free: 1828716544},
           {node: 1, has_cpus: false, memory_total: 939524096, memory_free: 920649728}]
kernel:
  description: The running kernel release.
  returned: always
  type: str
  sample: 6.1.0-41-amd64
ndctl_version:
  description: C(ndctl --version), or null when ndctl is not installed (the module still reports what sysfs shows).
  returned: always
  type: str
  sample: '76.1'
daxctl_version:
  description: C(daxctl --version), or null when daxctl is not installed (the module still reports what sysfs shows).
  returned: always
  type: str
  sample: '76.1'
kmem_loaded:
  description: Whether the C(kmem) driver is loaded.
  returned: always
  type: bool
device_model:
  description: V(bus), or V(dax-class) while the old compat driver (C(dax_pmem_compat)) is bound.
  returned: always
  type: str
  sample: bus
kmem:
  description: What decides whether the C(kmem) driver can be used now and after a reboot.
  returned: always
  type: dict
  contains:
    loaded:
      description: Whether its driver is registered on the dax bus (loaded, or built into the kernel).
      type: bool
    builtin:
      description: Whether it is built into the kernel (C(modules.builtin)).
      type: bool
    module_available:
      description: Whether C(modprobe) can find it (or it is loaded or built in).
      type: bool
    install_rule:
      description: "The last C(install kmem) line of C(/etc/modprobe.d) and the other modprobe directories, as V(file:line: text)."
      type: str
    blacklisted:
      description: "The C(blacklist kmem) lines (and C(modprobe.blacklist) on the kernel command line), as V(file:line: text)."
      type: list
      elements: str
    problem:
      description: Null when C(kmem) can be used now and at boot, else a sentence with the cause, the file and line, and the fix.
      type: str
  sample:
    loaded: false
    builtin: false
    module_available: true
    install_rule: null
    blacklisted: ['/etc/modprobe.d/local.conf:3: blacklist kmem']
    problem: 'the kmem kernel module is blacklisted (/etc/modprobe.d/local.conf:3: blacklist kmem): systemd-modules-load
      and daxctl will not load it at boot, so the memory would not come back; remove that line, then run again'
tools:
  description:
    - The C(ndctl) and C(daxctl) the modules run (from O(bin_dir), a build under O(build_prefix), or the E(PATH)), and
      C(numactl) and C(cxl) (E(PATH)); null when missing.
  returned: always
  type: dict
  sample: {ndctl: /usr/bin/ndctl, daxctl: /usr/bin/daxctl, numactl: /usr/bin/numactl, cxl: null}
ndctl_build:
  description:
    - With O(build_prefix), the ndctl build under it - the version its stamp records (null without a stamp) and its
      C(bin) directory when it has a daxctl there (null otherwise; the module then ran the build from it). Null
      without O(build_prefix).
  returned: always
  type: dict
  sample: {prefix: /opt/ndctl, version: '81', bin_dir: /opt/ndctl/bin}
  version_added: 0.2.0
python:
  description: The Python interpreter the module ran under on the host (the system_ram role's boot helper runs under it).
  returned: always
  type: str
  sample: /usr/bin/python3
  version_added: 0.2.0
boot:
  description: What brings memory online behind daxctl's back, and what daxctl's own boot path needs.
  returned: always
  type: dict
  contains:
    onliner_rules:
      description:
        - The distribution's udev rules (C(/usr/lib/udev/rules.d), C(/lib/udev/rules.d)) that online hot-added memory
          themselves, which puts it in the kernel's zone instead of the one asked for (for example C(40-vm-hotadd.rules)).
      type: list
      elements: str
    overridden:
      description: Those of O(ignore:onliner_rules) that a file of the same name in C(/etc/udev/rules.d) replaces.
      type: list
      elements: str
    onliners:
      description:
        - The same rules as O(ignore:onliner_rules), each with its V(path) and V(override), who replaces it in
          C(/etc/udev/rules.d) - V(role) (the override the C(memtier.pmem.system_ram) role writes, without the
          memory onlining lines), V(host) (a file of the host's own), or null (nobody; the rule applies).
      type: list
      elements: dict
      version_added: 0.2.0
    local_onliner_rules:
      description: The files in C(/etc/udev/rules.d), other than the role's overrides, that online hot-added memory.
      type: list
      elements: str
      version_added: 0.2.0
    role_overrides:
      description: The files in C(/etc/udev/rules.d) that the C(memtier.pmem.system_ram) role wrote (its marker line).
      type: list
      elements: str
      version_added: 0.2.0
    offline_policy_unit:
      description:
        - Whether C(/etc/systemd/system/memtier-memhp-offline.service) is installed, the unit by which the
          C(memtier.pmem.system_ram) role keeps hot-added memory offline at boot.
      type: bool
      version_added: 0.2.0
    daxctl_udev_rule:
      description:
        - V(ok) when the distribution's C(90-daxctl-device.rules) starts C(daxdev-reconfigure@.service), V(broken)
          when it does something else (Debian 12's runs C(daxctl -C)), V(missing) when there is none.
      type: str
    daxctl_unit:
      description: Whether the distribution ships C(daxdev-reconfigure@.service).
      type: bool
    daxctl_config:
      description: The files in C(/etc/daxctl.conf.d), which daxctl applies to new dax devices at boot.
      type: list
      elements: str
  sample:
    onliner_rules: []
    overridden: []
    onliners: []
    local_onliner_rules: []
    role_overrides: []
    offline_policy_unit: false
    daxctl_udev_rule: broken
    daxctl_unit: false
    daxctl_config: [daxctl.example.conf]
cxl_version:
  description: The C(cxl) tool's version, null when it is not installed.
  returned: always
  type: str
  version_added: 0.2.0
  sample: '81'
cxl_memdevs:
  description: CXL memory devices (C(cxl list -M)); empty without the C(cxl) tool or CXL devices.
  returned: always
  type: list
  elements: dict
  version_added: 0.2.0
  contains:
    memdev:
      description: The kernel's name, such as V(mem0).
      type: str
    serial:
      description: The device's serial number (QEMU's emulated devices all have 0).
      type: int
    ram_size:
      description: Volatile capacity in bytes.
      type: int
    pmem_size:
      description: Persistent capacity in bytes.
      type: int
    host:
      description: The PCI device, such as V(0000:0d:00.0).
      type: str
    host_bridge:
      description: The CXL host bridge above it, such as V(pci0000:0c).
      type: str
  sample: [{memdev: mem0, serial: 0, ram_size: 1073741824, pmem_size: 0, host: '0000:0d:00.0', host_bridge: 'pci0000:0c'}]
cxl_root_decoders:
  description: CXL root decoders, the platform's fixed memory windows (C(cxl list -D -d root)).
  returned: always
  type: list
  elements: dict
  version_added: 0.2.0
  contains:
    decoder:
      description: Its name, such as V(decoder0.0).
      type: str
    resource:
      description: Physical start address of the window.
      type: int
    size:
      description: Size of the window in bytes.
      type: int
    max_available_extent:
      description: The largest free extent in bytes, the largest region it can still hold.
      type: int
    volatile_capable:
      description: Whether it can hold RAM regions.
      type: bool
    pmem_capable:
      description: Whether it can hold persistent memory regions.
      type: bool
    interleave_ways:
      description: Number of host bridges it interleaves.
      type: int
    interleave_granularity:
      description: Its interleave granularity in bytes, the default of regions made in it.
      type: int
    memdevs:
      description: The memdevs it reaches (C(cxl list -M -d DECODER)).
      type: list
      elements: str
  sample: [{decoder: decoder0.0, resource: 9932111872, size: 4294967296, max_available_extent: 4294967296,
            volatile_capable: true, pmem_capable: true, interleave_ways: 1, interleave_granularity: 256,
            memdevs: [mem0, mem1]}]
cxl_regions:
  description: CXL regions (C(cxl list -R -T)) with their dax devices; the same keys as RV(memtier.pmem.cxl_region#module:region).
  returned: always
  type: list
  elements: dict
  version_added: 0.2.0
  sample: [{region: region0, type: ram, size: 2147483648, resource: 9932111872, interleave_ways: 2,
            interleave_granularity: 256, decode_state: commit, memdevs: [mem0, mem1], root_decoder: decoder0.0,
            dax_devices: [{chardev: dax0.0, size: 2147483648, mode: system-ram, target_node: 1,
                           online_memblocks: 16, total_memblocks: 16, movable: true}]}]
soft_reserved:
  description:
    - The V(Soft Reserved) ranges of C(/proc/iomem), memory the firmware set aside for a specific purpose
      (EFI_MEMORY_SP), with what claims each (such as V(dax0.0), or V(System RAM (kmem))).
    - The addresses read 0 without root.
  returned: always
  type: list
  elements: dict
  version_added: 0.2.0
  sample: [{start: 4294967296, end: 12884901887, size: 8589934592, claimed_by: [dax0.0]}]
memory_tiers:
  description: The kernel's memory tiers (C(/sys/devices/virtual/memory_tiering)), lower numbers faster, with their nodes.
  returned: always
  type: list
  elements: dict
  version_added: 0.2.0
  sample: [{tier: 4, nodelist: '0', nodes: [0]}, {tier: 22, nodelist: '1', nodes: [1]}]
tiering:
  description: The tiering settings; each null when the kernel has no such file.
  returned: always
  type: dict
  version_added: 0.2.0
  contains:
    demotion_enabled:
      description: C(/sys/kernel/mm/numa/demotion_enabled).
      type: bool
    numa_balancing:
      description: C(kernel.numa_balancing) (V(2) is memory tiering mode).
      type: int
    promote_rate_limit_mbps:
      description: C(kernel.numa_balancing_promote_rate_limit_MBps).
      type: int
  sample: {demotion_enabled: false, numa_balancing: 0, promote_rate_limit_mbps: 65536}
holders:
  description:
    - The processes that hold a dax or pmem device node open (C(/proc/PID/fd)) or mapped (C(/proc/PID/maps)),
      by device node. A mapping outlives the descriptor it was made from, so both are read.
  returned: always
  type: dict
  sample: {dax0.0: [{pid: 812, comm: python3, how: mapped}]}
'''

import sys

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.memtier.pmem.plugins.module_utils._cxl import CxlHost, cxl_facts
from ansible_collections.memtier.pmem.plugins.module_utils._module import host_for
from ansible_collections.memtier.pmem.plugins.module_utils._pmem import BIN_DIR_OPTION, PmemError, facts


def main():
    module = AnsibleModule(argument_spec=dict(build_prefix=dict(type='path'), **BIN_DIR_OPTION),
                           supports_check_mode=True)
    try:
        host = host_for(module, require_tools=False, host_class=CxlHost)
        build = None
        if module.params['build_prefix']:
            build = host.ndctl_build(module.params['build_prefix'].rstrip('/') or '/')
            if build['bin_dir'] and not module.params['bin_dir']:
                module.params['bin_dir'] = build['bin_dir']  # read the host with the build, as the role runs it
                host = host_for(module, require_tools=False, host_class=CxlHost)
        result = facts(host)
        result.update(cxl_facts(host))
    except PmemError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    module.exit_json(changed=False, ndctl_build=build, python=sys.executable, **result)


if __name__ == '__main__':
    main()
