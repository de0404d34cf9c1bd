# -*- coding: utf-8 -*-
# Copyright (c) memtier engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# This is a private module_utils file of memtier.pmem: it is not part of the collection's
# public API and may change at any time.
"""CXL memory: the host model (memdevs, root decoders, regions and their dax devices, read from
``cxl list``, ``daxctl list`` and sysfs through the same runner seam as _pmem), soft-reserved
ranges and memory tiers for pmem_info, and the cxl_region planner.

A CXL RAM region is found by its member memory devices (the kernel's region names are not stable
across reboots). Since Linux 6.3 a new RAM region's dax device binds to kmem by itself; whether its
memory is then onlined, and into which zone, is the kernel's auto-online policy, so the planner reads
the dax device's state rather than assuming it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.memtier.pmem.plugins.module_utils._pmem import (
    DEMOTION, NUMA_BALANCING, OFFLINE_TIMEOUT, PROMOTE_RATE, Host, PmemError, _int, human_size, parse_json_list,
    parse_size,
)
from ansible_collections.memtier.pmem.plugins.module_utils._plan import Action, Target, describe_holders

CXL_TOOLS = ('cxl', 'daxctl')
SYS_CXL = '/sys/bus/cxl/devices'
SYS_TIERS = '/sys/devices/virtual/memory_tiering'
IOMEM = '/proc/iomem'

MEMDEV_RE = re.compile(r'^mem\d+\Z')
SERIAL_RE = re.compile(r'^(?:0x[0-9a-fA-F]+|\d+)\Z')
DECODER_RE = re.compile(r'^decoder\d+\.\d+\Z')
HOST_BRIDGE_RE = re.compile(r'^pci[0-9a-fA-F]{4}:[0-9a-fA-F]{2}\Z')
# An HDM decoder maps whole 256 MiB units of each device.
CXL_UNIT = 256 << 20
GRANULARITIES = tuple(256 << i for i in range(7))  # 256 .. 16384 bytes
REGION_TYPES = {'ram': 'volatile_capable', 'pmem': 'pmem_capable'}


class Memdev:
    def __init__(self, data, host_bridge=None):
        self.name = data['memdev']
        self.serial = _int(data.get('serial'))
        self.ram_size = _int(data.get('ram_size'), 0)
        self.pmem_size = _int(data.get('pmem_size'), 0)
        self.host = data.get('host')
        self.numa_node = data.get('numa_node')
        self.host_bridge = host_bridge

    def capacity(self, kind):
        return self.ram_size if kind == 'ram' else self.pmem_size

    def to_dict(self):
        return {'memdev': self.name, 'serial': self.serial, 'ram_size': self.ram_size,
                'pmem_size': self.pmem_size, 'host': self.host, 'host_bridge': self.host_bridge}


class RootDecoder:
    def __init__(self, data, granularity=None, memdevs=None):
        self.name = data['decoder']
        self.resource = _int(data.get('resource'))
        self.size = _int(data.get('size'), 0)
        self.max_available_extent = _int(data.get('max_available_extent'), 0)
        self.volatile_capable = bool(data.get('volatile_capable'))
        self.pmem_capable = bool(data.get('pmem_capable'))
        self.interleave_ways = _int(data.get('interleave_ways'), 1)
        self.interleave_granularity = _int(data.get('interleave_granularity'), granularity)
        self.memdevs = list(memdevs or [])

    def capable(self, kind):
        return getattr(self, REGION_TYPES[kind])

    def to_dict(self):
        return {'decoder': self.name, 'resource': self.resource, 'size': self.size,
                'max_available_extent': self.max_available_extent, 'volatile_capable': self.volatile_capable,
                'pmem_capable': self.pmem_capable, 'interleave_ways': self.interleave_ways,
                'interleave_granularity': self.interleave_granularity, 'memdevs': self.memdevs}


class CxlRegion:
    def __init__(self, data, root_decoder=None, dax_devices=None):
        self.name = data['region']
        self.resource = _int(data.get('resource'))
        self.size = _int(data.get('size'), 0)
        self.type = data.get('type')
        self.interleave_ways = _int(data.get('interleave_ways'), 0)
        self.interleave_granularity = _int(data.get('interleave_granularity'))
        self.decode_state = data.get('decode_state')
        mappings = sorted(data.get('mappings') or [], key=lambda m: _int(m.get('position'), 0))
        self.memdevs = [m.get('memdev') for m in mappings]
        self.root_decoder = root_decoder
        self.dax_devices = dax_devices or []

    def online_devices(self):
        return [dev for dev in self.dax_devices if dev.mode == 'system-ram' and dev.online_memblocks]

    def to_dict(self):
        return {'region': self.name, 'type': self.type, 'size': self.size, 'resource': self.resource,
                'interleave_ways': self.interleave_ways, 'interleave_granularity': self.interleave_granularity,
                'decode_state': self.decode_state, 'memdevs': list(self.memdevs), 'root_decoder': self.root_decoder,
                'dax_devices': [_dax_summary(dev) for dev in self.dax_devices]}


def _dax_summary(dev):
    return {'chardev': dev.dev, 'size': dev.size, 'mode': dev.mode, 'target_node': dev.target_node,
            'online_memblocks': dev.online_memblocks, 'total_memblocks': dev.total_memblocks,
            'movable': dev.movable}


def _items(argv, rc, out, err, key):
    """cxl list prints nothing (and a warning on stderr) when nothing matches."""
    if rc == 0 and not (out or '').strip():
        return []
    return parse_json_list(argv, rc, out, err, key)


class CxlHost(Host):
    """The PMem Host (dax devices, memory blocks, nodes) and the CXL topology, read lazily, each once."""

    def cxl(self, args, key):
        argv = ['cxl'] + list(args)
        if not self.runner.tool_path('cxl'):
            return []  # pmem_info on a host without the cxl tool
        rc, out, err = self.runner.run(argv)
        return _items(argv, rc, out, err, key)

    @property
    def memdevs(self):
        def load():
            devs = []
            for item in self.cxl(['list', '-M'], 'memdev'):
                devs.append(Memdev(item, self._host_bridge(item['memdev'])))
            return sorted(devs, key=lambda dev: _int(dev.name[3:], 0))
        return self._cached('cxl_memdevs', load)

    def _host_bridge(self, name):
        """The host bridge above a memdev, from its sysfs path (.../pci0000:0c/0000:0c:00.0/.../memN)."""
        link = self.runner.readlink('%s/%s' % (SYS_CXL, name)) or ''
        for part in link.split('/'):
            if HOST_BRIDGE_RE.match(part):
                return part
        return None

    @property
    def root_decoders(self):
        def load():
            decoders = []
            for item in self.cxl(['list', '-D', '-d', 'root'], 'decoder'):
                name = item['decoder']
                granularity = _int(self.text('%s/%s/interleave_granularity' % (SYS_CXL, name), '') or None)
                reach = [m['memdev'] for m in self.cxl(['list', '-M', '-d', name], 'memdev')]
                decoders.append(RootDecoder(item, granularity, reach))
            return decoders
        return self._cached('cxl_root_decoders', load)

    def root_decoder(self, name):
        for decoder in self.root_decoders:
            if decoder.name == name:
                return decoder
        return None

    @property
    def cxl_regions(self):
        def load():
            items = self.cxl(['list', '-R', '-T'], 'region')
            by_region = self._dax_by_region() if items else {}
            regions = []
            for item in items:
                name = item['region']
                link = self.runner.readlink('%s/%s' % (SYS_CXL, name)) or ''
                parent = [part for part in link.split('/') if DECODER_RE.match(part)]
                regions.append(CxlRegion(item, parent[-1] if parent else None, by_region.get(name, [])))
            return sorted(regions, key=lambda region: _int(region.name[6:], 0))
        return self._cached('cxl_regions', load)

    def _dax_by_region(self):
        """CXL region name -> its dax devices, from daxctl's dax regions (whose path names the CXL region)."""
        if not self.runner.tool_path('daxctl'):
            return {}
        argv = ['daxctl', 'list', '--regions', '--idle']
        rc, out, err = self.runner.run(argv)
        found = {}
        for item in _items(argv, rc, out, err, 'path'):
            match = re.search(r'/(region\d+)/dax_region\d+$', item.get('path') or '')
            if match:
                found[_int(item.get('id'))] = match.group(1)
        result = {}
        for dev in self.dax_devices:
            if dev.region in found:
                result.setdefault(found[dev.region], []).append(dev)
        return result

    # -- beyond CXL: soft-reserved ranges, memory tiers ----------------------------------------

    def soft_reserved(self):
        """The "Soft Reserved" ranges of /proc/iomem (zeros without root), with what claims each."""
        ranges = []
        lines = (self.runner.read(IOMEM) or '').splitlines()
        for index, line in enumerate(lines):
            match = re.match(r'^(\s*)([0-9a-fA-F]+)-([0-9a-fA-F]+) : Soft Reserved\s*$', line)
            if not match:
                continue
            depth = len(match.group(1))
            start, end = int(match.group(2), 16), int(match.group(3), 16)
            children = []
            for child in lines[index + 1:]:
                inner = re.match(r'^(\s*)[0-9a-fA-F]+-[0-9a-fA-F]+ : (.*)$', child)
                if not inner or len(inner.group(1)) <= depth:
                    break
                children.append(inner.group(2).strip())
            ranges.append({'start': start, 'end': end, 'size': end - start + 1 if end else 0, 'claimed_by': children})
        return ranges

    def memory_tiers(self):
        tiers = []
        for entry in self.runner.listdir(SYS_TIERS) or []:
            match = re.match(r'^memory_tier(\d+)$', entry)
            if match:
                nodes = self.text('%s/%s/nodelist' % (SYS_TIERS, entry))
                tiers.append({'tier': int(match.group(1)), 'nodelist': nodes, 'nodes': _expand(nodes)})
        return sorted(tiers, key=lambda tier: tier['tier'])

    def tiering(self):
        demotion = self.text(DEMOTION, '') or None
        return {'demotion_enabled': None if demotion is None else demotion in ('true', '1', 'Y'),
                'numa_balancing': _int(self.text(NUMA_BALANCING, '') or None),
                'promote_rate_limit_mbps': _int(self.text(PROMOTE_RATE, '') or None)}


