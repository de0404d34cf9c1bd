# Copyright (c) memtier engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Module-level unit tests as data: a scripted replay runner and the case runner.

``ScriptedRunner`` is a runner (the seam of plugins/module_utils/_pmem.py) that starts from a
recording made on a real kernel (tests/fixtures/<suite>/<state>.json) and follows a script: a
command that matches the next script entry gets that entry's rc/out/err and then moves the host to
the entry's ``then`` state; any other command is answered from the current state's recording, and
a command that is neither fails the test ("unscripted command: ...").

``run_case`` runs one case of cases/<module>.yml through the module's ``main()`` (module args
patched, ``ModuleRunner`` replaced by the scripted runner, exit_json/fail_json caught) and checks
its ``expect``. The case format is documented at the top of each cases/*.yml file.
"""
import contextlib
import copy
import importlib
import json
import os
import re

import pytest
import yaml

from unittest import mock

from ansible.module_utils import basic
from ansible.module_utils.basic import AnsibleModule

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19: the classic way, the arguments AnsibleModule reads from _ANSIBLE_ARGS
    from ansible.module_utils.common.text.converters import to_bytes

    @contextlib.contextmanager
    def patch_module_args(args):
        with mock.patch.object(basic, '_ANSIBLE_ARGS', to_bytes(json.dumps({'ANSIBLE_MODULE_ARGS': args}))):
            yield

from ansible_collections.memtier.pmem.plugins.module_utils import _module
from ansible_collections.memtier.pmem.plugins.module_utils._pmem import SYS_MEMORY, TOOLS, PmemError

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(HERE))))
FIXTURES = os.path.join(ROOT, 'tests', 'fixtures')
CASES = os.path.join(HERE, 'cases')

# What a state holds: the recording's four maps, plus sysfs writes that fail (path -> strerror).
STATE_KEYS = ('commands', 'files', 'dirs', 'links', 'write_errors')
# Overlay keys: the state keys, plus ``blocks`` ({N: 'offline' | 'online' | 'online Movable'}: memoryN's state
# and, with a zone, its valid_zones).
OVERLAY_KEYS = STATE_KEYS + ('blocks',)
CASE_KEYS = frozenset(('id', 'fixture', 'params', 'check', 'diff', 'tools', 'script', 'expect', 'xfail',
                       'check_mode_agrees') + OVERLAY_KEYS)
SCRIPT_KEYS = frozenset(('cmd', 'rc', 'out', 'err', 'data', 'then'))
# expect keys with a meaning of their own; every other key is matched as a subset of the result's.
SPECIAL_EXPECT = frozenset(('failed', 'changed', 'commands', 'msg', 'msg_re', 'absent', 'locked', 'calls', 'writes'))
# Keys of a module result that are not the object it manages (for check_mode_agrees).
NOT_OBJECT = frozenset(('changed', 'commands', 'diff', 'failed', 'msg', 'invocation'))


def load_fixture(name):
    with open(os.path.join(FIXTURES, name + '.json')) as handle:
        return json.load(handle)


def fixture_names():
    """Every recorded fixture, as 'suite/state'."""
    return sorted('%s/%s' % (suite, name[:-5]) for suite in sorted(os.listdir(FIXTURES))
                  if os.path.isdir(os.path.join(FIXTURES, suite))
                  for name in os.listdir(os.path.join(FIXTURES, suite)) if name.endswith('.json'))


def apply_overlay(state, overlay, where):
    """Add or replace entries of the state's maps (a null value removes one)."""
    unknown = set(overlay) - set(OVERLAY_KEYS)
    if unknown:
        raise AssertionError('%s: unknown overlay key(s) %s (known: %s)' % (where, sorted(unknown), ', '.join(OVERLAY_KEYS)))
    for key in STATE_KEYS:
        for path, value in (overlay.get(key) or {}).items():
            if value is None:
                state[key].pop(path, None)
            elif key == 'commands':
                state[key][path] = {'rc': value.get('rc', 0), 'out': value.get('out', ''), 'err': value.get('err', '')}
            else:
                state[key][path] = value
    for index, value in (overlay.get('blocks') or {}).items():
        words = str(value).split()
        state['files']['%s/memory%s/state' % (SYS_MEMORY, index)] = words[0] + '\n'
        if len(words) > 1:
            state['files']['%s/memory%s/valid_zones' % (SYS_MEMORY, index)] = ' '.join(words[1:]) + '\n'
    return state


def fixture_state(name, overlay=None, where='case'):
    recording = load_fixture(name)['recording']
    state = dict((key, copy.deepcopy(recording.get(key) or {})) for key in STATE_KEYS)
    return apply_overlay(state, overlay or {}, where)


def overlay_of(mapping):
    return dict((key, mapping[key]) for key in OVERLAY_KEYS if key in mapping)


class ScriptedRunner:
    """The runner interface of _pmem (tool_path, run, read, write, listdir, readlink, lock) over a
    recorded state that a script moves forward; keeps every call."""

    def __init__(self, fixture, overlay=None, script=None, tools=None):
        self.fixture = fixture
        self.state = fixture_state(fixture, overlay)
        recording = load_fixture(fixture)['recording']
        self.tools = dict(recording.get('tools') or dict(
            (tool, '/usr/bin/' + tool if '%s --version' % tool in recording.get('commands', {}) else None)
            for tool in TOOLS))
        self.tools.update(tools or {})
        self.script = [self._entry(index, entry) for index, entry in enumerate(script or [])]
        self.position = 0
        self.calls = []      # command lines, in order (reads and scripted commands alike)
        self.runs = []       # {'cmd', 'data', 'timeout', 'scripted', 'locked'} for each run()
        self.writes = []     # [path, text]
        self.locks = []      # {'timeout', 'owner'} for each lock taken
        self.problems = []   # what failed the test, even if the code under test swallowed the exception
        self.require_tools = None
        self.bin_dirs = []
        self._held = 0

    @staticmethod
    def _entry(index, entry):
        unknown = set(entry) - SCRIPT_KEYS
        if 'cmd' not in entry or unknown:
            raise AssertionError('script entry %d: needs cmd, knows %s; got %s' % (index, sorted(SCRIPT_KEYS), entry))
        return dict({'rc': 0, 'out': '', 'err': ''}, **entry)

    def _fail(self, message):
        self.problems.append(message)
        raise AssertionError(message)

    # -- the runner interface -------------------------------------------------------------------

    def tool_path(self, name):
        return self.tools.get(name)

    def run(self, argv, data=None, timeout=None):
        line = ' '.join(argv)
        self.calls.append(line)
        record = {'cmd': line, 'data': data, 'timeout': timeout, 'scripted': False, 'locked': self._held > 0}
        self.runs.append(record)
        if argv[0] in TOOLS and not self.tools.get(argv[0]):
            raise PmemError('%s is not installed on this host' % argv[0])  # as ModuleRunner does
        entry = self.script[self.position] if self.position < len(self.script) else None
        if entry is not None and entry['cmd'] == line:
            if 'data' in entry and entry['data'] != data:
                self._fail('scripted command %r was given data %r, the script expects %r' % (line, data, entry['data']))
            self.position += 1
            record['scripted'] = True
            self._then(entry.get('then'))
            return entry['rc'], entry['out'], entry['err']
        answer = self.state['commands'].get(line)
        if answer is None:
            self._fail('unscripted command: %s (next script entry: %s; recorded in this state: %s)'
                       % (line, entry['cmd'] if entry else 'none, the script is done',
                          ', '.join(sorted(self.state['commands'])) or 'nothing'))
        return answer['rc'], answer['out'], answer['err']

    def _then(self, then):
        if then is None:
            return
        if isinstance(then, str):
            then = {'fixture': then}
        where = 'then of script entry %d' % self.position
        unknown = set(then) - set(OVERLAY_KEYS) - set(['fixture'])
        if unknown:
            self._fail('%s: unknown key(s) %s' % (where, sorted(unknown)))
        if then.get('fixture'):  # a new recorded state: the case's own overlays do not carry over
            self.state = fixture_state(then['fixture'], overlay_of(then), where)
        else:
            apply_overlay(self.state, overlay_of(then), where)

    def read(self, path):
        return self.state['files'].get(path)

    def write(self, path, text):
        self.writes.append([path, text])
        error = self.state['write_errors'].get(path)
        if error is None:
            self.state['files'][path] = text if text.endswith('\n') else text + '\n'
        return error

    def put_file(self, path, text, mode):
        """A configuration file written whole: it is in the state (and its directory's listing) after."""
        self.writes.append([path, text])
        self.state['links'].pop(path, None)
        self.state['files'][path] = text
        self._listed(path, True)

    def remove_file(self, path):
        self.writes.append([path, None])
        self.state['files'].pop(path, None)
        self.state['links'].pop(path, None)
        self._listed(path, False)

    def symlink(self, target, path):
        self.writes.append([path, '-> ' + target])
        self.state['files'].pop(path, None)
        self.state['links'][path] = target
        self._listed(path, True)

    def _listed(self, path, present):
        directory, name = path.rsplit('/', 1)
        entries = set(self.state['dirs'].get(directory) or [])
        entries.add(name) if present else entries.discard(name)
        self.state['dirs'][directory] = sorted(entries)

    def listdir(self, path):
        return self.state['dirs'].get(path)

    def readlink(self, path):
        return self.state['links'].get(path)

    @contextlib.contextmanager
    def lock(self, timeout, owner):
        self.locks.append({'timeout': timeout, 'owner': owner})
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1

    # -- after the run ------------------------------------------------------------------------

    def check_done(self):
        """Every script entry was used, nothing failed unseen, every scripted command ran under the lock."""
        assert not self.problems, 'the runner failed: %s' % '; '.join(self.problems)
        left = [entry['cmd'] for entry in self.script[self.position:]]
        assert not left, 'script entries never run: %s (commands run: %s)' % (left, self.calls)
        outside = [run['cmd'] for run in self.runs if run['scripted'] and not run['locked']]
        assert not outside, 'scripted commands ran outside the host lock: %s' % outside


# ---------------------------------------------------------------------------------------------
# Running a module
# ---------------------------------------------------------------------------------------------

class ModuleExit(Exception):
    """exit_json or fail_json was called; ``result`` is what the module returned."""

    def __init__(self, result):
        super(ModuleExit, self).__init__(result)
        self.result = result


def _exit_json(module, **kwargs):
    raise ModuleExit(kwargs)


def _fail_json(module, msg, **kwargs):
    kwargs.pop('exception', None)
    raise ModuleExit(dict(kwargs, failed=True, msg=msg))


def run_module(name, args, runner):
    """Run plugins/modules/<name>.py's main() with ``args`` over ``runner``; returns its result."""
    main = importlib.import_module('ansible_collections.memtier.pmem.plugins.modules.' + name).main

    def factory(module, require_tools=True, tools=None):
        runner.require_tools = require_tools
        runner.bin_dirs.append(module.params.get('bin_dir'))  # each runner made, with the bin_dir it was given
        return runner

    with contextlib.ExitStack() as stack:
        stack.enter_context(patch_module_args(dict(args, _ansible_module_name='memtier.pmem.' + name)))
        stack.enter_context(mock.patch.object(_module, 'ModuleRunner', factory))
        stack.enter_context(mock.patch.object(AnsibleModule, 'exit_json', _exit_json))
        stack.enter_context(mock.patch.object(AnsibleModule, 'fail_json', _fail_json))
        try:
            main()
        except ModuleExit as done:
            return done.result
    raise AssertionError('%s main() returned without calling exit_json or fail_json' % name)


# ---------------------------------------------------------------------------------------------
# Matching
# ---------------------------------------------------------------------------------------------

def subset_problems(expected, actual, path='result'):
    """Where ``actual`` does not match ``expected``: a dict matches when each expected key matches
    (other keys are ignored), a list when it has the same length and each item matches, anything
    else when equal."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return ['%s: expected a dict with %s, got %r' % (path, sorted(expected), actual)]
        problems = []
        for key, value in expected.items():
            if key not in actual:
                problems.append('%s.%s: missing (has %s)' % (path, key, ', '.join(sorted(map(str, actual)))))
            else:
                problems.extend(subset_problems(value, actual[key], '%s.%s' % (path, key)))
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return ['%s: expected %d item(s) like %r, got %r' % (path, len(expected), expected, actual)]
        problems = []
        for index, (want, have) in enumerate(zip(expected, actual)):
            problems.extend(subset_problems(want, have, '%s[%d]' % (path, index)))
        return problems
    numbers = all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in (expected, actual))
    if expected != actual or type(expected) is not type(actual) and not numbers:
        return ['%s: expected %r, got %r' % (path, expected, actual)]
    return []


def check_expect(expect, result, runner):
    problems = []
    if bool(result.get('failed', False)) != bool(expect.get('failed', False)):
        problems.append('failed: expected %s, got %s (msg: %s)'
                        % (bool(expect.get('failed', False)), bool(result.get('failed')), result.get('msg')))
    if 'changed' in expect and result.get('changed', False) != expect['changed']:
        problems.append('changed: expected %s, got %s' % (expect['changed'], result.get('changed', False)))
    if 'commands' in expect and result.get('commands') != expect['commands']:
        problems.append('commands: expected %s, got %s' % (expect['commands'], result.get('commands')))
    if 'msg' in expect and expect['msg'] not in (result.get('msg') or ''):
        problems.append('msg: expected to contain %r, got %r' % (expect['msg'], result.get('msg')))
    if 'msg_re' in expect and not re.search(expect['msg_re'], result.get('msg') or ''):
        problems.append('msg: expected to match %r, got %r' % (expect['msg_re'], result.get('msg')))
    for key in expect.get('absent') or []:
        if key in result:
            problems.append('%s: expected absent, got %r' % (key, result[key]))
    if 'locked' in expect and bool(runner.locks) != expect['locked']:
        problems.append('locked: expected %s, the host lock was taken %d time(s)' % (expect['locked'], len(runner.locks)))
    if 'calls' in expect and runner.calls != expect['calls']:
        problems.append('calls: expected %s, got %s' % (expect['calls'], runner.calls))
    if 'writes' in expect and runner.writes != expect['writes']:
        problems.append('writes: expected %s, got %s' % (expect['writes'], runner.writes))
    rest = dict((key, value) for key, value in expect.items() if key not in SPECIAL_EXPECT)
    problems.extend(subset_problems(rest, result))
    return problems


# ---------------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------------

def load_cases(module):
    with open(os.path.join(CASES, module + '.yml')) as handle:
        data = yaml.safe_load(handle)
    cases = data.get('cases') or []
    seen = set()
    for case in cases:
        unknown = set(case) - CASE_KEYS
        assert not unknown, '%s.yml case %s: unknown key(s) %s' % (module, case.get('id'), sorted(unknown))
        assert case.get('id') and case['id'] not in seen, '%s.yml: a case without id, or a duplicate id %s' % (
            module, case.get('id'))
        assert case.get('fixture') and 'expect' in case, '%s.yml case %s: fixture and expect are required' % (
            module, case['id'])
        seen.add(case['id'])
    return cases


def case_params(modules=('pmem_namespace', 'dax_reconfigure', 'memory_online', 'pmem_info', 'system_ram_devices',
                         'dax_device_model', 'system_ram_boot')):
    """pytest params (module, case) for every case of cases/<module>.yml, xfail ones marked."""
    params = []
    for module in modules:
        for case in load_cases(module):
            marks = [pytest.mark.xfail(reason=case['xfail'], strict=False)] if case.get('xfail') else []
            params.append(pytest.param(module, case, id='%s:%s' % (module, case['id']), marks=marks))
    return params


def module_args(case, check=None):
    args = dict(case.get('params') or {})
    if case.get('check') if check is None else check:
        args['_ansible_check_mode'] = True
    if case.get('diff'):
        args['_ansible_diff'] = True
    return args


def runner_for(case, script=True):
    return ScriptedRunner(case['fixture'], overlay_of(case), case.get('script') if script else None, case.get('tools'))


def run_case(module, case):
    runner = runner_for(case)
    result = run_module(module, module_args(case), runner)
    problems = check_expect(case['expect'], result, runner)
    assert not problems, 'case %s:\n  %s\nresult: %s\ncommands run: %s' % (
        case['id'], '\n  '.join(problems), json.dumps(result, indent=1, sort_keys=True, default=str), runner.calls)
    runner.check_done()
    if case.get('check_mode_agrees'):
        check_mode_agrees(module, case, result)


def check_mode_agrees(module, case, real):
    """Check mode, on the same starting state and without the script (it must run nothing that
    changes the host), says ``changed`` as the real run did and predicts the object the real run
    left: every key it predicts equals the real one."""
    assert not case.get('check'), 'check_mode_agrees runs the case both ways; remove check: true'
    runner = runner_for(case, script=False)
    predicted = run_module(module, module_args(case, check=True), runner)
    assert not predicted.get('failed'), 'check mode failed: %s' % predicted.get('msg')
    assert predicted['changed'] == real['changed'], 'check mode says changed=%s, the real run %s' % (
        predicted['changed'], real['changed'])
    for key in set(predicted) - NOT_OBJECT:
        problems = subset_problems(predicted[key], real.get(key), key)
        assert not problems, 'check mode predicted another %s than the real run left (expected: the prediction, got: the real run):\n  %s' % (
            key, '\n  '.join(problems))
