# Part of bench/flow.py (not shipped): counts the tasks of a playbook run and where they ran.
"""Write every task result of the run, and the play recap, as JSON to $BENCH_TASKS_FILE."""
from __future__ import annotations

import json
import os
import time

from ansible.playbook.handler import Handler
from ansible.plugins.callback import CallbackBase

DOCUMENTATION = '''
name: bench_tasks
type: aggregate
short_description: task results and the play recap as JSON, for bench/flow.py
description:
  - Records each task's action, status, duration and whether it ran on the managed host or only on the
    controller (set_fact, assert, include_*, ...), and the play recap, into the file named by BENCH_TASKS_FILE.
requirements:
  - BENCH_TASKS_FILE in the environment (nothing is written without it)
'''

# Actions that run in the controller's process only: no module is sent to the host.
CONTROLLER_ONLY = frozenset((
    'add_host', 'assert', 'debug', 'fail', 'group_by', 'import_role', 'import_tasks', 'include_role',
    'include_tasks', 'include_vars', 'meta', 'set_fact', 'set_stats', 'validate_argument_spec',
))


def short_action(action):
    for prefix in ('ansible.builtin.', 'ansible.legacy.'):
        if action.startswith(prefix):
            return action[len(prefix):]
    return action


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'bench_tasks'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._tasks = []
        self._started = {}

    def v2_runner_on_start(self, host, task):
        self._started[task._uuid] = time.monotonic()

    def _record(self, result, status):
        task = result._task
        action = short_action(task.action or '')
        delegated = task.delegate_to not in (None, '', result._host.name)
        started = self._started.get(task._uuid)
        self._tasks.append({
            'name': task.get_name(),
            'action': action,
            'status': 'changed' if status == 'ok' and result._result.get('changed') else status,
            'on_host': status != 'skipped' and action not in CONTROLLER_ONLY and not delegated,
            'handler': isinstance(task, Handler),
            'seconds': round(time.monotonic() - started, 3) if started is not None else None,
        })

    def v2_runner_on_ok(self, result):
        self._record(result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, 'ignored' if ignore_errors else 'failed')

    def v2_runner_on_skipped(self, result):
        self._record(result, 'skipped')

    def v2_runner_on_unreachable(self, result):
        self._record(result, 'unreachable')

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get('BENCH_TASKS_FILE')
        if not path:
            return
        recap = {host: stats.summarize(host) for host in sorted(stats.processed)}
        tasks = self._tasks
        counts = {
            'results': len(tasks),
            'on_host': sum(t['on_host'] for t in tasks),
            'controller_only': sum(t['status'] != 'skipped' and not t['on_host'] for t in tasks),
            'skipped': sum(t['status'] == 'skipped' for t in tasks),
            'changed': sum(t['status'] == 'changed' for t in tasks),
            'failed': sum(t['status'] in ('failed', 'unreachable') for t in tasks),
        }
        with open(path, 'w') as handle:
            json.dump({'counts': counts, 'recap': recap, 'tasks': tasks}, handle, indent=1)
