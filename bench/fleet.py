"""Fleet benchmark: memtier.pmem.extend_ram and memtier.pmem.report across three VMs at once.

    flock /tmp/memtier-vm.lock python3 bench/fleet.py        (make bench-fleet)

Boots three QEMU (TCG) guests with one fresh emulated NVDIMM each - Debian 11, 12 and 13, 1 GiB of DRAM - and
blacklists kmem on the Debian 11 one (/etc/modprobe.d/memtier-bench.conf), so that it must fail. Then, from
one ansible-playbook process each, with the collection's playbooks as a user runs them:

1. extend_ram (the system_ram role, one 1 GiB device per host, memtier_max_fail_percentage=50 so that one
   failed host does not stop the others): the two good hosts must converge, the blacklisted one must fail
   before any change with the reason in its message;
2. extend_ram again: changed=0 on the two;
3. report: per host and fleet totals; the failing host must show its kmem problem.

For each run: wall time and the controller's CPU seconds (user+sys of ansible-playbook and its children:
the forks, ssh), per host. What that means for 1,000 hosts is computed from the measured CPU seconds per host
(a lower bound on controller cores x time: the guests' own time does not load the controller). Writes
bench/results/fleet-<date>.json; exits 1 when an expectation above is not met. Not a test: neither
`make test` nor CI runs it.
"""
import datetime
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.join(ROOT, '.cache', 'venv', 'bin')
PMEMVM = [sys.executable, os.path.join(ROOT, 'playbooks', 'files', 'pmemvm.py')]
HOSTS = (('deb11', 'bullseye', True), ('deb12', 'bookworm', False), ('deb13', 'trixie', False))  # name, suite, broken
DEVICES = [{'name': 'fleet-ram', 'region': 'region0', 'size': '1g'}]
FORKS = 5  # ansible's default; the note below says what to use for 1,000 hosts


