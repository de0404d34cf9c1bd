"""Stand-in for the pip bootstrap script that ansible-test downloads from a host this machine cannot reach.

ansible-test runs ~/.ansible/test/cache/get_pip_<version>.py in an empty virtual environment with pip's
install arguments (e.g. ``pip==24.2 --disable-pip-version-check``).  This does the same with what Python
and PyPI already provide: ensurepip's bundled pip first, then ``pip install`` with those arguments.
`make sanity` copies it into the cache only when no real bootstrap script is there.
"""
import subprocess
import sys

ARGS = [arg for arg in sys.argv[1:] if arg not in ('--no-setuptools', '--no-wheel')]
subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'], stdout=subprocess.DEVNULL)
subprocess.check_call([sys.executable, '-m', 'pip', 'install', '--quiet'] + ARGS)
