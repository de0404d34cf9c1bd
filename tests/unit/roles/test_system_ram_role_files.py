"""The system_ram role's files: the build script with a source tree, the names the host model shares with the
role, and no shell probing in its tasks. The files it writes at boot are memtier.pmem.system_ram_boot's
(tests/unit/plugins/modules/test_system_ram_boot.py)."""
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLE = os.path.join(ROOT, 'roles', 'system_ram')


# --- Issue 8, item 18: a source tree on the host builds (the scratch directory is made) --------------

@pytest.fixture
def tree(tmp_path):
    source = tmp_path / 'ndctl'
    source.mkdir()
    (source / 'meson.build').write_text("project('ndctl', 'c',\n  version : '81',\n)\n")
    stub = tmp_path / 'bin'
    stub.mkdir()
    (stub / 'meson').write_text('#!/bin/sh\necho "meson stub: $*"\nexit 1\n')
    (stub / 'meson').chmod(0o755)
    return source


def build(tree, mode):
    script = os.path.join(ROLE, 'files', 'build-ndctl.sh')
    scratch = tree.parent / 'scratch' / mode   # as the role passes it: not made yet
    env = dict(os.environ, PATH='%s:%s' % (tree.parent / 'bin', os.environ['PATH']))
    return subprocess.run(['bash', script, mode, str(tree), str(tree.parent / 'prefix'), str(scratch)],
                          env=env, capture_output=True, text=True, check=False)


def test_source_tree_check(tree):
    result = build(tree, 'check')
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '{"build": true, "version": "81", "installed": null}'


def test_source_tree_build_reaches_meson(tree):
    result = build(tree, 'build')
    assert result.returncode == 1
    assert 'No such file or directory' not in result.stderr
    assert 'build-ndctl: meson setup failed; the last lines of its output:' in result.stderr
    assert 'meson stub: setup' in result.stderr
    assert (tree.parent / 'scratch' / 'build' / 'build.log').is_file()


# --- Issue 9: the names pmem_info recognises are the ones the role writes ------------------------------

def test_role_and_host_model_agree_on_what_the_role_writes():
    import yaml
    from ansible_collections.memtier.pmem.plugins.module_utils import _pmem
    with open(os.path.join(ROLE, 'vars', 'main.yml')) as handle:
        constants = yaml.safe_load(handle)
    assert constants['__system_ram_build_stamp'] == _pmem.BUILD_STAMP


def test_no_task_of_the_role_probes_with_shell():
    """No shell or command task computes a fact or parses tool output; none is left at all (kmem, the online
    policy and the reloads are memtier.pmem.system_ram_boot's)."""
    import yaml
    found = []
    for directory in ('tasks',):
        for name in sorted(os.listdir(os.path.join(ROLE, directory))):
            with open(os.path.join(ROLE, directory, name)) as handle:
                stack = list(yaml.safe_load(handle) or [])
            while stack:
                task = stack.pop()
                for key in ('block', 'rescue', 'always'):
                    stack.extend(task.get(key) or [])
                for module in ('ansible.builtin.shell', 'ansible.builtin.command'):
                    if module in task:
                        found.append((name, str(task[module]).split()[0], task.get('register')))
    assert found == []
