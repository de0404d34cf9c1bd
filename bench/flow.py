"""Benchmark: the seed's flow, the module flow and the system_ram role, as ratios against the seed's commands.

    flock /tmp/memtier-vm.lock python3 bench/flow.py [--rounds 3] [--suite bookworm] [--size 1g]

(`make bench` runs it so.) Boots one QEMU (TCG) VM with an emulated NVDIMM (tools/vm/pmemvm.py), labels the
NVDIMM, and times in interleaved rounds the wall time of one ansible-playbook run of each flow, all with the
same ansible configuration (bench/flow/ansible.cfg: that of extensions/molecule/config.yml, ssh pipelining
and ControlPersist):

- baseline (a): the seed's flow as four plain ansible.builtin.command tasks (bench/flow/baseline.yml):
  ndctl create-namespace --mode=devdax, daxctl reconfigure-device --mode=system-ram --no-online,
  daxctl online-memory, numactl -H;
- modules (b): pmem_namespace, dax_reconfigure (online=false), memory_online and numactl -H (modules.yml);
- role_first (c): the role memtier.pmem.system_ram with one device on the starting state (role.yml);
- role_rerun (d): the same playbook again on the host (c) provisioned; it must report changed=0.

Before (a), (b) and (c) the guest is put back to the starting state, untimed and the same way every time
(bench/flow/guest.sh reset: memory offline, devdax mode, namespaces destroyed, the files the role wrote
removed, kmem as at boot; it checks that the starting state was reached). The order of (a), (b) and (c)+(d)
turns by one each round, so that drift hits all alike; a warm-up round comes first and is not counted.

A callback (bench/flow/callback_plugins/bench_tasks.py) records every task: the tasks that ran on the host
(a module or a command sent to it; not skipped, not set_fact/assert/include_* which run in the controller)
are counted for each flow, next to the play recap.

Targets (issue 9): modules <= 1.15x, role first converge <= 2.5x, role re-run <= 1.5x with changed=0.
Prints a table, writes bench/results/flow-<date>.json, exits 1 when a target is missed (2 on an error).
Nothing here is a test: neither `make test` nor CI runs it, and bench/ is not in the built collection.
"""
import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.join(ROOT, 'bench', 'flow')
VENV_BIN = os.path.join(ROOT, '.cache', 'venv', 'bin')

FLOWS = ('baseline', 'modules', 'role_first', 'role_rerun')
PLAYBOOKS = {'baseline': 'baseline.yml', 'modules': 'modules.yml', 'role_first': 'role.yml', 'role_rerun': 'role.yml'}
# Ratio to the baseline's median that each flow must not exceed.
TARGETS = {'modules': 1.15, 'role_first': 2.5, 'role_rerun': 1.5}
LABELS = {'baseline': '(a) seed commands', 'modules': '(b) module flow', 'role_first': '(c) role first converge',
          'role_rerun': '(d) role re-run'}
# A round is three units, each after a reset; the role's re-run follows its first converge.
UNITS = (('baseline',), ('modules',), ('role_first', 'role_rerun'))


def pmemvm_path():
    """tools/vm/pmemvm.py, or wherever git says it moved."""
    default = os.path.join(ROOT, 'tools', 'vm', 'pmemvm.py')
    if os.path.exists(default):
        return default
    found = subprocess.run(['git', '-C', ROOT, 'ls-files', '--', '*pmemvm.py'], capture_output=True, text=True,
                           check=False).stdout.split()
    if not found:
        raise SystemExit('pmemvm.py not found (neither tools/vm/pmemvm.py nor in git ls-files)')
    return os.path.join(ROOT, found[0])


