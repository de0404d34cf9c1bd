# Copyright (c) memtier engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""attributes.changing is a literal copy (ansible-test's yamllint reads fragments as literals) of the first part of
attributes: the two must not drift apart."""
from ansible_collections.memtier.pmem.plugins.doc_fragments.attributes import ModuleDocFragment


def test_changing_is_the_attributes_part_of_the_standard_fragment():
    assert ModuleDocFragment.DOCUMENTATION.startswith(ModuleDocFragment.CHANGING)
    assert 'requirements:' not in ModuleDocFragment.CHANGING and 'attributes:' in ModuleDocFragment.CHANGING
