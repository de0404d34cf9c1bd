"""make demo: the seed flow on a QEMU-NVDIMM VM, with the collection instead of hand-run commands.

Boots a Debian 12 guest with one 16 GiB NVDIMM on its own CPU-less NUMA node (playbooks/files/pmemvm.py),
shows `lsmem` and `numactl -H`, runs the playbook memtier.pmem.extend_ram (the system_ram role) to
turn 12 GiB of it into system RAM, runs it again to show nothing is left to do, shows `lsmem` and
`numactl -H` again, and stops the VM whatever happens.

Environment: DEMO_SUITE (bookworm), DEMO_NVDIMM (16G), DEMO_SIZE (12g), DEMO_KEEP=1 keeps the VM.
"""
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PMEMVM = [sys.executable, os.path.join(ROOT, 'playbooks', 'files', 'pmemvm.py')]
STATE = os.path.join(ROOT, '.cache', 'demo-vm')


def banner(text):
    print('\n\033[1m== %s\033[0m' % text, flush=True)


def show(state_dir, command):
    print('$ ' + command, flush=True)
    subprocess.run(PMEMVM + ['ssh', '--state-dir', state_dir, '--', command], check=True)


def main():
    suite = os.environ.get('DEMO_SUITE', 'bookworm')
    size = os.environ.get('DEMO_SIZE', '12g')
    banner('Booting a Debian %s VM with a %s NVDIMM (QEMU, TCG)' % (suite, os.environ.get('DEMO_NVDIMM', '16G')))
    out = subprocess.run(PMEMVM + ['up', '--suite', suite, '--state-dir', STATE, '--name', 'demo',
                                   '--ram', '2G', '--nvdimm', os.environ.get('DEMO_NVDIMM', '16G')],
                         check=True, text=True, stdout=subprocess.PIPE).stdout
    vm = json.loads(out)
    try:
        with tempfile.NamedTemporaryFile('w', suffix='.yml', delete=False) as inventory:
            json.dump({'all': {'hosts': {'demo': {
                'ansible_host': vm['address'], 'ansible_port': vm['port'], 'ansible_user': vm['user'],
                'ansible_ssh_private_key_file': vm['identity_file'],
                'ansible_ssh_common_args': '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null',
                'system_ram_devices': [{'name': 'pmem-ram', 'region': 'region0', 'size': size, 'movable': True}],
                'system_ram_init_labels': True,
            }}}}, inventory)
        banner('Before: lsmem and numactl -H')
        show(STATE, 'lsmem; numactl -H')
        env = dict(os.environ, ANSIBLE_HOST_KEY_CHECKING='False', ANSIBLE_PIPELINING='True')
        for label in ('Provisioning with ansible-playbook memtier.pmem.extend_ram',
                      'Running it again: nothing left to do (changed=0)'):
            banner(label)
            subprocess.run(['ansible-playbook', '-i', inventory.name, 'memtier.pmem.extend_ram'],
                           check=True, env=env)
        banner('After: lsmem and numactl -H')
        show(STATE, 'lsmem; numactl -H; daxctl list')
    finally:
        os.unlink(inventory.name) if 'inventory' in locals() else None
        if os.environ.get('DEMO_KEEP') != '1':
            banner('Stopping the VM')
            subprocess.run(PMEMVM + ['down', '--state-dir', STATE, '--purge'], check=False)


if __name__ == '__main__':
    try:
        main()
    except subprocess.CalledProcessError as exc:
        sys.exit('demo: %s failed with exit code %d' % (' '.join(exc.cmd), exc.returncode))
