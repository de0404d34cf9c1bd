"""make demo: the seed flow on a QEMU-NVDIMM VM, with the collection instead of hand-run commands.

Boots a Debian 12 guest with one 16 GiB NVDIMM on its own CPU-less NUMA node (playbooks/files/pmemvm.py),
shows `lsmem` and `numactl -H`, runs the playbook memtier.pmem.extend_ram (the system_ram role) to
turn 12 GiB of it into system RAM, runs it again to show nothing is left to do, shows `lsmem` and
`numactl -H` again, and stops the VM whatever happens.

Environment: DEMO_SUITE (bookworm), DEMO_NVDIMM (16G), DEMO_SIZE (12g), DEMO_KEEP=1 keeps the VM.

DEMO_CXL=1 (make demo CXL=1) shows a CXL host instead: a Debian 13 guest with two 1 GiB CXL type-3 memory
expanders under one host bridge (QEMU 10, booted with memhp_default_state=offline; Debian 13's image has the
cxl tool, which its ndctl depends on), then a playbook with memtier.pmem.cxl_region (one RAM
region interleaved over mem0 and mem1) and memtier.pmem.memory_online (its memory online in ZONE_MOVABLE),
run twice, and `cxl list`, `lsmem`, `numactl -H` and the memory tiers before and after.
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


CXL_PLAYBOOK = """---
- name: CXL memory as system RAM
  hosts: all
  become: true
  gather_facts: false
  tasks:
    - name: One RAM region interleaved over the two memory expanders
      memtier.pmem.cxl_region:
        memdevs: [mem0, mem1]
      register: region

    - name: Its memory online in ZONE_MOVABLE
      memtier.pmem.memory_online:
        device: "{{ region.region.dax_devices[0].chardev }}"

    - name: Read the host
      memtier.pmem.pmem_info:
      register: info

    - name: Show the region and the memory tiers
      ansible.builtin.debug:
        msg:
          region: "{{ info.cxl_regions }}"
          memory_tiers: "{{ info.memory_tiers }}"
"""


def cxl_demo():
    """DEMO_CXL=1: a Debian 13 guest with two CXL memory expanders, their memory made a region and system RAM."""
    banner('Booting a Debian 13 VM with two 1 GiB CXL memory expanders under one host bridge (QEMU 10, TCG)')
    out = subprocess.run(PMEMVM + ['up', '--suite', 'trixie', '--state-dir', STATE, '--name', 'demo-cxl',
                                   '--ram', '2G', '--cxl', '1G', '--cxl', '1G',
                                   '--append', 'memhp_default_state=offline', '--timeout', '600'],
                         check=True, text=True, stdout=subprocess.PIPE).stdout
    vm = json.loads(out)
    inventory = playbook = None
    try:
        with tempfile.NamedTemporaryFile('w', suffix='.yml', delete=False) as inv:
            json.dump({'all': {'hosts': {'demo-cxl': {
                'ansible_host': vm['address'], 'ansible_port': vm['port'], 'ansible_user': vm['user'],
                'ansible_ssh_private_key_file': vm['identity_file'],
                'ansible_ssh_common_args': '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null',
            }}}}, inv)
            inventory = inv.name
        with tempfile.NamedTemporaryFile('w', suffix='.yml', delete=False) as book:
            book.write(CXL_PLAYBOOK)
            playbook = book.name
        tiers = 'grep . /sys/devices/virtual/memory_tiering/memory_tier*/nodelist'
        banner('Before: the CXL memory devices, lsmem, numactl -H, the memory tiers')
        show(STATE, 'sudo sh -c "ls /sys/bus/cxl/devices; lsmem; numactl -H; %s"' % tiers)
        env = dict(os.environ, ANSIBLE_HOST_KEY_CHECKING='False', ANSIBLE_PIPELINING='True')
        for label in ('cxl_region memdevs=[mem0, mem1], then memory_online on its dax device',
                      'Running it again: nothing left to do (changed=0)'):
            banner(label)
            subprocess.run(['ansible-playbook', '-i', inventory, playbook], check=True, env=env)
        banner('After: cxl list -R, daxctl list, lsmem, numactl -H, the memory tiers')
        show(STATE, 'sudo sh -c "cxl list -R; daxctl list; lsmem; numactl -H; %s"' % tiers)
    finally:
        for path in (inventory, playbook):
            if path:
                os.unlink(path)
        if os.environ.get('DEMO_KEEP') != '1':
            banner('Stopping the VM')
            subprocess.run(PMEMVM + ['down', '--state-dir', STATE, '--purge'], check=False)


def main():
    if os.environ.get('DEMO_CXL') == '1':
        cxl_demo()
        return
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
