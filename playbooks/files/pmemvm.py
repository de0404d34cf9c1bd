"""pmemvm.py -- throwaway QEMU (TCG) Debian VMs with emulated NVDIMMs, CXL or hmem memory, for tests.

Usage (python3 playbooks/files/pmemvm.py ..., in a checkout; the lab playbooks lab_create.yml and
lab_destroy.yml run it for molecule):
  pmemvm.py up --state-dir DIR [--suite bookworm] [--name NAME] [--ram 2G] [--smp 2]
               [--nvdimm SPEC ...] [--cxl SIZE ...] [--hmem SIZE] [--qemu PATH]
               [--keep-state] [--timeout 240] [--append ARGS]
  pmemvm.py down --state-dir DIR [--purge]
  pmemvm.py power-cycle --state-dir DIR     (power off, then on again: a cold boot)
  pmemvm.py status --state-dir DIR          (exit 0 if running, 3 if not)
  pmemvm.py ssh --state-dir DIR [--root] [-- CMD ...]

up: builds/reuses the cached image (build-image.sh SUITE), creates in DIR a qcow2
    overlay on it and one sparse backing file per NVDIMM, boots QEMU daemonized with
    ssh forwarded from a free port on 127.0.0.1, waits until ssh works, writes
    DIR/instance.json and prints {"instance", "address", "user", "port",
    "identity_file", "suite", "state_dir"} as JSON. Any failure, timeout or signal
    stops the QEMU it started, prints the tail of DIR/serial.log and exits non-zero.
    --keep-state reuses an existing overlay and NVDIMM files (restart with state).
    --timeout bounds the wait for ssh (not the image build); from 480 s on, a guest that is not up after half
    of it is started once more (a TCG guest can hang while it boots). --append adds kernel
    arguments (e.g. memhp_default_state=offline on trixie).
NVDIMM SPEC: SIZE[:nolabel|:label=SIZE], e.g. 4G (256K label area, the default) or
    4G:nolabel (label-less). NVDIMM i (1, 2, ...) sits on its own CPU-less NUMA node i,
    backed by DIR/nvdimmI.img of SIZE + label size bytes, so the region is exactly SIZE.
    Linux may number regions and nodes differently (read target_node in the guest).
    Default: one 4G NVDIMM; "--nvdimm none" for none.
CXL SIZE: one CXL type-3 volatile memory device of SIZE (a multiple of 256M) behind its
    own root port, serial number 0x4d540000 + i (i = 0, 1, ...); all of them under one host
    bridge (pxb-cxl), so two can be interleaved,
    and one CXL fixed memory window over that bridge covering their sum (at least 4G).
    A CXL guest is q35 with cxl=on, "-cpu qemu64,-hypervisor" (with the hypervisor flag
    region commit fails) and no NVDIMM unless --nvdimm is also given; its PCI devices
    sit on pcie.0. Needs QEMU >= 8 (volatile-memdev): --qemu, else $PMEMVM_QEMU, else the
    private copy tools/setup-host.sh --cxl unpacks (QEMU_CXL below), else the system's.
HMEM SIZE: a soft-reserved range of SIZE (a multiple of 128M), as firmware marks
    EFI_MEMORY_SP memory ("Soft Reserved" in /proc/iomem, bound to dax_hmem as hmem.0 ->
    dax0.0 on its own CPU-less NUMA node). QEMU cannot mark memory so; instead the range is
    RAM of a memory-only NUMA node (the last one, after the NVDIMMs' nodes) starting at 4 GiB,
    retyped by the kernel command line "memmap=SIZE%0x100000000-1+0xefffffff nokaslr"
    (size%offset-oldtype+newtype: usable RAM to soft-reserved; without nokaslr the kernel can
    land inside the range). "max-ram-below-4g=<--ram>" keeps all of node 0 below 4 GiB, so
    --ram is at most 2G with --cxl (q35) and 3G without. Kernel 6.1 gives a devdax device,
    6.12 a system-ram (kmem) one, onlined by Debian 13's policy unless --append
    memhp_default_state=offline. No NVDIMM unless --nvdimm is also given. Proven with
    --nvdimm none on bookworm and trixie; with NVDIMMs or --cxl it is built the same way, untried.
down: SIGTERM (then SIGKILL after 10 s) to the QEMU in DIR/qemu.pid, only if that
    process's command line names DIR. A best-effort "sync" in the guest comes first.
    --purge then removes DIR (only a directory that pmemvm created).
ssh: runs CMD in the guest as memtier (or root with --root); interactive without CMD.

Several VMs can run side by side with distinct state dirs. Python 3.11 stdlib only.
"""
import argparse
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD_IMAGE = os.path.join(HERE, "build-image.sh")
QEMU = "qemu-system-x86_64"
# bookworm-backports' QEMU 10, unpacked (not installed) by tools/setup-host.sh --cxl: the system's
# QEMU stays the one every NVDIMM scenario is proven on.
QEMU_CXL_ROOT = "/var/cache/memtier-pmem/qemu-10/root"
QEMU_CXL = os.path.join(QEMU_CXL_ROOT, "usr/bin/qemu-system-x86_64")
# CXL device i gets serial number CXL_SERIAL + i (without sn= QEMU's devices all report serial 0).
CXL_SERIAL = 0x4d540000
DEFAULT_LABEL = 256 << 10
DEFAULT_CMDLINE = "root=/dev/vda rw console=ttyS0 net.ifnames=0"
BOOT_RETRY_AFTER = 240     # seconds: see cmd_up
MARKER = ".pmemvm"           # marks a directory created by pmemvm (for --purge)
UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


