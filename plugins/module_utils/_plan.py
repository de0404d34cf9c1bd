# -*- coding: utf-8 -*-
# Copyright (c) memtier engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# This is a private module_utils file of memtier.pmem: it is not part of the collection's
# public API and may change at any time.
"""What to do: planners that read a Host and return actions, and the one place that applies them.

A planner never changes the host.  It returns a list of ``Action`` (each one command line or one
named step) and raises ``PmemError`` with a message that names the option and the way out when
the request cannot or must not be done.  ``apply`` runs the actions; the modules then read the
host again and derive ``changed`` and ``diff`` from the two states.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.memtier.pmem.plugins.module_utils._pmem import (
    DAXCTL_CONF, NAMESPACE_DEV_RE, OFFLINE_TIMEOUT, SYS_DAX_BUS, SYS_MEMORY, PmemError, check_device_name,
    check_namespace_name, human_size, is_uuid, kmem_range_blocks, parse_align, parse_size, region_id,
)

MIN_KERNEL_KMEM = (5, 1)
MIN_KERNEL_HOTREMOVE = (5, 3)
MIN_DAXCTL = 66


class Action:
    """One step: a command line (``argv``) or a named step with arguments."""

    def __init__(self, kind, target, argv=None, **args):
        self.kind = kind
        self.target = target
        self.argv = argv
        self.args = args

    def describe(self):
        if self.argv:
            return ' '.join(self.argv)
        details = ' '.join('%s=%s' % (key, ','.join(value) if isinstance(value, list) else value)
                           for key, value in sorted(self.args.items()))
        return ('%s %s %s' % (self.kind, self.target, details)).strip()

    def commands(self):
        """The command lines this step runs (for check mode's ``commands``, as the real run lists them)."""
        if self.kind == 'init_labels':
            return (['ndctl disable-region %s' % self.target] + ['ndctl init-labels %s' % d for d in self.args['dimms']]
                    + ['ndctl enable-region %s' % self.target])
        if self.kind == 'switch_model':
            namespaces = self.args['namespaces']
            return (['ndctl disable-namespace %s' % ns for ns in namespaces] + ['modprobe -r dax_pmem_compat',
                    'modprobe dax_pmem'] + ['ndctl enable-namespace %s' % ns for ns in namespaces])
        if self.kind == 'offline':  # and, for blocks daxctl leaves online, one sysfs write each
            return ['daxctl offline-memory %s' % self.target]
        return [self.describe()]

    def __repr__(self):
        return 'Action(%s)' % self.describe()


# ---------------------------------------------------------------------------------------------
# Resolving what the user named
# ---------------------------------------------------------------------------------------------

def find_namespace(host, name=None, uuid=None, option='name'):
    """The namespace with this name and/or uuid, or None.

    With both, they must name the same namespace: a name found with another uuid (or the uuid with
    another name) is refused, since creating a second namespace of that name would make every later
    run by name ambiguous. A kernel device name (namespace0.0) given where a label name is expected
    is refused with the name that namespace has."""
    by_name = [ns for ns in host.namespaces if ns.name == name] if name is not None else None
    by_uuid = [ns for ns in host.namespaces if ns.uuid == uuid] if uuid is not None else None
    if by_name is not None and by_uuid is not None:
        if by_name and not any(ns in by_uuid for ns in by_name):
            raise PmemError('name=%s is already the name of %s, whose uuid is %s, not uuid=%s. Give the uuid it has '
                            '(or leave uuid out), or choose another name: a second namespace named %s would make '
                            'every later run by name ambiguous'
                            % (name, ', '.join(ns.dev for ns in by_name), ', '.join(ns.uuid or '-' for ns in by_name),
                               uuid, name))
        if by_uuid and not any(ns in by_name for ns in by_uuid):
            raise PmemError('uuid=%s is %s, whose name is %s, not name=%s. Give the name it has, or another uuid'
                            % (uuid, by_uuid[0].dev, by_uuid[0].name or '(none)', name))
        candidates = [ns for ns in by_name if ns in by_uuid]
    else:
        candidates = by_name if by_name is not None else by_uuid
    if len(candidates) > 1:
        raise PmemError('%s=%s matches %d namespaces (%s); give its uuid instead'
                        % (option, name or uuid, len(candidates), ', '.join(ns.dev for ns in candidates)))
    if not candidates and name is not None and NAMESPACE_DEV_RE.match(name):
        named = [ns for ns in host.namespaces if ns.dev == name]
        if named:
            raise PmemError('%s=%s is the kernel\'s device name of a namespace, not a name: %s is the name stored in '
                            'the namespace\'s label, and %s has %s. Use %s, or uuid=%s'
                            % (option, name, option, name,
                               'the name %s' % named[0].name if named[0].name else 'no name',
                               '%s=%s' % (option, named[0].name) if named[0].name else 'its uuid', named[0].uuid))
    return candidates[0] if candidates else None


def resolve_device(host, device=None, namespace=None):
    """The dax device named by ``device`` or by ``namespace`` (name or uuid)."""
    if device is not None:
        check_device_name(device)
        found = host.dax_device(device)
        if found is None:
            known = ', '.join(dev.dev for dev in host.dax_devices) or 'none'
            raise PmemError('device=%s does not exist (dax devices on this host: %s); create a devdax '
                            'namespace first with memtier.pmem.pmem_namespace' % (device, known))
        return found
    if is_uuid(namespace):
        ns = find_namespace(host, uuid=namespace.lower(), option='namespace')
    else:
        check_namespace_name(namespace, 'namespace')
        ns = find_namespace(host, name=namespace, option='namespace')
    if ns is None:
        known = ', '.join(n.name or n.uuid or n.dev for n in host.namespaces) or 'none'
        raise PmemError('namespace=%s does not exist (namespaces on this host: %s); create it with '
                        'memtier.pmem.pmem_namespace' % (namespace, known))
    if ns.mode != 'devdax' or not ns.chardev:
        raise PmemError('namespace=%s (%s) is in %s mode and has no dax device; make it devdax with '
                        'memtier.pmem.pmem_namespace mode=devdax force=true (destroys its data)'
                        % (namespace, ns.dev, ns.mode))
    found = host.dax_device(ns.chardev)
    if found is None:
        raise PmemError('namespace=%s points at %s, which daxctl does not list; check that the dax '
                        'drivers are loaded (modprobe dax_pmem)' % (namespace, ns.chardev))
    return found


# ---------------------------------------------------------------------------------------------
# pmem_namespace
# ---------------------------------------------------------------------------------------------

def namespace_differences(ns, want, given_only=False):
    """{setting: (have, want)} for the settings the user asked for that differ (``given_only``: mode
    only when the task gave it, not its default)."""
    diffs = {}
    if ns.mode != want['mode'] and (want['mode_given'] or not given_only):
        diffs['mode'] = (ns.mode, want['mode'])
    if want.get('size') is not None and ns.raw_size != want['size']:
        diffs['size'] = (ns.raw_size, want['size'])
    if want.get('map') and want['mode'] in ('fsdax', 'devdax') and ns.map != want['map']:
        diffs['map'] = (ns.map, want['map'])
    if want.get('align') is not None and ns.align != want['align']:
        diffs['align'] = (ns.align, want['align'])
    if want.get('region') is not None and ns.region != want['region']:
        diffs['region'] = ('region%s' % ns.region, 'region%s' % want['region'])
    return diffs


def in_use_reasons(host, ns):
    """Why destroying or re-initialising this namespace would pull memory or data from under a user."""
    reasons = []
    if ns.chardev:
        dev = host.dax_device(ns.chardev)
        if dev is not None and dev.mode == 'system-ram':
            reasons.append('%s is in system-ram mode with %d of %d memory blocks online; take it back first '
                           'with memtier.pmem.memory_online state=offline and memtier.pmem.dax_reconfigure '
                           'mode=devdax' % (dev.dev, dev.online_memblocks, dev.total_memblocks))
            return reasons
    nodes = [ns.chardev] if ns.chardev else []
    if ns.blockdev:
        nodes += [ns.blockdev, ns.blockdev + 's']
    holders = host.holders(nodes)
    for node in nodes:
        mounts = host.mounted(node)
        if mounts:
            reasons.append('/dev/%s is mounted on %s; unmount it first' % (node, ', '.join(mounts)))
        elif holders.get(node):
            reasons.append('/dev/%s is %s; stop them first' % (node, describe_holders(holders[node])))
    return reasons


def describe_holders(procs):
    """'open or mapped by pid 812 (python3, mapped), pid 901 (fio, open)'"""
    return 'open or mapped by %s' % ', '.join('pid %d (%s, %s)' % (p['pid'], p['comm'], p['how']) for p in procs)


def refuse_if_in_use(host, ns, what):
    reasons = in_use_reasons(host, ns)
    if reasons:
        raise PmemError('refusing to %s namespace %s (%s): %s'
                        % (what, ns.name or ns.uuid or ns.dev, ns.dev, '; '.join(reasons)))


def create_argv(region, want):
    argv = ['ndctl', 'create-namespace', '--region=region%d' % region.id, '--mode=%s' % want['mode']]
    if want.get('size') is not None:
        argv.append('--size=%d' % want['size'])
    if want.get('name'):
        argv.append('--name=%s' % want['name'])
    if want.get('uuid'):
        argv.append('--uuid=%s' % want['uuid'])
    if want.get('map') and want['mode'] in ('fsdax', 'devdax'):
        argv.append('--map=%s' % want['map'])
    if want.get('align') is not None:
        argv.append('--align=%d' % want['align'])
    return argv


def label_less_namespace(host, region):
    """The one namespace of a region on a label-less NVDIMM (it has no free space), or None."""
    found = [ns for ns in host.namespaces if ns.region == region.id and ns.label_less]
    return found[0] if found else None


def check_fits(host, region, want, freed=None):
    """The size asked for fits in one free extent of the region (``freed``: once that namespace is
    destroyed; its space need not be next to the free space, so the extent is computed, not added)."""
    size = want.get('size')
    extent = region.max_available_extent
    if freed is not None:
        exact = host.largest_free_extent(region, freed)
        extent = exact if exact is not None else max(extent, freed.raw_size)
    if size is None:
        if extent <= 0:
            raise PmemError('region=%s has no free space; free some with memtier.pmem.pmem_namespace '
                            'state=absent or choose another region' % region.dev)
        return
    if size % region.align:
        lower = size // region.align * region.align
        raise PmemError('size=%s is not a multiple of %s alignment (%s); use %s or %s'
                        % (human_size(size), region.dev, human_size(region.align),
                           human_size(lower) if lower else 'omit size',
                           human_size(lower + region.align)))
    if want.get('align'):
        step = want['align'] * max(len(host.region_dimms(region.id)), 1)
        if size % step:
            raise PmemError('size=%s is not a multiple of align=%s times the interleave ways of %s (%s); use %s'
                            % (human_size(size), human_size(want['align']), region.dev, human_size(step),
                               ' or '.join(human_size(v) for v in (size // step * step, (size // step + 1) * step) if v)))
    if size > extent:
        raise PmemError('size=%s does not fit in %s: the largest free extent%s is %s (%s free in all); use a smaller '
                        'size, omit size to take all free space, or choose another region. Nothing was changed'
                        % (human_size(size), region.dev,
                           ' once %s is destroyed' % freed.dev if freed is not None else '', human_size(extent),
                           human_size(region.available_size + (freed.raw_size if freed is not None else 0))))


def check_align(host, region, want):
    """align only with devdax or fsdax, and one the region's seed device of that mode supports."""
    align = want.get('align')
    if align is None:
        return
    if want['mode'] not in ('devdax', 'fsdax'):
        raise PmemError('align=%s does not apply to mode %s (only devdax and fsdax namespaces have a mapping '
                        'alignment); remove align' % (human_size(align), want['mode']))
    supported = host.supported_alignments(region.id, want['mode'])
    if supported and align not in supported:
        raise PmemError('align=%s is not supported by %s in %s mode (supported: %s); use one of those'
                        % (human_size(align), region.dev, want['mode'], ', '.join(human_size(v) for v in supported)))


class Target:
    """What a module run converges: ``snapshot(host)`` the object's state (a dict, or None when it
    does not exist), ``plan(host)`` what to do, ``predict(host, plan)`` the state check mode expects.
    A plan is a list of actions unless the target says otherwise here."""

    def describe(self, plan):
        return [line for action in plan for line in action.commands()]

    def pending(self, plan):
        return bool(plan)

    def apply(self, host, executor, plan):
        executor.apply(plan)


class NamespaceTarget(Target):
    """What a pmem_namespace task asks for, normalised once (every input checked before anything is
    read), and how to find, plan and predict it."""

    def __init__(self, params):
        self.want = normalize_namespace_params(params)
        self.params = params
        self.ns = None

    def snapshot(self, host):
        """The namespace the task names (or, on a label-less region, the one it converts)."""
        want = self.want
        self.ns = find_namespace(host, want.get('name'), want.get('uuid'),
                                 option='name' if want.get('name') else 'uuid')
        if self.ns is None and want['state'] == 'present' and want.get('region') is not None:
            whole = [n for n in host.namespaces if n.region == want['region'] and n.label_less]
            if whole and want['mode'] != 'raw' and whole[0].mode != 'raw':
                self.ns = whole[0]
        return self.ns.to_dict() if self.ns else None

    def plan(self, host):
        return plan_namespace(host, self.want)

    def predict(self, host, actions):
        converted = [ns for ns in host.namespaces if actions and actions[-1].kind == 'convert'
                     and ns.dev == actions[-1].target]
        return predict_namespace(converted[0] if converted else self.ns, self.want, actions)


def plan_namespace(host, want):
    """Actions that make the namespace ``want`` (normalize_namespace_params) names present or absent."""
    ns = find_namespace(host, want.get('name'), want.get('uuid'),
                        option='name' if want.get('name') else 'uuid')
    region = None
    # A namespace found where it was asked for needs no region lookup (a no-op reads one ndctl list).
    if want.get('region') is not None and (ns is None or ns.region != want['region']):
        region = host.region(want['region'])
        if region is None:
            known = ', '.join(r.dev for r in host.regions) or 'none'
            raise PmemError('region=region%s does not exist (regions on this host: %s)' % (want['region'], known))

    if want['state'] == 'absent':
        return plan_absent(host, ns, region, want)

    if ns is None and region is not None:
        whole = label_less_namespace(host, region)
        if whole is not None:
            return plan_label_less(host, region, whole, want)

    if ns is not None:
        diffs = namespace_differences(ns, want)
        if not diffs:
            return []
        if not want['force']:
            raise PmemError('namespace %s (%s) exists with other settings: %s; set force: true to destroy and '
                            'recreate it (this destroys its data)'
                            % (want.get('name') or want.get('uuid'), ns.dev, _show_diffs(diffs)))
        refuse_if_in_use(host, ns, 'reconfigure')
        target = region or host.region(ns.region)
        # Everything the create needs is checked now, before the destroy.
        check_align(host, target, want)
        check_fits(host, target, want, freed=ns if target.id == ns.region else None)
        if ns.label_less:
            return [Action('convert', ns.dev, convert_argv(ns, want))]
        return [Action('destroy', ns.dev, ['ndctl', 'destroy-namespace', '--force', ns.dev]),
                Action('create', target.dev, create_argv(target, want))]

    if region is None:
        region = pick_region(host, want)
    check_align(host, region, want)
    check_fits(host, region, want)
    return [Action('create', region.dev, create_argv(region, want))]


def plan_absent(host, ns, region, want):
    """Destroy the namespace, only when it is the one the task describes and nothing uses it."""
    if ns is None:
        whole = label_less_namespace(host, region) if region is not None else None
        if whole is not None and whole.mode != 'raw':
            raise PmemError('region=%s is label-less: its one namespace %s (mode %s, %s) holds no name and cannot '
                            'be destroyed, only converted whole. To stop using it, convert it back to raw with '
                            'mode: raw and force: true (destroys its data); nothing was changed'
                            % (region.dev, whole.dev, whole.mode, human_size(whole.raw_size)))
        return []
    diffs = namespace_differences(ns, want, given_only=True)
    if diffs:
        raise PmemError('refusing to destroy namespace %s (%s): it is not the namespace this task describes (%s). '
                        'Nothing was destroyed. Correct those settings, or leave them out with state: absent'
                        % (want.get('name') or want.get('uuid'), ns.dev, _show_diffs(diffs)))
    refuse_if_in_use(host, ns, 'destroy')
    return [Action('destroy', ns.dev, ['ndctl', 'destroy-namespace', '--force', ns.dev])]


def _show_diffs(diffs):
    return ', '.join('%s %s, wanted %s' % (key, _show(key, have), _show(key, wanted))
                     for key, (have, wanted) in sorted(diffs.items()))


def plan_label_less(host, region, whole, want):
    """A region with no label index: initialise labels (opt-in) or convert its one namespace whole."""
    if want['init_labels'] and whole.mode == 'raw':
        refuse_if_in_use(host, whole, 'initialise the labels of the region that holds')
        dimms = host.region_dimms(region.id)
        labelled = copy.copy(region)  # once labelled, all of the region is free
        labelled.available_size = labelled.max_available_extent = region.size
        check_align(host, region, want)
        check_fits(host, labelled, want)
        return [Action('init_labels', region.dev, None, dimms=dimms),
                Action('create', region.dev, create_argv(region, want))]
    if want.get('size') is not None or want.get('align') is not None:
        raise PmemError('region=%s is label-less (one fixed %s namespace, %s, no free space): it cannot be '
                        'sub-divided. Set init_labels: true to give it a label index (discards %s), or omit '
                        'size and align and set force: true to convert the whole namespace'
                        % (region.dev, whole.mode, human_size(whole.raw_size), whole.dev))
    if whole.mode == want['mode'] and not namespace_differences(whole, dict(want, region=None)):
        return []
    if not want['force']:
        raise PmemError('region=%s is label-less: its one namespace %s (%s, mode %s) can only be converted whole. '
                        'Set force: true to convert it to %s (destroys its data), or init_labels: true to '
                        'sub-divide the region' % (region.dev, whole.dev, human_size(whole.raw_size),
                                                   whole.mode, want['mode']))
    refuse_if_in_use(host, whole, 'convert')
    return [Action('convert', whole.dev, convert_argv(whole, want))]


def convert_argv(ns, want):
    argv = ['ndctl', 'create-namespace', '--force', '--reconfig=%s' % ns.dev, '--mode=%s' % want['mode']]
    if want.get('map') and want['mode'] in ('fsdax', 'devdax'):
        argv.append('--map=%s' % want['map'])
    return argv


def pick_region(host, want):
    regions = [r for r in host.regions if r.type == 'pmem' and not label_less_namespace(host, r)]
    size = want.get('size') or 1
    for region in regions:
        if region.max_available_extent >= size:
            return region
    if not host.regions:
        raise PmemError('this host has no persistent memory regions (ndctl list -R is empty); check that '
                        'the NVDIMMs are visible to the kernel (nfit, libnvdimm)')
    unlabelled = [r.dev for r in host.regions if label_less_namespace(host, r)]
    if unlabelled and want['init_labels']:
        raise PmemError('init_labels: true needs region: name the region whose label index to initialise (label-less '
                        'here: %s), e.g. region=%s. Nothing was changed' % (', '.join(unlabelled), unlabelled[0]))
    raise PmemError('no region has room for size=%s (free: %s); set region, a smaller size, or '
                    'init_labels: true with region for a region that has no label index (%s)'
                    % (human_size(want.get('size')) if want.get('size') else 'any',
                       ', '.join('%s %s' % (r.dev, human_size(r.max_available_extent)) for r in host.regions),
                       ', '.join(unlabelled) or 'none here'))


def _show(key, value):
    return human_size(value) if key == 'size' and isinstance(value, int) else value


def normalize_namespace_params(params, prefix=''):
    """The request, checked and normalised; ``prefix`` names where it came from in messages
    (``devices[1].`` for an entry of a list)."""
    want = {
        'state': params.get('state', 'present'),
        'mode': params.get('mode') or 'devdax',
        'mode_given': params.get('mode') is not None,
        'map': params.get('map'),
        'force': bool(params.get('force')),
        'init_labels': bool(params.get('init_labels')),
        'name': params.get('name'),
        'uuid': params.get('uuid'),
        'size': None, 'align': None, 'region': None,
    }
    if not want['name'] and not want['uuid']:
        raise PmemError('one of name or uuid is required: it is how the namespace is found again on every run')
    if want['name'] is not None:
        check_namespace_name(want['name'], prefix + 'name')
    if want['uuid'] is not None:
        if not is_uuid(want['uuid']) or want['uuid'].strip('0-') == '':
            raise PmemError("uuid=%s is not a uuid: use the form 'a1b2c3d4-0000-4000-8000-123456789abc'"
                            % want['uuid'])
        want['uuid'] = want['uuid'].lower()
    # Zero or empty sizes are refused (ndctl reads --size=0 as all free space): omit size for that.
    if params.get('size') is not None:
        want['size'] = parse_size(params['size'], prefix + 'size')
    if params.get('align') is not None:
        want['align'] = parse_align(params['align'], prefix + 'align')
    if params.get('region') is not None:
        want['region'] = region_id(params['region'], prefix + 'region')
    if want['map'] and want['mode'] not in ('fsdax', 'devdax'):
        raise PmemError('map=%s only applies to mode fsdax or devdax, not %s; remove map'
                        % (want['map'], want['mode']))
    return want


def predict_namespace(ns, want, actions):
    """What the namespace will look like after the actions (for check mode's diff)."""
    if want['state'] == 'absent':
        return None
    if not actions:
        return ns.to_dict() if ns else None
    after = {}
    if ns and actions[-1].kind == 'convert':  # what a conversion keeps; the rest is known once it ran
        after = dict((key, value) for key, value in ns.to_dict().items()
                     if key in ('dev', 'region', 'size', 'label_less', 'state'))
    region = next((a.target for a in actions if a.kind == 'create'), after.get('region'))
    after.update({'name': want.get('name') if not after.get('label_less') else None,
                  'mode': want['mode'], 'region': region})
    if want.get('uuid'):
        after['uuid'] = want['uuid']
    if want.get('size') is not None:
        after['size'] = want['size']
    if want.get('map'):
        after['map'] = want['map']
    if want.get('align') is not None:
        after['align'] = want['align']
    return after


# ---------------------------------------------------------------------------------------------
# dax_reconfigure and memory_online
# ---------------------------------------------------------------------------------------------

def online_action(dev, movable):
    argv = ['daxctl', 'online-memory'] + ([] if movable else ['--no-movable']) + [dev.dev]
    return Action('online', dev.dev, argv, movable=movable)


def reconfigure_action(dev, mode):
    argv = ['daxctl', 'reconfigure-device', '--mode=%s' % mode] + (['--no-online'] if mode == 'system-ram' else [])
    return Action('reconfigure', dev.dev, argv + [dev.dev], mode=mode)


def plan_online(dev, movable, force, timeout, policy=None):
    """Actions that leave every memory block of a system-ram device online in the wanted zone. POLICY is the
    kernel's auto-online policy (auto_online_blocks), named in the refusal when it put the blocks there."""
    zone = 'Movable' if movable else 'Normal'
    wrong = [b for b in dev.blocks if b.online and b.zone != zone]
    if wrong:
        if not force:
            zones = sorted(set(b.zone or '?' for b in wrong))
            why = ''
            if policy not in (None, 'offline', 'unknown') and zones == ['Normal']:
                # hmem and CXL dax devices come up in kmem mode on 6.3+, and the kernel onlines them at once
                why = (' (the kernel onlined them by itself: %s/auto_online_blocks is %s; boot with '
                       'memhp_default_state=offline to keep hot-added memory offline)' % (SYS_MEMORY, policy))
            raise PmemError('%s has %d memory block(s) online in zone %s, wanted %s (movable=%s)%s; set '
                            'movable to match, or force: true to offline and re-online them (takes the memory '
                            'away for a moment and fails if the kernel has pinned it)'
                            % (dev.dev, len(wrong), ', '.join(zones), zone, movable, why))
        return [Action('offline', dev.dev, None, timeout=timeout), online_action(dev, movable)]
    if dev.online_memblocks < dev.total_memblocks:
        return [online_action(dev, movable)]
    return []


def plan_offline(host, dev, timeout):
    if dev.online_memblocks:
        if not host.kernel_at_least(*MIN_KERNEL_HOTREMOVE):
            raise PmemError('kernel %s cannot hot-remove memory (5.3 or later is needed); reboot without the '
                            'system-ram configuration to get the memory back' % host.kernel_release)
        return [Action('offline', dev.dev, None, timeout=timeout)]
    return []


def check_can_hotplug(host, dev):
    """Everything that makes `daxctl reconfigure-device --mode=system-ram` fail, with its fix."""
    check_host_can_hotplug(host)
    if dev.model == 'dax-class':
        raise PmemError('%s uses the old dax-class device model (dax_pmem_compat), in which daxctl cannot '
                        'reconfigure devices ("device model is dax-class"). Run `daxctl migrate-device-model`, '
                        'then reload the dax modules (disable the devdax namespaces, modprobe -r '
                        'dax_pmem_compat, modprobe dax_pmem, enable them) or reboot; the memtier.pmem.system_ram '
                        'role does this' % dev.dev)
    check_memmap(host, dev)


def check_host_can_hotplug(host):
    """What makes every hot-add on this host fail: the kernel, daxctl, kmem, the online policy."""
    if not host.kernel_at_least(*MIN_KERNEL_KMEM):
        raise PmemError('kernel %s cannot use persistent memory as system RAM: the kmem driver needs Linux 5.1 '
                        'or later' % host.kernel_release)
    major = host.tool_major('daxctl')
    if major is not None and major < MIN_DAXCTL:
        raise PmemError('daxctl %s is too old: reconfigure-device needs v%d or later'
                        % (host.tool_version('daxctl'), MIN_DAXCTL))
    problem = host.kmem_problem()
    if problem:
        raise PmemError(problem)
    policy = host.auto_online_blocks
    if policy not in ('offline', 'unknown'):
        raise PmemError('the kernel onlines hot-added memory by itself (%s/auto_online_blocks = %s), so daxctl '
                        'refuses system-ram ("kernel policy will auto-online memory") or the memory lands in '
                        'the kernel\'s zone, not the one asked for. Set it to offline (echo offline > '
                        '%s/auto_online_blocks, and memhp_default_state=offline on the kernel command line), '
                        'or let the memtier.pmem.system_ram role do it' % (SYS_MEMORY, policy, SYS_MEMORY))


def check_memmap(host, dev):
    """Hot-adding memory takes DRAM for its page structures (1/64 of it) from the memory already
    there; too little, and kmem fails half-way or the kernel stops answering."""
    if host.memmap_on_memory(dev.dev):
        return
    check_memmap_bytes(host, host.memmap_bytes(dev.dev, dev.size), '%s: hot-adding its %s' % (dev.dev, human_size(dev.size)),
                       dev.dev)


def check_memmap_bytes(host, needed, what, name='daxX.Y'):
    if host.mem_available is None or needed * 2 <= host.mem_available:
        return
    raise PmemError('%s as system RAM needs %s of DRAM for the kernel\'s page structures (memmap: 64 bytes per '
                    '4 KiB page), and this host has %s available (MemAvailable); the collection refuses when that '
                    'is more than half of it, because the hot-add can fail half-way or leave the kernel unable to '
                    'answer. Nothing was changed. Ways out: a smaller namespace (memtier.pmem.pmem_namespace size), '
                    'more free memory, or memmap_on_memory, which takes the page structures from the device itself '
                    '(kernel 6.8 or later: boot with memory_hotplug.memmap_on_memory=1, then echo 1 > '
                    '%s/%s/memmap_on_memory before this task)'
                    % (what, human_size(needed), human_size(host.mem_available), SYS_DAX_BUS, name))


class DeviceTarget(Target):
    """One dax device, found once (by name or namespace), then followed by name across re-reads;
    ``planner(host, device, params)`` decides."""

    def __init__(self, params, planner):
        self.params = params
        self.planner = planner
        self.device = None

    def snapshot(self, host):
        if self.device is None:
            self.device = resolve_device(host, self.params.get('device'), self.params.get('namespace'))
        else:
            self.device = host.dax_device(self.device.dev)
        return self.device.to_dict() if self.device else None

    def plan(self, host):
        return self.planner(host, self.device, self.params)

    def predict(self, host, actions):
        return predict_device(host, self.device, actions)


class DeviceModelTarget(Target):
    """The dax bus device model: installed for the next boot (daxctl migrate-device-model) and, when
    nothing holds a dax device (open or mapped), switched to now; else a reboot finishes it."""

    def __init__(self, params):
        self.params = params
        self.holders = {}

    def snapshot(self, host):
        return {'device_model': host.device_model, 'configured': host.runner.read(DAXCTL_CONF) is not None}

    def plan(self, host):
        if host.device_model == 'bus':
            return []
        actions = []
        if host.runner.read(DAXCTL_CONF) is None:
            actions.append(Action('migrate', 'bus', ['daxctl', 'migrate-device-model']))
        self.holders = dict((node, procs) for node, procs in host.holders().items() if node.startswith('dax'))
        if self.params['live'] and not self.holders:
            actions.append(Action('switch_model', 'bus', None, namespaces=[
                ns.dev for ns in host.namespaces if ns.mode == 'devdax' and ns.state != 'disabled']))
        return actions

    def predict(self, host, actions):
        before = self.snapshot(host)
        kinds = [action.kind for action in actions]
        return {'device_model': 'bus' if 'switch_model' in kinds else before['device_model'],
                'configured': before['configured'] or 'migrate' in kinds}

    def extra(self, host, after):
        return {'reboot_required': after['device_model'] != 'bus', 'holders': self.holders}


def check_timeout(params):
    timeout = params.get('timeout')
    if timeout is not None and timeout <= 0:
        raise PmemError('timeout=%s must be a positive number of seconds' % timeout)
    return timeout or OFFLINE_TIMEOUT


def plan_memory(host, dev, params):
    """memory_online: every block of the device online (in the wanted zone) or offline."""
    timeout = check_timeout(params)
    if params.get('state', 'online') == 'offline':
        return plan_offline(host, dev, timeout)
    if dev.mode != 'system-ram':
        raise PmemError('%s is in %s mode, so it has no memory to online; hand it to the kernel first with '
                        'memtier.pmem.dax_reconfigure mode=system-ram' % (dev.dev, dev.mode))
    movable = params.get('movable')
    return plan_online(dev, True if movable is None else movable, bool(params.get('force')), timeout,
                       host.auto_online_blocks)


def plan_reconfigure(host, dev, params):
    mode = params['mode']
    movable = params.get('movable', True)
    movable = True if movable is None else movable
    force = bool(params.get('force'))
    timeout = check_timeout(params)
    actions = []
    if dev.state == 'disabled':
        actions.append(Action('enable', dev.dev, ['daxctl', 'enable-device', dev.dev]))
    if mode == 'system-ram':
        if dev.mode != 'system-ram':
            holders = host.holders([dev.dev]).get(dev.dev)
            if holders and not force:
                raise PmemError('refusing to make %s system RAM: /dev/%s is %s. Its contents would become kernel '
                                'memory under them (their data is lost, and the kernel can crash when the device '
                                'is given back). Nothing was changed. Stop them first, or set force: true'
                                % (dev.dev, dev.dev, describe_holders(holders)))
            check_can_hotplug(host, dev)
            actions.append(reconfigure_action(dev, 'system-ram'))
            if params.get('online', True):
                actions.append(online_action(dev, movable))
        elif params.get('online', True):
            actions.extend(plan_online(dev, movable, force, timeout, host.auto_online_blocks))
        return actions
    # mode == devdax
    if dev.mode == 'system-ram':
        if dev.online_memblocks and not force:
            raise PmemError('%s has %d of %d memory blocks online (%s of system RAM on node %s); taking them away '
                            'needs force: true, or offline them first with memtier.pmem.memory_online '
                            'state=offline' % (dev.dev, dev.online_memblocks, dev.total_memblocks,
                                               human_size(dev.online_memblocks * host.block_size),
                                               dev.target_node))
        actions.extend(plan_offline(host, dev, timeout))
        if not host.kernel_at_least(*MIN_KERNEL_HOTREMOVE):
            raise PmemError('kernel %s cannot return system-ram to devdax (hot-remove needs 5.3 or later)'
                            % host.kernel_release)
        actions.append(reconfigure_action(dev, 'devdax'))
    return actions


def predict_device(host, dev, actions):
    """The device's expected state after the actions (for check mode's diff)."""
    after = dev.to_dict()
    total = after['total_memblocks']
    if not total and host.block_size:
        total = sum(len(kmem_range_blocks(start, size, host.block_size)) for start, size in host.dax_ranges(dev.dev))
    for action in actions:
        if action.kind == 'enable':
            after['state'] = 'enabled'
        elif action.kind == 'reconfigure':
            mode = action.args['mode']
            after['mode'] = mode
            after['total_memblocks'] = total if mode == 'system-ram' else 0
            after['online_memblocks'] = 0
            after['movable'] = None
            after['zones'] = []
        elif action.kind == 'online':
            movable = action.args['movable']
            after['online_memblocks'] = after['total_memblocks'] or total
            after['movable'] = movable
            after['zones'] = ['Movable' if movable else 'Normal']
        elif action.kind == 'offline':
            after['online_memblocks'] = 0
            after['movable'] = None
            after['zones'] = []
    return after
