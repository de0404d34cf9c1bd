# Copyright (c) memtier engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every module end to end: main() -> converge -> planner -> Executor -> re-read, over recordings.

The cases are data, one file per module: cases/pmem_namespace.yml, dax_reconfigure.yml,
memory_online.yml, pmem_info.yml, system_ram_devices.yml, dax_device_model.yml, system_ram_boot.yml, dax_split.yml.
A case names a recorded starting state (tests/fixtures/<suite>/
<state>.json, optionally changed by overlays), the module's params, check/diff mode, and a script:
the commands that change the host, in order, each with its rc/out/err and the recorded state the
host is in afterwards (``then``). Commands that only read are answered from the current state.
``expect`` lists what the result must say: failed, changed, commands (exact), msg (substring) or
msg_re, and any result key as a subset (``device: {mode: system-ram}``). The full format is in the
header comment of each case file; the machinery is scripted.py (ScriptedRunner, run_case).

To add a case, add a few lines to the module's YAML file; ``xfail: "why"`` keeps a case that shows
a bug that is not fixed yet.
"""
import pytest

from ansible_collections.memtier.pmem.tests.unit.plugins.modules.scripted import case_params, run_case


@pytest.mark.parametrize('module,case', case_params())
def test_case(module, case):
    run_case(module, case)
