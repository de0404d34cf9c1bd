"""Print, as JSON, every boot file of the system_ram role (either release) on this host: {path: text, or
"-> target" for a symbolic link}. All of /etc/daxctl.conf.d, /etc/udev/rules.d and /etc/memtier-pmem, and
anything named memtier*, daxdev* or daxctl* under /etc/systemd/system, /etc/modules-load.d and /usr/local/sbin."""
import json
import os

found = {}


def add(path):
    if os.path.islink(path):
        found[path] = '-> ' + os.readlink(path)
    elif os.path.isfile(path):
        with open(path) as handle:
            found[path] = handle.read()


for root in ('/etc/daxctl.conf.d', '/etc/udev/rules.d', '/etc/memtier-pmem'):
    for directory, dirs, files in os.walk(root):
        for name in files:
            add(os.path.join(directory, name))
for root in ('/etc/systemd/system', '/etc/modules-load.d', '/usr/local/sbin'):
    for directory, dirs, files in os.walk(root):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(directory, d))]:
            if name.startswith(('memtier', 'daxdev', 'daxctl')):
                add(os.path.join(directory, name))
print(json.dumps(found, sort_keys=True))
