# -*- coding: utf-8 -*-
# Copyright (c) memtier engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# This is a private module_utils file of memtier.pmem: it is not part of the collection's
# public API and may change at any time.
"""One model of the host's persistent memory, read from ndctl, daxctl and sysfs.

Everything that touches the host goes through a ``Runner`` (run a program, read or write a
file, list a directory, read a link): the modules use ``ModuleRunner``, the unit tests replay
recordings made on a real kernel with ``ReplayRunner``.  ``Host`` turns what the runner sees
into plain objects (regions, namespaces, dax devices, memory blocks, NUMA nodes), each read only
when asked and kept until ``forget()`` (a module forgets after every change). One memory block
(``memory_block``) is read from sysfs each time it is asked for, so ``facts()`` reads the blocks of
the dax devices twice (once for the devices, once for all blocks).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import errno
import fcntl
import json
import os
import re
import time

C_LOCALE = {'LANG': 'C', 'LC_ALL': 'C', 'LC_MESSAGES': 'C'}

SYS_MEMORY = '/sys/devices/system/memory'
# Memory tiering (read by pmem_info, set by system_ram_boot).
DEMOTION = '/sys/kernel/mm/numa/demotion_enabled'
NUMA_BALANCING = '/proc/sys/kernel/numa_balancing'
PROMOTE_RATE = '/proc/sys/kernel/numa_balancing_promote_rate_limit_MBps'
SYS_NODE = '/sys/devices/system/node'
SYS_DAX_BUS = '/sys/bus/dax/devices'
SYS_DAX_CLASS = '/sys/class/dax'
SYS_ND_BUS = '/sys/bus/nd/devices'
DAX_PMEM_COMPAT = '/sys/bus/nd/drivers/dax_pmem_compat'
KMEM_DRIVER = '/sys/bus/dax/drivers/kmem'
DAXCTL_CONF = '/etc/modprobe.d/daxctl.conf'  # daxctl migrate-device-model: the bus model from the next boot
MODPROBE_DIRS = ('/etc/modprobe.d', '/run/modprobe.d', '/usr/local/lib/modprobe.d', '/lib/modprobe.d',
                 '/usr/lib/modprobe.d')
UDEV_RULE_DIRS = ('/usr/lib/udev/rules.d', '/lib/udev/rules.d')  # the distribution's; /etc/udev/rules.d overrides
UNIT_DIRS = ('/usr/lib/systemd/system', '/lib/systemd/system')
DAXCTL_UDEV_RULE = '90-daxctl-device.rules'
DAXCTL_UNIT = 'daxdev-reconfigure@.service'
ETC_UDEV_RULES = '/etc/udev/rules.d'
# What the memtier.pmem.system_ram role writes on a host, so that pmem_info can tell it from the rest: the first
# line of its udev rule overrides, the unit that keeps hot-added memory offline at boot, and the version stamp of
# an ndctl build it installed under a prefix (roles/system_ram/vars/main.yml uses the same names).
ROLE_MARKER = 'Managed by memtier.pmem.system_ram'
OFFLINE_POLICY_UNIT = '/etc/systemd/system/memtier-memhp-offline.service'
BUILD_STAMP = '.memtier-ndctl-version'
DEVNODE_RE = re.compile(r'^(dax\d+\.\d+|pmem\d+(\.\d+)?s?)\Z')

# Every pattern matches the whole string (\Z, not $, which also matches before a final newline: a name
# "f1\n" would reach ndctl, and the kernel would store "f1").
DEVICE_RE = re.compile(r'^dax(\d+)\.(\d+)\Z')
NAMESPACE_DEV_RE = re.compile(r'^namespace(\d+)\.(\d+)\Z')
REGION_RE = re.compile(r'^(?:region)?(\d+)\Z')
UUID_RE = re.compile(r'^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z')
# ndctl stores up to 63 bytes of name in the label; keep names to a portable, shell-safe set.
NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,62}\Z')
NULL_UUID = '00000000-0000-0000-0000-000000000000'

_UNITS = {'': 1, 'k': 1 << 10, 'm': 1 << 20, 'g': 1 << 30, 't': 1 << 40}
_SIZE_RE = re.compile(r'^(\d+)\s*([kmgt]?)(?:i?b)?\Z', re.IGNORECASE)
PAGE_SIZE = 4096
# struct page is 64 bytes per 4 KiB page: the DRAM a hot-add takes for its memmap (1/64 of the memory).
STRUCT_PAGE = 64

# Every changing module holds this lock from its first read to its last, so two runs on one host
# (two playbooks, ad-hoc commands, async tasks) never plan from the same state.
LOCK_FILE = '/run/lock/memtier-pmem.lock'


class PmemError(Exception):
    """A failure that the module reports as its message, with extra result keys."""

    def __init__(self, msg, **details):
        super(PmemError, self).__init__(msg)
        self.msg = msg
        self.details = details


class CommandError(PmemError):
    """A program exited non-zero (or printed something we could not parse)."""

    def __init__(self, argv, rc, out, err, msg=None):
        text = (err or out or '').strip()
        if msg is None:
            msg = '%s failed (rc=%s): %s' % (' '.join(argv), rc, text or 'no output')
        super(CommandError, self).__init__(msg, cmd=list(argv), rc=rc, stdout=out, stderr=err)
        self.argv = list(argv)
        self.rc = rc
        self.out = out
        self.err = err


# ---------------------------------------------------------------------------------------------
# Sizes and names
# ---------------------------------------------------------------------------------------------

def parse_size(value, option='size'):
    """'12g', '512M', '1GiB', '4096' or an int -> bytes (binary units, as ndctl takes them).

    Zero is refused: ndctl reads --size=0 as "all free space", so a size of 0 would silently mean
    the whole region. Leaving the option out is how to ask for that."""
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif value is not None and not str(value).strip():
        size = 0
    else:
        match = _SIZE_RE.match(str(value).strip(' \t')) if value is not None else None
        if not match:
            raise PmemError("%s=%r is not a size: use bytes or a number with k, m, g or t (binary), e.g. '12g'"
                            % (option, value))
        size = int(match.group(1)) * _UNITS[match.group(2).lower()]
    if size <= 0:
        raise PmemError('%s=%r is not a size: it must be more than 0. To take all the free space of the region, '
                        'omit %s' % (option, value, option))
    return size


def parse_align(value, option='align'):
    """A mapping alignment: a power of two of 4 KiB or more (ndctl's own rule), in bytes."""
    align = parse_size(value, option)
    if align < PAGE_SIZE or align & (align - 1):
        raise PmemError("%s=%r is not an alignment: use a power of two of 4k or more that the region supports, "
                        "usually 4k, 2m or 1g (see supported_alignments in memtier.pmem.pmem_info)"
                        % (option, value))
    return align


def human_size(value):
    """Bytes -> a short binary size string ('1006 MiB', '12 GiB', '1.50 GiB')."""
    if value is None:
        return None
    for unit, shift in (('TiB', 40), ('GiB', 30), ('MiB', 20), ('KiB', 10)):
        if value >= (1 << shift):
            amount = value / float(1 << shift)
            return ('%d %s' % (amount, unit)) if amount == int(amount) else ('%.2f %s' % (amount, unit))
    return '%d B' % value


def region_id(value, option='region'):
    """'region0', '0' or 0 -> 0."""
    match = REGION_RE.match(str(value))
    if not match:
        raise PmemError("%s=%r is not a region: use a name such as 'region0' or its number '0' "
                        "(see memtier.pmem.pmem_info or 'ndctl list -R')" % (option, value))
    return int(match.group(1))


def check_device_name(value, option='device'):
    if not DEVICE_RE.match(str(value)):
        raise PmemError("%s=%r is not a dax device name: use the form 'dax0.0' "
                        "(see memtier.pmem.pmem_info or 'daxctl list')" % (option, value))
    return value


def check_namespace_name(value, option='name'):
    if not NAME_RE.match(str(value)):
        raise PmemError("%s=%r is not a valid namespace name: use 1 to 63 letters, digits, '.', '_' or '-', "
                        "starting with a letter or digit" % (option, value))
    return value


def is_uuid(value):
    return bool(UUID_RE.match(str(value)))


# ---------------------------------------------------------------------------------------------
# The one seam that touches the host
# ---------------------------------------------------------------------------------------------

# The options every module takes: which ndctl/daxctl to run, and (changing modules) how long to wait
# for another run on the same host.
BIN_DIR_OPTION = dict(bin_dir=dict(type='path'))
LOCK_OPTION = dict(lock_timeout=dict(type='int', default=300))
# How long taking a device's memory offline may take in all (doc fragment memtier.pmem.attributes.device).
OFFLINE_TIMEOUT = 120
TIMEOUT_OPTION = dict(timeout=dict(type='int', default=OFFLINE_TIMEOUT))
TOOLS = ('ndctl', 'daxctl')
TIMEOUT_RC = (124, 130, 137)  # timeout(1): the limit was reached (TERM/INT/KILL)


class ModuleRunner:
    """Runs programs through AnsibleModule.run_command (argument lists, C locale) and reads sysfs.

    ndctl and daxctl (``tools``: cxl and daxctl for cxl_region) are looked up once, before anything runs: in ``bin_dir`` when the module was
    given one (a build installed under a prefix), else on the PATH and in the sbin directories.
    ``require_tools=False`` (pmem_info) reports a host without them instead of failing.
    """

    def __init__(self, module, require_tools=True, tools=TOOLS):
        self.module = module
        self._bins = {}
        bin_dir = module.params.get('bin_dir')
        for tool in tools:
            if bin_dir:
                path = os.path.join(bin_dir, tool)
                self._bins[tool] = path if os.path.isfile(path) and os.access(path, os.X_OK) else None
            else:
                self._bins[tool] = module.get_bin_path(tool)
        missing = [tool for tool in tools if not self._bins[tool]]
        if missing and bin_dir:
            module.fail_json(msg='bin_dir: %s has no executable %s. Give the directory that holds both %s '
                                 '(the bin directory of the prefix they were installed under), or leave '
                                 'bin_dir out to use the PATH.' % (bin_dir, ' or '.join(missing), ' and '.join(tools)))
        if missing and require_tools:
            module.fail_json(msg='%s not found on the PATH of the host. Install the distribution\'s packages (the '
                                 'memtier.pmem.system_ram role does), or set bin_dir to the directory of a build '
                                 'installed under a prefix.' % ' and '.join(missing))

    def tool_path(self, name):
        """Where ndctl, daxctl (as chosen above) or another program (numactl: the PATH) is; None when it is
        not installed."""
        if name not in self._bins:
            self._bins[name] = self.module.get_bin_path(name)
        return self._bins[name]

    def _bin(self, name):
        path = self.tool_path(name)
        if path is None:
            raise PmemError('%s is not installed on this host' % name)
        return path

    def run(self, argv, data=None, timeout=None):
        """Run argv (its program resolved as above); with ``timeout``, under timeout(1), which sends
        SIGINT and then SIGKILL: rc 124 (or 130/137) means the limit was reached."""
        argv = [self._bin(argv[0])] + list(argv[1:])
        if timeout is not None:
            argv = [self._bin('timeout'), '--signal=INT', '--kill-after=10', str(max(1, int(-(-timeout // 1))))] + argv
        rc, out, err = self.module.run_command(argv, data=data, environ_update=C_LOCALE)
        return rc, out, err

    def read(self, path):
        try:
            with open(path) as handle:
                return handle.read()
        except (IOError, OSError, UnicodeDecodeError):
            return None

    def write(self, path, text):
        """Write to a sysfs attribute; returns None or the OSError's strerror."""
        try:
            with open(path, 'w') as handle:
                handle.write(text)
            return None
        except (IOError, OSError) as exc:
            return exc.strerror or str(exc)

    def put_file(self, path, text, mode):
        """A configuration file, written whole (a temporary file in the same directory, renamed over the
        old one), its directories made; returns None or the error."""
        directory = os.path.dirname(path)
        tmp = '%s/.%s.memtier-tmp' % (directory, os.path.basename(path))
        try:
            if not os.path.isdir(directory):
                os.makedirs(directory, 0o755)
            with open(tmp, 'w') as handle:
                handle.write(text)
            os.chmod(tmp, mode)
            os.rename(tmp, path)
            return None
        except (IOError, OSError) as exc:
            if os.path.exists(tmp):
                os.unlink(tmp)
            return exc.strerror or str(exc)

    def remove_file(self, path):
        try:
            if os.path.lexists(path):
                os.unlink(path)
            return None
        except (IOError, OSError) as exc:
            return exc.strerror or str(exc)

    def symlink(self, target, path):
        """path -> target (replacing what is at path)."""
        try:
            directory = os.path.dirname(path)
            if not os.path.isdir(directory):
                os.makedirs(directory, 0o755)
            if os.path.lexists(path):
                os.unlink(path)
            os.symlink(target, path)
            return None
        except (IOError, OSError) as exc:
            return exc.strerror or str(exc)

    def listdir(self, path):
        try:
            return sorted(os.listdir(path))
        except (IOError, OSError):
            return None

    def readlink(self, path):
        try:
            return os.readlink(path)
        except (IOError, OSError):
            return None

    @contextlib.contextmanager
    def lock(self, timeout, owner):
        """Hold the host lock (flock on LOCK_FILE), waiting at most ``timeout`` seconds for it."""
        fd = _open_lock(LOCK_FILE)
        deadline = time.time() + max(timeout, 0)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except (IOError, OSError) as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if time.time() >= deadline:
                        held = os.pread(fd, 512, 0).decode('utf-8', 'replace').strip() or 'another process'
                        raise PmemError('another run holds the host lock %s (%s); waited %s s (lock_timeout). Nothing '
                                        'was changed. Let that run finish and run again, or raise lock_timeout'
                                        % (LOCK_FILE, held, timeout))
                    time.sleep(0.2)
            os.ftruncate(fd, 0)
            os.pwrite(fd, owner.encode('utf-8'), 0)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock


def _open_lock(path):
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


class ReplayRunner:
    """Answers from a recording (see tests/fixtures/record.py); used by the unit tests."""

    def __init__(self, recording):
        self.commands = recording.get('commands', {})
        self.files = recording.get('files', {})
        self.dirs = recording.get('dirs', {})
        self.links = recording.get('links', {})
        self.tools = recording.get('tools') or dict(
            (tool, '/usr/bin/' + tool if '%s --version' % tool in self.commands else None) for tool in TOOLS)
        self.calls = []
        self.writes = []
        self.locks = []

    def tool_path(self, name):
        return self.tools.get(name)

    def run(self, argv, data=None, timeout=None):
        key = ' '.join(argv)
        self.calls.append(key)
        if key not in self.commands:
            raise AssertionError('no recording for command: %s' % key)
        answer = self.commands[key]
        return answer['rc'], answer['out'], answer['err']

    def read(self, path):
        return self.files.get(path)

    def write(self, path, text):
        self.writes.append((path, text))
        return None

    def put_file(self, path, text, mode):
        self.writes.append((path, text))
        return None

    def remove_file(self, path):
        self.writes.append((path, None))
        return None

    def symlink(self, target, path):
        self.writes.append((path, '-> ' + target))
        return None

    def listdir(self, path):
        return self.dirs.get(path)

    def readlink(self, path):
        return self.links.get(path)

    @contextlib.contextmanager
    def lock(self, timeout, owner):
        self.locks.append(owner)
        yield


class RecordingRunner:
    """Wraps a runner and keeps what it saw, in ReplayRunner's format."""

    def __init__(self, inner):
        self.inner = inner
        self.recording = {'commands': {}, 'files': {}, 'dirs': {}, 'links': {},
                          'tools': dict((tool, inner.tool_path(tool)) for tool in TOOLS)}

    def tool_path(self, name):
        return self.inner.tool_path(name)

    def run(self, argv, data=None, timeout=None):
        rc, out, err = self.inner.run(argv, data=data, timeout=timeout)
        self.recording['commands'][' '.join(argv)] = {'rc': rc, 'out': out, 'err': err}
        return rc, out, err

    def read(self, path):
        value = self.inner.read(path)
        if value is not None:
            self.recording['files'][path] = value
        return value

    def write(self, path, text):
        return self.inner.write(path, text)

    def put_file(self, path, text, mode):
        return self.inner.put_file(path, text, mode)

    def remove_file(self, path):
        return self.inner.remove_file(path)

    def symlink(self, target, path):
        return self.inner.symlink(target, path)

    def listdir(self, path):
        value = self.inner.listdir(path)
        if value is not None:
            self.recording['dirs'][path] = value
        return value

    def readlink(self, path):
        value = self.inner.readlink(path)
        if value is not None:
            self.recording['links'][path] = value
        return value

    def lock(self, timeout, owner):
        return self.inner.lock(timeout, owner)


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------

def _int(value, default=None):
    if value is None:
        return default
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip(), 0)
    except ValueError:
        return default


class Region:
    def __init__(self, data):
        self.dev = data['dev']
        self.id = region_id(self.dev)
        self.size = _int(data.get('size'), 0)
        self.align = _int(data.get('align'), 16 << 20)
        self.available_size = _int(data.get('available_size'), 0)
        self.max_available_extent = _int(data.get('max_available_extent'), self.available_size)
        self.type = data.get('type', 'pmem')
        self.state = data.get('state', 'enabled')

    def to_dict(self):
        return {
            'name': self.dev, 'id': self.id, 'size': self.size, 'align': self.align,
            'available_size': self.available_size, 'max_available_extent': self.max_available_extent,
            'type': self.type, 'state': self.state,
        }


class Namespace:
    def __init__(self, data, raw_size=None, label_less=False):
        self.dev = data['dev']
        match = NAMESPACE_DEV_RE.match(self.dev)
        self.region = int(match.group(1)) if match else None
        self.mode = data.get('mode', 'raw')
        self.map = data.get('map')
        # ndctl's "size" is what is usable (after the page map, in devdax and fsdax mode); raw_size is the
        # namespace's whole size (sysfs), the one to_dict() calls "size" and creation and fitting count.
        self.usable_size = _int(data.get('size'), 0)
        self.raw_size = raw_size if raw_size is not None else self.usable_size
        self.uuid = data.get('uuid')
        self.name = data.get('name')
        self.chardev = data.get('chardev')
        self.blockdev = data.get('blockdev')
        self.align = _int(data.get('align'))
        self.state = data.get('state', 'enabled')
        # A label-less NVDIMM's one namespace (nd_namespace_io) cannot be named, resized or sub-divided.
        self.label_less = label_less
        daxregion = data.get('daxregion') or {}
        if not self.chardev and daxregion.get('devices'):
            self.chardev = daxregion['devices'][0].get('chardev')

    @property
    def is_seed(self):
        """The empty, disabled namespace every labelled region shows for the next creation."""
        return self.usable_size == 0 and self.uuid in (None, NULL_UUID) and self.state == 'disabled'

    def to_dict(self):
        return {
            'dev': self.dev, 'region': 'region%d' % self.region if self.region is not None else None,
            'name': self.name, 'uuid': self.uuid, 'mode': self.mode, 'map': self.map,
            'size': self.raw_size, 'usable_size': self.usable_size, 'align': self.align,
            'chardev': self.chardev, 'blockdev': self.blockdev, 'state': self.state,
            'label_less': self.label_less,
        }


class MemoryBlock:
    def __init__(self, index, state, zone, node):
        self.index = index
        self.state = state
        self.zone = zone
        self.node = node

    @property
    def online(self):
        return self.state == 'online'

    def to_dict(self):
        return {'block': self.index, 'state': self.state, 'zone': self.zone, 'node': self.node}


class DaxDevice:
    def __init__(self, data, blocks=None, model='bus'):
        self.dev = data['chardev']
        match = DEVICE_RE.match(self.dev)
        self.region = int(match.group(1)) if match else None
        self.size = _int(data.get('size'), 0)
        self.target_node = data.get('target_node')
        self.align = _int(data.get('align'))
        self.mode = data.get('mode', 'devdax')
        self.state = data.get('state', 'enabled')
        self.model = model
        self.blocks = blocks or []
        self._tool_online = data.get('online_memblocks')
        self._tool_total = data.get('total_memblocks')
        self._tool_movable = data.get('movable')

    @property
    def total_memblocks(self):
        if self.blocks:
            return len(self.blocks)
        return self._tool_total if self._tool_total is not None else 0

    @property
    def online_memblocks(self):
        if self.blocks:
            return sum(1 for block in self.blocks if block.online)
        return self._tool_online if self._tool_online is not None else 0

    @property
    def zones(self):
        return sorted(set(block.zone for block in self.blocks if block.online and block.zone))

    @property
    def movable(self):
        """True/False while memory is online (None when nothing is online)."""
        if not self.online_memblocks:
            return None
        if self.blocks:
            return self.zones == ['Movable']
        return self._tool_movable

    def to_dict(self):
        return {
            'chardev': self.dev, 'region': 'region%d' % self.region if self.region is not None else None,
            'size': self.size, 'target_node': self.target_node, 'align': self.align,
            'mode': self.mode, 'state': self.state, 'device_model': self.model,
            'online_memblocks': self.online_memblocks, 'total_memblocks': self.total_memblocks,
            'movable': self.movable, 'zones': self.zones,
            'pinned_blocks': [],
        }


def parse_json_list(argv, rc, out, err, key):
    """The items ndctl/daxctl list, each a dict with ``key`` ('dev' or 'chardev').

    They print nothing for an empty list, an object for one item when -u is used and a {kind: [...]}
    object when several kinds are asked for; we never use -u and ask for one kind at a time, but
    accept all shapes. Lines before the JSON (a warning from the tool or the kernel) are skipped;
    anything else that is not a list of such items fails with the tool's name and its output."""
    if rc != 0:
        raise CommandError(argv, rc, out, err)
    lines = (out or '').splitlines()
    start = next((i for i, line in enumerate(lines) if line.lstrip()[:1] in ('[', '{')), len(lines))
    if not (out or '').strip():
        return []
    try:
        data = json.loads('\n'.join(lines[start:]))
    except ValueError:
        data = ValueError
    if isinstance(data, dict):
        lists = [value for value in data.values() if isinstance(value, list)]
        data = [data] if key in data or not lists else lists[0]
    if not isinstance(data, list) or not all(isinstance(item, dict) and isinstance(item.get(key), str)
                                             for item in data):
        raise CommandError(argv, rc, out, err, msg='%s printed something this module cannot read (a list of '
                           'objects with "%s" was expected): %s' % (' '.join(argv), key, (out or '').strip()[:300]))
    return data


def kmem_range_blocks(start, size, block_size):
    """The memory blocks kmem hot-adds for [start, start+size): it rounds the start up and the end
    down to whole blocks (drivers/dax/kmem.c)."""
    first = -(-start // block_size)
    end = (start + size) // block_size
    return list(range(first, end))


class Host:
    """The host's PMem topology, read lazily through a runner; each source is read once."""

    def __init__(self, runner):
        self.runner = runner
        self._cache = {}

    # -- programs ---------------------------------------------------------------------------

    def run(self, argv, data=None, ok=(0,)):
        rc, out, err = self.runner.run(argv, data=data)
        if rc not in ok:
            raise CommandError(argv, rc, out, err)
        return rc, out, err

    def _list(self, argv, key):
        if not self.runner.tool_path(argv[0]):
            return []  # pmem_info on a host without the tool: nothing to list
        rc, out, err = self.runner.run(argv)
        return parse_json_list(argv, rc, out, err, key)

    def _cached(self, key, loader):
        if key not in self._cache:
            self._cache[key] = loader()
        return self._cache[key]

    def text(self, path, default=''):
        """A sysfs or procfs attribute, stripped (``default`` when it does not exist)."""
        return (self.runner.read(path) or default).strip()

    def forget(self):
        """Drop everything read so far (after a change, to read the new state)."""
        self._cache = {}

    # -- ndctl ------------------------------------------------------------------------------

    @property
    def regions(self):
        return self._cached('regions', lambda: sorted(
            (Region(item) for item in self._list(['ndctl', 'list', '--regions', '--idle'], 'dev')),
            key=lambda region: region.id))

    def region(self, rid):
        for region in self.regions:
            if region.id == rid:
                return region
        return None

    @property
    def namespaces(self):
        def load():
            result = []
            for item in self._list(['ndctl', 'list', '--namespaces', '--idle'], 'dev'):
                dev = item.get('dev', '')
                raw = _int(self.runner.read('%s/%s/size' % (SYS_ND_BUS, dev)))
                devtype = (self.runner.read('%s/%s/devtype' % (SYS_ND_BUS, dev)) or '').strip()
                namespace = Namespace(item, raw_size=raw, label_less=devtype == 'nd_namespace_io')
                if not namespace.is_seed:
                    result.append(namespace)
            return sorted(result, key=lambda ns: (ns.region, ns.dev))
        return self._cached('namespaces', load)

    def supported_alignments(self, rid, mode):
        """The alignments the region's seed device of ``mode`` (devdax: dax_seed, fsdax: pfn_seed)
        accepts, from sysfs; None when the kernel does not say."""
        seed = self.text('%s/region%d/%s' % (SYS_ND_BUS, rid, 'dax_seed' if mode == 'devdax' else 'pfn_seed'))
        if not seed:
            return None
        values = [_int(value) for value in self.text('%s/%s/supported_alignments' % (SYS_ND_BUS, seed)).split()]
        return sorted(value for value in values if value) or None

    def largest_free_extent(self, region, freed=None):
        """The largest contiguous free range of a region once the namespace ``freed`` is destroyed,
        from the physical ranges (sysfs resource) of the region and of its other namespaces; None
        when sysfs does not tell."""
        start = _int(self.runner.read('%s/region%d/resource' % (SYS_ND_BUS, region.id)))
        if start is None:
            return None
        used = []
        for ns in self.namespaces:
            if ns.region != region.id or (freed is not None and ns.dev == freed.dev):
                continue
            begin = _int(self.runner.read('%s/%s/resource' % (SYS_ND_BUS, ns.dev)))
            if begin is None:
                return None
            used.append((begin, begin + ns.raw_size))
        largest, cursor = 0, start
        for begin, end in sorted(used):
            largest = max(largest, begin - cursor)
            cursor = max(cursor, end)
        return max(largest, start + region.size - cursor)

    def region_dimms(self, rid):
        """The nmem devices behind a region, from sysfs regionN/mappingK ('nmem0,0,4294705152,0')."""
        base = '%s/region%d' % (SYS_ND_BUS, rid)
        dimms = []
        for index in range(_int(self.runner.read(base + '/mappings'), 0)):
            text = (self.runner.read('%s/mapping%d' % (base, index)) or '').strip()
            if text:
                dimms.append(text.split(',')[0])
        return dimms

    # -- daxctl -----------------------------------------------------------------------------

    @property
    def dax_devices(self):
        def load():
            devices = []
            for item in self._list(['daxctl', 'list', '--devices', '--idle'], 'chardev'):
                name = item.get('chardev', '')
                if not _int(item.get('size'), 0):
                    continue  # the empty seed device of a dax region
                model = self.device_model_of(name)
                blocks = self.blocks_of(name) if item.get('mode') == 'system-ram' else []
                devices.append(DaxDevice(item, blocks=blocks, model=model))
            return sorted(devices, key=lambda dev: (dev.region, dev.dev))
        return self._cached('dax_devices', load)

    def dax_device(self, name):
        for device in self.dax_devices:
            if device.dev == name:
                return device
        return None

    # -- sysfs: memory blocks ---------------------------------------------------------------

    @property
    def block_size(self):
        return self._cached('block_size', lambda: _int(
            '0x' + (self.runner.read(SYS_MEMORY + '/block_size_bytes') or '0').strip(), 0))

    @property
    def auto_online_blocks(self):
        return self._cached('auto_online', lambda: self.text(SYS_MEMORY + '/auto_online_blocks', 'unknown'))

    def _dax_sysfs_dir(self, name):
        for base in (SYS_DAX_BUS, SYS_DAX_CLASS):
            if self.runner.listdir('%s/%s' % (base, name)) is not None:
                return '%s/%s' % (base, name)
        return None

    def dax_ranges(self, name):
        """Physical ranges of a dax device: mappingN/{start,end} (5.10+) or resource + size."""
        base = self._dax_sysfs_dir(name)
        if base is None:
            return []
        entries = self.runner.listdir(base) or []
        ranges = []
        for entry in entries:
            if re.match(r'^mapping\d+$', entry):
                start = _int(self.runner.read('%s/%s/start' % (base, entry)))
                end = _int(self.runner.read('%s/%s/end' % (base, entry)))
                if start is not None and end is not None:
                    ranges.append((start, end - start + 1))
        if not ranges and 'resource' in entries:
            start = _int(self.runner.read(base + '/resource'))
            size = _int(self.runner.read(base + '/size'))
            if start and size:
                ranges.append((start, size))
        return sorted(ranges)

    def dax_start(self, name):
        """Where a dax device's memory starts (its first range), or None: how system_ram_devices finds memory
        the firmware exposes."""
        ranges = self.dax_ranges(name)
        return ranges[0][0] if ranges else None

    def memory_block(self, index):
        path = '%s/memory%d' % (SYS_MEMORY, index)
        state = self.runner.read(path + '/state')
        if state is None:
            return None
        state = state.strip()
        zones = (self.runner.read(path + '/valid_zones') or '').strip()
        node = None
        for entry in self.runner.listdir(path) or []:
            if re.match(r'^node\d+$', entry):
                node = int(entry[4:])
        zone = zones.split()[0] if state == 'online' and zones else None
        return MemoryBlock(index, state, zone, node)

    def blocks_of(self, name):
        size = self.block_size
        if not size:
            return []
        blocks = []
        for start, length in self.dax_ranges(name):
            for index in kmem_range_blocks(start, length, size):
                block = self.memory_block(index)
                if block is not None:
                    blocks.append(block)
        return blocks

    def block_state_path(self, index):
        return '%s/memory%d/state' % (SYS_MEMORY, index)

    def offline_block(self, index, timeout):
        """Offline one memory block through sysfs within ``timeout`` seconds (a write to the state
        file can block while the kernel retries); returns None, or why the block stayed online."""
        rc, out, err = self.runner.run(['tee', self.block_state_path(index)], data='offline', timeout=timeout)
        if rc in TIMEOUT_RC:
            return 'time limit reached'
        if rc != 0:
            return (err or out or 'rc=%s' % rc).strip().rsplit(': ', 1)[-1]
        return None

    def all_memory_blocks(self):
        def load():
            blocks = []
            for entry in self.runner.listdir(SYS_MEMORY) or []:
                match = re.match(r'^memory(\d+)$', entry)
                if match:
                    block = self.memory_block(int(match.group(1)))
                    if block is not None:
                        blocks.append(block)
            return sorted(blocks, key=lambda block: block.index)
        return self._cached('all_blocks', load)

    # -- sysfs: NUMA nodes ------------------------------------------------------------------

    @property
    def nodes(self):
        def load():
            nodes = []
            online = expand_list((self.runner.read(SYS_NODE + '/online') or '').strip())
            with_cpu = expand_list((self.runner.read(SYS_NODE + '/has_cpu') or '').strip())
            for node in online:
                meminfo = self.runner.read('%s/node%d/meminfo' % (SYS_NODE, node)) or ''
                total = _meminfo_kib(meminfo, 'MemTotal')
                free = _meminfo_kib(meminfo, 'MemFree')
                nodes.append({
                    'node': node, 'has_cpus': node in with_cpu,
                    'memory_total': total * 1024 if total is not None else None,
                    'memory_free': free * 1024 if free is not None else None,
                })
            return nodes
        return self._cached('nodes', load)

    @property
    def mem_available(self):
        """MemAvailable of /proc/meminfo in bytes (None when unknown)."""
        def load():
            kib = _meminfo_kib(self.runner.read('/proc/meminfo') or '', 'MemAvailable')
            return kib * 1024 if kib is not None else None
        return self._cached('mem_available', load)

    def memmap_on_memory(self, name):
        """Whether hot-adding this device takes its page structures from the device itself (kernel 6.8+:
        memory_hotplug.memmap_on_memory on the kernel command line and the device's own attribute)."""
        param = self.text('/sys/module/memory_hotplug/parameters/memmap_on_memory')
        return param in ('Y', 'y', '1', 'force') and self.text('%s/%s/memmap_on_memory' % (SYS_DAX_BUS, name)) == '1'

    def memmap_bytes(self, name, size):
        """The DRAM a hot-add of this device takes for its memmap (64 bytes per 4 KiB page)."""
        blocks = sum(len(kmem_range_blocks(start, length, self.block_size))
                     for start, length in self.dax_ranges(name)) if self.block_size else 0
        total = blocks * self.block_size if blocks else size
        return total // PAGE_SIZE * STRUCT_PAGE

    # -- kernel, drivers, versions ----------------------------------------------------------

    @property
    def kernel_release(self):
        return self._cached('kernel', lambda: self.text('/proc/sys/kernel/osrelease'))

    def kernel_at_least(self, major, minor):
        match = re.match(r'^(\d+)\.(\d+)', self.kernel_release)
        return bool(match) and (int(match.group(1)), int(match.group(2))) >= (major, minor)

    def tool_version(self, tool):
        def load():
            if not self.runner.tool_path(tool):
                return None
            rc, out, err = self.runner.run([tool, '--version'])
            text = (out or '').strip()
            return text if rc == 0 and text else None
        return self._cached('version-' + tool, load)

    def tool_major(self, tool):
        version = self.tool_version(tool) or ''
        match = re.match(r'^v?(\d+)', version)
        return int(match.group(1)) if match else None

    @property
    def kmem_loaded(self):
        return self._cached('kmem_loaded', lambda: self.runner.listdir(KMEM_DRIVER) is not None)

    @property
    def device_model(self):
        """'dax-class' while the compat driver binds dax devices (pre-5.17 kernels), else 'bus'."""
        return self._cached('model', lambda: 'dax-class' if self.runner.listdir(DAX_PMEM_COMPAT) is not None
                            else 'bus')

    def device_model_of(self, name):
        if self.runner.listdir('%s/%s' % (SYS_DAX_BUS, name)) is not None:
            return 'bus'
        if self.runner.listdir('%s/%s' % (SYS_DAX_CLASS, name)) is not None:
            return 'dax-class'
        return self.device_model

    @property
    def kmem(self):
        """What decides whether kmem can be used now and at boot: loaded (its driver is registered on
        the dax bus), built in, available as a module, an ``install`` rule that replaces loading it, and
        ``blacklist`` lines (honoured at boot by systemd-modules-load and by daxctl), each as
        "file:line: text"."""
        def load():
            rules = self.modprobe_rules('kmem')
            builtin = 'kernel/drivers/dax/kmem.ko' in self.text('/lib/modules/%s/modules.builtin' % self.kernel_release)
            available = builtin or self.kmem_loaded
            if not available:
                try:
                    rc, out, err = self.runner.run(['modprobe', '--show-depends', 'kmem'])
                    available = rc == 0
                except PmemError:  # no modprobe (kmod) on this host
                    available = False
            install = [rule for rule in rules if rule[2].split()[0] == 'install']
            blacklist = [rule for rule in rules if rule[2].split()[0] == 'blacklist']
            cmdline = self.text('/proc/cmdline').split()
            blacklist += [('/proc/cmdline', 1, arg) for arg in cmdline
                          if arg.startswith('module_blacklist=') or arg.startswith('modprobe.blacklist=')
                          if 'kmem' in arg.split('=', 1)[1].split(',')]
            return {
                'loaded': self.kmem_loaded, 'builtin': builtin, 'module_available': available,
                'install_rule': '%s:%d: %s' % install[-1] if install else None,
                'blacklisted': ['%s:%d: %s' % rule for rule in blacklist],
            }
        return self._cached('kmem', load)

    def modprobe_rules(self, module):
        """(file, line number, text) of the modprobe.d lines about ``module``, in the files modprobe
        reads (a file in /etc hides one of the same name in /run or /lib)."""
        files = {}
        for directory in reversed(MODPROBE_DIRS):
            for name in self.runner.listdir(directory) or []:
                if name.endswith('.conf'):
                    files[name] = '%s/%s' % (directory, name)
        rules = []
        for name in sorted(files):
            for number, line in enumerate((self.runner.read(files[name]) or '').splitlines(), 1):
                words = line.split('#', 1)[0].split()
                if len(words) >= 2 and words[0] in ('blacklist', 'install') and words[1] == module:
                    rules.append((files[name], number, ' '.join(words)))
        return rules

    def kmem_problem(self, at_boot=False):
        """None when kmem can be used (now, or ``at_boot`` as well), else a sentence with the cause
        and the fix."""
        kmem = self.kmem
        if kmem['builtin']:
            return None
        blocked = kmem['install_rule'] and 'modprobe' not in kmem['install_rule'].split(': ', 1)[1]
        if not kmem['loaded'] and not kmem['module_available']:
            return ('the kmem kernel module is not available for kernel %s; install the kernel modules package that '
                    'provides drivers/dax/kmem.ko (CONFIG_DEV_DAX_KMEM) or boot a kernel that has it'
                    % self.kernel_release)
        if blocked and (at_boot or not kmem['loaded']):
            return ('loading the kmem kernel module is blocked by an install rule (%s); remove that line, then run '
                    'again' % kmem['install_rule'])
        if kmem['blacklisted'] and (at_boot or not kmem['loaded']):
            return ('the kmem kernel module is blacklisted (%s): systemd-modules-load and daxctl will not load it at '
                    'boot, so the memory would not come back; remove that line, then run again'
                    % '; '.join(kmem['blacklisted']))
        return None

    @property
    def boot(self):
        """What brings memory online behind daxctl's back, and what daxctl's own boot path needs.

        ``onliner_rules``: the distribution's udev rules that online hot-added memory themselves (which
        puts it in the kernel's zone, not the one asked for), with ``overridden`` those that a file of
        the same name in /etc/udev/rules.d replaces, and ``onliners`` the same rules with their path and
        who overrides them (none, the system_ram role, or the host's own file); ``local_onliner_rules``:
        files in /etc/udev/rules.d not written by the role that online memory; ``role_overrides``: the
        files the role wrote there; ``offline_policy_unit``: whether the role's unit that keeps hot-added
        memory offline at boot is installed; ``daxctl_udev_rule``: ok, missing, or broken (Debian 12 ships
        one that runs ``daxctl -C``); ``daxctl_unit``: whether daxdev-reconfigure@.service ships."""
        def load():
            rules, paths, daxctl_rule = {}, {}, None
            for directory in UDEV_RULE_DIRS:
                for name in self.runner.listdir(directory) or []:
                    if not name.endswith('.rules') or name in rules:
                        continue
                    paths[name] = '%s/%s' % (directory, name)
                    text = self.runner.read(paths[name]) or ''
                    rules[name] = onlines_memory(text)
                    if name == DAXCTL_UDEV_RULE:
                        daxctl_rule = 'ok' if 'SYSTEMD_WANTS' in text else 'broken'
            onliners = sorted(name for name, onlines in rules.items() if onlines)
            etc = {}
            for name in self.runner.listdir(ETC_UDEV_RULES) or []:
                if name.endswith('.rules'):
                    etc[name] = self.runner.read('%s/%s' % (ETC_UDEV_RULES, name)) or ''
            mine = set(name for name, text in etc.items() if ROLE_MARKER in text)
            return {
                'onliner_rules': onliners,
                'overridden': [name for name in onliners if name in etc],
                'onliners': [{'name': name, 'path': paths[name],
                              'override': 'role' if name in mine else 'host' if name in etc else None}
                             for name in onliners],
                'local_onliner_rules': ['%s/%s' % (ETC_UDEV_RULES, name) for name in sorted(etc)
                                        if name not in mine and onlines_memory(etc[name])],
                'role_overrides': ['%s/%s' % (ETC_UDEV_RULES, name) for name in sorted(mine)],
                'offline_policy_unit': self.runner.read(OFFLINE_POLICY_UNIT) is not None,
                'daxctl_udev_rule': daxctl_rule or 'missing',
                'daxctl_unit': any(self.runner.read('%s/%s' % (d, DAXCTL_UNIT)) is not None for d in UNIT_DIRS),
                'daxctl_config': sorted(self.runner.listdir('/etc/daxctl.conf.d') or []),
            }
        return self._cached('boot', load)

    def ndctl_build(self, prefix):
        """An ndctl build installed under ``prefix`` by the system_ram role: its version (the stamp the
        role writes) and its bin directory when it has one with daxctl in it (else None)."""
        def load():
            stamp = self.runner.read('%s/%s' % (prefix, BUILD_STAMP))
            bin_dir = '%s/bin' % prefix
            found = stamp is not None and 'daxctl' in (self.runner.listdir(bin_dir) or [])
            return {'prefix': prefix, 'version': (stamp or '').strip() or None, 'bin_dir': bin_dir if found else None}
        return self._cached('build-' + prefix, load)

    def holders(self, devnodes=None):
        """{devnode: [{pid, comm, how}]} of the processes that hold /dev/<devnode> open (/proc/PID/fd)
        or mapped (/proc/PID/maps: a mapping outlives the descriptor it was made from), in one scan
        of /proc. ``devnodes`` None: every dax and pmem device node."""
        if devnodes is not None and not devnodes:
            return {}
        wanted = (lambda node: node in devnodes) if devnodes is not None else DEVNODE_RE.match
        found = {}
        for entry in self.runner.listdir('/proc') or []:
            if not entry.isdigit():
                continue
            how = {}
            for fd in self.runner.listdir('/proc/%s/fd' % entry) or []:
                target = self.runner.readlink('/proc/%s/fd/%s' % (entry, fd)) or ''
                if target.startswith('/dev/') and wanted(target[5:]):
                    how.setdefault(target[5:], set()).add('open')
            for line in (self.runner.read('/proc/%s/maps' % entry) or '').splitlines():
                fields = line.split(None, 5)
                path = fields[5].strip() if len(fields) == 6 else ''
                if path.endswith(' (deleted)'):
                    path = path[:-len(' (deleted)')]
                if path.startswith('/dev/') and wanted(path[5:]):
                    how.setdefault(path[5:], set()).add('mapped')
            if how:
                comm = self.text('/proc/%s/comm' % entry) or '?'
                for node, ways in how.items():
                    found.setdefault(node, []).append({'pid': int(entry), 'comm': comm, 'how': ' and '.join(sorted(ways))})
        return dict((node, sorted(procs, key=lambda p: p['pid'])) for node, procs in found.items())

    def mounted(self, devnode):
        text = self.runner.read('/proc/mounts') or ''
        return [line.split()[1] for line in text.splitlines()
                if line.split() and line.split()[0] == '/dev/' + devnode]


def onlines_memory(text):
    """Whether udev rules (a file's text) online memory: a rule, not a comment, that sets
    ATTR{state}="online..." and matches on the memory subsystem."""
    rules = '\n'.join(line for line in text.splitlines() if not line.lstrip().startswith('#'))
    return 'ATTR{state}="online' in rules and re.search(r'SUBSYSTEM(==|!=)"memory"', rules) is not None


def expand_list(text):
    """'0-2,4' -> [0, 1, 2, 4]"""
    result = []
    for part in text.split(','):
        part = part.strip()
        if not part:
            continue
        if '-' in part:
            low, high = part.split('-', 1)
            result.extend(range(int(low), int(high) + 1))
        else:
            result.append(int(part))
    return result


def _meminfo_kib(text, key):
    match = re.search(r'%s:\s+(\d+) kB' % key, text)
    return int(match.group(1)) if match else None


def _hex(value):
    """An address in hex as /proc/iomem shows it, or None."""
    return None if value is None else '%#x' % value


def facts(host):
    """Everything pmem_info returns."""
    blocks = host.all_memory_blocks()
    online = sum(1 for block in blocks if block.online)
    return {
        'regions': [region.to_dict() for region in host.regions],
        'namespaces': [ns.to_dict() for ns in host.namespaces],
        'dax_devices': [dict(dev.to_dict(), address=_hex(host.dax_start(dev.dev))) for dev in host.dax_devices],
        'memory': {
            'block_size': host.block_size,
            'auto_online_blocks': host.auto_online_blocks,
            'online_bytes': online * host.block_size,
            'offline_bytes': (len(blocks) - online) * host.block_size,
        },
        'nodes': host.nodes,
        'kernel': host.kernel_release,
        'ndctl_version': host.tool_version('ndctl'),
        'daxctl_version': host.tool_version('daxctl'),
        'kmem_loaded': host.kmem_loaded,
        'kmem': dict(host.kmem, problem=host.kmem_problem(at_boot=True)),
        'device_model': host.device_model,
        'tools': dict((tool, host.runner.tool_path(tool)) for tool in TOOLS + ('numactl', 'cxl')),
        'holders': host.holders(),
        'boot': host.boot,
    }
