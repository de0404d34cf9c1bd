"""The guest after converge, read with the tools themselves: one CXL RAM region interleaved over mem0 and mem1,
its memory online in ZONE_MOVABLE on a CPU-less node that sits in a lower memory tier than DRAM's node 0."""
import pytest


@pytest.fixture(scope="module")
def region(run_json):
    regions = run_json("cxl list -R -T")
    assert len(regions) == 1, regions
    return regions[0]


@pytest.fixture(scope="module")
def dax(run_json):
    devices = run_json("daxctl list -D")
    assert len(devices) == 1, devices
    return devices[0]


def test_region_interleaved_over_both_memdevs(region):
    assert region["type"] == "ram"
    assert region["size"] == 2 << 30
    assert region["interleave_ways"] == 2
    assert region["decode_state"] == "commit"
    assert sorted((m["position"], m["memdev"]) for m in region["mappings"]) == [(0, "mem0"), (1, "mem1")]


def test_memory_online_movable_on_its_node(dax, run_json):
    assert dax["mode"] == "system-ram"
    assert dax["online_memblocks"] == dax["total_memblocks"] == 16
    assert dax["movable"] is True
    node = dax["target_node"]
    assert node != 0
    blocks = [b for b in run_json("lsmem -a -J -o RANGE,SIZE,STATE,BLOCK,NODE,ZONES")["memory"] if int(b["node"]) == node]
    assert blocks and all(b["state"] == "online" and b["zones"] == "Movable" for b in blocks)


def test_a_cpuless_node(dax, numa):
    node = numa[dax["target_node"]]
    assert node["cpus"] == []
    assert node["size_mb"] == 2048


def test_lower_memory_tier_than_dram(dax, host):
    tiers = {}
    base = "/sys/devices/virtual/memory_tiering"
    for entry in host.file(base).listdir():
        if entry.startswith("memory_tier"):
            text = host.file("%s/%s/nodelist" % (base, entry)).content_string.strip()
            for part in filter(None, text.split(",")):
                low, _sep, high = part.partition("-")
                for node in range(int(low), int(high or low) + 1):
                    tiers[node] = int(entry[len("memory_tier"):])
    assert tiers[dax["target_node"]] > tiers[0], tiers


def test_hotplug_policy_still_offline(host):
    assert host.file("/sys/devices/system/memory/auto_online_blocks").content_string.strip() == "offline"