def _expand(text):
    nodes = []
    for part in (text or '').split(','):
        part = part.strip()
        if '-' in part:
            low, high = part.split('-', 1)
            nodes.extend(range(int(low), int(high) + 1))
        elif part.isdigit():
            nodes.append(int(part))
    return nodes


def cxl_facts(host):
    """What pmem_info reports of CXL, soft-reserved memory and memory tiers; empty lists, never an
    error, on a host without the cxl tool or without CXL devices."""
    return {
        'cxl_version': host.tool_version('cxl') if host.runner.tool_path('cxl') else None,
        'cxl_memdevs': [dev.to_dict() for dev in host.memdevs],
        'cxl_root_decoders': [decoder.to_dict() for decoder in host.root_decoders],
        'cxl_regions': [region.to_dict() for region in host.cxl_regions],
        'soft_reserved': host.soft_reserved(),
        'memory_tiers': host.memory_tiers(),
        'tiering': host.tiering(),
    }


# ---------------------------------------------------------------------------------------------
# cxl_region: what the task asks for, the plan, the prediction
# ---------------------------------------------------------------------------------------------

def normalize_region_params(params):
    """Every input checked before anything is read."""
    memdevs = params.get('memdevs') or []
    if not memdevs:
        raise PmemError("memdevs: give at least one CXL memory device, by name (mem0) or serial number "
                        "(see memtier.pmem.pmem_info or 'cxl list -M')")
    names = []
    for value in memdevs:
        text = str(value).strip()
        if not (MEMDEV_RE.match(text) or SERIAL_RE.match(text)):
            raise PmemError("memdevs: %r is neither a memdev name such as 'mem0' nor a serial number "
                            "(decimal or 0x hex; see 'cxl list -M')" % (value,))
        names.append(text)
    if len(set(names)) != len(names):
        raise PmemError('memdevs: %s names a device twice; give each memory device once' % ', '.join(names))
    want = {'memdevs': names, 'state': params.get('state') or 'present', 'type': params.get('type') or 'ram',
            'force': bool(params.get('force')), 'timeout': params.get('timeout', OFFLINE_TIMEOUT)}
    want['size'] = parse_size(params['size']) if params.get('size') is not None else None
    if want['size'] is not None and want['size'] % (CXL_UNIT * len(names)):
        raise PmemError('size=%s is not a multiple of %s (256 MiB on each of the %d memdevs); use a multiple of it '
                        'or omit size for all the capacity' % (params['size'], human_size(CXL_UNIT * len(names)), len(names)))
    granularity = params.get('interleave_granularity')
    if granularity is not None:
        granularity = parse_size(granularity, 'interleave_granularity')
        if granularity not in GRANULARITIES:
            raise PmemError('interleave_granularity=%s is not one CXL supports: use 256, 512, 1k, 2k, 4k, 8k or 16k'
                            % params['interleave_granularity'])
    want['interleave_granularity'] = granularity
    decoder = params.get('root_decoder')
    if decoder is not None and not DECODER_RE.match(str(decoder)):
        raise PmemError("root_decoder=%r is not a decoder name: use the form 'decoder0.0' (see 'cxl list -D -d root')"
                        % (decoder,))
    want['root_decoder'] = decoder
    if want['timeout'] is None or want['timeout'] <= 0:
        raise PmemError('timeout=%s must be a positive number of seconds' % want['timeout'])
    return want