class Failure(Exception):
    pass


def log(msg):
    print(f"pmemvm: {msg}", file=sys.stderr, flush=True)


def parse_size(text):
    m = re.fullmatch(r"\s*(\d+)\s*([KMGT]?)(i?B)?\s*", text, re.I)
    if not m:
        raise argparse.ArgumentTypeError(f"bad size: {text!r}")
    return int(m.group(1)) * UNITS[m.group(2).upper()]


def parse_nvdimm(spec):
    """'4G' -> (4G, 256K); '4G:nolabel' -> (4G, 0); '4G:label=128K' -> (4G, 128K)."""
    size, opt = (spec.split(":", 1) + [""])[:2]
    label = DEFAULT_LABEL
    if opt == "nolabel":
        label = 0
    elif opt.startswith("label="):
        label = parse_size(opt[len("label="):])
    elif opt:
        raise argparse.ArgumentTypeError(f"bad NVDIMM option in {spec!r}")
    return parse_size(size), label


def qemu_size(n):
    """Bytes as a QEMU size string (exact)."""
    for unit in "GMK":
        if n % UNITS[unit] == 0:
            return f"{n // UNITS[unit]}{unit}"
    return str(n)


def ssh_base(key, port, user):
    return ["ssh", "-i", key, "-p", str(port),
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5",
            f"{user}@127.0.0.1"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the QEMU process of a state dir --------------------------------------------------

def running_pid(state_dir):
    """The pid in STATE_DIR/qemu.pid if it is a live QEMU started for STATE_DIR."""
    try:
        with open(os.path.join(state_dir, "qemu.pid")) as f:
            pid = int(f.read().strip())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except (OSError, ValueError):
        return None
    if "qemu" in os.path.basename(argv[0].decode(errors="replace")) and \
            any(state_dir.encode() + b"/" in a for a in argv):
        return pid
    return None


def stop(state_dir, grace=10.0):
    """Stop the QEMU of STATE_DIR: SIGTERM, then SIGKILL. True if one was running."""
    pid = running_pid(state_dir)
    if pid is None:
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + grace
    while running_pid(state_dir) == pid and time.monotonic() < deadline:
        time.sleep(0.2)
    if running_pid(state_dir) == pid:
        log(f"qemu {pid} ignored SIGTERM, sending SIGKILL")
        os.kill(pid, signal.SIGKILL)
        while running_pid(state_dir) == pid:
            time.sleep(0.1)
    # QEMU is dead now; give init a moment to reap the zombie (not our child).
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        os.unlink(os.path.join(state_dir, "qemu.pid"))
    except FileNotFoundError:
        pass
    return True


def serial_tail(state_dir, lines=40):
    try:
        with open(os.path.join(state_dir, "serial.log"), errors="replace") as f:
            tail = f.read().splitlines()[-lines:]
    except OSError:
        return
    print(f"--- last {len(tail)} lines of {state_dir}/serial.log ---", file=sys.stderr)
    print("\n".join(tail), file=sys.stderr, flush=True)


# --- up -------------------------------------------------------------------------------

def build_image(suite):
    """Run build-image.sh (cached: fast when built). Returns the image directory."""
    proc = subprocess.Popen(["bash", BUILD_IMAGE, suite], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out = proc.communicate()[0]
    except BaseException:
        try:    # the script's EXIT trap removes its temp dir and mounts
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        proc.wait()
        raise
    lines = [l for l in out.splitlines() if l.strip()]
    if proc.returncode != 0 or not lines:
        raise Failure(f"build-image.sh {suite} failed (rc={proc.returncode})")
    return lines[-1].strip()


def prepare_state(args, image, nvdimms):
    """Overlay disk, NVDIMM backing files and ssh key in the state dir."""
    d = args.state_dir
    disk = os.path.join(d, "disk.qcow2")
    for name in ("instance.json", "serial.log"):
        try:
            os.unlink(os.path.join(d, name))
        except FileNotFoundError:
            pass
    if not (args.keep_state and os.path.exists(disk)):
        if os.path.exists(disk):
            os.unlink(disk)
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw",
                        "-b", os.path.join(image, "rootfs.ext4"), disk], check=True)
    files = []
    for i, (size, label) in enumerate(nvdimms, 1):
        path = os.path.join(d, f"nvdimm{i}.img")
        want = size + label
        if args.keep_state and os.path.exists(path):
            have = os.path.getsize(path)
            if have != want:
                raise Failure(f"{path} is {have} bytes, the spec needs {want}; "
                              "drop --keep-state to recreate it")
        else:
            with open(path, "wb") as f:        # new, sparse, zeroed
                f.truncate(want)
        files.append(path)
    key = os.path.join(d, "id_ed25519")
    shutil.copyfile(os.path.join(image, "id_ed25519"), key)
    os.chmod(key, 0o600)
    return disk, files, key


