"""The host state that a refused request must leave alone, for the faults scenario (runs in the guest).

Usage:
  faults_state.py save BASE
      Snapshot the host into BASE (JSON) and print it.
  faults_state.py check BASE [--restore] [--keep] [--ignore PATH]...
      Snapshot the host and compare it with BASE. Prints {"equal", "diff", "restored", "restore_errors"}.
      With --restore a difference is undone as far as possible (namespaces destroyed or recreated with
      their uuid, dax devices back in their mode, /etc files rewritten, modules loaded/unloaded), so that
      the next case starts from the same host; "diff_after_restore" is what is still different. BASE then
      holds the state as it is now, unless --keep.
  faults_state.py ensure NAME:REGION:SIZE ...
      Create the devdax namespaces that do not exist yet (labels are initialised on a region that has no
      label index), without the collection's modules. Prints the snapshot, with "created": [names].

The snapshot: regions with their free space, namespaces (uuid, name, mode, sizes, align, map, state),
dax devices (mode, state, memory blocks), the state of every memory block, the kernel's onlining policy,
the files the system_ram role writes under /etc, and the loaded modules.
"""
import glob
import hashlib
import json
import os
import subprocess
import sys

ETC_DIRS = ["/etc/daxctl.conf.d", "/etc/modprobe.d", "/etc/modules-load.d", "/etc/udev/rules.d"]
SYSTEMD_DIR = "/etc/systemd/system"
UNIT_PREFIXES = ("memtier", "daxdev")
SYS_MEMORY = "/sys/devices/system/memory"
ZERO_UUID = "00000000-0000-0000-0000-000000000000"


def run(argv, check=True):
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise SystemExit("%s: rc=%d %s" % (" ".join(argv), proc.returncode, proc.stderr.strip()))
    return proc


def run_json(argv):
    text = run(argv).stdout.strip()
    if not text:
        return []
    data = json.loads(text)
    return data if isinstance(data, list) else [data]


def read(path, default=None):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def etc_files():
    """{path: content (or sha256 of big files), or '-> target' for a symlink}."""
    paths = []
    for top in ETC_DIRS:
        for root, _dirs, files in os.walk(top):
            paths += [os.path.join(root, name) for name in files]
    for root, dirs, files in os.walk(SYSTEMD_DIR):
        paths += [os.path.join(root, name) for name in files + dirs if name.startswith(UNIT_PREFIXES)]
    result = {}
    for path in sorted(paths):
        if os.path.islink(path):
            result[path] = "-> " + os.readlink(path)
        elif os.path.isfile(path):
            with open(path, "rb") as f:
                data = f.read()
            if len(data) <= 65536:
                result[path] = data.decode("utf-8", errors="replace")
            else:
                result[path] = "sha256:" + hashlib.sha256(data).hexdigest()
    return result


def snapshot():
    namespaces = []
    for ns in run_json(["ndctl", "list", "-N", "-i"]):
        if not ns.get("size") and ns.get("uuid", ZERO_UUID) == ZERO_UUID:
            continue  # an idle seed
        ns["region"] = "region" + ns["dev"][len("namespace"):].split(".")[0]
        raw = read("/sys/bus/nd/devices/%s/size" % ns["dev"])
        ns["raw_size"] = int(raw) if raw and raw.isdigit() else None
        namespaces.append(ns)
    dax = [d for d in run_json(["daxctl", "list", "-i"]) if d.get("size")]
    blocks = {}
    for path in glob.glob(SYS_MEMORY + "/memory[0-9]*/state"):
        blocks[path.split("/")[-2]] = read(path, "?")
    with open("/proc/modules") as f:
        modules = sorted(line.split()[0] for line in f if line.strip())
    return {
        "regions": sorted(run_json(["ndctl", "list", "-R"]), key=lambda r: r["dev"]),
        "namespaces": sorted(namespaces, key=lambda n: n["dev"]),
        "dax_devices": sorted(dax, key=lambda d: d["chardev"]),
        "memory_blocks": dict(sorted(blocks.items(), key=lambda kv: int(kv[0][len("memory"):]))),
        "auto_online_blocks": read(SYS_MEMORY + "/auto_online_blocks"),
        "etc_files": etc_files(),
        "modules": modules,
    }


def diff_lists(before, after, key):
    b = {item[key]: item for item in before}
    a = {item[key]: item for item in after}
    out = {}
    added = [a[k] for k in sorted(a) if k not in b]
    removed = [b[k] for k in sorted(b) if k not in a]
    changed = {}
    for k in sorted(set(a) & set(b)):
        if a[k] != b[k]:
            changed[k] = {f: {"before": b[k].get(f), "after": a[k].get(f)}
                          for f in sorted(set(a[k]) | set(b[k])) if a[k].get(f) != b[k].get(f)}
    if added:
        out["added"] = added
    if removed:
        out["removed"] = removed
    if changed:
        out["changed"] = changed
    return out