def resolve_memdevs(host, names):
    """The Memdev objects the task names, in its order; an unknown or ambiguous one is refused."""
    found = []
    for value in names:
        if MEMDEV_RE.match(value):
            match = [dev for dev in host.memdevs if dev.name == value]
        else:
            match = [dev for dev in host.memdevs if dev.serial == _int(value)]
        if len(match) != 1:
            have = ', '.join('%s (serial %s)' % (dev.name, dev.serial) for dev in host.memdevs) or 'none'
            what = ('is no CXL memory device' if not match else
                    'is the serial number of %s; name the device instead' % ' and '.join(d.name for d in match))
            raise PmemError('memdevs: %s %s (CXL memory devices on this host: %s). Name them as cxl list -M does, '
                            'or check that the cxl_pci and cxl_mem drivers found them' % (value, what, have))
        found.append(match[0])
    return found


def region_of(host, memdevs):
    """The regions that hold any of these memdevs."""
    names = set(dev.name for dev in memdevs)
    return [region for region in host.cxl_regions if names & set(region.memdevs)]


def region_over(host, memdevs):
    """The region over exactly these memdevs (names or serials, in any order), or None."""
    names = sorted(dev.name for dev in resolve_memdevs(host, memdevs))
    for region in host.cxl_regions:
        if sorted(region.memdevs) == names:
            return region
    return None


