"""Fixtures shared by the unit tests.

The tests import the collection as ansible_collections.memtier.pmem: under ansible-test from its copy of the
collection, under `make units` from .cache/collections (PYTHONPATH, made by `make link`). Nothing here writes
to the checkout.
"""
import pytest


@pytest.fixture
def fixture_host():
    """Host('suite/state'): a Host that replays tests/fixtures/<suite>/<state>.json, recorded on a real kernel."""
    from ansible_collections.memtier.pmem.plugins.module_utils._pmem import Host, ReplayRunner
    from ansible_collections.memtier.pmem.tests.unit.plugins.modules.scripted import load_fixture

    def make(name):
        return Host(ReplayRunner(load_fixture(name)['recording']))
    return make