def diff_dicts(before, after):
    out = {}
    for k in sorted(set(before) | set(after)):
        if before.get(k) != after.get(k):
            out[k] = {"before": before.get(k), "after": after.get(k)}
    return out


NAME_FIELDS = ("dev", "chardev", "blockdev")


def keyed(state, names=True):
    """Namespaces by uuid (dev if none), dax devices by the uuid of their namespace. Without names (to
    compare after a restore): by namespace name, without kernel device names and uuids, since a
    namespace recreated with --uuid gets it as its label uuid but ndctl lists the uuid of the new
    devdax info block."""
    fields = () if names else NAME_FIELDS + ("uuid",)
    owner = {ns.get("chardev"): (ns.get("uuid") if names else ns.get("name")) for ns in state["namespaces"]}

    def strip(item):
        return {k: v for k, v in item.items() if k not in fields}
    namespaces = [dict(strip(ns), key=(ns.get("uuid") if names else ns.get("name")) or ns["dev"])
                  for ns in state["namespaces"]]
    dax = [dict(strip(d), key=owner.get(d["chardev"]) or d["chardev"]) for d in state["dax_devices"]]
    return namespaces, dax


def diff(before, after, ignore=(), names=True):
    out = {}
    d = diff_lists(before["regions"], after["regions"], "dev")
    if d:
        out["regions"] = d
    for name, b, a in zip(("namespaces", "dax_devices"), keyed(before, names), keyed(after, names)):
        d = diff_lists(b, a, "key")
        if d:
            out[name] = d
    blocks = diff_dicts(before["memory_blocks"], after["memory_blocks"])
    if blocks:
        out["memory_blocks"] = {k: "%s -> %s" % (v["before"], v["after"]) for k, v in blocks.items()}
    if before["auto_online_blocks"] != after["auto_online_blocks"]:
        out["auto_online_blocks"] = {"before": before["auto_online_blocks"], "after": after["auto_online_blocks"]}
    files = {k: v for k, v in diff_dicts(before["etc_files"], after["etc_files"]).items() if k not in ignore}
    if files:
        out["etc_files"] = files
    loaded = sorted(set(after["modules"]) - set(before["modules"]))
    unloaded = sorted(set(before["modules"]) - set(after["modules"]))
    if loaded or unloaded:
        out["modules"] = {"loaded": loaded, "unloaded": unloaded}
    return out


# --- putting the host back -------------------------------------------------------------------

def give_back(chardev, done, errors):
    """A dax device in system-ram mode back to devdax (offline first)."""
    proc = run(["daxctl", "offline-memory", chardev], check=False)
    done.append("daxctl offline-memory %s: rc=%d" % (chardev, proc.returncode))
    proc = run(["daxctl", "reconfigure-device", "--mode=devdax", "--force", chardev], check=False)
    done.append("daxctl reconfigure-device --mode=devdax --force %s: rc=%d" % (chardev, proc.returncode))
    if proc.returncode != 0:
        errors.append("%s stays in system-ram: %s" % (chardev, proc.stderr.strip()))
        return False
    return True