def settings_differ(region, want, memdevs):
    diffs = []
    if region.memdevs != [dev.name for dev in memdevs]:
        diffs.append('memdevs %s (asked: %s)' % (','.join(region.memdevs), ','.join(dev.name for dev in memdevs)))
    if region.type != want['type']:
        diffs.append('type %s (asked: %s)' % (region.type, want['type']))
    if want['size'] is not None and region.size != want['size']:
        diffs.append('size %s (asked: %s)' % (human_size(region.size), human_size(want['size'])))
    if want['interleave_granularity'] is not None and region.interleave_granularity != want['interleave_granularity']:
        diffs.append('interleave_granularity %s (asked: %s)' % (region.interleave_granularity, want['interleave_granularity']))
    if want['root_decoder'] is not None and region.root_decoder != want['root_decoder']:
        diffs.append('root_decoder %s (asked: %s)' % (region.root_decoder, want['root_decoder']))
    return diffs


def default_size(memdevs, kind):
    """All the capacity: the smallest member's, in whole 256 MiB units, on each member."""
    each = min(dev.capacity(kind) for dev in memdevs) // CXL_UNIT * CXL_UNIT
    return each * len(memdevs)


def pick_root_decoder(host, want, memdevs, size, freed=None):
    """``freed``: decoder name -> bytes a region to be destroyed first gives back."""
    freed = freed or {}
    kind = want['type']
    names = [dev.name for dev in memdevs]
    capability = REGION_TYPES[kind].replace('_capable', '')
    if want['root_decoder'] is not None:
        decoder = host.root_decoder(want['root_decoder'])
        if decoder is None:
            raise PmemError('root_decoder=%s is not a CXL root decoder on this host (root decoders: %s); omit '
                            'root_decoder to let the module pick one' % (
                                want['root_decoder'], ', '.join(d.name for d in host.root_decoders) or 'none'))
        candidates = [decoder]
    else:
        candidates = host.root_decoders
    problems = []
    for decoder in candidates:
        if not decoder.capable(kind):
            problems.append('%s is not %s-capable' % (decoder.name, capability))
        elif not set(names) <= set(decoder.memdevs):
            problems.append('%s does not reach %s' % (decoder.name, ', '.join(n for n in names if n not in decoder.memdevs)))
        elif decoder.max_available_extent + freed.get(decoder.name, 0) < size:
            problems.append('%s has %s free, the region needs %s' % (
                decoder.name, human_size(decoder.max_available_extent + freed.get(decoder.name, 0)), human_size(size)))
        else:
            return decoder
    raise PmemError('%s: no root decoder with room for a %s %s region over %s (%s). Free space in a CXL window '
                    '(remove another region), give a smaller size, or give root_decoder' % (
                        'root_decoder' if want['root_decoder'] else 'memdevs', human_size(size), kind,
                        ', '.join(names), '; '.join(problems) or 'the host has no CXL root decoder'))


