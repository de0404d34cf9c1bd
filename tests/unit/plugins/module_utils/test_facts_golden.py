# Copyright (c) memtier engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Golden test: facts() (what pmem_info returns) over every recording equals the facts recorded with it.

tests/fixtures/record.py saved, in each state of a real VM, the facts the Host model derived and every
command and file it read. Replaying the reads must give the same facts. Only the keys the recording
has are compared (recursively: a dict's recorded keys, a list item by item), so facts may gain keys
before the fixtures are recorded again.
"""
import pytest

from ansible_collections.memtier.pmem.plugins.module_utils._pmem import Host, ReplayRunner, facts
from ansible_collections.memtier.pmem.tests.unit.plugins.modules.scripted import fixture_names, load_fixture, subset_problems


@pytest.mark.parametrize('name', fixture_names())
def test_facts_replay_to_the_recorded_facts(name):
    data = load_fixture(name)
    problems = subset_problems(data['facts'], facts(Host(ReplayRunner(data['recording']))), 'facts')
    assert not problems, '%s:\n  %s' % (name, '\n  '.join(problems))