def restore(base, ignore=()):
    done, errors = [], []
    now = snapshot()
    dax_now = {d["chardev"]: d for d in now["dax_devices"]}
    base_uuids = {ns["uuid"]: ns for ns in base["namespaces"] if ns.get("uuid")}
    now_uuids = {ns["uuid"]: ns for ns in now["namespaces"] if ns.get("uuid")}
    # Namespaces that were not there: give their memory back and destroy them.
    for uuid, ns in now_uuids.items():
        if uuid in base_uuids:
            continue
        dev = dax_now.get(ns.get("chardev") or "")
        if dev and dev.get("mode") == "system-ram" and not give_back(dev["chardev"], done, errors):
            continue
        proc = run(["ndctl", "destroy-namespace", "--force", ns["dev"]], check=False)
        done.append("ndctl destroy-namespace --force %s (%s): rc=%d" % (ns["dev"], ns.get("name"), proc.returncode))
        if proc.returncode != 0:
            errors.append("%s: %s" % (ns["dev"], proc.stderr.strip()))
    # Namespaces that are gone: recreate them with their uuid (their data is lost).
    for uuid, ns in base_uuids.items():
        if uuid in now_uuids or not ns.get("raw_size"):
            continue
        argv = ["ndctl", "create-namespace", "--region=" + ns["region"], "--mode=" + ns["mode"],
                "--size=%d" % ns["raw_size"], "--uuid=" + uuid]
        if ns.get("name"):
            argv.append("--name=" + ns["name"])
        if ns.get("map"):
            argv.append("--map=" + ns["map"])
        if ns.get("align"):
            argv.append("--align=%d" % ns["align"])
        proc = run(argv, check=False)
        done.append("%s: rc=%d" % (" ".join(argv), proc.returncode))
        if proc.returncode != 0:
            errors.append("%s: %s" % (ns.get("name") or uuid, proc.stderr.strip()))
    # Dax devices of the old namespaces in another mode.
    now = snapshot()
    dax_now = {d["chardev"]: d for d in now["dax_devices"]}
    for ns in now["namespaces"]:
        old = base_uuids.get(ns.get("uuid"))
        dev = dax_now.get(ns.get("chardev") or "")
        if not old or not dev:
            continue
        old_dev = next((d for d in base["dax_devices"] if d["chardev"] == old.get("chardev")), None)
        if old_dev is None or old_dev.get("mode") == dev.get("mode"):
            continue
        if dev.get("mode") == "system-ram":
            give_back(dev["chardev"], done, errors)
        else:
            proc = run(["daxctl", "reconfigure-device", "--mode=system-ram", dev["chardev"]], check=False)
            done.append("daxctl reconfigure-device --mode=system-ram %s: rc=%d" % (dev["chardev"], proc.returncode))
    # Files under /etc.
    files_now = etc_files()
    touched = False
    for path in sorted(set(files_now) | set(base["etc_files"])):
        if path in ignore or files_now.get(path) == base["etc_files"].get(path):
            continue
        want = base["etc_files"].get(path)
        touched = True
        try:
            if os.path.islink(path) or os.path.isfile(path):
                os.unlink(path)
            if want is None:
                done.append("removed " + path)
            elif want.startswith("-> "):
                os.symlink(want[3:], path)
                done.append("relinked " + path)
            elif want.startswith("sha256:"):
                errors.append("cannot rewrite %s (only its checksum was kept)" % path)
            else:
                with open(path, "w") as f:
                    f.write(want)
                done.append("rewrote " + path)
        except OSError as exc:
            errors.append("%s: %s" % (path, exc))
    if touched:
        run(["systemctl", "daemon-reload"], check=False)
        run(["udevadm", "control", "--reload"], check=False)
        done.append("systemctl daemon-reload; udevadm control --reload")
    # Kernel modules (kmem only while no dax device is system RAM: its memory would stay in use).
    now = snapshot()
    busy_kmem = any(d.get("mode") == "system-ram" for d in now["dax_devices"])
    for name in sorted(set(now["modules"]) - set(base["modules"])):
        if name == "kmem" and busy_kmem:
            errors.append("kmem stays loaded: a dax device is in system-ram mode")
            continue
        proc = run(["modprobe", "-r", name], check=False)
        done.append("modprobe -r %s: rc=%d" % (name, proc.returncode))
    for name in sorted(set(base["modules"]) - set(now["modules"])):
        proc = run(["modprobe", name], check=False)
        done.append("modprobe %s: rc=%d" % (name, proc.returncode))
    if now["auto_online_blocks"] != base["auto_online_blocks"] and base["auto_online_blocks"]:
        with open(SYS_MEMORY + "/auto_online_blocks", "w") as f:
            f.write(base["auto_online_blocks"])
        done.append("auto_online_blocks = " + base["auto_online_blocks"])
    return done, errors


# --- fixtures ----------------------------------------------------------------------------------

def ensure(specs):
    created = []
    for spec in specs:
        name, region, size = spec.split(":")
        have = [ns for ns in run_json(["ndctl", "list", "-N", "-r", region]) if ns.get("name") == name]
        if have:
            continue
        legacy = [ns for ns in run_json(["ndctl", "list", "-N", "-r", region])
                  if ns.get("mode") == "raw" and not ns.get("uuid")]
        if legacy:  # no label index yet
            dimms = [d["dev"] for d in run_json(["ndctl", "list", "-D", "-r", region])]
            run(["ndctl", "disable-region", region])
            for dimm in dimms:
                run(["ndctl", "init-labels", dimm])
            run(["ndctl", "enable-region", region])
        run(["ndctl", "create-namespace", "--region=" + region, "--mode=devdax", "--size=" + size, "--name=" + name])
        created.append(name)
    return created


def main(argv):
    if len(argv) < 2 or argv[0] not in ("save", "check", "ensure"):
        raise SystemExit(__doc__)
    if argv[0] == "ensure":
        created = ensure(argv[1:])
        print(json.dumps(dict(snapshot(), created=created)))
        return
    base_path = argv[1]
    ignore = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "--ignore"]
    now = snapshot()
    if argv[0] == "save":
        out = now
    else:
        with open(base_path) as f:
            base = json.load(f)
        delta = diff(base, now, ignore)
        out = {"equal": not delta, "diff": delta, "restored": [], "restore_errors": []}
        if delta and "--restore" in argv:
            out["restored"], out["restore_errors"] = restore(base, ignore)
            now = snapshot()
            # Kernel device names may differ once a namespace is recreated (with its uuid).
            out["diff_after_restore"] = diff(base, now, ignore, names=False)
    if "--keep" in argv:
        print(json.dumps(out))
        return
    os.makedirs(os.path.dirname(os.path.abspath(base_path)), exist_ok=True)
    with open(base_path + ".tmp", "w") as f:
        json.dump(now, f)
    os.replace(base_path + ".tmp", base_path)
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