def create_argv(want, memdevs, decoder, size):
    argv = ['cxl', 'create-region', '-m', '-t', want['type'], '-d', decoder.name, '-w', str(len(memdevs))]
    if want['interleave_granularity'] is not None:
        argv += ['-g', str(want['interleave_granularity'])]
    if want['size'] is not None:
        argv += ['-s', str(size)]
    return argv + [dev.name for dev in memdevs]


def teardown(host, region, want):
    """The steps that take a region away: its dax devices' online memory offline (only with force),
    then disable and destroy; never while a process holds a devdax device open or mapped. Disabling unbinds kmem from a dax device whose memory is all offline
    (seen on 6.12); no devdax step, which would also stay daxctl's choice for the next region."""
    online = region.online_devices()
    if online and not want['force']:
        dev = online[0]
        raise PmemError('%s (over %s) has memory online as system RAM: %s, %d of %d blocks online on node %s%s. '
                        'Nothing was changed. Set force: true to take it offline first (it fails if pages cannot be '
                        'moved elsewhere), or offline it with memtier.pmem.memory_online state=offline'
                        % (region.name, ', '.join(region.memdevs), dev.dev, dev.online_memblocks, dev.total_memblocks,
                           dev.target_node, '' if dev.movable else ', in ZONE_NORMAL (it may not come back)'),
                        region=region.to_dict())
    devdax = [dev.dev for dev in region.dax_devices if dev.mode != 'system-ram']
    holders = host.holders(devdax)
    used = ['/dev/%s is %s' % (node, describe_holders(holders[node])) for node in devdax if holders.get(node)]
    if used:
        raise PmemError('%s (over %s) is in use: %s. Nothing was changed (force does not override this). Stop them '
                        'first' % (region.name, ', '.join(region.memdevs), '; '.join(used)), region=region.to_dict())
    actions = [Action('offline', dev.dev, timeout=want['timeout']) for dev in online]
    actions.append(Action('command', region.name, ['cxl', 'disable-region', region.name]))
    actions.append(Action('command', region.name, ['cxl', 'destroy-region', region.name]))
    return actions