def pmemvm(*args, **kwargs):
    return subprocess.run(PMEMVM + list(args), capture_output=True, text=True, check=False, **kwargs)


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def play(playbook, inventory, extra, log):
    """One ansible-playbook run: (seconds, controller CPU seconds, rc, output)."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.cache', 'collections'),
               ANSIBLE_HOST_KEY_CHECKING='False', ANSIBLE_PIPELINING='True', ANSIBLE_NOCOLOR='1',
               ANSIBLE_FORKS=str(FORKS), ANSIBLE_SSH_ARGS='-o ControlMaster=auto -o ControlPersist=300s '
               '-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no')
    argv = [os.path.join(VENV_BIN, 'ansible-playbook'), '-i', inventory, playbook] + extra
    cpu, start = children_cpu(), time.monotonic()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    seconds, cpu = time.monotonic() - start, children_cpu() - cpu
    with open(log, 'w') as handle:
        handle.write(proc.stdout + proc.stderr)
    return round(seconds, 1), round(cpu, 2), proc.returncode, proc.stdout


def recap(output):
    """{host: {ok, changed, failed, ...}} from the PLAY RECAP."""
    found = {}
    for line in output.split('PLAY RECAP')[-1].splitlines():
        match = re.match(r'^(\S+)\s+:\s+(.*)$', line.strip())
        if match:
            found[match.group(1)] = dict((k, int(v)) for k, v in re.findall(r'(\w+)=(\d+)', match.group(2)))
    return found


def main():
    started = datetime.datetime.now().astimezone()
    work = os.path.join(ROOT, '.cache', 'bench-fleet')
    os.makedirs(work, exist_ok=True)
    vms = {}
    problems = []
    result = {'bench': 'bench/fleet.py', 'started': started.isoformat(timespec='seconds'), 'forks': FORKS,
              'commit': subprocess.run(['git', '-C', ROOT, 'rev-parse', 'HEAD'], capture_output=True, text=True,
                                       check=False).stdout.strip(),
              'hosts': {}, 'runs': {}}
    try:
        for name, suite, broken in HOSTS:
            print('booting %s (%s)' % (name, suite), file=sys.stderr, flush=True)
            proc = pmemvm('up', '--suite', suite, '--state-dir', os.path.join(work, name), '--name', 'fleet-' + name,
                          '--ram', '1G', '--nvdimm', '2G', '--timeout', '600')
            if proc.returncode != 0:
                raise SystemExit('pmemvm up %s failed:\n%s' % (name, proc.stderr[-2000:]))
            vms[name] = json.loads(proc.stdout)
            # The role initialises the fresh NVDIMM's labels (system_ram_init_labels); the broken host gets kmem
            # blacklisted.
            if broken:
                # One string: ssh joins its arguments into one command line for the guest's shell.
                proc = pmemvm('ssh', '--state-dir', os.path.join(work, name), '--root', '--',
                              'echo "blacklist kmem" > /etc/modprobe.d/memtier-bench.conf && '
                              'grep -qx "blacklist kmem" /etc/modprobe.d/memtier-bench.conf')
                if proc.returncode != 0:
                    raise SystemExit('setting up %s failed: %s%s' % (name, proc.stdout, proc.stderr))
            result['hosts'][name] = {'suite': suite, 'made_to_fail': broken}
        with tempfile.NamedTemporaryFile('w', suffix='.ini', dir=work, delete=False) as inv:
            for name, vm in vms.items():
                inv.write('%s ansible_host=%s ansible_port=%s ansible_user=%s ansible_ssh_private_key_file=%s\n'
                          % (name, vm['address'], vm['port'], vm['user'], vm['identity_file']))
        extra = ['-e', json.dumps({'system_ram_devices': DEVICES, 'system_ram_init_labels': True,
                                   'memtier_max_fail_percentage': 50})]
        for run, playbook, args in (('extend_ram', 'memtier.pmem.extend_ram', extra),
                                    ('extend_ram_again', 'memtier.pmem.extend_ram', extra),
                                    ('report', 'memtier.pmem.report', [])):
            print('%-17s' % run, end='', file=sys.stderr, flush=True)
            seconds, cpu, rc, output = play(playbook, inv.name, args, os.path.join(work, run + '.log'))
            hosts = recap(output)
            result['runs'][run] = {'seconds': seconds, 'controller_cpu_s': cpu,
                                   'controller_cpu_s_per_host': round(cpu / len(vms), 2), 'rc': rc, 'recap': hosts}
            print('%6.1f s wall, %5.1f s controller CPU (%.1f s/host), rc %d' % (seconds, cpu, cpu / len(vms), rc),
                  file=sys.stderr, flush=True)
            if run.startswith('extend_ram'):
                for name, _suite, broken in HOSTS:
                    failed = hosts.get(name, {}).get('failed', 0)
                    if broken != bool(failed):
                        problems.append('%s: %s on %s' % (run, 'did not fail' if broken else 'failed', name))
                    if run == 'extend_ram_again' and not broken and hosts.get(name, {}).get('changed') != 0:
                        problems.append('extend_ram_again: changed=%s on %s' % (hosts.get(name, {}).get('changed'), name))
                reason = re.search(r'fatal: \[deb11\].*?"msg": "([^"]*)', output, re.S)
                result['runs'][run]['deb11_reason'] = reason.group(1)[:300] if reason else None
                if not reason or 'blacklisted' not in reason.group(1):
                    problems.append('%s: deb11 failed without naming the blacklist' % run)
            else:
                fleet = re.search(r'"msg": "(\d+ host\(s\); persistent memory online as system RAM:[^"]*)"', output)
                result['runs'][run]['fleet'] = fleet.group(1) if fleet else None
                kmem_line = re.search(r'kmem: the kmem kernel module is blacklisted', output)
                if not fleet or not kmem_line:
                    problems.append('report: no fleet total or no kmem problem shown for deb11')
    finally:
        for name in vms:
            pmemvm('down', '--state-dir', os.path.join(work, name), '--purge')
    per_host = result['runs'].get('extend_ram', {}).get('controller_cpu_s_per_host')
    if per_host:
        hours = per_host * 1000 / 3600.0
        result['thousand_hosts'] = {
            'controller_cpu_hours': round(hours, 2),
            'note': 'first converge: %.1f controller CPU seconds per host -> %.1f CPU hours for 1,000 hosts; at least '
                    '%.0f minutes on a controller with 8 free cores, whatever forks says' % (per_host, hours, hours * 60 / 8),
        }
    result['problems'] = problems
    output_path = os.path.join(ROOT, 'bench', 'results', 'fleet-%s.json' % started.date().isoformat())
    os.makedirs(os.path.dirname(output_path), exist_ok=True)
    with open(output_path, 'w') as handle:
        json.dump(result, handle, indent=1)
    print(json.dumps({k: v for k, v in result.items() if k != 'runs'}, indent=1))
    print('results: %s' % output_path)
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
