"""Benchmark: what a no-op run of each module costs, as ratios against a baseline from the same run.

    python3 bench/noop.py [--suite bookworm] [--rounds 5]

Boots one QEMU-NVDIMM VM, provisions the seed flow (1 GiB namespace online as system RAM), then times,
round after round and interleaved so that drift hits all alike:

- baseline: `ansible -m ansible.builtin.command -a "daxctl list"` (Ansible's own cost plus one daxctl call:
  the least any tool that looks before it acts must pay);
- each module with arguments that are already satisfied (a no-op).

It also counts the ndctl/daxctl processes each no-op starts in the guest (from a wrapper that logs every
call).

Targets: a no-op costs at most 1.5x the baseline in time, and starts nothing but at most one ndctl list
and one daxctl list. Results go to bench/results/noop-<suite>.json and stdout; the script exits 1 when a target is
missed. Nothing here is a test: CI does not run it.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PMEMVM = [sys.executable, os.path.join(ROOT, 'playbooks', 'files', 'pmemvm.py')]
TIME_TARGET = 1.5

NOOPS = {
    'pmem_namespace': 'name=pmem-ram region=region0 size=1g',
    'dax_reconfigure': 'namespace=pmem-ram mode=system-ram',
    'memory_online': 'namespace=pmem-ram state=online',
    'pmem_info': '',
}

# In the guest: log each ndctl/daxctl call.
WRAP = r'''
set -e
for tool in ndctl daxctl; do
  real=$(command -v $tool)
  [ -e $real.real ] || mv $real $real.real
  printf '#!/bin/sh\necho "$(basename $0) $*" >> /tmp/bench-calls.log\nexec %s.real "$@"\n' $real > $real
  chmod +x $real
done
'''


def ansible(inventory, module, args, env, noop=True):
    argv = ['ansible', 'bench', '-i', inventory, '-b', '-m', module] + (['-a', args] if args else [])
    start = time.monotonic()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - start
    if proc.returncode != 0 or (noop and '"changed": false' not in proc.stdout):
        raise SystemExit('%s failed or changed something:\n%s%s' % (module, proc.stdout, proc.stderr))
    return elapsed


def guest(state_dir, command):
    return subprocess.run(PMEMVM + ['ssh', '--state-dir', state_dir, '--root', '--', command],
                          check=True, capture_output=True, text=True).stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--suite', default='bookworm')
    parser.add_argument('--rounds', type=int, default=5)
    opts = parser.parse_args()
    state_dir = os.path.join(ROOT, '.cache', 'bench-vm')
    vm = json.loads(subprocess.run(PMEMVM + ['up', '--suite', opts.suite, '--state-dir', state_dir,
                                             '--name', 'bench', '--nvdimm', '4G'],
                                   check=True, capture_output=True, text=True).stdout)
    env = dict(os.environ, ANSIBLE_HOST_KEY_CHECKING='False', ANSIBLE_PIPELINING='True',
               ANSIBLE_PYTHON_INTERPRETER='auto_silent',
               ANSIBLE_SSH_ARGS='-o ControlMaster=auto -o ControlPersist=300s -o UserKnownHostsFile=/dev/null')
    try:
        with tempfile.NamedTemporaryFile('w', suffix='.ini', delete=False) as inv:
            inv.write('bench ansible_host=%(address)s ansible_port=%(port)s ansible_user=%(user)s '
                      'ansible_ssh_private_key_file=%(identity_file)s\n' % vm)
        guest(state_dir, 'ndctl disable-region region0 && ndctl init-labels nmem0 && ndctl enable-region region0'
                         ' && ndctl create-namespace --region=region0 --mode=devdax --size=1g --name=pmem-ram'
                         ' && daxctl reconfigure-device --mode=system-ram dax0.0')
        guest(state_dir, WRAP)
        ansible(inv.name, 'ansible.builtin.ping', '', env)  # warm the ssh master connection
        times = {'baseline': []}
        times.update((name, []) for name in NOOPS)
        calls = {}
        for round_number in range(opts.rounds):
            print('round %d of %d' % (round_number + 1, opts.rounds), file=sys.stderr)
            times['baseline'].append(
                ansible(inv.name, 'ansible.builtin.command', 'daxctl.real list', env, noop=False))
            for name, args in NOOPS.items():
                guest(state_dir, ': > /tmp/bench-calls.log')
                times[name].append(ansible(inv.name, 'memtier.pmem.' + name, args, env))
                calls[name] = guest(state_dir, 'cat /tmp/bench-calls.log').split('\n')[:-1]
        base = statistics.median(times['baseline'])
        result = {'suite': opts.suite, 'rounds': opts.rounds, 'baseline_s': round(base, 3), 'modules': {}}
        failed = False
        for name in NOOPS:
            median = statistics.median(times[name])
            lists = [c for c in calls[name] if c.split()[1:2] == ['list']]
            entry = {'median_s': round(median, 3), 'time_ratio': round(median / base, 2), 'tool_calls': calls[name]}
            if name != 'pmem_info':
                ok = median / base <= TIME_TARGET and len(lists) <= 2 and len(calls[name]) == len(lists)
                failed |= not ok
                entry['target_met'] = ok
            result['modules'][name] = entry
        os.makedirs(os.path.join(ROOT, 'bench', 'results'), exist_ok=True)
        with open(os.path.join(ROOT, 'bench', 'results', 'noop-%s.json' % opts.suite), 'w') as handle:
            json.dump(result, handle, indent=2)
        print(json.dumps(result, indent=2))
        sys.exit(1 if failed else 0)
    finally:
        subprocess.run(PMEMVM + ['down', '--state-dir', state_dir, '--purge'], check=False)


if __name__ == '__main__':
    main()