def plan_region(host, want):
    """The actions that make the region over ``want['memdevs']`` present or absent."""
    memdevs = resolve_memdevs(host, want['memdevs'])
    regions = region_of(host, memdevs)
    names = [dev.name for dev in memdevs]
    if want['state'] == 'absent':
        if not regions:
            return []
        for region in regions:
            extra = [name for name in region.memdevs if name not in names]
            if extra:
                raise PmemError('memdevs: %s is interleaved over %s, not only over the memdevs given; nothing was '
                                'changed. List all its memdevs (%s) to remove it' % (
                                    region.name, ', '.join(region.memdevs), ', '.join(region.memdevs)))
        if len(regions) > 1:
            raise PmemError('memdevs: %s are in %d regions (%s); remove each region with its own memdevs'
                            % (', '.join(names), len(regions), ', '.join(r.name for r in regions)))
        return teardown(host, regions[0], want)
    kind = want['type']
    for dev in memdevs:
        if not dev.capacity(kind):
            raise PmemError('memdevs: %s has no %s capacity (ram_size %s, pmem_size %s); use type: %s or another memdev'
                            % (dev.name, kind, human_size(dev.ram_size), human_size(dev.pmem_size),
                               'pmem' if kind == 'ram' else 'ram'))
    mine = [region for region in regions if sorted(region.memdevs) == sorted(names)]
    others = [region for region in regions if region not in mine]
    if others:
        region = others[0]
        busy = [name for name in names if name in region.memdevs]
        raise PmemError('memdevs: %s %s already in %s (over %s); nothing was changed. Remove that region first '
                        '(memtier.pmem.cxl_region with memdevs: [%s] and state: absent)' % (
                            ', '.join(busy), 'is' if len(busy) == 1 else 'are', region.name,
                            ', '.join(region.memdevs), ', '.join(region.memdevs)))
    actions = []
    if mine:
        region = mine[0]
        diffs = settings_differ(region, want, memdevs)
        if not diffs:
            return []
        if not want['force']:
            raise PmemError('%s over %s has other settings: %s. Nothing was changed. Set force: true to destroy it '
                            'and create it again (its memory must be offline or movable), or change the task'
                            % (region.name, ', '.join(region.memdevs), '; '.join(diffs)), region=region.to_dict())
        actions = teardown(host, region, want)
        freed = {region.root_decoder: region.size}
    else:
        freed = {}
    size = want['size'] if want['size'] is not None else default_size(memdevs, kind)
    if size <= 0:
        raise PmemError('memdevs: %s have less than 256 MiB of %s capacity each' % (', '.join(names), kind))
    decoder = pick_root_decoder(host, want, memdevs, size, freed)
    actions.append(Action('create', 'region', create_argv(want, memdevs, decoder, size),
                          decoder=decoder.name, size=size,
                          granularity=want['interleave_granularity'] or decoder.interleave_granularity))
    return actions


def predict_region(host, want, before, actions):
    """The region check mode expects after the actions (the snapshot's keys, what can be known)."""
    if not actions:
        return before
    create = [action for action in actions if action.kind == 'create']
    if not create:
        return None
    args = create[0].args
    # the region's name, address and dax device are the kernel's to choose: not predicted
    return {'type': want['type'], 'size': args['size'], 'interleave_ways': len(want['memdevs']),
            'interleave_granularity': args['granularity'], 'decode_state': 'commit',
            'memdevs': [dev.name for dev in resolve_memdevs(host, want['memdevs'])], 'root_decoder': args['decoder']}


class RegionTarget(Target):
    """What a cxl_region task asks for, and how to find, plan and predict it."""

    def __init__(self, params):
        self.want = normalize_region_params(params)
        self.last_plan = None
        self.policy = None  # the auto-online policy when the plan was made

    def snapshot(self, host):
        region = region_over(host, self.want['memdevs'])
        return region.to_dict() if region else None

    def plan(self, host):
        self.last_plan = plan_region(host, self.want)
        self.policy = host.auto_online_blocks
        return self.last_plan

    def predict(self, host, actions):
        return predict_region(host, self.want, self.snapshot(host), actions)

    def apply(self, host, executor, plan):
        executor.apply(plan)
