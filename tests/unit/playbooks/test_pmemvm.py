"""pmemvm.py up: a guest that hangs while it boots is started once more (seen once in a fresh-clone make test: a
soft lockup in the guest's kernel, ssh never came up). QEMU, the image and ssh are stubbed: what is tested is the
order of boots, waits and stops."""
import importlib.util
import json
import os

import pytest

PMEMVM = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'playbooks', 'files', 'pmemvm.py')


@pytest.fixture
def pmemvm(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location('pmemvm_under_test', PMEMVM)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    image = tmp_path / 'image'
    image.mkdir()
    (image / 'info.json').write_text(json.dumps({'kernel': '6.1'}))
    events = []
    module.events = events
    monkeypatch.setattr(module, 'build_image', lambda suite: str(image))
    monkeypatch.setattr(module, 'prepare_state', lambda args, image, nvdimms: (
        events.append('prepare') or ('disk', [], 'key')))
    monkeypatch.setattr(module, 'start_qemu', lambda *a: events.append('start') or 2222)
    monkeypatch.setattr(module, 'stop', lambda state_dir: events.append('stop') or True)
    monkeypatch.setattr(module, 'running_pid', lambda state_dir: 4242 if events and events[-1] != 'stop' else None)
    monkeypatch.setattr(module.signal, 'signal', lambda *a: None)
    return module


def up(module, tmp_path, *extra):
    return module.main(['up', '--state-dir', str(tmp_path / 'vm'), '--nvdimm', 'none'] + list(extra))


def test_a_boot_that_hangs_is_started_once_more(pmemvm, tmp_path, monkeypatch):
    waits = []

    def wait_ssh(state_dir, key, port, timeout):
        waits.append(timeout)
        pmemvm.events.append('wait')
        if len(waits) == 1:
            raise pmemvm.Failure('ssh not ready after %s s' % timeout)
    monkeypatch.setattr(pmemvm, 'wait_ssh', wait_ssh)
    assert up(pmemvm, tmp_path, '--timeout', '600') == 0
    assert pmemvm.events == ['prepare', 'start', 'wait', 'stop', 'prepare', 'start', 'wait']
    assert waits == [300, 300]
    assert json.loads((tmp_path / 'vm' / 'instance.json').read_text())['port'] == 2222


def test_two_hung_boots_fail(pmemvm, tmp_path, monkeypatch):
    def wait_ssh(state_dir, key, port, timeout):
        pmemvm.events.append('wait')
        raise pmemvm.Failure('ssh not ready')
    monkeypatch.setattr(pmemvm, 'wait_ssh', wait_ssh)
    assert up(pmemvm, tmp_path, '--timeout', '600') == 1
    assert pmemvm.events == ['prepare', 'start', 'wait', 'stop', 'prepare', 'start', 'wait', 'stop']


def test_a_short_timeout_boots_once(pmemvm, tmp_path, monkeypatch):
    def wait_ssh(state_dir, key, port, timeout):
        pmemvm.events.append('wait %s' % timeout)
        raise pmemvm.Failure('ssh not ready')
    monkeypatch.setattr(pmemvm, 'wait_ssh', wait_ssh)
    assert up(pmemvm, tmp_path, '--timeout', '240') == 1
    assert pmemvm.events == ['prepare', 'start', 'wait 240.0', 'stop']
