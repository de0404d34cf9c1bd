# Copyright (c) memtier engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""memtier.pmem.dax_split end to end over recordings of a CXL guest: the cases are data in
cases/dax_split.yml (format: scripted.py and the header of cases/dax_reconfigure.yml)."""
import pytest

from ansible_collections.memtier.pmem.tests.unit.plugins.modules.scripted import case_params, run_case


@pytest.mark.parametrize('module,case', case_params(('dax_split',)))
def test_case(module, case):
    run_case(module, case)