def qemu_binary(args):
    """(program, extra argv): --qemu, $PMEMVM_QEMU, the private QEMU 10 for CXL guests, or the system's."""
    prog = args.qemu or os.environ.get("PMEMVM_QEMU")
    if not prog and args.cxl and os.path.exists(QEMU_CXL):
        prog = QEMU_CXL
    prog = prog or QEMU
    extra = []
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(prog))))
    if prog != QEMU and os.path.isdir(os.path.join(root, "usr/share/qemu")):
        # the unpacked copy's firmware first (its seabios is newer than the system's)
        for sub in ("usr/share/seabios", "usr/share/qemu"):
            extra += ["-L", os.path.join(root, sub)]
    return prog, extra


def cxl_window(sizes):
    """The fixed memory window: the devices' sum rounded up to GiB, at least 4G."""
    return max(4 * UNITS["G"], -(-sum(sizes) // UNITS["G"]) * UNITS["G"])


def qemu_argv(args, image, info, disk, nvdimm_files, nvdimms, port):
    d = args.state_dir
    ram = args.ram
    cpus = f"0-{args.smp - 1}"
    prog, extra = qemu_binary(args)
    cxl = args.cxl or []
    hmem = args.hmem or 0
    low = f",max-ram-below-4g={qemu_size(ram)}" if hmem else ""   # node 0 all below 4 GiB
    argv = [prog] + extra + ["-name", f"pmemvm-{args.name}",
                             "-accel", "tcg,tb-size=256",
                             "-cpu", "qemu64,-hypervisor" if cxl else "max", "-smp", str(args.smp)]
    pcie = ",bus=pcie.0" if cxl else ""
    if cxl:
        total = ram + hmem + sum(size + label for size, label in nvdimms) + cxl_window(cxl)
        maxmem = -(-total // UNITS["G"]) * UNITS["G"]
        argv += ["-machine", "q35,cxl=on" + (",nvdimm=on" if nvdimms else "") + low,
                 "-m", f"{qemu_size(ram + hmem)},slots={len(nvdimms) + 1},maxmem={qemu_size(maxmem)}"]
    elif nvdimms:
        total = ram + hmem + sum(size + label for size, label in nvdimms)
        maxmem = -(-total // UNITS["G"]) * UNITS["G"]          # round up to GiB
        argv += ["-machine", "pc,nvdimm=on" + low,
                 "-m", f"{qemu_size(ram + hmem)},slots={len(nvdimms) + 1},maxmem={qemu_size(maxmem)}"]
    else:
        argv += ["-machine", "pc" + low, "-m", qemu_size(ram + hmem)]
    argv += ["-object", f"memory-backend-ram,id=ram0,size={qemu_size(ram)}",
             "-numa", f"node,nodeid=0,cpus={cpus},memdev=ram0"]
    for i, ((size, label), path) in enumerate(zip(nvdimms, nvdimm_files), 1):
        argv += ["-numa", f"node,nodeid={i}",
                 "-object", f"memory-backend-file,id=nvmem{i},share=on,"
                            f"mem-path={path},size={size + label}",
                 "-device", f"nvdimm,id=nvdimm{i},memdev=nvmem{i},node={i}"
                            + (f",label-size={label}" if label else "")]
    if hmem:
        node = len(nvdimms) + 1
        argv += ["-object", f"memory-backend-ram,id=hmem0,size={qemu_size(hmem)}",
                 "-numa", f"node,nodeid={node},memdev=hmem0"]
    if cxl:
        argv += ["-device", "pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1"]
        for i, size in enumerate(cxl):
            argv += ["-object", f"memory-backend-ram,id=cxlvmem{i},share=on,size={qemu_size(size)}",
                     "-device", f"cxl-rp,port={i},bus=cxl.1,id=cxl_rp{i},chassis=0,slot={i + 2}",
                     "-device", f"cxl-type3,bus=cxl_rp{i},volatile-memdev=cxlvmem{i},id=cxl-vmem{i},"
                                f"sn={CXL_SERIAL + i}"]
        argv += ["-M", f"cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size={qemu_size(cxl_window(cxl))}"]
    cmdline = info.get("cmdline", DEFAULT_CMDLINE)
    if hmem:
        cmdline += f" memmap={qemu_size(hmem)}%0x100000000-1+0xefffffff nokaslr"
    if args.append:
        cmdline += " " + args.append
    argv += ["-kernel", os.path.join(image, "vmlinuz"),
             "-initrd", os.path.join(image, "initrd.img"),
             "-append", cmdline,
             *(["-drive", f"file={disk},if=none,id=disk0,format=qcow2",
                "-device", "virtio-blk-pci,drive=disk0,bus=pcie.0"] if cxl else
               ["-drive", f"file={disk},if=virtio,format=qcow2"]),
             "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:22",
             "-device", f"virtio-net-pci,netdev=n0{pcie}",
             "-device", f"virtio-rng-pci{pcie}",
             "-display", "none", "-vga", "none",
             "-serial", f"file:{os.path.join(d, 'serial.log')}",
             "-pidfile", os.path.join(d, "qemu.pid"), "-daemonize"]
    return argv


def start_qemu(args, image, info, disk, files, nvdimms):
    """Start QEMU daemonized on a free port; retry when the port got taken."""
    for attempt in range(8):
        port = free_port()
        argv = qemu_argv(args, image, info, disk, files, nvdimms, port)
        with open(os.path.join(args.state_dir, "qemu.cmdline"), "w") as f:
            f.write(" ".join(argv) + "\n")
        with open(os.path.join(args.state_dir, "qemu.argv.json"), "w") as f:
            json.dump(argv, f)
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, check=False)
        if r.returncode == 0:
            return port
        if "host forwarding" in r.stdout:
            log(f"port {port} taken, retrying")
            continue
        raise Failure(f"qemu failed (rc={r.returncode}):\n{r.stdout.strip()}")
    raise Failure("no free port found for ssh forwarding")


def wait_ssh(state_dir, key, port, timeout):
    deadline = time.monotonic() + timeout
    cmd = ssh_base(key, port, "memtier") + ["true"]
    while time.monotonic() < deadline:
        if running_pid(state_dir) is None:
            raise Failure("qemu exited during boot")
        try:
            r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=20, check=False)
            if r.returncode == 0:
                return
        except subprocess.TimeoutExpired:
            pass
        time.sleep(1)
    raise Failure(f"ssh not ready after {timeout} s")


class Signalled(KeyboardInterrupt):
    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def on_signal(signum, _frame):
    raise Signalled(signum)


def cmd_up(args):
    args.state_dir = os.path.abspath(args.state_dir)
    args.name = args.name or os.path.basename(args.state_dir)
    nvdimms = [] if args.nvdimm == ["none"] or ((args.cxl or args.hmem) and not args.nvdimm) else \
        [parse_nvdimm(s) for s in (args.nvdimm or ["4G"])]
    for size in args.cxl or []:
        if size <= 0 or size % (256 << 20):
            log(f"--cxl {size}: a CXL device's size must be a positive multiple of 256M")
            return 2
    if args.hmem is not None:
        most = 2 * UNITS["G"] if args.cxl else 3 * UNITS["G"]
        if args.hmem <= 0 or args.hmem % (128 << 20):
            log(f"--hmem {args.hmem}: the soft-reserved range must be a positive multiple of 128M")
            return 2
        if args.ram > most:
            log(f"--hmem needs all of node 0 below 4 GiB: --ram {qemu_size(args.ram)} is more than "
                f"{qemu_size(most)} on this machine type")
            return 2
    os.makedirs(args.state_dir, exist_ok=True)
    open(os.path.join(args.state_dir, MARKER), "a").close()
    lock = open(os.path.join(args.state_dir, ".lock"), "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log(f"another pmemvm up is running on {args.state_dir}")
        return 1
    if running_pid(args.state_dir):
        log(f"a VM is already running in {args.state_dir} (pmemvm.py down first)")
        return 1

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    started = False
    try:
        image = build_image(args.suite)
        with open(os.path.join(image, "info.json")) as f:
            info = json.load(f)
        # A TCG guest can hang while it boots (seen once, in a fresh-clone make test: a soft lockup in the guest's
        # kernel, ssh never came up): with --timeout of BOOT_RETRY_AFTER * 2 or more, a boot that is not up after
        # half of it is stopped and started once more, on a new overlay unless --keep-state.
        attempts = 2 if args.timeout >= 2 * BOOT_RETRY_AFTER else 1
        for attempt in range(1, attempts + 1):
            disk, files, key = prepare_state(args, image, nvdimms)
            t0 = time.monotonic()
            started = True
            port = start_qemu(args, image, info, disk, files, nvdimms)
            log(f"qemu started (pid {running_pid(args.state_dir)}), ssh on 127.0.0.1:{port}")
            try:
                wait_ssh(args.state_dir, key, port, args.timeout / attempts)
                break
            except Failure as e:
                if attempt == attempts:
                    raise
                log(f"boot {attempt} failed ({e}); the guest's console said:")
                serial_tail(args.state_dir, 8)
                stop(args.state_dir)
                log("starting it once more")
        boot = round(time.monotonic() - t0, 1)
        log(f"ssh ready after {boot} s")
        out = {"instance": args.name, "address": "127.0.0.1", "user": "memtier",
               "port": port, "identity_file": key, "suite": args.suite,
               "state_dir": args.state_dir}
        instance = dict(out, pid=running_pid(args.state_dir), boot_seconds=boot,
                        image=image, kernel=info.get("kernel"), ndctl=info.get("ndctl"),
                        ram=args.ram, nvdimms=[{"qemu_node": i, "size": s, "label_size": l,
                                                "file": p} for i, ((s, l), p)
                                               in enumerate(zip(nvdimms, files), 1)],
                        cxl=[{"size": s} for s in args.cxl or []],
                        hmem={"size": args.hmem, "qemu_node": len(nvdimms) + 1} if args.hmem else None,
                        qemu=qemu_binary(args)[0])
        tmp = os.path.join(args.state_dir, "instance.json.tmp")
        with open(tmp, "w") as f:
            json.dump(instance, f, indent=2)
        os.replace(tmp, os.path.join(args.state_dir, "instance.json"))
        print(json.dumps(out), flush=True)
        return 0
    except BaseException as e:      # failure, timeout, Ctrl-C, SIGTERM
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if isinstance(e, KeyboardInterrupt):
            log(f"interrupted ({str(e) or 'SIGINT'})")
        elif isinstance(e, (Failure, OSError, subprocess.CalledProcessError)):
            log(f"up failed: {e}")
        else:
            log(f"up failed: {e!r}")
        if started:
            if stop(args.state_dir):
                log("stopped the VM")
            serial_tail(args.state_dir)
        if isinstance(e, KeyboardInterrupt):
            return 128 + getattr(e, "signum", signal.SIGINT)
        return 1


# --- down / status / ssh -------------------------------------------------------------

def load_instance(state_dir):
    try:
        with open(os.path.join(state_dir, "instance.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def cmd_down(args):
    d = os.path.abspath(args.state_dir)
    inst = load_instance(d)
    if running_pid(d) and inst:         # flush the guest's page cache (best effort)
        try:
            subprocess.run(ssh_base(inst["identity_file"], inst["port"], "root")
                           + ["sync"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=10, check=False)
        except subprocess.TimeoutExpired:
            pass
    if stop(d):
        log(f"stopped the VM in {d}")
    else:
        log(f"no VM running in {d}")
    try:
        os.unlink(os.path.join(d, "instance.json"))
    except FileNotFoundError:
        pass
    if args.purge and os.path.isdir(d):
        if not os.path.exists(os.path.join(d, MARKER)):
            log(f"not purging {d}: not created by pmemvm (no {MARKER})")
            return 1
        shutil.rmtree(d)
        log(f"removed {d}")
    return 0


def cmd_power_cycle(args):
    """Power the guest off (a clean shutdown) and on again: the same QEMU command line, disk, NVDIMM files and
    ssh port, and a cold boot. QEMU's emulated CXL devices need it: after a warm reboot the guest's cxl_mem fails
    their probe ("Range register decodes outside platform defined CXL ranges") and no memdev is left."""
    d = os.path.abspath(args.state_dir)
    inst = load_instance(d)
    try:
        with open(os.path.join(d, "qemu.argv.json")) as f:
            argv = json.load(f)
    except (OSError, ValueError):
        argv = None
    if not inst or not argv or not running_pid(d):
        log(f"no VM of pmemvm running in {d}")
        return 1
    subprocess.run(ssh_base(inst["identity_file"], inst["port"], "root") + ["systemctl poweroff"],
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=30, check=False)
    deadline = time.monotonic() + args.timeout
    while running_pid(d) and time.monotonic() < deadline:
        time.sleep(1)
    if stop(d):
        log("the guest did not power off in time: stopped QEMU")
    t0 = time.monotonic()
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, check=False)
    if r.returncode != 0:
        log(f"qemu failed (rc={r.returncode}): {r.stdout.strip()}")
        return 1
    try:
        wait_ssh(d, inst["identity_file"], inst["port"], args.timeout)
    except Failure as e:
        log(f"power-cycle failed: {e}")
        serial_tail(d)
        return 1
    log(f"powered on again, ssh ready after {round(time.monotonic() - t0, 1)} s")
    return 0


def cmd_status(args):
    d = os.path.abspath(args.state_dir)
    pid = running_pid(d)
    print(json.dumps({"state_dir": d, "running": pid is not None, "pid": pid,
                      "instance": load_instance(d) if pid else None}, indent=2))
    return 0 if pid else 3


def cmd_ssh(args):
    d = os.path.abspath(args.state_dir)
    inst = load_instance(d)
    if not inst or running_pid(d) is None:
        log(f"no VM running in {d}")
        return 1
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    argv = ssh_base(inst["identity_file"], inst["port"], "root" if args.root else inst["user"])
    sys.stdout.flush()
    os.execvp(argv[0], argv + cmd)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[2:]))
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="build/reuse the image and boot a VM")
    up.add_argument("--suite", default="bookworm", choices=["bullseye", "bookworm", "trixie"])
    up.add_argument("--state-dir", required=True)
    up.add_argument("--name", help="instance name (default: basename of the state dir)")
    up.add_argument("--ram", type=parse_size, default=parse_size("2G"))
    up.add_argument("--smp", type=int, default=2)
    up.add_argument("--nvdimm", action="append", metavar="SPEC",
                    help="SIZE[:nolabel|:label=SIZE], repeatable (default 4G)")
    up.add_argument("--cxl", action="append", type=parse_size, metavar="SIZE",
                    help="a CXL type-3 volatile device of SIZE, repeatable (all under one host bridge)")
    up.add_argument("--hmem", type=parse_size, metavar="SIZE",
                    help="a soft-reserved (hmem) range of SIZE at 4 GiB on its own CPU-less node")
    up.add_argument("--qemu", help="the QEMU program (default: $PMEMVM_QEMU, for --cxl the private "
                                   "QEMU 10 when unpacked, else qemu-system-x86_64)")
    up.add_argument("--keep-state", action="store_true",
                    help="reuse an existing overlay disk and NVDIMM files")
    up.add_argument("--timeout", type=float, default=240, help="seconds to wait for ssh")
    up.add_argument("--append", default="", help="extra kernel command line")
    down = sub.add_parser("down", help="stop the VM")
    down.add_argument("--state-dir", required=True)
    down.add_argument("--purge", action="store_true", help="also remove the state dir")
    cycle = sub.add_parser("power-cycle", help="power the guest off and on again (a cold boot, same port)")
    cycle.add_argument("--state-dir", required=True)
    cycle.add_argument("--timeout", type=float, default=300, help="seconds for each of power-off and boot")
    status = sub.add_parser("status", help="is the VM running? (exit 0 yes, 3 no)")
    status.add_argument("--state-dir", required=True)
    ssh = sub.add_parser("ssh", help="run a command in the guest")
    ssh.add_argument("--state-dir", required=True)
    ssh.add_argument("--root", action="store_true", help="log in as root")
    ssh.add_argument("cmd", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    return {"up": cmd_up, "down": cmd_down, "power-cycle": cmd_power_cycle, "status": cmd_status, "ssh": cmd_ssh}[
        args.command](args)


if __name__ == "__main__":
    sys.exit(main())
