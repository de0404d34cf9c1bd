"""Hold a devdax device the way an application does, for the faults scenario (runs in the guest).

Usage: faults_holder.py DEVICE open|closed READY_FILE

Opens /dev/DEVICE, maps its first 2 MiB shared (device-dax only maps whole, aligned units of the device's
align, 2 MiB by default) and reads a byte of the mapping. With "closed" it then closes the file
descriptor: the mapping stays (in /proc/PID/maps) but the process has no fd on the device (not in
/proc/PID/fd). Writes its pid to READY_FILE and sleeps until killed.
"""
import ctypes
import os
import sys
import time

PROT_READ, PROT_WRITE, MAP_SHARED = 1, 2, 1
LENGTH = 2 << 20


def main(device, how, ready):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    fd = os.open("/dev/" + device, os.O_RDWR)
    addr = libc.mmap(None, LENGTH, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
    if addr is None or addr == ctypes.c_void_p(-1).value:
        raise SystemExit("mmap /dev/%s: %s" % (device, os.strerror(ctypes.get_errno())))
    ctypes.string_at(addr, 1)  # fault the first page in
    if how == "closed":
        os.close(fd)
    with open(ready + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.replace(ready + ".tmp", ready)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[2] not in ("open", "closed"):
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