class Guest:
    def __init__(self, pmemvm, state_dir):
        self.pmemvm = [sys.executable, pmemvm]
        self.state_dir = state_dir
        with open(os.path.join(HERE, 'guest.sh')) as handle:
            self.script = handle.read()

    def up(self, opts):
        proc = subprocess.run(self.pmemvm + ['up', '--suite', opts.suite, '--state-dir', self.state_dir,
                                             '--name', 'bench-flow', '--ram', opts.ram, '--nvdimm', opts.nvdimm,
                                             '--timeout', '600'],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit('pmemvm.py up failed:\n' + proc.stderr[-3000:])
        return json.loads(proc.stdout)

    def down(self):
        subprocess.run(self.pmemvm + ['down', '--state-dir', self.state_dir, '--purge'], check=False)

    def run(self, command):
        proc = subprocess.run(self.pmemvm + ['ssh', '--state-dir', self.state_dir, '--root', '--', command],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit('guest: %s failed (rc %d):\n%s%s' % (command, proc.returncode, proc.stdout, proc.stderr))
        return proc.stdout.strip()

    def script_cmd(self, command):
        proc = subprocess.run(self.pmemvm + ['ssh', '--state-dir', self.state_dir, '--root', '--', 'bash', '-s',
                                             command],
                              input=self.script, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit('guest.sh %s failed (rc %d):\n%s%s'
                             % (command, proc.returncode, proc.stdout, proc.stderr))
        return json.loads(proc.stdout.strip().splitlines()[-1])


class Runner:
    def __init__(self, inventory, log_dir, opts):
        self.inventory = inventory
        self.log_dir = log_dir
        self.extra = ['-e', 'bench_size=%s' % opts.size, '-e', 'bench_name=%s' % opts.name]
        self.playbook_bin = os.path.join(VENV_BIN, 'ansible-playbook')
        if not os.path.exists(self.playbook_bin):
            self.playbook_bin = 'ansible-playbook'
        self.env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(HERE, 'ansible.cfg'), ANSIBLE_NOCOLOR='1',
                        ANSIBLE_FORCE_COLOR='0')
        self.env.setdefault('ANSIBLE_COLLECTIONS_PATH', os.path.join(ROOT, '.cache', 'collections'))
        self.env['PATH'] = VENV_BIN + os.pathsep + self.env.get('PATH', '')
        self.count = 0

    def play(self, flow, tag):
        """One timed ansible-playbook run: (seconds, the callback's record)."""
        self.count += 1
        stem = os.path.join(self.log_dir, '%02d-%s-%s' % (self.count, tag, flow))
        env = dict(self.env, BENCH_TASKS_FILE=stem + '.tasks.json')
        argv = [self.playbook_bin, '-i', self.inventory, os.path.join(HERE, PLAYBOOKS[flow])] + self.extra
        with open(stem + '.log', 'w') as log:
            start = time.monotonic()
            proc = subprocess.run(argv, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
            elapsed = time.monotonic() - start
        if proc.returncode != 0:
            with open(stem + '.log') as log:
                raise SystemExit('%s failed (rc %d), %s.log:\n%s'
                                 % (flow, proc.returncode, stem, log.read()[-4000:]))
        with open(stem + '.tasks.json') as handle:
            record = json.load(handle)
        return elapsed, record


def git(*args):
    return subprocess.run(['git', '-C', ROOT] + list(args), capture_output=True, text=True, check=False).stdout.strip()


def machine():
    cpu = ''
    with open('/proc/cpuinfo') as handle:
        for line in handle:
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    with open('/proc/meminfo') as handle:
        mem_kb = int(re.search(r'MemTotal:\s+(\d+)', handle.read()).group(1))
    os_name = ''
    if os.path.exists('/etc/os-release'):
        with open('/etc/os-release') as handle:
            found = re.search(r'^PRETTY_NAME="?([^"\n]*)', handle.read(), re.M)
            os_name = found.group(1) if found else ''
    qemu = subprocess.run(['qemu-system-x86_64', '--version'], capture_output=True, text=True,
                          check=False).stdout.splitlines()
    core = subprocess.run([os.path.join(VENV_BIN, 'python'), '-c', 'import ansible; print(ansible.__version__)'],
                          capture_output=True, text=True, check=False).stdout.strip()
    return {'cpu': cpu, 'cpus': os.cpu_count(), 'memory_gib': round(mem_kb / 2 ** 20, 1), 'os': os_name,
            'kernel': platform.release(), 'qemu': qemu[0] if qemu else '', 'ansible_core': core,
            'python': platform.python_version()}


def counts_of(records):
    """The task counts of a flow's runs: one value when every run agrees, else the list."""
    out = {}
    for key in ('on_host', 'controller_only', 'skipped', 'changed'):
        values = [r['counts'][key] for r in records]
        out[key] = values[0] if len(set(values)) == 1 else values
    recaps = [next(iter(r['recap'].values())) for r in records]
    out['recap'] = recaps[0] if all(r == recaps[0] for r in recaps) else recaps
    return out


def slowest(record, n=5):
    tasks = [t for t in record['tasks'] if t['seconds'] is not None and t['status'] != 'skipped']
    return [{'name': t['name'], 'action': t['action'], 'seconds': t['seconds']}
            for t in sorted(tasks, key=lambda t: -t['seconds'])[:n]]


def table(result):
    rows = [('flow', 'median s', 'runs s', 'ratio', 'target', 'met', 'tasks run', 'on host', 'ctrl only',
             'skipped', 'changed')]
    for flow in FLOWS:
        entry = result['flows'][flow]
        target = TARGETS.get(flow)
        rows.append((LABELS[flow], '%.1f' % entry['median_s'], ' '.join('%.1f' % t for t in entry['times_s']),
                     '%.2fx' % entry['ratio'], '<= %.2fx' % target if target else '-',
                     ('yes' if entry['target_met'] else 'NO') if target else '-',
                     str(entry['tasks']['recap']['ok']) if isinstance(entry['tasks']['recap'], dict) else '?',
                     str(entry['tasks']['on_host']), str(entry['tasks']['controller_only']),
                     str(entry['tasks']['skipped']), str(entry['tasks']['changed'])))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return '\n'.join('  '.join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--suite', default='bookworm', help='Debian suite of the guest (default bookworm: Debian 12)')
    parser.add_argument('--rounds', type=int, default=3,
                        help='measured rounds (default 3; fewer is a trial, written to .cache/bench-flow/trial.json)')
    parser.add_argument('--warmup', type=int, default=1, help='rounds run first and not counted')
    parser.add_argument('--size', default='1g', help='the namespace size S (default 1g)')
    parser.add_argument('--name', default='bench-ram', help='the namespace name of the module and role flows')
    parser.add_argument('--ram', default='2G', help="the guest's DRAM")
    parser.add_argument('--nvdimm', default='4G', help='the pmemvm.py NVDIMM spec (default 4G, labelled)')
    parser.add_argument('--output', help='JSON results (default bench/results/flow-<date>.json)')
    parser.add_argument('--keep-vm', action='store_true', help='leave the VM running at the end')
    parser.add_argument('--report', metavar='JSON', help='print the table of a results file and exit (no VM)')
    opts = parser.parse_args()
    if opts.report:
        with open(opts.report) as handle:
            print(table(json.load(handle)))
        return 0
    if opts.rounds < 1:
        parser.error('--rounds: at least 1')
    started = datetime.datetime.now().astimezone()
    work = os.path.join(ROOT, '.cache', 'bench-flow')
    # Fewer than 3 rounds is a trial of the script: its results do not go to bench/results.
    output = opts.output or (os.path.join(ROOT, 'bench', 'results', 'flow-%s.json' % started.date().isoformat())
                             if opts.rounds >= 3 else os.path.join(work, 'trial.json'))
    log_dir = os.path.join(work, 'logs', started.strftime('%Y%m%dT%H%M%S'))
    os.makedirs(log_dir, exist_ok=True)
    tree = {'commit': git('rev-parse', 'HEAD'),
            'uncommitted_at_start': git('status', '--porcelain', '--', 'roles', 'plugins', 'meta').splitlines()}
    guest = Guest(pmemvm_path(), os.path.join(work, 'vm'))
    host_info = machine()
    load_start = os.getloadavg()
    print('booting a %s VM (TCG)' % opts.suite, file=sys.stderr, flush=True)
    vm = guest.up(opts)
    try:
        with tempfile.NamedTemporaryFile('w', suffix='.ini', dir=work, delete=False) as inv:
            inv.write('bench ansible_host=%(address)s ansible_port=%(port)s ansible_user=%(user)s '
                      'ansible_ssh_private_key_file=%(identity_file)s\n' % vm)
        runner = Runner(inv.name, log_dir, opts)
        setup = guest.script_cmd('setup')
        guest_info = {'suite': opts.suite, 'kernel': guest.run('uname -r'), 'daxctl': guest.run('daxctl --version'),
                      'ndctl': guest.run('ndctl --version'), 'ram': opts.ram, 'nvdimm': opts.nvdimm,
                      'accel': 'tcg', 'starting_state': setup}
        times = {flow: [] for flow in FLOWS}
        records = {flow: [] for flow in FLOWS}
        states = {flow: [] for flow in FLOWS}
        warm = {flow: [] for flow in FLOWS}
        order = []
        total = opts.warmup + opts.rounds
        for number in range(total):
            counted = number >= opts.warmup
            tag = 'r%d' % (number - opts.warmup + 1) if counted else 'w%d' % (number + 1)
            units = UNITS[number % 3:] + UNITS[:number % 3]
            order.append({'round': tag, 'order': [flow for unit in units for flow in unit]})
            for unit in units:
                guest.script_cmd('reset')
                for flow in unit:
                    print('%s %-10s ' % (tag, flow), end='', file=sys.stderr, flush=True)
                    elapsed, record = runner.play(flow, tag)
                    state = guest.script_cmd('state')
                    counts = record['counts']
                    print('%6.1f s  %d on host, changed %d' % (elapsed, counts['on_host'], counts['changed']),
                          file=sys.stderr, flush=True)
                    with open(os.path.join(log_dir, 'runs.jsonl'), 'a') as runs:
                        runs.write(json.dumps({'round': tag, 'flow': flow, 'seconds': round(elapsed, 2),
                                               'counts': counts, 'state': state}) + '\n')
                    if counted:
                        times[flow].append(round(elapsed, 2))
                        records[flow].append(record)
                        states[flow].append(state)
                    else:
                        warm[flow].append(round(elapsed, 2))
        base = statistics.median(times['baseline'])
        flows = {}
        missed = []
        for flow in FLOWS:
            median = statistics.median(times[flow])
            entry = {'playbook': 'bench/flow/' + PLAYBOOKS[flow], 'times_s': times[flow],
                     'median_s': round(median, 2), 'ratio': round(median / base, 2),
                     'tasks': counts_of(records[flow]),
                     'slowest_tasks_last_round': slowest(records[flow][-1]),
                     'state_after': states[flow][-1] if all(s == states[flow][-1] for s in states[flow])
                     else states[flow]}
            if flow in TARGETS:
                entry['target_ratio'] = TARGETS[flow]
                ok = median / base <= TARGETS[flow]
                if flow == 'role_rerun':
                    entry['changed_per_round'] = [next(iter(r['recap'].values()))['changed'] for r in records[flow]]
                    ok = ok and not any(entry['changed_per_round'])
                entry['target_met'] = ok
                if not ok:
                    missed.append(flow)
            flows[flow] = entry
        tree['uncommitted_at_end'] = git('status', '--porcelain', '--', 'roles', 'plugins', 'meta').splitlines()
        result = {
            'bench': 'bench/flow.py', 'date': started.date().isoformat(),
            'started': started.isoformat(timespec='seconds'),
            'finished': datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
            'command': 'flock /tmp/memtier-vm.lock python3 bench/flow.py ' + ' '.join(sys.argv[1:]),
            'rounds': opts.rounds, 'warmup_rounds': opts.warmup, 'warmup_times_s': warm, 'order': order,
            'size': opts.size, 'machine': dict(host_info, load_average_start=[round(x, 2) for x in load_start],
                                               load_average_end=[round(x, 2) for x in os.getloadavg()]),
            'guest': guest_info, 'tree': tree,
            'ansible_config': 'bench/flow/ansible.cfg',
            'task_counts': 'on_host: tasks not skipped whose action was sent to the host (modules, commands, '
                           'file transfers, handlers); controller_only: not skipped, run in the controller '
                           '(set_fact, assert, include_*, include_vars, validate_argument_spec, ...)',
            'baseline_median_s': round(base, 2), 'flows': flows, 'targets_missed': missed,
        }
        os.makedirs(os.path.dirname(output), exist_ok=True)
        with open(output, 'w') as handle:
            json.dump(result, handle, indent=2)
            handle.write('\n')
        print(table(result))
        print('role re-run changed per round: %s' % flows['role_rerun']['changed_per_round'])
        print('results: %s; logs: %s' % (os.path.relpath(output, ROOT), os.path.relpath(log_dir, ROOT)))
        if missed:
            print('targets missed: %s' % ', '.join(missed))
        return 1 if missed else 0
    finally:
        if not opts.keep_vm:
            guest.down()


if __name__ == '__main__':
    try:
        sys.exit(main())
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
            sys.exit(2)
        raise
