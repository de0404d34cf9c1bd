"""Make the collection importable as ansible_collections.memtier.pmem from a plain checkout."""
import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, 'tests', 'fixtures')
COLLECTIONS = os.path.join(ROOT, '.cache', 'collections')
LINK = os.path.join(COLLECTIONS, 'ansible_collections', 'memtier', 'pmem')

if not os.path.exists(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(ROOT, LINK)
sys.path.insert(0, COLLECTIONS)


def load_fixture(name):
    """tests/fixtures/<suite>/<state>.json, recorded on a real kernel by tests/fixtures/record.py."""
    with open(os.path.join(FIXTURES, name + '.json')) as handle:
        return json.load(handle)


@pytest.fixture
def fixture_host():
    from ansible_collections.memtier.pmem.plugins.module_utils._pmem import Host, ReplayRunner

    def make(name):
        return Host(ReplayRunner(load_fixture(name)['recording']))
    return make
